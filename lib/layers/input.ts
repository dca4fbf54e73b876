/** The graph's entry: a placeholder for a batch of inputs of a given shape. */
import type { BufferRef } from '../plan/builder';
import { shapeToString } from '../tensor';
import { ArgumentError } from '../errors';
import { BackwardContext, ForwardContext, Layer, Shape, SymbolicTensor } from './layer';

export class InputLayer extends Layer {
  constructor(readonly shape: Shape, name?: string) {
    super('input', { name });
    if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new ArgumentError(`input: shape must be a non-empty array of positive integers (without the batch), got ${JSON.stringify(shape)}`);
    }
  }
  get kind(): string {
    return 'input';
  }
  override get arity(): number {
    return 0;
  }
  config(): Record<string, unknown> {
    return { shape: this.shape };
  }
  computeOutputShape(): Shape {
    return this.shape;
  }
  forward(ctx: ForwardContext): BufferRef {
    throw new Error(`input layers are bound by the model, not emitted (${ctx.outputShape})`);
  }
  backward(_ctx: BackwardContext): void {}
  override toString(): string {
    return `input(${shapeToString(this.shape)})`;
  }
}

/** Starts a functional graph: `const x = input({ shape: [28, 28, 1] })`. */
export function input(options: { shape: number[]; name?: string }): SymbolicTensor {
  if (!options || typeof options !== 'object') throw new ArgumentError('input: expects an options object { shape }');
  return new InputLayer(options.shape, options.name).apply();
}
