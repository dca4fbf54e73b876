/**
 * Pooling: max, average and L2 (square root of the sum of squares) over 1D, 2D and 3D
 * windows, and global average and max pooling. 2D max/avg run on the 2D kernels, the rest
 * on the 3D kernels with unit leading axes.
 */
import type { BufferRef } from '../plan/builder';
import type { KernelName } from '../backend/kernels';
import { ShapeError } from '../errors';
import { Padding, WindowAxis, checkPadding } from '../geometry';
import { shapeSize, shapeToString } from '../tensor';
import { spatialGeometry } from './conv';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Shape, intTuple, requireRank } from './layer';

export type PoolMode = 'max' | 'avg' | 'l2';

export interface PoolOptions extends LayerOptions {
  poolSize?: number | number[];
  /** Defaults to poolSize (non-overlapping windows). */
  strides?: number | number[];
  padding?: Padding;
}

const AXES: Record<number, string> = { 1: 'width, channels', 2: 'height, width, channels', 3: 'depth, height, width, channels' };

export class Pool extends Layer {
  readonly poolSize: number[];
  readonly strides: number[];
  readonly padding: Padding;

  constructor(
    readonly mode: PoolMode,
    readonly rank: 1 | 2 | 3,
    options: PoolOptions = {},
  ) {
    super(`${mode}_pool${rank}d`, options);
    this.poolSize = intTuple(this.name, 'poolSize', options.poolSize ?? 2, rank);
    this.strides = intTuple(this.name, 'strides', options.strides ?? this.poolSize, rank);
    this.padding = checkPadding(this.name, options.padding, rank);
  }

  get kind(): string {
    return `${this.mode}Pool${this.rank}d`;
  }

  config(): Record<string, unknown> {
    return { poolSize: this.poolSize, strides: this.strides, padding: this.padding };
  }

  private geometry(input: Shape): WindowAxis[] {
    requireRank(this.name, input, this.rank + 1, AXES[this.rank]);
    return spatialGeometry(this.name, input, this.rank, this.poolSize, this.strides, new Array(this.rank).fill(1), this.padding);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    return [...this.geometry(inputShapes[0]).map((a) => a.out), inputShapes[0][this.rank]];
  }

  /** Kernel names and integer parameters for this input shape and batch. */
  private kernelCall(batch: number, input: Shape): { forward: KernelName; backward: KernelName; ints: number[]; is3d: boolean } {
    const axes = this.geometry(input);
    const c = input[this.rank];
    if (this.rank === 2 && this.mode !== 'l2') {
      const forward = this.mode === 'max' ? 'maxPool2d' : 'avgPool2d';
      return {
        forward,
        backward: `${forward}Backward` as KernelName,
        is3d: false,
        ints: [batch, input[0], input[1], c, this.poolSize[0], this.poolSize[1], this.strides[0], this.strides[1], axes[0].padBefore, axes[1].padBefore, axes[0].out, axes[1].out],
      };
    }
    // Pad the spatial axes to three with unit axes in front: 1D -> [1, 1, w], 2D -> [1, h, w].
    const lead = 3 - this.rank;
    const size = [...new Array(lead).fill(1), ...input.slice(0, this.rank)];
    const window = [...new Array(lead).fill(1), ...this.poolSize];
    const strides = [...new Array(lead).fill(1), ...this.strides];
    const pads = [...new Array(lead).fill(0), ...axes.map((a) => a.padBefore)];
    const outs = [...new Array(lead).fill(1), ...axes.map((a) => a.out)];
    const forward = `${this.mode}Pool3d` as KernelName;
    return { forward, backward: `${forward}Backward` as KernelName, is3d: true, ints: [batch, ...size, c, ...window, ...strides, ...pads, ...outs] };
  }

  forward(ctx: ForwardContext): BufferRef {
    const { forward, ints } = this.kernelCall(ctx.batch, ctx.inputShapes[0]);
    const y = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit(forward, [ctx.inputs[0], y], ints);
    return y;
  }

  backward(ctx: BackwardContext): void {
    if (!ctx.needsInputGrad(0)) return;
    const { backward, ints } = this.kernelCall(ctx.batch, ctx.inputShapes[0]);
    const dx = ctx.newBuffer(ctx.inputShapes[0]);
    if (this.mode === 'max') ctx.builder.emit(backward, [ctx.inputs[0], ctx.dOutput, dx], ints);
    else if (this.mode === 'avg') ctx.builder.emit(backward, [ctx.dOutput, dx], ints);
    else ctx.builder.emit(backward, [ctx.inputs[0], ctx.output, ctx.dOutput, dx], ints);
    ctx.addInputGrad(0, dx);
  }
}

/** Average or max over every spatial position: [..., channels] -> [channels]. */
export class GlobalPool extends Layer {
  constructor(
    readonly mode: 'max' | 'avg',
    options: LayerOptions = {},
  ) {
    super(`global_${mode}_pool`, options);
  }

  get kind(): string {
    return this.mode === 'max' ? 'globalMaxPool' : 'globalAvgPool';
  }

  config(): Record<string, unknown> {
    return {};
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const s = inputShapes[0];
    if (s.length < 2) throw new ShapeError(`${this.name}: expects [spatial..., channels], got ${shapeToString(s)}`);
    return [s[s.length - 1]];
  }

  /** One window over all positions, as a 2D pool of height 1. */
  private ints(batch: number, input: Shape): number[] {
    const c = input[input.length - 1];
    const positions = shapeSize(input) / c;
    return [batch, 1, positions, c, 1, positions, 1, positions, 0, 0, 1, 1];
  }

  forward(ctx: ForwardContext): BufferRef {
    const y = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit(this.mode === 'max' ? 'maxPool2d' : 'avgPool2d', [ctx.inputs[0], y], this.ints(ctx.batch, ctx.inputShapes[0]));
    return y;
  }

  backward(ctx: BackwardContext): void {
    if (!ctx.needsInputGrad(0)) return;
    const ints = this.ints(ctx.batch, ctx.inputShapes[0]);
    const dx = ctx.newBuffer(ctx.inputShapes[0]);
    if (this.mode === 'max') ctx.builder.emit('maxPool2dBackward', [ctx.inputs[0], ctx.dOutput, dx], ints);
    else ctx.builder.emit('avgPool2dBackward', [ctx.dOutput, dx], ints);
    ctx.addInputGrad(0, dx);
  }
}
