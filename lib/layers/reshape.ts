/** Flatten and reshape: a new shape over the same buffer, so they cost no kernel call either way. */
import type { BufferRef } from '../plan/builder';
import { ArgumentError, ShapeError } from '../errors';
import { shapeSize, shapeToString } from '../tensor';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Shape } from './layer';

abstract class AliasLayer extends Layer {
  forward(ctx: ForwardContext): BufferRef {
    return ctx.inputs[0];
  }
  backward(ctx: BackwardContext): void {
    if (ctx.needsInputGrad(0)) ctx.addInputGrad(0, ctx.dOutput);
  }
}

export class Flatten extends AliasLayer {
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
}

export interface ReshapeOptions extends LayerOptions {
  /** The new shape without the batch; one entry may be -1 (inferred). */
  targetShape: number[];
}

export class Reshape extends AliasLayer {
  readonly targetShape: number[];
  constructor(options: ReshapeOptions) {
    super('reshape', options);
    const t = options?.targetShape;
    if (!Array.isArray(t) || t.length === 0 || !t.every((d) => d === -1 || (Number.isInteger(d) && d >= 1)) || t.filter((d) => d === -1).length > 1) {
      throw new ArgumentError(`${this.name}: targetShape must be positive integers with at most one -1, got ${JSON.stringify(t)}`);
    }
    this.targetShape = [...t];
  }
  get kind(): string {
    return 'reshape';
  }
  config(): Record<string, unknown> {
    return { targetShape: this.targetShape };
  }
  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const size = shapeSize(inputShapes[0]);
    const known = this.targetShape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
    const shape = this.targetShape.map((d) => (d === -1 ? size / known : d));
    if (!shape.every((d) => Number.isInteger(d) && d >= 1) || shapeSize(shape) !== size) {
      throw new ShapeError(`${this.name}: cannot reshape ${shapeToString(inputShapes[0])} (${size} elements) to ${shapeToString(this.targetShape)}`);
    }
    return shape;
  }
}
