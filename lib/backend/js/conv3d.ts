/**
 * conv3d and its two gradients (see ../kernels.ts): NDHWC activations, weights
 * [KD, KH, KW, C/groups, OC], explicit padFront/padTop/padLeft, dilation and groups.
 *
 * The structure follows ./conv2d.ts with a depth axis before height. With more than one input
 * channel per group, conv3d and conv3dBackwardFilter gather PB output voxels' windows into a
 * reusable patch matrix [PB, KD*KH*KW*Cg] (zeros where the window leaves the input) and hand it
 * to the blocked gemm of ./matmul; conv3dBackwardInput multiplies dy by the transposed weights
 * and scatters the result back (col2im). With one input channel per group (depthwise, with or
 * without a channel multiplier) the loops are direct, innermost over contiguous channels, with
 * float64 accumulators. The filter gradient, a sum over every output voxel, is kept in float64.
 */
import { gemm } from './matmul';

/** Output voxels per patch matrix. */
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

/** The conv3d integer parameters, decoded once per call. */
interface Shape {
  N: number; D: number; H: number; W: number; C: number; OC: number;
  KD: number; KH: number; KW: number;
  SD: number; SH: number; SW: number; DD: number; DH: number; DW: number;
  PF: number; PT: number; PL: number; OD: number; OH: number; OW: number; G: number;
  Cg: number; OCg: number;
}

function shape(ints: ArrayLike<number>): Shape {
  const C = ints[4] | 0, OC = ints[5] | 0, G = ints[21] | 0;
  return {
    N: ints[0] | 0, D: ints[1] | 0, H: ints[2] | 0, W: ints[3] | 0, C, OC,
    KD: ints[6] | 0, KH: ints[7] | 0, KW: ints[8] | 0,
    SD: ints[9] | 0, SH: ints[10] | 0, SW: ints[11] | 0,
    DD: ints[12] | 0, DH: ints[13] | 0, DW: ints[14] | 0,
    PF: ints[15] | 0, PT: ints[16] | 0, PL: ints[17] | 0,
    OD: ints[18] | 0, OH: ints[19] | 0, OW: ints[20] | 0, G,
    Cg: (C / G) | 0, OCg: (OC / G) | 0,
  };
}

/**
 * Fills P[r, ((kz*KH + ky)*KW + kx)*Cg + ci] = x[n, iz, iy, ix, c0 + ci] for the output voxels
 * p0 .. p0+rows-1 (flat over n, oz, oy, ox), or 0 where (iz, iy, ix) is outside the input.
 */
function im2col(x: Float32Array, P: Float32Array, p0: number, rows: number, c0: number, s: Shape): void {
  const { D, H, W, C, Cg, KD, KH, KW, SD, SH, SW, DD, DH, DW, PF, PT, PL, OD, OH, OW } = s;
  const rowLen = KW * Cg;
  const sliceLen = KH * rowLen;
  let ox = p0 % OW;
  let t = (p0 - ox) / OW;
  let oy = t % OH;
  t = (t - oy) / OH;
  let oz = t % OD;
  let n = (t - oz) / OD;
  for (let r = 0, dst = 0; r < rows; r++) {
    const iz0 = oz * SD - PF;
    const iy0 = oy * SH - PT;
    const ix0 = ox * SW - PL;
    for (let kz = 0; kz < KD; kz++) {
      const iz = iz0 + kz * DD;
      if (iz < 0 || iz >= D) {
        P.fill(0, dst, dst + sliceLen);
        dst += sliceLen;
        continue;
      }
      const xSlice = (n * D + iz) * H;
      for (let ky = 0; ky < KH; ky++) {
        const iy = iy0 + ky * DH;
        if (iy < 0 || iy >= H) {
          P.fill(0, dst, dst + rowLen);
          dst += rowLen;
          continue;
        }
        const xRow = (xSlice + iy) * W;
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
    }
    if (++ox === OW) {
      ox = 0;
      if (++oy === OH) {
        oy = 0;
        if (++oz === OD) {
          oz = 0;
          n++;
        }
      }
    }
  }
}

/** The adjoint of im2col: dx[n, iz, iy, ix, c0 + ci] += Dm[r, tap*Cg + ci] for in-range taps. */
function col2im(Dm: Float32Array, dx: Float32Array, p0: number, rows: number, c0: number, s: Shape): void {
  const { D, H, W, C, Cg, KD, KH, KW, SD, SH, SW, DD, DH, DW, PF, PT, PL, OD, OH, OW } = s;
  const rowLen = KW * Cg;
  const sliceLen = KH * rowLen;
  let ox = p0 % OW;
  let t = (p0 - ox) / OW;
  let oy = t % OH;
  t = (t - oy) / OH;
  let oz = t % OD;
  let n = (t - oz) / OD;
  for (let r = 0, src = 0; r < rows; r++) {
    const iz0 = oz * SD - PF;
    const iy0 = oy * SH - PT;
    const ix0 = ox * SW - PL;
    for (let kz = 0; kz < KD; kz++) {
      const iz = iz0 + kz * DD;
      if (iz < 0 || iz >= D) {
        src += sliceLen;
        continue;
      }
      const xSlice = (n * D + iz) * H;
      for (let ky = 0; ky < KH; ky++) {
        const iy = iy0 + ky * DH;
        if (iy < 0 || iy >= H) {
          src += rowLen;
          continue;
        }
        const xRow = (xSlice + iy) * W;
        for (let kx = 0; kx < KW; kx++, src += Cg) {
          const ix = ix0 + kx * DW;
          if (ix < 0 || ix >= W) continue;
          const d = (xRow + ix) * C + c0 - src;
          for (let j = src, jEnd = src + Cg; j < jEnd; j++) dx[d + j] += Dm[j];
        }
      }
    }
    if (++ox === OW) {
      ox = 0;
      if (++oy === OH) {
        oy = 0;
        if (++oz === OD) {
          oz = 0;
          n++;
        }
      }
    }
  }
}

/**
 * y[n,oz,oy,ox,o] = sum_{kz,ky,kx,ci} x[n, oz*sD - pF + kz*dD, oy*sH - pT + ky*dH,
 * ox*sW - pL + kx*dW, g*Cg + ci] * w[kz,ky,kx,ci,o], g = floor(o / OCg).
 */
export function conv3d(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const w = buffers[1];
  const y = buffers[2];
  const s = shape(ints);
  const { N, D, H, W, C, OC, KD, KH, KW, SD, SH, SW, DD, DH, DW, PF, PT, PL, OD, OH, OW, G, Cg, OCg } = s;

  if (Cg > 1) {
    const KK = KD * KH * KW * Cg;
    const P = scratchPatches(PB * KK);
    const total = N * OD * OH * OW;
    y.fill(0, 0, total * OC);
    for (let p0 = 0; p0 < total; p0 += PB) {
      const rows = total - p0 < PB ? total - p0 : PB;
      for (let g = 0; g < G; g++) {
        im2col(x, P, p0, rows, g * Cg, s);
        gemm(rows, OCg, KK, P, 0, KK, 1, w, g * OCg, OC, y, p0 * OC + g * OCg, OC);
      }
    }
    return;
  }

  // One input channel per group: w is [KD, KH, KW, 1, OC]; channel c feeds outputs c*OCg .. c*OCg + OCg - 1.
  const acc = scratch64(OC);
  for (let n = 0; n < N; n++) {
    for (let oz = 0; oz < OD; oz++) {
      const iz0 = oz * SD - PF;
      for (let oy = 0; oy < OH; oy++) {
        const iy0 = oy * SH - PT;
        for (let ox = 0; ox < OW; ox++) {
          const ix0 = ox * SW - PL;
          const yOff = (((n * OD + oz) * OH + oy) * OW + ox) * OC;
          acc.fill(0, 0, OC);
          for (let kz = 0; kz < KD; kz++) {
            const iz = iz0 + kz * DD;
            if (iz < 0 || iz >= D) continue;
            const xSlice = (n * D + iz) * H;
            for (let ky = 0; ky < KH; ky++) {
              const iy = iy0 + ky * DH;
              if (iy < 0 || iy >= H) continue;
              const xRow = (xSlice + iy) * W;
              for (let kx = 0; kx < KW; kx++) {
                const ix = ix0 + kx * DW;
                if (ix < 0 || ix >= W) continue;
                const xOff = (xRow + ix) * C;
                const wOff = ((kz * KH + ky) * KW + kx) * OC;
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
          }
          for (let j = 0; j < OC; j++) y[yOff + j] = acc[j];
        }
      }
    }
  }
}

/**
 * dx = d(sum(y * dy))/dx. With Cg > 1: gemm against the transposed weights, then col2im.
 * Otherwise gathered per input voxel: every tap whose output position lands on the stride
 * grid and in range adds dy[n,oz,oy,ox,o] * w[tap,0,o] for the outputs o fed by channel c.
 */
export function conv3dBackwardInput(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const dy = buffers[0];
  const w = buffers[1];
  const dx = buffers[2];
  const s = shape(ints);
  const { N, D, H, W, C, OC, KD, KH, KW, SD, SH, SW, DD, DH, DW, PF, PT, PL, OD, OH, OW, G, Cg, OCg } = s;

  if (Cg > 1) {
    // Per PB voxels and group: Dm[voxels, KK] = dy[voxels, group] * w_g^T, then dx += col2im(Dm).
    // wT holds each group's weights transposed: wT[g][o][kk] = w[kk, g*OCg + o].
    const KK = KD * KH * KW * Cg;
    const wT = scratchTile(G * OCg * KK);
    for (let g = 0, t = 0; g < G; g++) {
      for (let o = 0; o < OCg; o++) {
        for (let kk = 0, j = g * OCg + o; kk < KK; kk++, j += OC, t++) wT[t] = w[j];
      }
    }
    const Dm = scratchPatches(PB * KK);
    const total = N * OD * OH * OW;
    dx.fill(0, 0, N * D * H * W * C);
    for (let p0 = 0; p0 < total; p0 += PB) {
      const rows = total - p0 < PB ? total - p0 : PB;
      for (let g = 0; g < G; g++) {
        Dm.fill(0, 0, rows * KK);
        gemm(rows, KK, OCg, dy, p0 * OC + g * OCg, OC, 1, wT, g * OCg * KK, KK, Dm, 0, KK);
        col2im(Dm, dx, p0, rows, g * Cg, s);
      }
    }
    return;
  }

  // One input channel per group (Cg == 1, so G == C): w[tap, 0, o], tap stride OC.
  const depthwise = OCg === 1;
  const acc = scratch64(C);
  for (let n = 0; n < N; n++) {
    for (let iz = 0; iz < D; iz++) {
      const tz0 = iz + PF;
      for (let iy = 0; iy < H; iy++) {
        const ty0 = iy + PT;
        for (let ix = 0; ix < W; ix++) {
          const tx0 = ix + PL;
          const xOff = (((n * D + iz) * H + iy) * W + ix) * C;
          acc.fill(0, 0, C);
          for (let kz = 0; kz < KD; kz++) {
            const tz = tz0 - kz * DD;
            if (tz < 0) break;
            if (tz % SD !== 0) continue;
            const oz = tz / SD;
            if (oz >= OD) continue;
            const ySlice = (n * OD + oz) * OH;
            for (let ky = 0; ky < KH; ky++) {
              const ty = ty0 - ky * DH;
              if (ty < 0) break;
              if (ty % SH !== 0) continue;
              const oy = ty / SH;
              if (oy >= OH) continue;
              const yRow = (ySlice + oy) * OW;
              for (let kx = 0; kx < KW; kx++) {
                const tx = tx0 - kx * DW;
                if (tx < 0) break;
                if (tx % SW !== 0) continue;
                const ox = tx / SW;
                if (ox >= OW) continue;
                const yOff = (yRow + ox) * OC;
                const wOff = ((kz * KH + ky) * KW + kx) * OC;
                const d = yOff - wOff;
                if (depthwise) {
                  for (let j = wOff, jEnd = wOff + OC, a = 0; j < jEnd; j++, a++) acc[a] += dy[d + j] * w[j];
                } else {
                  for (let c = 0, j = wOff; c < C; c++) {
                    let sum = 0;
                    for (const jEnd = j + OCg; j < jEnd; j++) sum += dy[d + j] * w[j];
                    acc[c] += sum;
                  }
                }
              }
            }
          }
          for (let c = 0; c < C; c++) dx[xOff + c] = acc[c];
        }
      }
    }
  }
}

/**
 * dw = d(sum(y * dy))/dw: dw[kz,ky,kx,ci,o] = sum_{n,oz,oy,ox} x[n,iz,iy,ix,g*Cg+ci] * dy[n,oz,oy,ox,o],
 * summed in a float64 accumulator the size of dw.
 */
export function conv3dBackwardFilter(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const dy = buffers[1];
  const dw = buffers[2];
  const s = shape(ints);
  const { N, D, H, W, C, OC, KD, KH, KW, SD, SH, SW, DD, DH, DW, PF, PT, PL, OD, OH, OW, G, Cg, OCg } = s;
  const wLen = KD * KH * KW * Cg * OC;
  const acc = scratch64(wLen);
  acc.fill(0, 0, wLen);

  if (Cg > 1) {
    // Per PB voxels and group: T[KK, OCg] = P^T * dy[voxels, group], then acc += T.
    const KK = KD * KH * KW * Cg;
    const P = scratchPatches(PB * KK);
    const T = scratchTile(KK * OCg);
    const total = N * OD * OH * OW;
    for (let p0 = 0; p0 < total; p0 += PB) {
      const rows = total - p0 < PB ? total - p0 : PB;
      for (let g = 0; g < G; g++) {
        im2col(x, P, p0, rows, g * Cg, s);
        T.fill(0, 0, KK * OCg);
        gemm(KK, OCg, rows, P, 0, 1, KK, dy, p0 * OC + g * OCg, OC, T, 0, OCg);
        for (let kk = 0, t = 0; kk < KK; kk++) {
          for (let j = kk * OC + g * OCg, jEnd = j + OCg; j < jEnd; j++, t++) acc[j] += T[t];
        }
      }
    }
  } else {
    // One input channel per group: dw[tap,0,o] += x[.., o / OCg] * dy[.., o].
    for (let n = 0; n < N; n++) {
      for (let oz = 0; oz < OD; oz++) {
        const iz0 = oz * SD - PF;
        for (let oy = 0; oy < OH; oy++) {
          const iy0 = oy * SH - PT;
          for (let ox = 0; ox < OW; ox++) {
            const ix0 = ox * SW - PL;
            const yOff = (((n * OD + oz) * OH + oy) * OW + ox) * OC;
            for (let kz = 0; kz < KD; kz++) {
              const iz = iz0 + kz * DD;
              if (iz < 0 || iz >= D) continue;
              const xSlice = (n * D + iz) * H;
              for (let ky = 0; ky < KH; ky++) {
                const iy = iy0 + ky * DH;
                if (iy < 0 || iy >= H) continue;
                const xRow = (xSlice + iy) * W;
                for (let kx = 0; kx < KW; kx++) {
                  const ix = ix0 + kx * DW;
                  if (ix < 0 || ix >= W) continue;
                  const xOff = (xRow + ix) * C;
                  const wOff = ((kz * KH + ky) * KW + kx) * OC;
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
    }
  }
  for (let j = 0; j < wLen; j++) dw[j] = acc[j];
}
