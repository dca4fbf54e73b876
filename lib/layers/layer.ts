/**
 * Layers and the symbolic graph they form. A layer knows its shape rule, its parameters,
 * and which kernel calls make its forward pass and its gradient; the model turns a graph
 * of layers into a plan through the two contexts below.
 */
import type { BufferRef, PlanBuilder } from '../plan/builder';
import { shapeSize, shapeToString } from '../tensor';
import { ArgumentError, ShapeError } from '../errors';
import type { Initializer } from './initializers';

/** A shape without the batch dimension. */
export type Shape = readonly number[];

export class Param {
  /** Offset of the values in the model's state arena, set when the model lays out its state. */
  offset = -1;
  /** A view of the values in the state arena (or a standalone array before layout). */
  data: Float32Array;
  constructor(
    readonly name: string,
    readonly shape: Shape,
    readonly initializer: Initializer,
    /** Fan-in and fan-out used by variance-scaling initializers. */
    readonly fans: { fanIn: number; fanOut: number },
    /** False for state that training updates without gradients (batch-norm running statistics). */
    readonly trainable = true,
  ) {
    this.data = new Float32Array(shapeSize(shape));
  }
  get size(): number {
    return this.data.length;
  }
}

/** A node of the graph: the output of one application of a layer. */
export class SymbolicTensor {
  private static nextId = 0;
  readonly id = SymbolicTensor.nextId++;
  constructor(
    readonly shape: Shape,
    readonly layer: Layer,
    readonly inputs: readonly SymbolicTensor[],
  ) {}
  toString(): string {
    return `SymbolicTensor(${this.layer.name}, ${shapeToString(this.shape)})`;
  }
}

export interface ForwardContext {
  readonly builder: PlanBuilder;
  readonly batch: number;
  readonly training: boolean;
  readonly inputShapes: readonly Shape[];
  readonly outputShape: Shape;
  readonly inputs: readonly BufferRef[];
  param(p: Param): BufferRef;
  /** A fresh work buffer for `batch` rows of `shape`. */
  newBuffer(shape: Shape): BufferRef;
  /** Keeps a buffer for this node's backward pass (a pre-activation, batch statistics, a mask). */
  save(key: string, buffer: BufferRef): void;
  /**
   * A work buffer of `batch` rows of `shape` that the model fills on the host before every
   * run of the plan (dropout masks), with a generator seeded by the fit seed.
   */
  hostBuffer(shape: Shape, fill: HostFill): BufferRef;
}

export type HostFill = (out: Float32Array, rng: import('../random').Random) => void;

export interface BackwardContext extends ForwardContext {
  readonly output: BufferRef;
  readonly dOutput: BufferRef;
  /** A buffer the forward pass saved with save(key, ...). */
  saved(key: string): BufferRef;
  /** False where the input is a model input or otherwise needs no gradient: skip that work. */
  needsInputGrad(index: number): boolean;
  /** Adds `grad` into the gradient of input `index` (the first contribution is adopted as is). */
  addInputGrad(index: number, grad: BufferRef): void;
  /** Where to write the gradient of `p`: its gradient buffer, or a temporary if `p` already has a contribution. */
  paramGradTarget(p: Param): BufferRef;
  /** Call after writing into paramGradTarget(p); sums a temporary into the gradient. */
  paramGradDone(p: Param, written: BufferRef): void;
}

let layerCounter = 0;

export interface LayerOptions {
  name?: string;
}

export abstract class Layer {
  readonly name: string;
  /** Parameters, created on the first apply (when the input shape is known). */
  params: Param[] = [];
  private builtFor?: string;

  constructor(kind: string, options: LayerOptions = {}) {
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
      throw new ArgumentError(`${kind}: name must be a non-empty string`);
    }
    this.name = options.name ?? `${kind}_${++layerCounter}`;
  }

  /** The layer's type name, as written in summaries and saved models. */
  abstract get kind(): string;

  /** Output shape for the given input shapes; throws naming the layer and the numbers when they cannot work. */
  abstract computeOutputShape(inputShapes: readonly Shape[]): Shape;

  /** Creates the parameters for these input shapes (values are set later by the model's seeded initializer). */
  protected createParams(_inputShapes: readonly Shape[]): Param[] {
    return [];
  }

  /** Emits the forward kernel calls and returns the output buffer. */
  abstract forward(ctx: ForwardContext): BufferRef;

  /** Emits the gradient kernel calls: input gradients (where needed) and parameter gradients. */
  abstract backward(ctx: BackwardContext): void;

  /** The number of inputs the layer takes; -n means at least n. */
  get arity(): number {
    return 1;
  }

  /** The layer's config, for summaries and (later) serialization. */
  abstract config(): Record<string, unknown>;

  /** Checks the input shapes, creates the parameters on first use, and returns the output shape. */
  build(shapes: readonly Shape[]): Shape {
    const outputShape = this.computeOutputShape(shapes);
    const key = shapes.map(shapeToString).join(';');
    if (this.builtFor === undefined) {
      this.params = this.createParams(shapes);
      this.builtFor = key;
    } else if (this.builtFor !== key) {
      throw new ShapeError(`${this.name}: already built for input shape ${this.builtFor}, cannot apply it to ${key}`);
    }
    return outputShape;
  }

  apply(...inputs: SymbolicTensor[]): SymbolicTensor {
    if (this.arity >= 0 ? inputs.length !== this.arity : inputs.length < -this.arity) {
      const expected = this.arity >= 0 ? String(this.arity) : `at least ${-this.arity}`;
      throw new ArgumentError(`${this.name}: expects ${expected} input(s), got ${inputs.length}`);
    }
    inputs.forEach((x, i) => {
      if (!(x instanceof SymbolicTensor)) throw new ArgumentError(`${this.name}: input ${i} must be a SymbolicTensor from input() or another layer's apply()`);
    });
    return new SymbolicTensor(this.build(inputs.map((x) => x.shape)), this, inputs);
  }
}

/** Checks that a config value is a positive integer; names the layer and the option. */
export function positiveInt(layer: string, option: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ArgumentError(`${layer}: ${option} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/** A number or one per spatial axis, as in kernelSize: 5 or [5, 3]; each at least `min`. */
export function intTuple(layer: string, option: string, value: unknown, rank: number, min = 1): number[] {
  const check = (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new ArgumentError(`${layer}: ${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return v;
  };
  if (typeof value === 'number') return new Array<number>(rank).fill(check(value, option));
  if (Array.isArray(value) && value.length === rank) return value.map((v, i) => check(v, `${option}[${i}]`));
  throw new ArgumentError(`${layer}: ${option} must be an integer or ${rank} of them, got ${JSON.stringify(value)}`);
}

export function requireRank(layer: string, shape: Shape, rank: number, what: string): void {
  if (shape.length !== rank) {
    throw new ShapeError(`${layer}: expects ${what} input of rank ${rank} (without the batch), got shape ${shapeToString(shape)}`);
  }
}
