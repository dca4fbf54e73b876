/**
 * Activations: standalone layers, and the fused form conv, dense and friends use for
 * their `activation` option. ReLU runs in place (its gradient needs only the output);
 * the others write a new buffer so the pre-activation stays available to the gradient.
 */
import type { BufferRef } from '../plan/builder';
import { ACTIVATION_KINDS, ActivationKind } from '../backend/kernels';
import { ArgumentError, ShapeError } from '../errors';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Param, Shape } from './layer';

export type ActivationName = 'linear' | ActivationKind | 'softmax';
export const ACTIVATIONS: readonly ActivationName[] = ['linear', ...ACTIVATION_KINDS, 'softmax'];

/** Default slopes: leakyRelu 0.01 (as PyTorch), elu 1. */
const DEFAULT_ALPHA: Partial<Record<ActivationName, number>> = { leakyRelu: 0.01, elu: 1 };

export function checkActivation(layer: string, value: unknown): ActivationName {
  if (value === undefined || value === null) return 'linear';
  if (typeof value === 'string' && (ACTIVATIONS as readonly string[]).includes(value)) return value as ActivationName;
  throw new ArgumentError(`${layer}: activation must be one of ${ACTIVATIONS.join(', ')}, got ${JSON.stringify(value)}`);
}

/** The activations batch norm and add can apply in their own kernels. */
export type FusedActivation = 'linear' | 'relu';
export const FUSED_ACTIVATIONS: readonly FusedActivation[] = ['linear', 'relu'];

export function checkFusedActivation(layer: string, value: unknown): FusedActivation {
  if (value === undefined || value === null || value === 'linear') return 'linear';
  if (value === 'relu') return 'relu';
  throw new ArgumentError(`${layer}: activation must be 'linear' or 'relu', got ${JSON.stringify(value)}`);
}

const PRE_ACTIVATION = 'preActivation';

/** Applies `activation` to `pre` (a buffer of the output shape) and returns the layer's output buffer. */
export function emitActivation(ctx: ForwardContext, activation: ActivationName, pre: BufferRef, alpha = DEFAULT_ALPHA[activation] ?? 0): BufferRef {
  switch (activation) {
    case 'linear':
      return pre;
    case 'relu':
      ctx.builder.emit('relu', [pre, pre], [pre.length]);
      return pre;
    case 'softmax': {
      const classes = ctx.outputShape[ctx.outputShape.length - 1];
      const y = ctx.newBuffer(ctx.outputShape);
      ctx.builder.emit('softmax', [pre, y], [pre.length / classes, classes]);
      return y;
    }
    default: {
      const y = ctx.newBuffer(ctx.outputShape);
      ctx.builder.emit('activation', [pre, y], [pre.length, ACTIVATION_KINDS.indexOf(activation)], [alpha]);
      ctx.save(PRE_ACTIVATION, pre);
      return y;
    }
  }
}

/** Turns dL/d(output) into dL/d(pre-activation); returns the buffer holding it. */
export function emitActivationBackward(ctx: BackwardContext, activation: ActivationName, alpha = DEFAULT_ALPHA[activation] ?? 0): BufferRef {
  const y = ctx.output;
  const dy = ctx.dOutput;
  switch (activation) {
    case 'linear':
      return dy;
    case 'relu': {
      const dPre = ctx.newBuffer(ctx.outputShape);
      ctx.builder.emit('reluBackward', [y, dy, dPre], [y.length]);
      return dPre;
    }
    case 'softmax': {
      const classes = ctx.outputShape[ctx.outputShape.length - 1];
      const dPre = ctx.newBuffer(ctx.outputShape);
      ctx.builder.emit('softmaxBackward', [y, dy, dPre], [y.length / classes, classes]);
      return dPre;
    }
    default: {
      const dPre = ctx.newBuffer(ctx.outputShape);
      ctx.builder.emit('activationBackward', [ctx.saved(PRE_ACTIVATION), y, dy, dPre], [y.length, ACTIVATION_KINDS.indexOf(activation)], [alpha]);
      return dPre;
    }
  }
}

/**
 * emitActivationBackward, then the bias gradient of dL/d(pre-activation) into the bias's
 * gradient slot; relu's gradient and the bias sum share one pass (reluBackwardBiasGrad).
 */
export function emitActivationBackwardWithBias(ctx: BackwardContext, activation: ActivationName, bias: Param, channels: number): BufferRef {
  const db = ctx.paramGradTarget(bias);
  let dPre: BufferRef;
  if (activation === 'relu') {
    dPre = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit('reluBackwardBiasGrad', [ctx.output, ctx.dOutput, dPre, db], [ctx.output.length / channels, channels]);
  } else {
    dPre = emitActivationBackward(ctx, activation);
    ctx.builder.emit('biasAddGrad', [dPre, db], [dPre.length / channels, channels]);
  }
  ctx.paramGradDone(bias, db);
  return dPre;
}

export interface ActivationOptions extends LayerOptions {
  /** Negative slope (leakyRelu) or scale of the negative part (elu). */
  alpha?: number;
}

export class ActivationLayer extends Layer {
  readonly alpha: number;
  constructor(
    readonly activation: ActivationName,
    options: ActivationOptions = {},
  ) {
    super(activation, options);
    checkActivation(this.name, activation);
    const alpha = options.alpha ?? DEFAULT_ALPHA[activation] ?? 0;
    if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new ArgumentError(`${this.name}: alpha must be a finite number, got ${String(alpha)}`);
    this.alpha = alpha;
  }
  get kind(): string {
    return 'activation';
  }
  config(): Record<string, unknown> {
    return { activation: this.activation, alpha: this.alpha };
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    if (this.activation === 'softmax' && inputShapes[0].length < 1) throw new ShapeError(`${this.name}: softmax needs a class axis`);
    return inputShapes[0];
  }
  forward(ctx: ForwardContext): BufferRef {
    if (this.activation === 'linear') return ctx.inputs[0];
    if (this.activation === 'relu') {
      // Not in place: the input may feed other layers too.
      const y = ctx.newBuffer(ctx.outputShape);
      ctx.builder.emit('relu', [ctx.inputs[0], y], [y.length]);
      return y;
    }
    if (this.activation === 'softmax') return emitActivation(ctx, 'softmax', ctx.inputs[0]);
    const y = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit('activation', [ctx.inputs[0], y], [y.length, ACTIVATION_KINDS.indexOf(this.activation as ActivationKind)], [this.alpha]);
    return y;
  }
  backward(ctx: BackwardContext): void {
    if (!ctx.needsInputGrad(0)) return;
    if (this.activation === 'linear' || this.activation === 'relu' || this.activation === 'softmax') {
      ctx.addInputGrad(0, emitActivationBackward(ctx, this.activation));
      return;
    }
    const dx = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit('activationBackward', [ctx.inputs[0], ctx.output, ctx.dOutput, dx], [dx.length, ACTIVATION_KINDS.indexOf(this.activation as ActivationKind)], [this.alpha]);
    ctx.addInputGrad(0, dx);
  }
}
