/**
 * conv2d and its two gradients (see ../kernels.ts): NHWC activations, HWIO weights
 * [KH, KW, C/groups, OC], explicit padTop/padLeft, dilation and groups.
 *
 * With more than one input channel per group, conv2d and conv2dBackwardFilter gather PB
 * output pixels' windows into a reusable patch matrix [PB, KH*KW*Cg] (zeros where the window
 * leaves the input) and hand it to the blocked gemm of ./matmul, whose inner loop runs over
 * contiguous output channels; conv2dBackwardInput multiplies dy by the transposed weights the
 * same way and scatters the result back (col2im). With one input channel per group (depthwise,
 * with or without a channel multiplier) the loops are direct, innermost over contiguous
 * channels. The filter gradient, a sum over every output pixel, is kept in float64.
 */
import { gemm } from './matmul';

/** Output pixels per patch matrix. */
const PB = 128;

let f64 = new Float64Array(0);
let patches = new Float32Array(0);
let tile = new Float32Array(0);

function scratch64(len: number): Float64Array {
  if (f64.length < len) f64 = new Float64Array(len);
  return f64;
}

function scratchPatches(len: number): Float32Array {
  if (patches.length < len) patches = new Float32Array(len);
  return patches;
}

function scratchTile(len: number): Float32Array {
  if (tile.length < len) tile = new Float32Array(len);
  return tile;
}

/**
 * Fills P[r, (ky*KW + kx)*Cg + ci] = x[n, iy, ix, c0 + ci] for the output pixels
 * p0 .. p0+rows-1 (flat over n, oy, ox), or 0 where (iy, ix) is outside the input.
 */
function im2col(
  x: Float32Array, P: Float32Array, p0: number, rows: number, c0: number,
  H: number, W: number, C: number, Cg: number, KH: number, KW: number,
  SH: number, SW: number, DH: number, DW: number, PT: number, PL: number, OH: number, OW: number,
): void {
  let ox = p0 % OW;
  let t = (p0 - ox) / OW;
  let oy = t % OH;
  let n = (t - oy) / OH;
  for (let r = 0, dst = 0; r < rows; r++) {
    const iy0 = oy * SH - PT;
    const ix0 = ox * SW - PL;
    for (let ky = 0; ky < KH; ky++) {
      const iy = iy0 + ky * DH;
      if (iy < 0 || iy >= H) {
        P.fill(0, dst, dst + KW * Cg);
        dst += KW * Cg;
        continue;
      }
      const xRow = (n * H + iy) * W;
      for (let kx = 0; kx < KW; kx++, dst += Cg) {
        const ix = ix0 + kx * DW;
        if (ix < 0 || ix >= W) {
          P.fill(0, dst, dst + Cg);
          continue;
        }
        const src = (xRow + ix) * C + c0 - dst;
        for (let j = dst, jEnd = dst + Cg; j < jEnd; j++) P[j] = x[src + j];
      }
    }
    if (++ox === OW) {
      ox = 0;
      if (++oy === OH) {
        oy = 0;
        n++;
      }
    }
  }
}

/** The adjoint of im2col: dx[n, iy, ix, c0 + ci] += D[r, (ky*KW + kx)*Cg + ci] for in-range (iy, ix). */
function col2im(
  D: Float32Array, dx: Float32Array, p0: number, rows: number, c0: number,
  H: number, W: number, C: number, Cg: number, KH: number, KW: number,
  SH: number, SW: number, DH: number, DW: number, PT: number, PL: number, OH: number, OW: number,
): void {
  let ox = p0 % OW;
  let t = (p0 - ox) / OW;
  let oy = t % OH;
  let n = (t - oy) / OH;
  for (let r = 0, src = 0; r < rows; r++) {
    const iy0 = oy * SH - PT;
    const ix0 = ox * SW - PL;
    for (let ky = 0; ky < KH; ky++) {
      const iy = iy0 + ky * DH;
      if (iy < 0 || iy >= H) {
        src += KW * Cg;
        continue;
      }
      const xRow = (n * H + iy) * W;
      for (let kx = 0; kx < KW; kx++, src += Cg) {
        const ix = ix0 + kx * DW;
        if (ix < 0 || ix >= W) continue;
        const d = (xRow + ix) * C + c0 - src;
        for (let j = src, jEnd = src + Cg; j < jEnd; j++) dx[d + j] += D[j];
      }
    }
    if (++ox === OW) {
      ox = 0;
      if (++oy === OH) {
        oy = 0;
        n++;
      }
    }
  }
}

/** y[n,oy,ox,o] = sum_{ky,kx,ci} x[n, oy*sH - pT + ky*dH, ox*sW - pL + kx*dW, g*Cg + ci] * w[ky,kx,ci,o]. */
export function conv2d(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const w = buffers[1];
  const y = buffers[2];
  const N = ints[0] | 0, H = ints[1] | 0, W = ints[2] | 0, C = ints[3] | 0, OC = ints[4] | 0;
  const KH = ints[5] | 0, KW = ints[6] | 0, SH = ints[7] | 0, SW = ints[8] | 0;
  const DH = ints[9] | 0, DW = ints[10] | 0, PT = ints[11] | 0, PL = ints[12] | 0;
  const OH = ints[13] | 0, OW = ints[14] | 0, G = ints[15] | 0;
  const Cg = (C / G) | 0;
  const OCg = (OC / G) | 0;

  if (Cg > 1) {
    const KK = KH * KW * Cg;
    const P = scratchPatches(PB * KK);
    const total = N * OH * OW;
    y.fill(0, 0, total * OC);
    for (let p0 = 0; p0 < total; p0 += PB) {
      const rows = total - p0 < PB ? total - p0 : PB;
      for (let g = 0; g < G; g++) {
        im2col(x, P, p0, rows, g * Cg, H, W, C, Cg, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW);
        gemm(rows, OCg, KK, P, 0, KK, 1, w, g * OCg, OC, y, p0 * OC + g * OCg, OC);
      }
    }
    return;
  }

  // One input channel per group: w is [KH, KW, 1, OC]; channel c feeds outputs c*OCg .. c*OCg + OCg - 1.
  const acc = scratch64(OC);
  for (let n = 0; n < N; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * SH - PT;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * SW - PL;
        const yOff = ((n * OH + oy) * OW + ox) * OC;
        acc.fill(0, 0, OC);
        for (let ky = 0; ky < KH; ky++) {
          const iy = iy0 + ky * DH;
          if (iy < 0 || iy >= H) continue;
          const xRow = (n * H + iy) * W;
          for (let kx = 0; kx < KW; kx++) {
            const ix = ix0 + kx * DW;
            if (ix < 0 || ix >= W) continue;
            const xOff = (xRow + ix) * C;
            const wOff = (ky * KW + kx) * OC;
            if (OCg === 1) {
              const d = xOff - wOff;
              for (let j = wOff, jEnd = wOff + OC, a = 0; j < jEnd; j++, a++) acc[a] += x[d + j] * w[j];
            } else {
              for (let g = 0, a = 0, j = wOff; g < G; g++) {
                const xv = x[xOff + g];
                for (const aEnd = a + OCg; a < aEnd; a++, j++) acc[a] += xv * w[j];
              }
            }
          }
        }
        for (let j = 0; j < OC; j++) y[yOff + j] = acc[j];
      }
    }
  }
}

/**
 * dx = d(sum(y * dy))/dx. With Cg > 1: gemm against the transposed weights, then col2im.
 * Otherwise gathered per input pixel: every (ky, kx) whose output position (oy, ox) lands on
 * the stride grid and in range adds dot(dy[n,oy,ox,group], w[ky,kx,ci,group]).
 */
export function conv2dBackwardInput(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const dy = buffers[0];
  const w = buffers[1];
  const dx = buffers[2];
  const N = ints[0] | 0, H = ints[1] | 0, W = ints[2] | 0, C = ints[3] | 0, OC = ints[4] | 0;
  const KH = ints[5] | 0, KW = ints[6] | 0, SH = ints[7] | 0, SW = ints[8] | 0;
  const DH = ints[9] | 0, DW = ints[10] | 0, PT = ints[11] | 0, PL = ints[12] | 0;
  const OH = ints[13] | 0, OW = ints[14] | 0, G = ints[15] | 0;
  const Cg = (C / G) | 0;
  const OCg = (OC / G) | 0;

  if (Cg > 1) {
    // Per PB pixels and group: D[pixels, KK] = dy[pixels, group] * w_g^T, then dx += col2im(D).
    // wT holds each group's weights transposed: wT[g][o][kk] = w[kk, g*OCg + o].
    const KK = KH * KW * Cg;
    const wT = scratchTile(G * OCg * KK);
    for (let g = 0, t = 0; g < G; g++) {
      for (let o = 0; o < OCg; o++) {
        for (let kk = 0, j = g * OCg + o; kk < KK; kk++, j += OC, t++) wT[t] = w[j];
      }
    }
    const D = scratchPatches(PB * KK);
    const total = N * OH * OW;
    dx.fill(0, 0, N * H * W * C);
    for (let p0 = 0; p0 < total; p0 += PB) {
      const rows = total - p0 < PB ? total - p0 : PB;
      for (let g = 0; g < G; g++) {
        D.fill(0, 0, rows * KK);
        gemm(rows, KK, OCg, dy, p0 * OC + g * OCg, OC, 1, wT, g * OCg * KK, KK, D, 0, KK);
        col2im(D, dx, p0, rows, g * Cg, H, W, C, Cg, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW);
      }
    }
    return;
  }

  // One input channel per group: gathered per input pixel, dot products over contiguous
  // output channels (elementwise products when OCg == 1).
  const depthwise = OCg === 1;
  const wTap = Cg * OC;
  const OC2 = 2 * OC, OC3 = 3 * OC;
  const acc = scratch64(C);

  for (let n = 0; n < N; n++) {
    for (let iy = 0; iy < H; iy++) {
      const ty0 = iy + PT;
      for (let ix = 0; ix < W; ix++) {
        const tx0 = ix + PL;
        const xOff = ((n * H + iy) * W + ix) * C;
        acc.fill(0, 0, C);
        for (let ky = 0; ky < KH; ky++) {
          const ty = ty0 - ky * DH;
          if (ty < 0) break;
          if (ty % SH !== 0) continue;
          const oy = ty / SH;
          if (oy >= OH) continue;
          const yRow = (n * OH + oy) * OW;
          for (let kx = 0; kx < KW; kx++) {
            const tx = tx0 - kx * DW;
            if (tx < 0) break;
            if (tx % SW !== 0) continue;
            const ox = tx / SW;
            if (ox >= OW) continue;
            const yOff = (yRow + ox) * OC;
            const wOff = (ky * KW + kx) * wTap;
            if (depthwise) {
              const d = yOff - wOff;
              for (let j = wOff, jEnd = wOff + OC, a = 0; j < jEnd; j++, a++) acc[a] += dy[d + j] * w[j];
              continue;
            }
            for (let g = 0; g < G; g++) {
              const gOC = g * OCg;
              const aBase = g * Cg;
              let wr = wOff + gOC; // w[ky,kx,ci,g*OCg], starting at ci = 0
              const d = yOff + gOC - wr; // dy index of w index j at ci = 0
              let ci = 0;
              for (; ci + 3 < Cg; ci += 4, wr += 4 * OC) {
                let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                const dd = d - ci * OC;
                for (let j = wr, jEnd = wr + OCg; j < jEnd; j++) {
                  const g0 = dy[dd + j];
                  s0 += g0 * w[j];
                  s1 += g0 * w[j + OC];
                  s2 += g0 * w[j + OC2];
                  s3 += g0 * w[j + OC3];
                }
                acc[aBase + ci] += s0;
                acc[aBase + ci + 1] += s1;
                acc[aBase + ci + 2] += s2;
                acc[aBase + ci + 3] += s3;
              }
              for (; ci < Cg; ci++, wr += OC) {
                let s0 = 0;
                const dd = d - ci * OC;
                for (let j = wr, jEnd = wr + OCg; j < jEnd; j++) s0 += dy[dd + j] * w[j];
                acc[aBase + ci] += s0;
              }
            }
          }
        }
        for (let c = 0; c < C; c++) dx[xOff + c] = acc[c];
      }
    }
  }
}

/**
 * dw = d(sum(y * dy))/dw: dw[ky,kx,ci,o] = sum_{n,oy,ox} x[n,iy,ix,g*Cg+ci] * dy[n,oy,ox,o],
 * summed in a float64 accumulator the size of dw.
 */
export function conv2dBackwardFilter(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const dy = buffers[1];
  const dw = buffers[2];
  const N = ints[0] | 0, H = ints[1] | 0, W = ints[2] | 0, C = ints[3] | 0, OC = ints[4] | 0;
  const KH = ints[5] | 0, KW = ints[6] | 0, SH = ints[7] | 0, SW = ints[8] | 0;
  const DH = ints[9] | 0, DW = ints[10] | 0, PT = ints[11] | 0, PL = ints[12] | 0;
  const OH = ints[13] | 0, OW = ints[14] | 0, G = ints[15] | 0;
  const Cg = (C / G) | 0;
  const OCg = (OC / G) | 0;
  const wLen = KH * KW * Cg * OC;
  const acc = scratch64(wLen);
  acc.fill(0, 0, wLen);

  if (Cg > 1) {
    // Per PB pixels and group: T[KK, OCg] = P^T * dy[pixels, group], then acc += T.
    const KK = KH * KW * Cg;
    const P = scratchPatches(PB * KK);
    const T = scratchTile(KK * OCg);
    const total = N * OH * OW;
    for (let p0 = 0; p0 < total; p0 += PB) {
      const rows = total - p0 < PB ? total - p0 : PB;
      for (let g = 0; g < G; g++) {
        im2col(x, P, p0, rows, g * Cg, H, W, C, Cg, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW);
        T.fill(0, 0, KK * OCg);
        gemm(KK, OCg, rows, P, 0, 1, KK, dy, p0 * OC + g * OCg, OC, T, 0, OCg);
        for (let kk = 0, t = 0; kk < KK; kk++) {
          for (let j = kk * OC + g * OCg, jEnd = j + OCg; j < jEnd; j++, t++) acc[j] += T[t];
        }
      }
    }
  } else {
    // One input channel per group: dw[ky,kx,0,o] += x[.., o / OCg] * dy[.., o].
    for (let n = 0; n < N; n++) {
      for (let oy = 0; oy < OH; oy++) {
        const iy0 = oy * SH - PT;
        for (let ox = 0; ox < OW; ox++) {
          const ix0 = ox * SW - PL;
          const yOff = ((n * OH + oy) * OW + ox) * OC;
          for (let ky = 0; ky < KH; ky++) {
            const iy = iy0 + ky * DH;
            if (iy < 0 || iy >= H) continue;
            const xRow = (n * H + iy) * W;
            for (let kx = 0; kx < KW; kx++) {
              const ix = ix0 + kx * DW;
              if (ix < 0 || ix >= W) continue;
              const xOff = (xRow + ix) * C;
              const wOff = (ky * KW + kx) * OC;
              const d = yOff - wOff;
              if (OCg === 1) {
                const dxw = xOff - wOff;
                for (let j = wOff, jEnd = wOff + OC; j < jEnd; j++) acc[j] += x[dxw + j] * dy[d + j];
              } else {
                for (let g = 0, j = wOff; g < G; g++) {
                  const xv = x[xOff + g];
                  for (const jEnd = j + OCg; j < jEnd; j++) acc[j] += xv * dy[d + j];
                }
              }
            }
          }
        }
      }
    }
  }
  for (let j = 0; j < wLen; j++) dw[j] = acc[j];
}
