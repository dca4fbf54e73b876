/**
 * Optimizer steps and global-norm clipping (see ../kernels.ts). Hyperparameters come in a
 * float32 `hyper` buffer; each element is updated in float64 and rounded on store, and the
 * param update uses the new velocity / moments as stored (float32), as sgdMomentum does.
 */

/**
 * sgdNesterov: g = grad + weightDecay*param; velocity = momentum*velocity + g;
 * param -= lr * (g + momentum*velocity). hyper = [lr, momentum, weightDecay].
 */
export function sgdNesterov(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const param = buffers[0];
  const grad = buffers[1];
  const velocity = buffers[2];
  const hyper = buffers[3];
  const size = ints[0];
  const lr = hyper[0];
  const momentum = hyper[1];
  const weightDecay = hyper[2];
  for (let i = 0; i < size; i++) {
    const p = param[i];
    const g = grad[i] + weightDecay * p;
    velocity[i] = momentum * velocity[i] + g;
    param[i] = p - lr * (g + momentum * velocity[i]);
  }
}

/**
 * adam: hyper = [lr, beta1, beta2, eps, weightDecay, decoupled, biasCorrection1, biasCorrection2].
 * decoupled == 0: g = grad + weightDecay*param; otherwise (AdamW) param *= 1 - lr*weightDecay
 * first and g = grad. m = beta1*m + (1-beta1) g; v = beta2*v + (1-beta2) g^2;
 * param -= lr * (m/bc1) / (sqrt(v/bc2) + eps).
 */
export function adam(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const param = buffers[0];
  const grad = buffers[1];
  const m = buffers[2];
  const v = buffers[3];
  const hyper = buffers[4];
  const size = ints[0];
  const lr = hyper[0];
  const beta1 = hyper[1];
  const beta2 = hyper[2];
  const eps = hyper[3];
  const weightDecay = hyper[4];
  const decoupled = hyper[5] !== 0;
  const bc1 = hyper[6];
  const bc2 = hyper[7];
  const c1 = 1 - beta1;
  const c2 = 1 - beta2;
  const stepSize = lr / bc1;
  const coupledDecay = decoupled ? 0 : weightDecay;
  const shrink = decoupled ? 1 - lr * weightDecay : 1;
  for (let i = 0; i < size; i++) {
    const p = param[i];
    const g = grad[i] + coupledDecay * p;
    m[i] = beta1 * m[i] + c1 * g;
    v[i] = beta2 * v[i] + c2 * g * g;
    param[i] = p * shrink - (stepSize * m[i]) / (Math.sqrt(v[i] / bc2) + eps);
  }
}

/** out[0] = sum of x^2, accumulated in float64. */
export function sumSquares(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const out = buffers[1];
  const size = ints[0];
  let s = 0;
  for (let i = 0; i < size; i++) {
    const v = x[i];
    s += v * v;
  }
  out[0] = s;
}

/**
 * total = sqrt(sum of norms[0..count)) (squared norms, summed in float64); when
 * total > maxNorm, grad *= maxNorm / total, else grad is unchanged. floats = [maxNorm]
 * (rounded to float32).
 */
export function clipByGlobalNorm(buffers: Float32Array[], ints: ArrayLike<number>, floats: ArrayLike<number>): void {
  const norms = buffers[0];
  const grad = buffers[1];
  const count = ints[0] | 0;
  const size = ints[1];
  const maxNorm = Math.fround(floats[0]);
  let s = 0;
  for (let i = 0; i < count; i++) s += norms[i];
  const total = Math.sqrt(s);
  if (!(total > maxNorm)) return;
  const scale = maxNorm / total;
  for (let i = 0; i < size; i++) grad[i] *= scale;
}
