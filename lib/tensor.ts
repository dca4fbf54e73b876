/**
 * A tensor is a shape plus a float32 buffer in row-major order. Activations are
 * channels-last (NWC, NHWC, NDHWC); conv weights are [k..., in, out] (HWIO).
 */
export interface TensorLike {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

export class Tensor implements TensorLike {
  readonly shape: readonly number[];
  readonly data: Float32Array;

  constructor(shape: readonly number[], data?: Float32Array) {
    const size = shapeSize(shape);
    this.shape = Object.freeze([...shape]);
    this.data = data ?? new Float32Array(size);
    if (this.data.length !== size) {
      throw new RangeError(`tensor data has ${this.data.length} elements but shape [${shape.join(', ')}] needs ${size}`);
    }
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** A nested-array view, for printing and small tests. */
  toArray(): unknown {
    const build = (dim: number, offset: number): unknown => {
      if (dim === this.shape.length) return this.data[offset];
      const stride = shapeSize(this.shape.slice(dim + 1));
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[dim]; i++) out.push(build(dim + 1, offset + i * stride));
      return out;
    };
    return build(0, 0);
  }
}

export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

export function shapeToString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
