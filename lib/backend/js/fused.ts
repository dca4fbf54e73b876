/**
 * Fused kernels (see ../kernels.ts): a layer's bias and relu in the same call as its
 * convolution or matmul, and relu's gradient with the bias gradient. Here they are the
 * unfused kernels in sequence (the same arithmetic, so both backends agree); the native
 * backend fuses them to save passes over memory.
 */
import { biasAdd, biasAddGrad, relu, reluBackward } from './elementwise';
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
