/**
 * Elementwise kernels (see ../kernels.ts). biasAdd, relu and add allow the output to alias an input.
 *
 * With few channels (LeNet's 6 and 16) biasAdd and biasAddGrad run channel by channel over
 * blocks of rows, the bias or the sum held in a local, instead of re-entering a loop of C per
 * row. relu and reluBackward test the sign on the float's bits through an Int32Array alias of
 * the same memory: an integer mask instead of a data-dependent branch (activations are positive
 * about half the time, which no branch predictor learns); see ./alias.
 */
import { int32Alias } from './alias';

let sums = new Float64Array(0);

/** Channel counts up to this go channel by channel; more go row by row. */
const FEW_CHANNELS = 16;
/** Rows per block of the channel-by-channel loops (keeps the block in L1). */
const ROW_BLOCK = 512;

/** y[r,c] = x[r,c] + bias[c]; y may alias x. */
export function biasAdd(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const bias = buffers[1];
  const y = buffers[2];
  const rows = ints[0] | 0;
  const C = ints[1] | 0;
  if (C <= FEW_CHANNELS) {
    for (let r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
      const end = (r0 + ROW_BLOCK < rows ? r0 + ROW_BLOCK : rows) * C;
      for (let c = 0; c < C; c++) {
        const b = bias[c];
        for (let i = r0 * C + c; i < end; i += C) y[i] = x[i] + b;
      }
    }
    return;
  }
  for (let r = 0, off = 0; r < rows; r++, off += C) {
    for (let c = 0; c < C; c++) y[off + c] = x[off + c] + bias[c];
  }
}

/** dbias[c] = sum_r dy[r,c], summed in float64 in row order. */
export function biasAddGrad(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const dy = buffers[0];
  const db = buffers[1];
  const rows = ints[0] | 0;
  const C = ints[1] | 0;
  if (sums.length < C) sums = new Float64Array(C);
  const s = sums;
  s.fill(0, 0, C);
  if (C <= FEW_CHANNELS) {
    for (let r0 = 0; r0 < rows; r0 += ROW_BLOCK) {
      const end = (r0 + ROW_BLOCK < rows ? r0 + ROW_BLOCK : rows) * C;
      for (let c = 0; c < C; c++) {
        let t = s[c];
        for (let i = r0 * C + c; i < end; i += C) t += dy[i];
        s[c] = t;
      }
    }
  } else {
    for (let r = 0, off = 0; r < rows; r++, off += C) {
      for (let c = 0; c < C; c++) s[c] += dy[off + c];
    }
  }
  for (let c = 0; c < C; c++) db[c] = s[c];
}

/*
 * In relu and reluBackward, for the bits v of a float32, ~(((v - 1) >> 31) | (v >> 31) |
 * ((0x7f800000 - v) >> 31)) is all ones exactly when the float is > 0 (bits in [1, 0x7f800000]:
 * positive finite or +Infinity) and zero for +-0, negatives and NaN, so `bits & mask` is
 * `value > 0 ? value : +0` bit for bit.
 */

/** y = max(x, 0) (x > 0 ? x : 0, so NaN and -0 give +0); y may alias x. */
export function relu(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const y = buffers[1];
  const size = ints[0] | 0;
  const xi = int32Alias(x);
  const xo = x.byteOffset >> 2;
  const d = (y.byteOffset >> 2) - xo;
  if (y.buffer === x.buffer) {
    // One array object: V8 checks it and loads its base once per iteration, not twice.
    for (let i = xo, end = xo + size; i < end; i++) {
      const v = xi[i];
      xi[(d + i) | 0] = v & ~(((v - 1) >> 31) | (v >> 31) | ((0x7f800000 - v) >> 31));
    }
    return;
  }
  const yi = int32Alias(y);
  for (let i = xo, end = xo + size; i < end; i++) {
    const v = xi[i];
    yi[(d + i) | 0] = v & ~(((v - 1) >> 31) | (v >> 31) | ((0x7f800000 - v) >> 31));
  }
}

/** dx = y > 0 ? dy : 0, from the relu output y. */
export function reluBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const y = buffers[0];
  const dy = buffers[1];
  const dx = buffers[2];
  const size = ints[0] | 0;
  const yi = int32Alias(y);
  const yo = y.byteOffset >> 2;
  const dd = (dy.byteOffset >> 2) - yo;
  const dxd = (dx.byteOffset >> 2) - yo;
  if (dy.buffer === y.buffer && dx.buffer === y.buffer) {
    for (let i = yo, end = yo + size; i < end; i++) {
      const v = yi[i];
      yi[(dxd + i) | 0] = yi[(dd + i) | 0] & ~(((v - 1) >> 31) | (v >> 31) | ((0x7f800000 - v) >> 31));
    }
    return;
  }
  const dyi = int32Alias(dy);
  const dxi = int32Alias(dx);
  for (let i = yo, end = yo + size; i < end; i++) {
    const v = yi[i];
    dxi[(dxd + i) | 0] = dyi[(dd + i) | 0] & ~(((v - 1) >> 31) | (v >> 31) | ((0x7f800000 - v) >> 31));
  }
}

/** y = a + b; y may alias a or b. */
export function add(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const a = buffers[0];
  const b = buffers[1];
  const y = buffers[2];
  const size = ints[0];
  for (let i = 0; i < size; i++) y[i] = a[i] + b[i];
}
