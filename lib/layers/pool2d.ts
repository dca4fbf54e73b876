/** Max and average pooling over NHWC activations. */
import type { BufferRef } from '../plan/builder';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Shape, intPair, requireRank } from './layer';
import { Padding, checkPadding, windowAxis } from './padding';

export interface Pool2dOptions extends LayerOptions {
  poolSize?: number | [number, number];
  /** Defaults to poolSize (non-overlapping windows). */
  strides?: number | [number, number];
  padding?: Padding;
}

type PoolMode = 'max' | 'avg';

export class Pool2d extends Layer {
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;

  constructor(readonly mode: PoolMode, options: Pool2dOptions = {}) {
    super(mode === 'max' ? 'max_pool2d' : 'avg_pool2d', options);
    this.poolSize = intPair(this.name, 'poolSize', options.poolSize ?? 2);
    this.strides = intPair(this.name, 'strides', options.strides ?? this.poolSize);
    this.padding = checkPadding(this.name, options.padding);
  }

  get kind(): string {
    return this.mode === 'max' ? 'maxPool2d' : 'avgPool2d';
  }

  config(): Record<string, unknown> {
    return { poolSize: this.poolSize, strides: this.strides, padding: this.padding };
  }

  private geometry(input: Shape) {
    requireRank(this.name, input, 3, 'an [height, width, channels]');
    const [h, w, c] = input;
    const rows = windowAxis(this.name, 'height', h, this.poolSize[0], this.strides[0], 1, this.padding);
    const cols = windowAxis(this.name, 'width', w, this.poolSize[1], this.strides[1], 1, this.padding);
    return { h, w, c, rows, cols };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(inputShapes[0]);
    return [g.rows.out, g.cols.out, g.c];
  }

  private kernelInts(batch: number, input: Shape): number[] {
    const g = this.geometry(input);
    return [
      batch, g.h, g.w, g.c,
      this.poolSize[0], this.poolSize[1],
      this.strides[0], this.strides[1],
      g.rows.padBefore, g.cols.padBefore,
      g.rows.out, g.cols.out,
    ];
  }

  forward(ctx: ForwardContext): BufferRef {
    const y = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit(this.mode === 'max' ? 'maxPool2d' : 'avgPool2d', [ctx.inputs[0], y], this.kernelInts(ctx.batch, ctx.inputShapes[0]));
    return y;
  }

  backward(ctx: BackwardContext): void {
    if (!ctx.needsInputGrad(0)) return;
    const ints = this.kernelInts(ctx.batch, ctx.inputShapes[0]);
    const dx = ctx.newBuffer(ctx.inputShapes[0]);
    if (this.mode === 'max') ctx.builder.emit('maxPool2dBackward', [ctx.inputs[0], ctx.dOutput, dx], ints);
    else ctx.builder.emit('avgPool2dBackward', [ctx.dOutput, dx], ints);
    ctx.addInputGrad(0, dx);
  }
}
