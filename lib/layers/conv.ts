/**
 * Convolution in 1D (NWC), 2D (NHWC) and 3D (NDHWC), with per-axis strides, dilation,
 * groups (depthwise when groups = channels), bias and a fused activation. 1D runs on the
 * 2D kernels with a height of 1; 3D on the 3D kernels.
 */
import type { BufferRef } from '../plan/builder';
import { ArgumentError, ShapeError } from '../errors';
import { Padding, WindowAxis, checkPadding, windowAxis } from '../geometry';
import { shapeToString } from '../tensor';
import { ActivationName, checkActivation, emitActivation, emitActivationBackward, emitActivationBackwardWithBias } from './activation';
import { Initializer, checkInitializer } from './initializers';
import { BackwardContext, ForwardContext, Layer, LayerOptions, Param, Shape, intTuple, positiveInt, requireRank } from './layer';

export interface ConvOptions extends LayerOptions {
  filters: number;
  kernelSize: number | number[];
  strides?: number | number[];
  dilation?: number | number[];
  padding?: Padding;
  groups?: number;
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
}

const AXIS_NAMES: Record<number, string[]> = { 1: ['width'], 2: ['height', 'width'], 3: ['depth', 'height', 'width'] };

/** Per-axis geometry of a convolution-like window over the spatial axes of `input`. */
export function spatialGeometry(
  layer: string,
  input: Shape,
  rank: number,
  kernel: readonly number[],
  strides: readonly number[],
  dilation: readonly number[],
  padding: Padding,
): WindowAxis[] {
  return AXIS_NAMES[rank].map((axis, i) => windowAxis(layer, axis, input[i], kernel[i], strides[i], dilation[i], padding, i));
}

/** The 16 integer parameters of the conv2d kernels (1D as 2D with height 1). */
export function conv2dInts(batch: number, rank: 1 | 2, input: Shape, oc: number, kernel: readonly number[], strides: readonly number[], dilation: readonly number[], axes: WindowAxis[], groups: number): number[] {
  if (rank === 1) {
    return [batch, 1, input[0], input[1], oc, 1, kernel[0], 1, strides[0], 1, dilation[0], 0, axes[0].padBefore, 1, axes[0].out, groups];
  }
  return [
    batch, input[0], input[1], input[2], oc, kernel[0], kernel[1], strides[0], strides[1], dilation[0], dilation[1],
    axes[0].padBefore, axes[1].padBefore, axes[0].out, axes[1].out, groups,
  ];
}

export function conv3dInts(batch: number, input: Shape, oc: number, kernel: readonly number[], strides: readonly number[], dilation: readonly number[], axes: WindowAxis[], groups: number): number[] {
  return [
    batch, input[0], input[1], input[2], input[3], oc, kernel[0], kernel[1], kernel[2],
    strides[0], strides[1], strides[2], dilation[0], dilation[1], dilation[2],
    axes[0].padBefore, axes[1].padBefore, axes[2].padBefore, axes[0].out, axes[1].out, axes[2].out, groups,
  ];
}

export class Conv extends Layer {
  readonly filters: number;
  readonly kernelSize: number[];
  readonly strides: number[];
  readonly dilation: number[];
  readonly padding: Padding;
  readonly groups: number;
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;

  constructor(
    readonly rank: 1 | 2 | 3,
    options: ConvOptions,
  ) {
    super(`conv${rank}d`, options);
    const o = options ?? ({} as ConvOptions);
    this.filters = positiveInt(this.name, 'filters', o.filters);
    this.kernelSize = intTuple(this.name, 'kernelSize', o.kernelSize, rank);
    this.strides = intTuple(this.name, 'strides', o.strides ?? 1, rank);
    this.dilation = intTuple(this.name, 'dilation', o.dilation ?? 1, rank);
    this.padding = checkPadding(this.name, o.padding, rank);
    this.groups = positiveInt(this.name, 'groups', o.groups ?? 1);
    if (this.filters % this.groups !== 0) {
      throw new ArgumentError(`${this.name}: filters (${this.filters}) must be divisible by groups (${this.groups})`);
    }
    this.activation = checkActivation(this.name, o.activation);
    this.useBias = o.useBias ?? true;
    this.kernelInitializer = checkInitializer(this.name, 'kernelInitializer', o.kernelInitializer ?? 'glorotUniform');
    this.biasInitializer = checkInitializer(this.name, 'biasInitializer', o.biasInitializer ?? 'zeros');
  }

  get kind(): string {
    return `conv${this.rank}d`;
  }

  config(): Record<string, unknown> {
    return {
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      dilation: this.dilation,
      padding: this.padding,
      groups: this.groups,
      activation: this.activation,
      useBias: this.useBias,
    };
  }

  private geometry(input: Shape): WindowAxis[] {
    requireRank(this.name, input, this.rank + 1, AXIS_NAMES[this.rank].join(', ') + ', channels');
    const channels = input[this.rank];
    if (channels % this.groups !== 0) {
      throw new ArgumentError(`${this.name}: input channels (${channels}) must be divisible by groups (${this.groups})`);
    }
    return spatialGeometry(this.name, input, this.rank, this.kernelSize, this.strides, this.dilation, this.padding);
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    const axes = this.geometry(inputShapes[0]);
    return [...axes.map((a) => a.out), this.filters];
  }

  protected override createParams(inputShapes: readonly Shape[]): Param[] {
    const channels = inputShapes[0][this.rank];
    const window = this.kernelSize.reduce((a, b) => a * b, 1);
    const inPerGroup = channels / this.groups;
    const fans = { fanIn: window * inPerGroup, fanOut: (window * this.filters) / this.groups };
    const params = [new Param(`${this.name}/kernel`, [...this.kernelSize, inPerGroup, this.filters], this.kernelInitializer, fans)];
    if (this.useBias) params.push(new Param(`${this.name}/bias`, [this.filters], this.biasInitializer, fans));
    return params;
  }

  private kernelCall(batch: number, input: Shape): { prefix: 'conv2d' | 'conv3d'; ints: number[] } {
    const axes = this.geometry(input);
    if (this.rank === 3) return { prefix: 'conv3d', ints: conv3dInts(batch, input, this.filters, this.kernelSize, this.strides, this.dilation, axes, this.groups) };
    return { prefix: 'conv2d', ints: conv2dInts(batch, this.rank, input, this.filters, this.kernelSize, this.strides, this.dilation, axes, this.groups) };
  }

  forward(ctx: ForwardContext): BufferRef {
    const [kernel, bias] = this.params;
    const { prefix, ints } = this.kernelCall(ctx.batch, ctx.inputShapes[0]);
    const y = ctx.newBuffer(ctx.outputShape);
    if (bias && prefix === 'conv2d' && (this.activation === 'relu' || this.activation === 'linear')) {
      // Bias and relu in the convolution's epilogue: one pass over y instead of three.
      const relu = this.activation === 'relu' ? 1 : 0;
      ctx.builder.emit('conv2dBiasActivation', [ctx.inputs[0], ctx.param(kernel), ctx.param(bias), y], [...ints, relu]);
      return y;
    }
    ctx.builder.emit(prefix, [ctx.inputs[0], ctx.param(kernel), y], ints);
    if (bias) ctx.builder.emit('biasAdd', [y, ctx.param(bias), y], [y.length / this.filters, this.filters]);
    return emitActivation(ctx, this.activation, y);
  }

  backward(ctx: BackwardContext): void {
    const [kernel, bias] = this.params;
    const { prefix, ints } = this.kernelCall(ctx.batch, ctx.inputShapes[0]);
    const dPre = bias ? emitActivationBackwardWithBias(ctx, this.activation, bias, this.filters) : emitActivationBackward(ctx, this.activation);
    const dw = ctx.paramGradTarget(kernel);
    ctx.builder.emit(`${prefix}BackwardFilter`, [ctx.inputs[0], dPre, dw], ints);
    ctx.paramGradDone(kernel, dw);
    if (ctx.needsInputGrad(0)) {
      const dx = ctx.newBuffer(ctx.inputShapes[0]);
      ctx.builder.emit(`${prefix}BackwardInput`, [dPre, ctx.param(kernel), dx], ints);
      ctx.addInputGrad(0, dx);
    }
  }
}

export interface Conv2dTransposeOptions extends LayerOptions {
  filters: number;
  kernelSize: number | number[];
  strides?: number | number[];
  padding?: 'valid' | 'same';
  /**
   * Picks among the output sizes a stride allows (Keras semantics): unset, 'same' gives
   * in * stride; set, the output is (in - 1) * stride + kernel - 2 * pad + outputPadding
   * with pad = 0 ('valid') or floor(kernel / 2) ('same').
   */
  outputPadding?: number | number[];
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: Initializer;
  biasInitializer?: Initializer;
}

/**
 * Transposed 2D convolution (the gradient of a convolution with respect to its input).
 * Weights are [kh, kw, filters, inChannels], as in TensorFlow. Output size per axis:
 * 'valid' (in-1)*stride + kernel + outputPadding, 'same' in*stride + outputPadding.
 */
export class Conv2dTranspose extends Layer {
  readonly filters: number;
  readonly kernelSize: number[];
  readonly strides: number[];
  readonly padding: 'valid' | 'same';
  readonly outputPadding?: number[];
  readonly activation: ActivationName;
  readonly useBias: boolean;
  readonly kernelInitializer: Initializer;
  readonly biasInitializer: Initializer;

  constructor(options: Conv2dTransposeOptions) {
    super('conv2d_transpose', options);
    const o = options ?? ({} as Conv2dTransposeOptions);
    this.filters = positiveInt(this.name, 'filters', o.filters);
    this.kernelSize = intTuple(this.name, 'kernelSize', o.kernelSize, 2);
    this.strides = intTuple(this.name, 'strides', o.strides ?? 1, 2);
    const padding = o.padding ?? 'valid';
    if (padding !== 'valid' && padding !== 'same') throw new ArgumentError(`${this.name}: padding must be 'valid' or 'same', got ${JSON.stringify(padding)}`);
    this.padding = padding;
    if (o.outputPadding !== undefined) {
      this.outputPadding = intTuple(this.name, 'outputPadding', o.outputPadding, 2, 0);
      this.outputPadding.forEach((p, i) => {
        if (p >= this.strides[i]) throw new ArgumentError(`${this.name}: outputPadding (${p}) must be smaller than the stride (${this.strides[i]})`);
      });
    }
    this.activation = checkActivation(this.name, o.activation);
    this.useBias = o.useBias ?? true;
    this.kernelInitializer = checkInitializer(this.name, 'kernelInitializer', o.kernelInitializer ?? 'glorotUniform');
    this.biasInitializer = checkInitializer(this.name, 'biasInitializer', o.biasInitializer ?? 'zeros');
  }

  get kind(): string {
    return 'conv2dTranspose';
  }

  config(): Record<string, unknown> {
    return { filters: this.filters, kernelSize: this.kernelSize, strides: this.strides, padding: this.padding, outputPadding: this.outputPadding, activation: this.activation, useBias: this.useBias };
  }

  /** The forward conv whose input gradient this layer computes: its input is our output. */
  private geometry(input: Shape): { outShape: number[]; ints: (batch: number) => number[] } {
    requireRank(this.name, input, 3, 'height, width, channels');
    const out = [0, 1].map((i) => {
      const [k, s] = [this.kernelSize[i], this.strides[i]];
      if (this.outputPadding === undefined) return this.padding === 'same' ? input[i] * s : (input[i] - 1) * s + k;
      const pad = this.padding === 'same' ? Math.floor(k / 2) : 0;
      return (input[i] - 1) * s + k - 2 * pad + this.outputPadding[i];
    });
    const axes = [0, 1].map((i) => {
      const a = windowAxis(this.name, i === 0 ? 'height' : 'width', out[i], this.kernelSize[i], this.strides[i], 1, this.padding, i);
      if (a.out !== input[i]) {
        throw new ShapeError(`${this.name}: input ${shapeToString(input)} and output size ${out[i]} do not correspond along ${i === 0 ? 'height' : 'width'}`);
      }
      return a;
    });
    const c = input[2];
    return {
      outShape: [out[0], out[1], this.filters],
      // conv2d kernels with x = our output [out, filters] and y = our input [in, c].
      ints: (batch) => [batch, out[0], out[1], this.filters, c, this.kernelSize[0], this.kernelSize[1], this.strides[0], this.strides[1], 1, 1, axes[0].padBefore, axes[1].padBefore, input[0], input[1], 1],
    };
  }

  computeOutputShape(inputShapes: readonly Shape[]): Shape {
    return this.geometry(inputShapes[0]).outShape;
  }

  protected override createParams(inputShapes: readonly Shape[]): Param[] {
    const c = inputShapes[0][2];
    const window = this.kernelSize[0] * this.kernelSize[1];
    const fans = { fanIn: window * c, fanOut: window * this.filters };
    const params = [new Param(`${this.name}/kernel`, [this.kernelSize[0], this.kernelSize[1], this.filters, c], this.kernelInitializer, fans)];
    if (this.useBias) params.push(new Param(`${this.name}/bias`, [this.filters], this.biasInitializer, fans));
    return params;
  }

  forward(ctx: ForwardContext): BufferRef {
    const [kernel, bias] = this.params;
    const ints = this.geometry(ctx.inputShapes[0]).ints(ctx.batch);
    const y = ctx.newBuffer(ctx.outputShape);
    ctx.builder.emit('conv2dBackwardInput', [ctx.inputs[0], ctx.param(kernel), y], ints);
    if (bias) ctx.builder.emit('biasAdd', [y, ctx.param(bias), y], [y.length / this.filters, this.filters]);
    return emitActivation(ctx, this.activation, y);
  }

  backward(ctx: BackwardContext): void {
    const [kernel, bias] = this.params;
    const ints = this.geometry(ctx.inputShapes[0]).ints(ctx.batch);
    const dPre = emitActivationBackward(ctx, this.activation);
    if (bias) {
      const db = ctx.paramGradTarget(bias);
      ctx.builder.emit('biasAddGrad', [dPre, db], [dPre.length / this.filters, this.filters]);
      ctx.paramGradDone(bias, db);
    }
    // y = conv^T(x, w)  =>  dw = conv2dBackwardFilter(x: dPre, dy: input), dx = conv2d(dPre, w).
    const dw = ctx.paramGradTarget(kernel);
    ctx.builder.emit('conv2dBackwardFilter', [dPre, ctx.inputs[0], dw], ints);
    ctx.paramGradDone(kernel, dw);
    if (ctx.needsInputGrad(0)) {
      const dx = ctx.newBuffer(ctx.inputShapes[0]);
      ctx.builder.emit('conv2d', [dPre, ctx.param(kernel), dx], ints);
      ctx.addInputGrad(0, dx);
    }
  }
}
