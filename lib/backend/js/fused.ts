/**
 * Fused kernels (see ../kernels.ts): a layer's bias and relu in the same call as its
 * convolution or matmul, relu's gradient with the bias gradient, and relu after batch norm
 * or a residual add. Here they are the unfused kernels in sequence (the same arithmetic,
 * so both backends agree); the native backend fuses them to save passes over memory.
 */
import { add, biasAdd, biasAddGrad, relu, reluBackward } from './elementwise';
import { batchNormBackward, batchNormTrain } from './batchNorm';
import { conv2d } from './conv2d';
import { matmul } from './matmul';

const NO_FLOATS: number[] = [];
const CONV2D_INT_COUNT = 16;

/** conv2d, + bias, then relu when ints[16] is 1. */
export function conv2dBiasActivation(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const [x, w, bias, y] = buffers;
  conv2d([x, w, y], ints, NO_FLOATS); // reads ints[0..15]; the relu flag after them is ignored
  const channels = ints[4];
  biasAdd([y, bias, y], [y.length / channels, channels], NO_FLOATS);
  if (ints[CONV2D_INT_COUNT] === 1) relu([y, y], [y.length], NO_FLOATS);
}

/** matmul, + bias, then relu when ints[5] is 1. */
export function matmulBiasActivation(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const [a, b, bias, c] = buffers;
  matmul([a, b, c], [ints[0], ints[1], ints[2], ints[3], ints[4]], NO_FLOATS);
  biasAdd([c, bias, c], [ints[0], ints[1]], NO_FLOATS);
  if (ints[5] === 1) relu([c, c], [c.length], NO_FLOATS);
}

/** dx = y > 0 ? dy : 0, then dbias = column sums of dx. */
export function reluBackwardBiasGrad(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const [y, dy, dx, dbias] = buffers;
  const rows = ints[0];
  const channels = ints[1];
  reluBackward([y, dy, dx], [rows * channels], NO_FLOATS);
  biasAddGrad([dx, dbias], [rows, channels], NO_FLOATS);
}

/** y = a + b, then relu; y may alias a or b. */
export function addRelu(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const y = buffers[2];
  add(buffers, ints, NO_FLOATS);
  relu([y, y], ints, NO_FLOATS);
}

/** batchNormTrain, then relu on y. */
export function batchNormReluTrain(buffers: Float32Array[], ints: ArrayLike<number>, floats: ArrayLike<number>): void {
  const y = buffers[3];
  batchNormTrain(buffers, ints, floats);
  relu([y, y], [y.length], NO_FLOATS);
}

/** buffers: x, gamma, mean, invStd, y, dy, dx, dgamma, dbeta: relu's gradient (from y) into dx, then batchNormBackward of it in place. */
export function batchNormReluBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const [x, gamma, mean, invStd, y, dy, dx, dgamma, dbeta] = buffers;
  reluBackward([y, dy, dx], [y.length], NO_FLOATS);
  batchNormBackward([x, gamma, mean, invStd, dx, dx, dgamma, dbeta], ints, NO_FLOATS); // reads each dy element before writing it
}
