/** Activations: a standalone layer, and the fused form conv2d and dense use for their `activation` option. */
import type { BufferRef, PlanBuilder } from '../plan/builder';
import { ArgumentError } from '../errors';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Shape } from './layer';

export type ActivationName = 'linear' | 'relu';
export const ACTIVATIONS: readonly ActivationName[] = ['linear', 'relu'];

export function checkActivation(layer: string, value: unknown): ActivationName {
  if (value === undefined || value === null) return 'linear';
  if (typeof value === 'string' && (ACTIVATIONS as readonly string[]).includes(value)) return value as ActivationName;
  throw new ArgumentError(`${layer}: activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(value)}`);
}

/** Applies the activation in place on `y` (its pre-activation is not needed by any gradient). */
export function emitActivationInPlace(builder: PlanBuilder, activation: ActivationName, y: BufferRef): void {
  if (activation === 'relu') builder.emit('relu', [y, y], [y.length]);
}

/** Turns dL/dy into dL/d(pre-activation), given the activation's output y; returns the buffer holding it. */
export function emitActivationBackward(
  builder: PlanBuilder,
  activation: ActivationName,
  y: BufferRef,
  dy: BufferRef,
  newBuffer: () => BufferRef,
): BufferRef {
  if (activation === 'linear') return dy;
  const dPre = newBuffer();
  builder.emit('reluBackward', [y, dy, dPre], [y.length]);
  return dPre;
}

export class ActivationLayer extends Layer {
  constructor(readonly activation: ActivationName, options: LayerOptions = {}) {
    super(activation, options);
  }
  get kind(): string {
    return 'activation';
  }
  config(): Record<string, unknown> {
    return { activation: this.activation };
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    return inputShapes[0];
  }
  forward(ctx: ForwardContext): BufferRef {
    if (this.activation === 'linear') return ctx.inputs[0];
    const y = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit('relu', [ctx.inputs[0], y], [y.length]);
    return y;
  }
  backward(ctx: BackwardContext): void {
    if (!ctx.needsInputGrad(0)) return;
    ctx.addInputGrad(0, emitActivationBackward(ctx.builder, this.activation, ctx.output, ctx.dOutput, () => ctx.newBuffer(ctx.outputShape)));
  }
}
