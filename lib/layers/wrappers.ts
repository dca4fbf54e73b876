/**
 * timeDistributed(layer): applies a layer to every step of a sequence, [time, ...] ->
 * [time, ...], by running it on a batch of batch * time items. A 2D CNN over each frame
 * of a video before a 3D convolution is the typical use.
 */
import type { BufferRef } from '../plan/builder';
import { ArgumentError, ShapeError } from '../errors';
import { shapeToString } from '../tensor';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Param, Shape } from './layer';

export class TimeDistributed extends Layer {
  constructor(
    readonly layer: Layer,
    options: LayerOptions = {},
  ) {
    super('time_distributed', options);
    if (!(layer instanceof Layer)) throw new ArgumentError(`${this.name}: expects a layer to wrap`);
    if (layer.arity !== 1) throw new ArgumentError(`${this.name}: can only wrap a layer with one input, not ${layer.name}`);
  }

  get kind(): string {
    return 'timeDistributed';
  }

  config(): Record<string, unknown> {
    return { layer: { kind: this.layer.kind, name: this.layer.name, config: this.layer.config() } };
  }

  private inner(shape: Shape): Shape {
    if (shape.length < 2) throw new ShapeError(`${this.name}: expects [time, ...], got ${shapeToString(shape)}`);
    return shape.slice(1);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const s = inputShapes[0];
    return [s[0], ...this.layer.build([this.inner(s)])];
  }

  protected override createParams(): Param[] {
    return this.layer.params;
  }

  /** The wrapped layer's view: batch * time items of the per-step shape. */
  private innerContext<T extends ForwardContext>(ctx: T): T {
    const steps = ctx.inputShapes[0][0];
    const inner: ForwardContext = {
      builder: ctx.builder,
      batch: ctx.batch * steps,
      training: ctx.training,
      inputShapes: [this.inner(ctx.inputShapes[0])],
      outputShape: ctx.outputShape.slice(1),
      inputs: ctx.inputs,
      param: ctx.param,
      newBuffer: (shape) => ctx.newBuffer([steps, ...shape]),
      save: ctx.save,
      hostBuffer: (shape, fill) => ctx.hostBuffer([steps, ...shape], fill),
    };
    return { ...ctx, ...inner };
  }

  forward(ctx: ForwardContext): BufferRef {
    return this.layer.forward(this.innerContext(ctx));
  }

  backward(ctx: BackwardContext): void {
    this.layer.backward(this.innerContext(ctx));
  }
}
