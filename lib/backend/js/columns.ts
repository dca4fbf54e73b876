/**
 * Column copies between a [rows, width] block and columns [offset, offset + width) of a
 * [rows, yWidth] matrix (see ../kernels.ts): concatenate along the last axis and its gradient.
 * ints = [rows, width, yWidth, offset] for both.
 */

/** y[r, offset + j] = x[r, j]; the other columns of y are left as they are. */
export function scatterColumns(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const y = buffers[1];
  const rows = ints[0] | 0;
  const width = ints[1] | 0;
  const yWidth = ints[2] | 0;
  const offset = ints[3] | 0;
  if (width === yWidth) {
    y.set(x.subarray(0, rows * width));
    return;
  }
  for (let r = 0, src = 0, dst = offset; r < rows; r++, src += width, dst += yWidth) {
    const d = dst - src;
    for (let j = src, jEnd = src + width; j < jEnd; j++) y[d + j] = x[j];
  }
}

/** x[r, j] = y[r, offset + j]. */
export function gatherColumns(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const y = buffers[0];
  const x = buffers[1];
  const rows = ints[0] | 0;
  const width = ints[1] | 0;
  const yWidth = ints[2] | 0;
  const offset = ints[3] | 0;
  if (width === yWidth) {
    x.set(y.subarray(0, rows * width));
    return;
  }
  for (let r = 0, dst = 0, src = offset; r < rows; r++, dst += width, src += yWidth) {
    const d = src - dst;
    for (let j = dst, jEnd = dst + width; j < jEnd; j++) x[j] = y[d + j];
  }
}
