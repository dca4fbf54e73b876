/**
 * Dropout: in training, each element is kept with probability 1 - rate and scaled by
 * 1 / (1 - rate); in evaluation and inference it is the identity. Masks are drawn on the
 * host from the fit seed before every step, so both backends see the same masks.
 */
import type { BufferRef } from '../plan/builder';
import { ArgumentError } from '../errors';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Shape } from './layer';

export interface DropoutOptions extends LayerOptions {
  rate: number;
}

export class Dropout extends Layer {
  readonly rate: number;

  constructor(options: DropoutOptions) {
    super('dropout', options);
    const rate = options?.rate;
    if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) throw new ArgumentError(`${this.name}: rate must be a number in [0, 1), got ${String(rate)}`);
    this.rate = rate;
  }

  get kind(): string {
    return 'dropout';
  }

  config(): Record<string, unknown> {
    return { rate: this.rate };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    return inputShapes[0];
  }

  forward(ctx: ForwardContext): BufferRef {
    if (!ctx.training || this.rate === 0) return ctx.inputs[0];
    const keep = 1 - this.rate;
    const scale = 1 / keep;
    const mask = ctx.hostBuffer(ctx.outputShape, (out, rng) => {
      for (let i = 0; i < out.length; i++) out[i] = rng.uniform() < keep ? scale : 0;
    });
    ctx.save('mask', mask);
    const y = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit('mul', [ctx.inputs[0], mask, y], [y.length]);
    return y;
  }

  backward(ctx: BackwardContext): void {
    if (!ctx.needsInputGrad(0)) return;
    if (this.rate === 0) {
      ctx.addInputGrad(0, ctx.dOutput);
      return;
    }
    const dx = ctx.newBuffer(ctx.inputShapes[0]);
    ctx.builder.emit('mul', [ctx.dOutput, ctx.saved('mask'), dx], [dx.length]);
    ctx.addInputGrad(0, dx);
  }
}
