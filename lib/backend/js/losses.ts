/**
 * Losses over a prediction and a target of the same shape (see ../kernels.ts). Buffers are
 * [pred, target, loss[1], dpred]; the loss is summed in float64, and every element of dpred
 * is written. All are means: over rows for softmaxCrossEntropyDense, over elements otherwise.
 */

let exps = new Float64Array(0);

/**
 * softmaxCrossEntropyDense, ints [rows, classes]: loss = mean over rows of
 * -sum_k t[r,k] log softmax(z)[r,k] = sum_k t[r,k] (logsumexp(z[r]) - z[r,k]);
 * dpred = (softmax(z) * sum_k t[r,k] - t) / rows. Each row subtracts its max before exp.
 */
export function softmaxCrossEntropyDense(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const z = buffers[0];
  const t = buffers[1];
  const loss = buffers[2];
  const dz = buffers[3];
  const rows = ints[0] | 0;
  const K = ints[1] | 0;
  if (exps.length < K) exps = new Float64Array(K);
  const e = exps;
  const invRows = 1 / rows;
  let total = 0;
  for (let r = 0, off = 0; r < rows; r++, off += K) {
    let m = z[off];
    for (let j = 1; j < K; j++) {
      const v = z[off + j];
      if (v > m) m = v;
    }
    let sum = 0;
    let tSum = 0;
    let tz = 0;
    for (let j = 0; j < K; j++) {
      const v = Math.exp(z[off + j] - m);
      e[j] = v;
      sum += v;
      const tj = t[off + j];
      tSum += tj;
      tz += tj * z[off + j];
    }
    const lse = Math.log(sum) + m;
    total += tSum * lse - tz;
    const scale = tSum / sum;
    for (let j = 0; j < K; j++) dz[off + j] = (e[j] * scale - t[off + j]) * invRows;
  }
  loss[0] = total * invRows;
}

/**
 * sigmoidCrossEntropy, ints [size]: loss = mean of max(z,0) - z*t + log(1 + exp(-|z|))
 * (log1p); dpred = (sigmoid(z) - t) / size, sigmoid evaluated without overflow.
 */
export function sigmoidCrossEntropy(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const z = buffers[0];
  const t = buffers[1];
  const loss = buffers[2];
  const dz = buffers[3];
  const size = ints[0];
  const inv = 1 / size;
  let total = 0;
  for (let i = 0; i < size; i++) {
    const v = z[i];
    const tv = t[i];
    const e = Math.exp(v < 0 ? v : -v); // exp(-|z|)
    total += (v > 0 ? v : 0) - v * tv + Math.log1p(e);
    const s = v >= 0 ? 1 / (1 + e) : e / (1 + e);
    dz[i] = (s - tv) * inv;
  }
  loss[0] = total * inv;
}

/** meanSquaredError, ints [size]: loss = mean (p - t)^2; dpred = 2 (p - t) / size. */
export function meanSquaredError(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const p = buffers[0];
  const t = buffers[1];
  const loss = buffers[2];
  const dp = buffers[3];
  const size = ints[0];
  const inv = 1 / size;
  const k = 2 * inv;
  let total = 0;
  for (let i = 0; i < size; i++) {
    const d = p[i] - t[i];
    total += d * d;
    dp[i] = d * k;
  }
  loss[0] = total * inv;
}

/**
 * smoothL1 (PyTorch's), ints [size], floats [beta > 0] (rounded to float32): per element
 * |d| < beta ? 0.5 d^2 / beta : |d| - 0.5 beta, mean; dpred = (|d| < beta ? d / beta : sign(d)) / size.
 */
export function smoothL1(buffers: Float32Array[], ints: ArrayLike<number>, floats: ArrayLike<number>): void {
  const p = buffers[0];
  const t = buffers[1];
  const loss = buffers[2];
  const dp = buffers[3];
  const size = ints[0];
  const beta = Math.fround(floats[0]);
  const inv = 1 / size;
  const halfBeta = 0.5 * beta;
  let total = 0;
  for (let i = 0; i < size; i++) {
    const d = p[i] - t[i];
    const a = d < 0 ? -d : d;
    if (a < beta) {
      total += (0.5 * d * d) / beta;
      dp[i] = (d / beta) * inv;
    } else {
      total += a - halfBeta;
      dp[i] = (d > 0 ? inv : -inv);
    }
  }
  loss[0] = total * inv;
}
