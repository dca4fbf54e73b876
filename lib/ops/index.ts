/**
 * Eager ops: each kernel of the backend contract on plain { shape, data: Float32Array }
 * tensors, for filtering images or writing a training loop by hand. Layouts are
 * channels-last: x [batch, (depth,) (height,) width, channels], conv weights
 * [k..., in / groups, out]. Every op checks its arguments and runs synchronously on the
 * process backend (see backendInfo()).
 */
import { getBackend } from '../backend';
import type { KernelName } from '../backend/kernels';
import { ACTIVATION_KINDS, ActivationKind } from '../backend/kernels';
import { ArgumentError, ShapeError } from '../errors';
import { Padding, checkPadding } from '../geometry';
import { conv2dInts, conv3dInts, spatialGeometry } from '../layers/conv';
import { intTuple } from '../layers/layer';
import { Tensor, TensorLike, shapeSize, shapeToString } from '../tensor';

function checkTensor(name: string, t: TensorLike, rank?: number): void {
  if (!t || typeof t !== 'object' || !Array.isArray(t.shape) || !(t.data instanceof Float32Array)) {
    throw new ArgumentError(`${name} must be a tensor { shape: number[], data: Float32Array }`);
  }
  if (!t.shape.every((d) => Number.isInteger(d) && d >= 1)) throw new ShapeError(`${name} has an invalid shape ${shapeToString(t.shape)}`);
  if (shapeSize(t.shape) !== t.data.length) {
    throw new ShapeError(`${name}.data has ${t.data.length} elements but shape ${shapeToString(t.shape)} needs ${shapeSize(t.shape)}`);
  }
  if (rank !== undefined && t.shape.length !== rank) throw new ShapeError(`${name} must have rank ${rank}, got shape ${shapeToString(t.shape)}`);
}

/**
 * The result tensor: `out` when the caller passes one (checked: a tensor of exactly this
 * shape whose memory overlaps none of the inputs), else a new one. Reusing `out` in a loop
 * spares the zero-filled allocation every new Float32Array costs (for a 16 MB activation,
 * page faults and a memset on each call).
 */
function result(op: string, shape: readonly number[], out: TensorLike | undefined, inputs: TensorLike[]): Tensor {
  if (out === undefined) return new Tensor(shape);
  checkTensor(`${op}: out`, out);
  if (shapeToString(out.shape) !== shapeToString(shape)) throw new ShapeError(`${op}: out must have shape ${shapeToString(shape)}, got ${shapeToString(out.shape)}`);
  for (const input of inputs) {
    const a = out.data;
    const b = input.data;
    const overlap = a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength;
    if (overlap) throw new ArgumentError(`${op}: out must not share memory with an input`);
  }
  return out instanceof Tensor ? out : new Tensor(out.shape, out.data);
}

function run(kernel: KernelName, buffers: Float32Array[], ints: number[], floats: number[] = []): void {
  getBackend().runKernel(kernel, buffers, ints, floats);
}

export interface ConvOpOptions {
  strides?: number | number[];
  padding?: Padding;
  dilation?: number | number[];
  groups?: number;
  /**
   * Write the result here (a tensor of the result's shape) instead of a new tensor. When
   * the call throws because an input holds NaN or Infinity, out's contents are unspecified
   * (the native backend checks the input as the kernel reads it).
   */
  out?: TensorLike;
}

interface ConvGeometry {
  rank: 1 | 2 | 3;
  ints: number[];
  outShape: number[];
  kernelPrefix: 'conv2d' | 'conv3d';
}

/** Geometry of a convolution from x's shape [n, spatial..., c] and the filter shape [k..., c/groups, oc]. */
function convGeometry(op: string, xShape: readonly number[], wShape: readonly number[], options: ConvOpOptions): ConvGeometry {
  const rank = xShape.length - 2;
  if (rank < 1 || rank > 3) throw new ShapeError(`${op}: x must be [batch, spatial (1 to 3 axes), channels], got ${shapeToString(xShape)}`);
  if (wShape.length !== rank + 2) throw new ShapeError(`${op}: w must have rank ${rank + 2} ([k..., in/groups, out]), got ${shapeToString(wShape)}`);
  const groups = options.groups ?? 1;
  if (!Number.isInteger(groups) || groups < 1) throw new ArgumentError(`${op}: groups must be a positive integer, got ${String(groups)}`);
  const batch = xShape[0];
  const spatial = xShape.slice(1);
  const c = xShape[rank + 1];
  const kernel = wShape.slice(0, rank);
  const oc = wShape[rank + 1];
  if (wShape[rank] * groups !== c) {
    throw new ShapeError(`${op}: w has ${wShape[rank]} input channels per group but x has ${c} channels in ${groups} group(s)`);
  }
  const strides = intTuple(op, 'strides', options.strides ?? 1, rank);
  const dilation = intTuple(op, 'dilation', options.dilation ?? 1, rank);
  const padding = checkPadding(op, options.padding, rank);
  const axes = spatialGeometry(op, spatial, rank, kernel, strides, dilation, padding);
  const outShape = [batch, ...axes.map((a) => a.out), oc];
  const r = rank as 1 | 2 | 3;
  if (r === 3) return { rank: r, ints: conv3dInts(batch, spatial, oc, kernel, strides, dilation, axes, groups), outShape, kernelPrefix: 'conv3d' };
  return { rank: r, ints: conv2dInts(batch, r, spatial, oc, kernel, strides, dilation, axes, groups), outShape, kernelPrefix: 'conv2d' };
}

/** Convolution in 1D, 2D or 3D (by x's rank): y [n, out..., oc]. No bias. */
export function conv(x: TensorLike, w: TensorLike, options: ConvOpOptions = {}): Tensor {
  checkTensor('x', x);
  checkTensor('w', w);
  const g = convGeometry('conv', x.shape, w.shape, options);
  const y = result('conv', g.outShape, options.out, [x, w]);
  run(g.kernelPrefix, [x.data, w.data, y.data], g.ints);
  return y;
}

export const conv1d = (x: TensorLike, w: TensorLike, options: ConvOpOptions = {}): Tensor => (checkTensor('x', x, 3), conv(x, w, options));
export const conv2d = (x: TensorLike, w: TensorLike, options: ConvOpOptions = {}): Tensor => (checkTensor('x', x, 4), conv(x, w, options));
export const conv3d = (x: TensorLike, w: TensorLike, options: ConvOpOptions = {}): Tensor => (checkTensor('x', x, 5), conv(x, w, options));

/** dL/dx of a convolution, given dy and w; `inputShape` is x's shape. */
export function convBackwardInput(dy: TensorLike, w: TensorLike, inputShape: number[], options: ConvOpOptions = {}): Tensor {
  checkTensor('dy', dy);
  checkTensor('w', w);
  const g = convGeometry('convBackwardInput', inputShape, w.shape, options);
  if (shapeToString(g.outShape) !== shapeToString(dy.shape)) throw new ShapeError(`convBackwardInput: dy must have shape ${shapeToString(g.outShape)}, got ${shapeToString(dy.shape)}`);
  const dx = result('convBackwardInput', inputShape, options.out, [dy, w]);
  run(`${g.kernelPrefix}BackwardInput`, [dy.data, w.data, dx.data], g.ints);
  return dx;
}

/** dL/dw of a convolution, given x and dy; `filterShape` is w's shape. */
export function convBackwardFilter(x: TensorLike, dy: TensorLike, filterShape: number[], options: ConvOpOptions = {}): Tensor {
  checkTensor('x', x);
  checkTensor('dy', dy);
  const g = convGeometry('convBackwardFilter', x.shape, filterShape, options);
  if (shapeToString(g.outShape) !== shapeToString(dy.shape)) throw new ShapeError(`convBackwardFilter: dy must have shape ${shapeToString(g.outShape)}, got ${shapeToString(dy.shape)}`);
  const dw = result('convBackwardFilter', filterShape, options.out, [x, dy]);
  run(`${g.kernelPrefix}BackwardFilter`, [x.data, dy.data, dw.data], g.ints);
  return dw;
}

export const conv2dBackwardInput = convBackwardInput;
export const conv2dBackwardFilter = convBackwardFilter;

export interface PoolOpOptions {
  poolSize?: number | number[];
  strides?: number | number[];
  padding?: Padding;
}

type PoolMode = 'max' | 'avg' | 'l2';

/** Pool geometry on the 3D kernels (1D/2D with unit leading axes): ints and the output shape. */
function poolGeometry(op: string, xShape: readonly number[], options: PoolOpOptions): { ints: number[]; outShape: number[] } {
  const rank = xShape.length - 2;
  if (rank < 1 || rank > 3) throw new ShapeError(`${op}: x must be [batch, spatial (1 to 3 axes), channels], got ${shapeToString(xShape)}`);
  const poolSize = intTuple(op, 'poolSize', options.poolSize ?? 2, rank);
  const strides = intTuple(op, 'strides', options.strides ?? poolSize, rank);
  const padding = checkPadding(op, options.padding, rank);
  const spatial = xShape.slice(1, rank + 1);
  const axes = spatialGeometry(op, xShape.slice(1), rank, poolSize, strides, new Array(rank).fill(1), padding);
  const lead = 3 - rank;
  const pad = <T>(v: T, list: T[]): T[] => [...new Array<T>(lead).fill(v), ...list];
  const c = xShape[rank + 1];
  return {
    ints: [xShape[0], ...pad(1, spatial), c, ...pad(1, poolSize), ...pad(1, strides), ...pad(0, axes.map((a) => a.padBefore)), ...pad(1, axes.map((a) => a.out))],
    outShape: [xShape[0], ...axes.map((a) => a.out), c],
  };
}

function pool(mode: PoolMode, x: TensorLike, options: PoolOpOptions): Tensor {
  checkTensor('x', x);
  const g = poolGeometry(`${mode}Pool`, x.shape, options);
  const y = new Tensor(g.outShape);
  run(`${mode}Pool3d`, [x.data, y.data], g.ints);
  return y;
}

/** The gradient of a pool: max needs x, l2 needs x and y, avg needs neither. */
function poolBackward(mode: PoolMode, x: TensorLike, dy: TensorLike, options: PoolOpOptions): Tensor {
  checkTensor('x', x);
  checkTensor('dy', dy);
  const g = poolGeometry(`${mode}PoolBackward`, x.shape, options);
  if (shapeToString(g.outShape) !== shapeToString(dy.shape)) throw new ShapeError(`${mode}PoolBackward: dy must have shape ${shapeToString(g.outShape)}, got ${shapeToString(dy.shape)}`);
  const dx = new Tensor(x.shape);
  if (mode === 'max') run('maxPool3dBackward', [x.data, dy.data, dx.data], g.ints);
  else if (mode === 'avg') run('avgPool3dBackward', [dy.data, dx.data], g.ints);
  else {
    const y = pool('l2', x, options);
    run('l2Pool3dBackward', [x.data, y.data, dy.data, dx.data], g.ints);
  }
  return dx;
}

export const maxPool = (x: TensorLike, options: PoolOpOptions = {}): Tensor => pool('max', x, options);
export const avgPool = (x: TensorLike, options: PoolOpOptions = {}): Tensor => pool('avg', x, options);
export const l2Pool = (x: TensorLike, options: PoolOpOptions = {}): Tensor => pool('l2', x, options);
export const maxPoolBackward = (x: TensorLike, dy: TensorLike, options: PoolOpOptions = {}): Tensor => poolBackward('max', x, dy, options);
export const avgPoolBackward = (x: TensorLike, dy: TensorLike, options: PoolOpOptions = {}): Tensor => poolBackward('avg', x, dy, options);
export const l2PoolBackward = (x: TensorLike, dy: TensorLike, options: PoolOpOptions = {}): Tensor => poolBackward('l2', x, dy, options);
export const maxPool2d = (x: TensorLike, options: PoolOpOptions = {}): Tensor => (checkTensor('x', x, 4), maxPool(x, options));
export const avgPool2d = (x: TensorLike, options: PoolOpOptions = {}): Tensor => (checkTensor('x', x, 4), avgPool(x, options));
export const l2Pool2d = (x: TensorLike, options: PoolOpOptions = {}): Tensor => (checkTensor('x', x, 4), l2Pool(x, options));

/** c = op(a) * op(b) for 2D a and b. */
export function matmul(a: TensorLike, b: TensorLike, options: { transA?: boolean; transB?: boolean; out?: TensorLike } = {}): Tensor {
  checkTensor('a', a, 2);
  checkTensor('b', b, 2);
  const [m, ka] = options.transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = options.transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (ka !== kb) throw new ShapeError(`matmul: inner sizes differ: a gives ${ka}, b gives ${kb}`);
  const c = result('matmul', [m, n], options.out, [a, b]);
  run('matmul', [a.data, b.data, c.data], [m, n, ka, options.transA ? 1 : 0, options.transB ? 1 : 0]);
  return c;
}

/** y = x + bias over the last axis. */
export function biasAdd(x: TensorLike, bias: TensorLike): Tensor {
  checkTensor('x', x);
  checkTensor('bias', bias, 1);
  const c = x.shape[x.shape.length - 1];
  if (bias.shape[0] !== c) throw new ShapeError(`biasAdd: bias must have ${c} elements (x's last axis), got ${bias.shape[0]}`);
  const y = new Tensor(x.shape);
  run('biasAdd', [x.data, bias.data, y.data], [x.data.length / c, c]);
  return y;
}

/** y = f(x) for relu, leakyRelu, elu, gelu, sigmoid, tanh (alpha for leakyRelu / elu). */
export function activation(x: TensorLike, kind: ActivationKind, options: { alpha?: number } = {}): Tensor {
  checkTensor('x', x);
  const code = ACTIVATION_KINDS.indexOf(kind);
  if (code < 0) throw new ArgumentError(`activation: kind must be one of ${ACTIVATION_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  const y = new Tensor(x.shape);
  run('activation', [x.data, y.data], [x.data.length, code], [options.alpha ?? (kind === 'elu' ? 1 : 0.01)]);
  return y;
}

/** dL/dx of activation(x, kind), given dy. */
export function activationBackward(x: TensorLike, dy: TensorLike, kind: ActivationKind, options: { alpha?: number } = {}): Tensor {
  checkTensor('x', x);
  checkTensor('dy', dy);
  if (shapeToString(x.shape) !== shapeToString(dy.shape)) throw new ShapeError(`activationBackward: dy must have x's shape ${shapeToString(x.shape)}`);
  const y = activation(x, kind, options);
  const dx = new Tensor(x.shape);
  run('activationBackward', [x.data, y.data, dy.data, dx.data], [x.data.length, ACTIVATION_KINDS.indexOf(kind)], [options.alpha ?? (kind === 'elu' ? 1 : 0.01)]);
  return dx;
}

export const relu = (x: TensorLike): Tensor => activation(x, 'relu');

/** Softmax over the last axis. */
export function softmax(x: TensorLike): Tensor {
  checkTensor('x', x);
  const classes = x.shape[x.shape.length - 1];
  const y = new Tensor(x.shape);
  run('softmax', [x.data, y.data], [x.data.length / classes, classes]);
  return y;
}

/** Mean softmax cross-entropy of logits [n, classes] against integer labels, and its gradient. */
export function softmaxCrossEntropy(logits: TensorLike, labels: ArrayLike<number>): { loss: number; dlogits: Tensor } {
  checkTensor('logits', logits, 2);
  const [rows, classes] = logits.shape;
  if (!labels || labels.length !== rows) throw new ShapeError(`softmaxCrossEntropy: labels must have ${rows} entries`);
  const labelData = Float32Array.from(labels);
  for (let i = 0; i < rows; i++) {
    if (!Number.isInteger(labelData[i]) || labelData[i] < 0 || labelData[i] >= classes) {
      throw new ArgumentError(`softmaxCrossEntropy: labels[${i}] must be an integer in [0, ${classes}), got ${labels[i]}`);
    }
  }
  const loss = new Float32Array(1);
  const dlogits = new Tensor(logits.shape);
  run('softmaxCrossEntropy', [logits.data, labelData, loss, dlogits.data], [rows, classes]);
  return { loss: loss[0], dlogits };
}
