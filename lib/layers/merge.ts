/** Layers that join branches of a functional graph: add (residual connections) and concatenate. */
import type { BufferRef } from '../plan/builder';
import { ArgumentError, ShapeError } from '../errors';
import { shapeSize, shapeToString } from '../tensor';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Shape } from './layer';
import { checkFusedActivation, FusedActivation } from './activation';

export interface AddOptions extends LayerOptions {
  /** 'relu' applies relu to the sum in the same kernel (a residual block's last step). Default 'linear'. */
  activation?: FusedActivation;
}

export class Add extends Layer {
  readonly activation: FusedActivation;
  constructor(options: AddOptions = {}) {
    super('add', options);
    this.activation = checkFusedActivation(this.name, options.activation);
  }
  get kind(): string {
    return 'add';
  }
  override get arity(): number {
    return -2;
  }
  config(): Record<string, unknown> {
    return { activation: this.activation };
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const first = inputShapes[0];
    inputShapes.forEach((s, i) => {
      if (shapeToString(s) !== shapeToString(first)) {
        throw new ShapeError(`${this.name}: input ${i} has shape ${shapeToString(s)} but input 0 has ${shapeToString(first)}; add needs equal shapes`);
      }
    });
    return first;
  }
  forward(ctx: ForwardContext): BufferRef {
    const y = ctx.newBuffer(ctx.outputShape);
    const last = ctx.inputs.length - 1;
    // The last add applies the activation.
    const kernel = (i: number) => (i === last && this.activation === 'relu' ? 'addRelu' : 'add');
    ctx.builder.emit(kernel(1), [ctx.inputs[0], ctx.inputs[1], y], [y.length]);
    for (let i = 2; i < ctx.inputs.length; i++) ctx.builder.emit(kernel(i), [y, ctx.inputs[i], y], [y.length]);
    return y;
  }
  backward(ctx: BackwardContext): void {
    let dSum = ctx.dOutput;
    if (this.activation === 'relu' && ctx.inputs.some((_, i) => ctx.needsInputGrad(i))) {
      dSum = ctx.newBuffer(ctx.outputShape);
      ctx.builder.emit('reluBackward', [ctx.output, ctx.dOutput, dSum], [dSum.length]);
    }
    ctx.inputs.forEach((_, i) => {
      if (ctx.needsInputGrad(i)) ctx.addInputGrad(i, dSum);
    });
  }
}

export interface ConcatenateOptions extends LayerOptions {
  /** Axis without the batch; negative counts from the end (default -1, the channels). */
  axis?: number;
}

export class Concatenate extends Layer {
  readonly axis: number;
  constructor(options: ConcatenateOptions = {}) {
    super('concatenate', options);
    const axis = options.axis ?? -1;
    if (!Number.isInteger(axis)) throw new ArgumentError(`${this.name}: axis must be an integer, got ${String(axis)}`);
    this.axis = axis;
  }
  get kind(): string {
    return 'concatenate';
  }
  override get arity(): number {
    return -2;
  }
  config(): Record<string, unknown> {
    return { axis: this.axis };
  }
  private resolvedAxis(rank: number): number {
    const a = this.axis < 0 ? rank + this.axis : this.axis;
    if (a < 0 || a >= rank) throw new ArgumentError(`${this.name}: axis ${this.axis} is outside inputs of rank ${rank}`);
    return a;
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const first = inputShapes[0];
    const a = this.resolvedAxis(first.length);
    let total = 0;
    inputShapes.forEach((s, i) => {
      const same = s.length === first.length && s.every((d, j) => j === a || d === first[j]);
      if (!same) throw new ShapeError(`${this.name}: input ${i} has shape ${shapeToString(s)}, which does not match ${shapeToString(first)} outside axis ${a}`);
      total += s[a];
    });
    return first.map((d, j) => (j === a ? total : d));
  }
  /** Rows before the axis (batch included) and each input's row width from the axis on. */
  private columns(ctx: ForwardContext): { rows: number; widths: number[]; total: number } {
    const a = this.resolvedAxis(ctx.outputShape.length);
    const widths = ctx.inputShapes.map((s) => shapeSize(s.slice(a)));
    const total = widths.reduce((x, y) => x + y, 0);
    return { rows: ctx.batch * shapeSize(ctx.outputShape.slice(0, a)), widths, total };
  }
  forward(ctx: ForwardContext): BufferRef {
    const { rows, widths, total } = this.columns(ctx);
    const y = ctx.newBuffer(ctx.outputShape);
    let offset = 0;
    ctx.inputs.forEach((x, i) => {
      ctx.builder.emit('scatterColumns', [x, y], [rows, widths[i], total, offset]);
      offset += widths[i];
    });
    return y;
  }
  backward(ctx: BackwardContext): void {
    const { rows, widths, total } = this.columns(ctx);
    let offset = 0;
    ctx.inputs.forEach((_, i) => {
      if (ctx.needsInputGrad(i)) {
        const dx = ctx.newBuffer(ctx.inputShapes[i]);
        ctx.builder.emit('gatherColumns', [ctx.dOutput, dx], [rows, widths[i], total, offset]);
        ctx.addInputGrad(i, dx);
      }
      offset += widths[i];
    });
  }
}
