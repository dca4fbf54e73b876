/**
 * Max, average and L2 pooling over NDHWC and their gradients (see ../kernels.ts). Explicit
 * padFront/padTop/padLeft; window positions outside the input are skipped. Each output voxel
 * clips its window to the in-range slices [kzLo, kzHi), rows [kyLo, kyHi) and columns
 * [kxLo, kxHi) once, then the inner loops run over contiguous channels. Sums are float64.
 *
 * Max pooling: the running max starts from the first in-range value (row-major window order:
 * depth, then height, then width) and is replaced only by a strictly greater value, so the
 * gradient goes to the first maximum. Average pooling divides by the in-range count. L2
 * pooling: y = sqrt(sum of x^2 over in-range positions); its gradient dy * x / y, nothing
 * where y == 0. A window with no in-range position gives y = 0 and no gradient.
 */

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

const MAX = 0;
const AVG = 1;
const L2 = 2;

/** Shared forward: kind MAX, AVG or L2. */
function poolForward(kind: number, x: Float32Array, y: Float32Array, ints: ArrayLike<number>): void {
  const N = ints[0] | 0, D = ints[1] | 0, H = ints[2] | 0, W = ints[3] | 0, C = ints[4] | 0;
  const PD = ints[5] | 0, PH = ints[6] | 0, PW = ints[7] | 0;
  const SD = ints[8] | 0, SH = ints[9] | 0, SW = ints[10] | 0;
  const PF = ints[11] | 0, PT = ints[12] | 0, PL = ints[13] | 0;
  const OD = ints[14] | 0, OH = ints[15] | 0, OW = ints[16] | 0;
  ensure(C);
  const s = sums;

  for (let n = 0; n < N; n++) {
    for (let oz = 0; oz < OD; oz++) {
      const iz0 = oz * SD - PF;
      const kzLo = iz0 < 0 ? -iz0 : 0;
      const kzHi = D - iz0 < PD ? D - iz0 : PD;
      for (let oy = 0; oy < OH; oy++) {
        const iy0 = oy * SH - PT;
        const kyLo = iy0 < 0 ? -iy0 : 0;
        const kyHi = H - iy0 < PH ? H - iy0 : PH;
        for (let ox = 0; ox < OW; ox++) {
          const ix0 = ox * SW - PL;
          const kxLo = ix0 < 0 ? -ix0 : 0;
          const kxHi = W - ix0 < PW ? W - ix0 : PW;
          const yOff = (((n * OD + oz) * OH + oy) * OW + ox) * C;
          if (kzLo >= kzHi || kyLo >= kyHi || kxLo >= kxHi) {
            y.fill(0, yOff, yOff + C);
            continue;
          }
          if (kind === MAX) {
            let first = true;
            for (let kz = kzLo; kz < kzHi; kz++) {
              const xSlice = (n * D + iz0 + kz) * H + iy0;
              for (let ky = kyLo; ky < kyHi; ky++) {
                const xRow = (xSlice + ky) * W + ix0;
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
            continue;
          }
          s.fill(0, 0, C);
          for (let kz = kzLo; kz < kzHi; kz++) {
            const xSlice = (n * D + iz0 + kz) * H + iy0;
            for (let ky = kyLo; ky < kyHi; ky++) {
              const xRow = (xSlice + ky) * W + ix0;
              for (let kx = kxLo; kx < kxHi; kx++) {
                const xOff = (xRow + kx) * C;
                if (kind === AVG) {
                  for (let c = 0; c < C; c++) s[c] += x[xOff + c];
                } else {
                  for (let c = 0; c < C; c++) {
                    const v = x[xOff + c];
                    s[c] += v * v;
                  }
                }
              }
            }
          }
          if (kind === AVG) {
            const count = (kzHi - kzLo) * (kyHi - kyLo) * (kxHi - kxLo);
            for (let c = 0; c < C; c++) y[yOff + c] = s[c] / count;
          } else {
            for (let c = 0; c < C; c++) y[yOff + c] = Math.sqrt(s[c]);
          }
        }
      }
    }
  }
}

/** maxPool3d: y = max over the window's in-range positions (0 if none). */
export function maxPool3d(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  poolForward(MAX, buffers[0], buffers[1], ints);
}

/** avgPool3d: y = mean over the window's in-range positions (padding not counted; 0 if none). */
export function avgPool3d(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  poolForward(AVG, buffers[0], buffers[1], ints);
}

/** l2Pool3d: y = sqrt(sum of x^2 over the window's in-range positions) (0 if none). */
export function l2Pool3d(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  poolForward(L2, buffers[0], buffers[1], ints);
}

/**
 * Shared backward: dx = 0, then per window, MAX: dy to the first maximum; AVG: dy / count to
 * every in-range position; L2: dy * x / y to every in-range position (skipped where y == 0).
 * buffers: MAX [x, dy, dx], AVG [dy, dx], L2 [x, y, dy, dx].
 */
function poolBackward(kind: number, x: Float32Array, yv: Float32Array, dy: Float32Array, dx: Float32Array, ints: ArrayLike<number>): void {
  const N = ints[0] | 0, D = ints[1] | 0, H = ints[2] | 0, W = ints[3] | 0, C = ints[4] | 0;
  const PD = ints[5] | 0, PH = ints[6] | 0, PW = ints[7] | 0;
  const SD = ints[8] | 0, SH = ints[9] | 0, SW = ints[10] | 0;
  const PF = ints[11] | 0, PT = ints[12] | 0, PL = ints[13] | 0;
  const OD = ints[14] | 0, OH = ints[15] | 0, OW = ints[16] | 0;
  ensure(C);
  const bv = best;
  const bi = arg;
  const s = sums;

  dx.fill(0, 0, N * D * H * W * C);
  for (let n = 0; n < N; n++) {
    for (let oz = 0; oz < OD; oz++) {
      const iz0 = oz * SD - PF;
      const kzLo = iz0 < 0 ? -iz0 : 0;
      const kzHi = D - iz0 < PD ? D - iz0 : PD;
      if (kzLo >= kzHi) continue;
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
          const yOff = (((n * OD + oz) * OH + oy) * OW + ox) * C;

          if (kind === MAX) {
            let first = true;
            for (let kz = kzLo; kz < kzHi; kz++) {
              const xSlice = (n * D + iz0 + kz) * H + iy0;
              for (let ky = kyLo; ky < kyHi; ky++) {
                const xRow = (xSlice + ky) * W + ix0;
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
            }
            for (let c = 0; c < C; c++) dx[bi[c]] += dy[yOff + c];
            continue;
          }

          if (kind === AVG) {
            const count = (kzHi - kzLo) * (kyHi - kyLo) * (kxHi - kxLo);
            for (let c = 0; c < C; c++) s[c] = dy[yOff + c] / count;
          } else {
            // dy / y per channel; 0 where y == 0, so the window adds nothing there.
            for (let c = 0; c < C; c++) {
              const yc = yv[yOff + c];
              s[c] = yc === 0 ? 0 : dy[yOff + c] / yc;
            }
          }
          for (let kz = kzLo; kz < kzHi; kz++) {
            const xSlice = (n * D + iz0 + kz) * H + iy0;
            for (let ky = kyLo; ky < kyHi; ky++) {
              const xRow = (xSlice + ky) * W + ix0;
              for (let kx = kxLo; kx < kxHi; kx++) {
                const xOff = (xRow + kx) * C;
                if (kind === AVG) {
                  for (let c = 0; c < C; c++) dx[xOff + c] += s[c];
                } else {
                  for (let c = 0; c < C; c++) dx[xOff + c] += s[c] * x[xOff + c];
                }
              }
            }
          }
        }
      }
    }
  }
}

/** maxPool3dBackward: dx = 0, then each dy goes to the first maximum of its window (row-major order). */
export function maxPool3dBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  poolBackward(MAX, buffers[0], buffers[0], buffers[1], buffers[2], ints);
}

/** avgPool3dBackward: each dy / count goes to every in-range position of its window. */
export function avgPool3dBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  poolBackward(AVG, buffers[0], buffers[0], buffers[0], buffers[1], ints);
}

/** l2Pool3dBackward: dx = 0, then dx += dy * x / y per window, nothing where y == 0. */
export function l2Pool3dBackward(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  poolBackward(L2, buffers[0], buffers[1], buffers[2], buffers[3], ints);
}
