/** Elementwise kernels (see ../kernels.ts). biasAdd, relu and add allow the output to alias an input. */

let sums = new Float64Array(0);

/** y[r,c] = x[r,c] + bias[c]; y may alias x. */
export function biasAdd(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const bias = buffers[1];
  const y = buffers[2];
  const rows = ints[0] | 0;
  const C = ints[1] | 0;
  for (let r = 0, off = 0; r < rows; r++, off += C) {
    for (let c = 0; c < C; c++) y[off + c] = x[off + c] + bias[c];
  }
}

/** dbias[c] = sum_r dy[r,c], summed in float64. */
export function biasAddGrad(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const dy = buffers[0];
  const db = buffers[1];
  const rows = ints[0] | 0;
  const C = ints[1] | 0;
  if (sums.length < C) sums = new Float64Array(C);
  const s = sums;
  s.fill(0, 0, C);
  for (let r = 0, off = 0; r < rows; r++, off += C) {
    for (let c = 0; c < C; c++) s[c] += dy[off + c];
  }
  for (let c = 0; c < C; c++) db[c] = s[c];
}

/** y = max(x, 0); y may alias x. */
export function relu(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const y = buffers[1];
  const size = ints[0];
  for (let i = 0; i < size; i++) {
    const v = x[i];
    y[i] = v > 0 ? v : 0;
  }
}

/** dx = y > 0 ? dy : 0, from the relu output y. */
export function reluBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const y = buffers[0];
  const dy = buffers[1];
  const dx = buffers[2];
  const size = ints[0];
  for (let i = 0; i < size; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
}

/** y = a + b; y may alias a or b. */
export function add(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const a = buffers[0];
  const b = buffers[1];
  const y = buffers[2];
  const size = ints[0];
  for (let i = 0; i < size; i++) y[i] = a[i] + b[i];
}
