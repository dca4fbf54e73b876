/**
 * Max and average pooling and their gradients (see ../kernels.ts). NHWC, explicit
 * padTop/padLeft; window positions outside the input are skipped. Each output pixel clips
 * its window to the in-range rows [kyLo, kyHi) and columns [kxLo, kxHi) once, then the inner
 * loops run over contiguous channels.
 *
 * Max pooling over a whole 2 x 2 window (the common poolSize 2) takes a fast path per channel:
 * the four values are compared in registers, in the same row-major order with the same strict
 * '>' (the first of tied maxima wins). When all four are +0, positive or +Infinity (always so
 * after a relu) they are compared as the integers of their bits, whose order is then the
 * float order, with branch-free selects: a data-dependent branch per comparison costs a
 * misprediction about half the time. Other values (negative, -0, NaN) take float compares.
 */
import { int32Alias } from './alias';

/** Float bits in [0, 0x7f800000] (+0, positive, +Infinity): or-ing (0x7f800000 - bits) | bits stays >= 0. */
const MAX_POSITIVE_BITS = 0x7f800000;

let best = new Float32Array(0);
let arg = new Float64Array(0);
let sums = new Float64Array(0);

function ensure(c: number): void {
  if (best.length < c) {
    best = new Float32Array(c);
    arg = new Float64Array(c);
    sums = new Float64Array(c);
  }
}

/** maxPool2d: y = max over the window's in-range positions (0 if none). */
export function maxPool2d(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const y = buffers[1];
  const N = ints[0] | 0, H = ints[1] | 0, W = ints[2] | 0, C = ints[3] | 0;
  const PH = ints[4] | 0, PW = ints[5] | 0, SH = ints[6] | 0, SW = ints[7] | 0;
  const PT = ints[8] | 0, PL = ints[9] | 0, OH = ints[10] | 0, OW = ints[11] | 0;
  const full2x2 = PH === 2 && PW === 2;
  const WC = W * C;
  const xi = int32Alias(x);
  const yi = int32Alias(y);
  const xo = x.byteOffset >> 2;
  const yo = y.byteOffset >> 2;

  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - PT;
      const kyLo = iy0 < 0 ? -iy0 : 0;
      const kyHi = H - iy0 < PH ? H - iy0 : PH;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * SW - PL;
        const kxLo = ix0 < 0 ? -ix0 : 0;
        const kxHi = W - ix0 < PW ? W - ix0 : PW;
        const yOff = ((n * OH + oy) * OW + ox) * C;
        if (kyLo >= kyHi || kxLo >= kxHi) {
          y.fill(0, yOff, yOff + C);
          continue;
        }
        if (full2x2 && kyLo === 0 && kyHi === 2 && kxLo === 0 && kxHi === 2) {
          const d = ((n * H + iy0) * W + ix0) * C - yOff;
          for (let j = yOff, jEnd = yOff + C; j < jEnd; j++) {
            const q = d + j;
            const b = xo + q;
            const k0 = xi[b], k1 = xi[b + C], k2 = xi[b + WC], k3 = xi[b + WC + C];
            const bad = k0 | k1 | k2 | k3 | (MAX_POSITIVE_BITS - k0) | (MAX_POSITIVE_BITS - k1) | (MAX_POSITIVE_BITS - k2) | (MAX_POSITIVE_BITS - k3);
            if (bad >= 0) {
              // (m - k) >> 31 is all ones exactly when k > m (no overflow in this range).
              let m = k0;
              m ^= (m ^ k1) & ((m - k1) >> 31);
              m ^= (m ^ k2) & ((m - k2) >> 31);
              m ^= (m ^ k3) & ((m - k3) >> 31);
              yi[yo + j] = m;
              continue;
            }
            let m = x[q];
            let v = x[q + C];
            if (v > m) m = v;
            v = x[q + WC];
            if (v > m) m = v;
            v = x[q + WC + C];
            if (v > m) m = v;
            y[j] = m;
          }
          continue;
        }
        let first = true;
        for (let ky = kyLo; ky < kyHi; ky++) {
          const xRow = (n * H + iy0 + ky) * W + ix0;
          for (let kx = kxLo; kx < kxHi; kx++) {
            const d = (xRow + kx) * C - yOff;
            if (first) {
              for (let j = yOff, jEnd = yOff + C; j < jEnd; j++) y[j] = x[d + j];
              first = false;
            } else {
              for (let j = yOff, jEnd = yOff + C; j < jEnd; j++) {
                const v = x[d + j];
                if (v > y[j]) y[j] = v;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * maxPool2dBackward: dx = 0, then each dy goes to the first maximum of its window in
 * row-major window order among in-range positions, accumulated over overlapping windows.
 */
export function maxPool2dBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const dy = buffers[1];
  const dx = buffers[2];
  const N = ints[0] | 0, H = ints[1] | 0, W = ints[2] | 0, C = ints[3] | 0;
  const PH = ints[4] | 0, PW = ints[5] | 0, SH = ints[6] | 0, SW = ints[7] | 0;
  const PT = ints[8] | 0, PL = ints[9] | 0, OH = ints[10] | 0, OW = ints[11] | 0;
  ensure(C);
  const bv = best;
  const bi = arg;
  const full2x2 = PH === 2 && PW === 2;
  const WC = W * C;
  const xi = int32Alias(x);
  const xo = x.byteOffset >> 2;

  dx.fill(0, 0, N * H * W * C);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - PT;
      const kyLo = iy0 < 0 ? -iy0 : 0;
      const kyHi = H - iy0 < PH ? H - iy0 : PH;
      if (kyLo >= kyHi) continue;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * SW - PL;
        const kxLo = ix0 < 0 ? -ix0 : 0;
        const kxHi = W - ix0 < PW ? W - ix0 : PW;
        if (kxLo >= kxHi) continue;
        if (full2x2 && kyLo === 0 && kyHi === 2 && kxLo === 0 && kxHi === 2) {
          const yOff = ((n * OH + oy) * OW + ox) * C;
          const d = ((n * H + iy0) * W + ix0) * C - yOff;
          for (let j = yOff, jEnd = yOff + C; j < jEnd; j++) {
            const b = xo + d + j;
            const k0 = xi[b], k1 = xi[b + C], k2 = xi[b + WC], k3 = xi[b + WC + C];
            const bad = k0 | k1 | k2 | k3 | (MAX_POSITIVE_BITS - k0) | (MAX_POSITIVE_BITS - k1) | (MAX_POSITIVE_BITS - k2) | (MAX_POSITIVE_BITS - k3);
            if (bad >= 0) {
              // As in maxPool2d; o follows the offset of the running maximum.
              let m = k0;
              let o = 0;
              let t = (m - k1) >> 31;
              m ^= (m ^ k1) & t;
              o ^= (o ^ C) & t;
              t = (m - k2) >> 31;
              m ^= (m ^ k2) & t;
              o ^= (o ^ WC) & t;
              t = (m - k3) >> 31;
              o ^= (o ^ (WC + C)) & t;
              dx[d + j + o] += dy[j];
              continue;
            }
            let q = d + j;
            let m = x[q];
            let v = x[q + C];
            if (v > m) {
              m = v;
              q = d + j + C;
            }
            v = x[d + j + WC];
            if (v > m) {
              m = v;
              q = d + j + WC;
            }
            v = x[d + j + WC + C];
            if (v > m) q = d + j + WC + C;
            dx[q] += dy[j];
          }
          continue;
        }
        let first = true;
        for (let ky = kyLo; ky < kyHi; ky++) {
          const xRow = (n * H + iy0 + ky) * W + ix0;
          for (let kx = kxLo; kx < kxHi; kx++) {
            const xOff = (xRow + kx) * C;
            if (first) {
              for (let c = 0; c < C; c++) {
                bv[c] = x[xOff + c];
                bi[c] = xOff + c;
              }
              first = false;
            } else {
              for (let c = 0; c < C; c++) {
                const v = x[xOff + c];
                if (v > bv[c]) {
                  bv[c] = v;
                  bi[c] = xOff + c;
                }
              }
            }
          }
        }
        const yOff = ((n * OH + oy) * OW + ox) * C;
        for (let c = 0; c < C; c++) dx[bi[c]] += dy[yOff + c];
      }
    }
  }
}

/** avgPool2d: y = mean over the window's in-range positions (padding not counted; 0 if none). */
export function avgPool2d(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const y = buffers[1];
  const N = ints[0] | 0, H = ints[1] | 0, W = ints[2] | 0, C = ints[3] | 0;
  const PH = ints[4] | 0, PW = ints[5] | 0, SH = ints[6] | 0, SW = ints[7] | 0;
  const PT = ints[8] | 0, PL = ints[9] | 0, OH = ints[10] | 0, OW = ints[11] | 0;
  ensure(C);
  const s = sums;

  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - PT;
      const kyLo = iy0 < 0 ? -iy0 : 0;
      const kyHi = H - iy0 < PH ? H - iy0 : PH;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * SW - PL;
        const kxLo = ix0 < 0 ? -ix0 : 0;
        const kxHi = W - ix0 < PW ? W - ix0 : PW;
        const yOff = ((n * OH + oy) * OW + ox) * C;
        if (kyLo >= kyHi || kxLo >= kxHi) {
          y.fill(0, yOff, yOff + C);
          continue;
        }
        const count = (kyHi - kyLo) * (kxHi - kxLo);
        s.fill(0, 0, C);
        for (let ky = kyLo; ky < kyHi; ky++) {
          const xRow = (n * H + iy0 + ky) * W + ix0;
          for (let kx = kxLo; kx < kxHi; kx++) {
            const xOff = (xRow + kx) * C;
            for (let c = 0; c < C; c++) s[c] += x[xOff + c];
          }
        }
        for (let c = 0; c < C; c++) y[yOff + c] = s[c] / count;
      }
    }
  }
}

/** avgPool2dBackward: each dy / count goes to every in-range position of its window. */
export function avgPool2dBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const dy = buffers[0];
  const dx = buffers[1];
  const N = ints[0] | 0, H = ints[1] | 0, W = ints[2] | 0, C = ints[3] | 0;
  const PH = ints[4] | 0, PW = ints[5] | 0, SH = ints[6] | 0, SW = ints[7] | 0;
  const PT = ints[8] | 0, PL = ints[9] | 0, OH = ints[10] | 0, OW = ints[11] | 0;
  ensure(C);
  const s = sums;

  dx.fill(0, 0, N * H * W * C);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - PT;
      const kyLo = iy0 < 0 ? -iy0 : 0;
      const kyHi = H - iy0 < PH ? H - iy0 : PH;
      if (kyLo >= kyHi) continue;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * SW - PL;
        const kxLo = ix0 < 0 ? -ix0 : 0;
        const kxHi = W - ix0 < PW ? W - ix0 : PW;
        if (kxLo >= kxHi) continue;
        const count = (kyHi - kyLo) * (kxHi - kxLo);
        const yOff = ((n * OH + oy) * OW + ox) * C;
        for (let c = 0; c < C; c++) s[c] = dy[yOff + c] / count;
        for (let ky = kyLo; ky < kyHi; ky++) {
          const xRow = (n * H + iy0 + ky) * W + ix0;
          for (let kx = kxLo; kx < kxHi; kx++) {
            const xOff = (xRow + kx) * C;
            for (let c = 0; c < C; c++) dx[xOff + c] += s[c];
          }
        }
      }
    }
  }
}
