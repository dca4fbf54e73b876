/**
 * Activations and their gradients, softmax and mul (see ../kernels.ts), plus erf/erfc.
 *
 * activation: kind is the index in ACTIVATION_KINDS (relu, leakyRelu, elu, gelu, sigmoid, tanh);
 * floats = [alpha] (leakyRelu, elu), rounded to float32 as the native backend receives it. Values
 * are computed in float64 and rounded once on store; y may alias x.
 * - elu uses expm1 (alpha*(exp(x)-1) without the cancellation near 0).
 * - gelu is exact: 0.5*x*(1 + erf(x/sqrt 2)), evaluated as 0.5*x*erfc(-x/sqrt 2), which is the
 *   same function without the cancellation of 1 + erf for x << 0.
 * - sigmoid is 1/(1+exp(-x)) for x >= 0 and exp(x)/(1+exp(x)) for x < 0 (no overflow).
 * activationBackward: dx = dy * f'(x), every derivative computed from x in float64 (more
 * accurate than from the float32 y): relu x > 0 ? 1 : 0; leakyRelu x > 0 ? 1 : alpha (x == 0
 * takes the x <= 0 branch); elu x > 0 ? 1 : alpha*exp(x); gelu Phi(x) + x*phi(x); sigmoid
 * e/(1+e)^2 with e = exp(-|x|); tanh 1 - tanh(x)^2. The y buffer is not read.
 *
 * erf/erfc: W. J. Cody's rational Chebyshev approximations (CALERF, "Rational Chebyshev
 * approximations for the error function", Math. Comp. 23 (1969) 631-637; coefficients from
 * the Netlib SPECFUN routine): |x| <= 0.46875: erf = x*P(x^2)/Q(x^2); 0.46875 < |x| <= 4:
 * erfc = exp(-x^2)*P(|x|)/Q(|x|); |x| > 4: erfc = exp(-x^2)/|x|*(1/sqrt(pi) + R(1/x^2)/x^2),
 * with exp(-x^2) split as exp(-t^2)*exp(-(x-t)(x+t)), t = x rounded down to 1/16, to keep its
 * accuracy. Relative error below 1e-15 in float64; far below the 1e-7 absolute required.
 */

const ERF_A = [3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153];
const ERF_B = [23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062];
const ERF_C = [
  0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131, 881.95222124176909,
  1712.04761263407058, 2051.07837782607147, 1230.33935479799725, 2.15311535474403846e-8,
];
const ERF_D = [
  15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019, 3290.79923573345963,
  4362.61909014324716, 3439.36767414372164, 1230.33935480374942,
];
const ERF_P = [0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766, 6.58749161529837803e-4, 0.0163153871373020978];
const ERF_Q = [2.56852019228982242, 1.87295284992346725, 0.527905102951428412, 0.0605183413124413191, 0.00233520497626869185];
const A0 = ERF_A[0], A1 = ERF_A[1], A2 = ERF_A[2], A3 = ERF_A[3], A4 = ERF_A[4];
const B0 = ERF_B[0], B1 = ERF_B[1], B2 = ERF_B[2], B3 = ERF_B[3];
const INV_SQRT_PI = 0.56418958354775628695;
const INV_SQRT2 = 0.70710678118654752440;
const INV_SQRT_2PI = 0.39894228040143267794;

/** erf(x) for |x| <= 0.46875. */
function erfSmall(x: number): number {
  const z = x * x;
  let num = A4 * z;
  let den = z;
  num = (num + A0) * z;
  den = (den + B0) * z;
  num = (num + A1) * z;
  den = (den + B1) * z;
  num = (num + A2) * z;
  den = (den + B2) * z;
  return (x * (num + A3)) / (den + B3);
}

/** erfc(y) for y > 0.46875. */
function erfcLarge(y: number): number {
  let r: number;
  if (y <= 4) {
    let num = ERF_C[8] * y;
    let den = y;
    for (let i = 0; i < 7; i++) {
      num = (num + ERF_C[i]) * y;
      den = (den + ERF_D[i]) * y;
    }
    r = (num + ERF_C[7]) / (den + ERF_D[7]);
  } else {
    if (y >= 27) return 0; // exp(-y^2) underflows.
    const z = 1 / (y * y);
    let num = ERF_P[5] * z;
    let den = z;
    for (let i = 0; i < 4; i++) {
      num = (num + ERF_P[i]) * z;
      den = (den + ERF_Q[i]) * z;
    }
    r = (z * (num + ERF_P[4])) / (den + ERF_Q[4]);
    r = (INV_SQRT_PI - r) / y;
  }
  const t = Math.trunc(y * 16) / 16;
  const del = (y - t) * (y + t);
  return Math.exp(-t * t) * Math.exp(-del) * r;
}

/** The error function, to about 1e-16 relative (Cody's approximations). */
export function erf(x: number): number {
  const y = x < 0 ? -x : x;
  if (y <= 0.46875) return erfSmall(x);
  const v = 1 - erfcLarge(y);
  return x < 0 ? -v : v;
}

/** The complementary error function 1 - erf(x), accurate in relative terms for large x. */
export function erfc(x: number): number {
  const y = x < 0 ? -x : x;
  if (y <= 0.46875) return 1 - erfSmall(x);
  const v = erfcLarge(y);
  return x < 0 ? 2 - v : v;
}

const RELU = 0;
const LEAKY_RELU = 1;
const ELU = 2;
const GELU = 3;
const SIGMOID = 4;
const TANH = 5;

/** y = f(x), kind = ints[1], alpha = floats[0]; y may alias x. */
export function activation(buffers: Float32Array[], ints: ArrayLike<number>, floats: ArrayLike<number>): void {
  const x = buffers[0];
  const y = buffers[1];
  const size = ints[0];
  const kind = ints[1] | 0;
  const alpha = floats.length > 0 ? Math.fround(floats[0]) : 0;
  switch (kind) {
    case RELU:
      for (let i = 0; i < size; i++) {
        const v = x[i];
        y[i] = v > 0 ? v : 0;
      }
      break;
    case LEAKY_RELU:
      for (let i = 0; i < size; i++) {
        const v = x[i];
        y[i] = v > 0 ? v : alpha * v;
      }
      break;
    case ELU:
      for (let i = 0; i < size; i++) {
        const v = x[i];
        y[i] = v > 0 ? v : alpha * Math.expm1(v);
      }
      break;
    case GELU:
      for (let i = 0; i < size; i++) {
        const v = x[i];
        y[i] = 0.5 * v * erfc(-v * INV_SQRT2);
      }
      break;
    case SIGMOID:
      for (let i = 0; i < size; i++) {
        const v = x[i];
        if (v >= 0) {
          y[i] = 1 / (1 + Math.exp(-v));
        } else {
          const e = Math.exp(v);
          y[i] = e / (1 + e);
        }
      }
      break;
    case TANH:
      for (let i = 0; i < size; i++) y[i] = Math.tanh(x[i]);
      break;
    default:
      break;
  }
}

/** dx = dy * f'(x); buffers x, y, dy, dx; kind = ints[1], alpha = floats[0]. */
export function activationBackward(buffers: Float32Array[], ints: ArrayLike<number>, floats: ArrayLike<number>): void {
  const x = buffers[0];
  const dy = buffers[2];
  const dx = buffers[3];
  const size = ints[0];
  const kind = ints[1] | 0;
  const alpha = floats.length > 0 ? Math.fround(floats[0]) : 0;
  switch (kind) {
    case RELU:
      for (let i = 0; i < size; i++) dx[i] = x[i] > 0 ? dy[i] : 0;
      break;
    case LEAKY_RELU:
      for (let i = 0; i < size; i++) dx[i] = x[i] > 0 ? dy[i] : alpha * dy[i];
      break;
    case ELU:
      for (let i = 0; i < size; i++) {
        const v = x[i];
        dx[i] = v > 0 ? dy[i] : dy[i] * (alpha * Math.exp(v));
      }
      break;
    case GELU:
      for (let i = 0; i < size; i++) {
        const v = x[i];
        const d = 0.5 * erfc(-v * INV_SQRT2) + v * INV_SQRT_2PI * Math.exp(-0.5 * v * v);
        dx[i] = dy[i] * d;
      }
      break;
    case SIGMOID:
      for (let i = 0; i < size; i++) {
        const v = x[i];
        const e = Math.exp(v < 0 ? v : -v);
        const q = 1 + e;
        dx[i] = dy[i] * (e / (q * q));
      }
      break;
    case TANH:
      for (let i = 0; i < size; i++) {
        const t = Math.tanh(x[i]);
        dx[i] = dy[i] * (1 - t * t);
      }
      break;
    default:
      break;
  }
}

let rowScratch = new Float64Array(0);

/** Row-wise softmax over [rows, classes], max-subtracted, exp and sum in float64. */
export function softmax(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const y = buffers[1];
  const rows = ints[0] | 0;
  const K = ints[1] | 0;
  if (rowScratch.length < K) rowScratch = new Float64Array(K);
  const e = rowScratch;
  for (let r = 0, off = 0; r < rows; r++, off += K) {
    let m = x[off];
    for (let j = 1; j < K; j++) {
      const v = x[off + j];
      if (v > m) m = v;
    }
    let sum = 0;
    for (let j = 0; j < K; j++) {
      const v = Math.exp(x[off + j] - m);
      e[j] = v;
      sum += v;
    }
    const inv = 1 / sum;
    for (let j = 0; j < K; j++) y[off + j] = e[j] * inv;
  }
}

/** dx = y * (dy - sum_k dy*y) row-wise, the sum in float64. */
export function softmaxBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const y = buffers[0];
  const dy = buffers[1];
  const dx = buffers[2];
  const rows = ints[0] | 0;
  const K = ints[1] | 0;
  for (let r = 0, off = 0; r < rows; r++, off += K) {
    let s = 0;
    for (let j = off, jEnd = off + K; j < jEnd; j++) s += dy[j] * y[j];
    for (let j = off, jEnd = off + K; j < jEnd; j++) dx[j] = y[j] * (dy[j] - s);
  }
}

/** y = a * b elementwise; y may alias a or b. */
export function mul(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const a = buffers[0];
  const b = buffers[1];
  const y = buffers[2];
  const size = ints[0];
  for (let i = 0; i < size; i++) y[i] = a[i] * b[i];
}
