/** Flatten: a new shape over the same buffer, so it costs no kernel call either way. */
import type { BufferRef } from '../plan/builder';
import { shapeSize } from '../tensor';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Shape } from './layer';

export class Flatten extends Layer {
  constructor(options: LayerOptions = {}) {
    super('flatten', options);
  }
  get kind(): string {
    return 'flatten';
  }
  config(): Record<string, unknown> {
    return {};
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    return [shapeSize(inputShapes[0])];
  }
  forward(ctx: ForwardContext): BufferRef {
    return ctx.inputs[0];
  }
  backward(ctx: BackwardContext): void {
    if (ctx.needsInputGrad(0)) ctx.addInputGrad(0, ctx.dOutput);
  }
}
