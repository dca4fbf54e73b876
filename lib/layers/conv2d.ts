/** 2D convolution over NHWC activations with HWIO weights, plus bias and a fused activation. */
import type { BufferRef } from '../plan/builder';
import { ShapeError } from '../errors';
import { shapeToString } from '../tensor';
import { ActivationName, checkActivation, emitActivationBackward, emitActivationInPlace } from './activation';
import { Initializer, checkInitializer } from './initializers';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Param, Shape, intPair, positiveInt, requireRank } from './layer';
import { Padding, checkPadding, windowAxis } from './padding';

export interface Conv2dOptions extends LayerOptions {
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  dilation?: number | [number, number];
  padding?: Padding;
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
}

export class Conv2d extends Layer {
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly dilation: [number, number];
  readonly padding: Padding;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;

  constructor(options: Conv2dOptions) {
    super('conv2d', options);
    const o = options ?? ({} as Conv2dOptions);
    this.filters = positiveInt(this.name, 'filters', o.filters);
    this.kernelSize = intPair(this.name, 'kernelSize', o.kernelSize);
    this.strides = intPair(this.name, 'strides', o.strides ?? 1);
    this.dilation = intPair(this.name, 'dilation', o.dilation ?? 1);
    this.padding = checkPadding(this.name, o.padding);
    this.activation = checkActivation(this.name, o.activation);
    this.useBias = o.useBias ?? true;
    this.kernelInitializer = checkInitializer(this.name, 'kernelInitializer', o.kernelInitializer ?? 'glorotUniform');
    this.biasInitializer = checkInitializer(this.name, 'biasInitializer', o.biasInitializer ?? 'zeros');
  }

  get kind(): string {
    return 'conv2d';
  }

  config(): Record<string, unknown> {
    return {
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      dilation: this.dilation,
      padding: this.padding,
      activation: this.activation,
      useBias: this.useBias,
    };
  }

  private geometry(input: Shape) {
    requireRank(this.name, input, 3, 'an [height, width, channels]');
    const [h, w, c] = input;
    const rows = windowAxis(this.name, 'height', h, this.kernelSize[0], this.strides[0], this.dilation[0], this.padding);
    const cols = windowAxis(this.name, 'width', w, this.kernelSize[1], this.strides[1], this.dilation[1], this.padding);
    return { h, w, c, rows, cols };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const g = this.geometry(inputShapes[0]);
    if (g.c < 1) throw new ShapeError(`${this.name}: input ${shapeToString(inputShapes[0])} has no channels`);
    return [g.rows.out, g.cols.out, this.filters];
  }

  protected override createParams(inputShapes: readonly Shape[]): Param[] {
    const c = inputShapes[0][2];
    const [kh, kw] = this.kernelSize;
    const fans = { fanIn: kh * kw * c, fanOut: kh * kw * this.filters };
    const params = [new Param(`${this.name}/kernel`, [kh, kw, c, this.filters], this.kernelInitializer, fans)];
    if (this.useBias) params.push(new Param(`${this.name}/bias`, [this.filters], this.biasInitializer, fans));
    return params;
  }

  /** The integer parameters of the conv2d kernels for this batch. */
  private kernelInts(batch: number, input: Shape): number[] {
    const g = this.geometry(input);
    return [
      batch, g.h, g.w, g.c, this.filters,
      this.kernelSize[0], this.kernelSize[1],
      this.strides[0], this.strides[1],
      this.dilation[0], this.dilation[1],
      g.rows.padBefore, g.cols.padBefore,
      g.rows.out, g.cols.out,
      1,
    ];
  }

  forward(ctx: ForwardContext): BufferRef {
    const [kernel, bias] = this.params;
    const y = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit('conv2d', [ctx.inputs[0], ctx.param(kernel), y], this.kernelInts(ctx.batch, ctx.inputShapes[0]));
    if (bias) ctx.builder.emit('biasAdd', [y, ctx.param(bias), y], [y.length / this.filters, this.filters]);
    emitActivationInPlace(ctx.builder, this.activation, y);
    return y;
  }

  backward(ctx: BackwardContext): void {
    const [kernel, bias] = this.params;
    const ints = this.kernelInts(ctx.batch, ctx.inputShapes[0]);
    const dPre = emitActivationBackward(ctx.builder, this.activation, ctx.output, ctx.dOutput, () => ctx.newBuffer(ctx.outputShape));
    if (bias) {
      const db = ctx.paramGradTarget(bias);
      ctx.builder.emit('biasAddGrad', [dPre, db], [dPre.length / this.filters, this.filters]);
      ctx.paramGradDone(bias, db);
    }
    const dw = ctx.paramGradTarget(kernel);
    ctx.builder.emit('conv2dBackwardFilter', [ctx.inputs[0], dPre, dw], ints);
    ctx.paramGradDone(kernel, dw);
    if (ctx.needsInputGrad(0)) {
      const dx = ctx.newBuffer(ctx.inputShapes[0]);
      ctx.builder.emit('conv2dBackwardInput', [dPre, ctx.param(kernel), dx], ints);
      ctx.addInputGrad(0, dx);
    }
  }
}
