/**
 * Batch normalisation over [rows, channels] (rows = N * spatial positions), PyTorch
 * conventions (see ../kernels.ts). Per-channel statistics are accumulated in float64 over
 * rows, row by row so the inner loops run over contiguous channels:
 * - batchNormTrain: mean, then the biased variance as the mean of (x - mean)^2 (two passes);
 *   invStd = 1/sqrt(var + eps); y = gamma*(x - mean)*invStd + beta with the float64 mean and
 *   invStd; mean and invStd are saved (as float32); runningMean/runningVar move towards the
 *   batch mean and the unbiased variance (the biased one when rows == 1) with weight momentum.
 * - batchNormBackward: with xhat = (x - mean)*invStd (saved mean and invStd), dbeta = sum dy,
 *   dgamma = sum dy*xhat, dx = gamma*invStd * (dy - dbeta/rows - xhat*dgamma/rows).
 * - batchNormInference: y = (x - runningMean) * gamma/sqrt(runningVar + eps) + beta.
 * The float parameters are rounded to float32 first, as the native backend receives them.
 */

let meanAcc = new Float64Array(0);
let varAcc = new Float64Array(0);
let scaleAcc = new Float64Array(0);

function ensure(c: number): void {
  if (meanAcc.length < c) {
    meanAcc = new Float64Array(c);
    varAcc = new Float64Array(c);
    scaleAcc = new Float64Array(c);
  }
}

/** buffers: x, gamma, beta, y, mean, invStd, runningMean, runningVar; floats: eps, momentum. */
export function batchNormTrain(buffers: Float32Array[], ints: ArrayLike<number>, floats: ArrayLike<number>): void {
  const x = buffers[0];
  const gamma = buffers[1];
  const beta = buffers[2];
  const y = buffers[3];
  const meanOut = buffers[4];
  const invStdOut = buffers[5];
  const runningMean = buffers[6];
  const runningVar = buffers[7];
  const rows = ints[0] | 0;
  const C = ints[1] | 0;
  const eps = Math.fround(floats[0]);
  const momentum = Math.fround(floats[1]);
  ensure(C);
  const mu = meanAcc;
  const v = varAcc;
  const inv = scaleAcc;
  const size = rows * C;

  mu.fill(0, 0, C);
  for (let off = 0; off < size; off += C) {
    for (let c = 0; c < C; c++) mu[c] += x[off + c];
  }
  for (let c = 0; c < C; c++) mu[c] /= rows;
  v.fill(0, 0, C);
  for (let off = 0; off < size; off += C) {
    for (let c = 0; c < C; c++) {
      const d = x[off + c] - mu[c];
      v[c] += d * d;
    }
  }
  const unbias = rows > 1 ? rows / (rows - 1) : 1;
  for (let c = 0; c < C; c++) {
    const biased = v[c] / rows;
    inv[c] = 1 / Math.sqrt(biased + eps);
    meanOut[c] = mu[c];
    invStdOut[c] = inv[c];
    runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mu[c];
    runningVar[c] = (1 - momentum) * runningVar[c] + momentum * (biased * unbias);
  }
  for (let off = 0; off < size; off += C) {
    for (let c = 0; c < C; c++) y[off + c] = gamma[c] * ((x[off + c] - mu[c]) * inv[c]) + beta[c];
  }
}

/** buffers: x, gamma, mean, invStd, dy, dx, dgamma, dbeta. */
export function batchNormBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const gamma = buffers[1];
  const mean = buffers[2];
  const invStd = buffers[3];
  const dy = buffers[4];
  const dx = buffers[5];
  const dgamma = buffers[6];
  const dbeta = buffers[7];
  const rows = ints[0] | 0;
  const C = ints[1] | 0;
  ensure(C);
  const sdy = meanAcc;
  const sdyx = varAcc;
  const k = scaleAcc;
  const size = rows * C;

  sdy.fill(0, 0, C);
  sdyx.fill(0, 0, C);
  for (let off = 0; off < size; off += C) {
    for (let c = 0; c < C; c++) {
      const g = dy[off + c];
      sdy[c] += g;
      sdyx[c] += g * ((x[off + c] - mean[c]) * invStd[c]);
    }
  }
  for (let c = 0; c < C; c++) {
    dbeta[c] = sdy[c];
    dgamma[c] = sdyx[c];
    k[c] = gamma[c] * invStd[c];
    // Turned into per-channel means for the dx pass.
    sdy[c] /= rows;
    sdyx[c] /= rows;
  }
  for (let off = 0; off < size; off += C) {
    for (let c = 0; c < C; c++) {
      const xhat = (x[off + c] - mean[c]) * invStd[c];
      dx[off + c] = k[c] * (dy[off + c] - sdy[c] - xhat * sdyx[c]);
    }
  }
}

/** buffers: x, gamma, beta, runningMean, runningVar, y; floats: eps. */
export function batchNormInference(buffers: Float32Array[], ints: ArrayLike<number>, floats: ArrayLike<number>): void {
  const x = buffers[0];
  const gamma = buffers[1];
  const beta = buffers[2];
  const runningMean = buffers[3];
  const runningVar = buffers[4];
  const y = buffers[5];
  const rows = ints[0] | 0;
  const C = ints[1] | 0;
  const eps = Math.fround(floats[0]);
  ensure(C);
  const scale = scaleAcc;
  for (let c = 0; c < C; c++) scale[c] = gamma[c] / Math.sqrt(runningVar[c] + eps);
  const size = rows * C;
  for (let off = 0; off < size; off += C) {
    for (let c = 0; c < C; c++) y[off + c] = (x[off + c] - runningMean[c]) * scale[c] + beta[c];
  }
}
