/**
 * matmul: c[M,N] = op(a) * op(b) (see ../kernels.ts). Both operands are repacked into float64
 * panels (A as [M/4][K][4], B as [N/NR][K][NR], transposition folded into the packing, zero
 * padded) and multiplied by the register-tiled micro-kernels of ./tiles, 4 x NR accumulators
 * held in locals over the whole depth. Depth is blocked by KC and rows by MC so the panels stay
 * in cache on large products.
 *
 * `gemm` (cache-blocked i-k-j loops over Float32Array with a 4 x 4 register tile, accumulating
 * into c) is the older core, still used by conv3d.
 */
import { gemm4x4, gemm4x8 } from './tiles';

/** Column block of b/c (floats) and depth block of k: a BK x BJ panel of b stays in L2. */
const BJ = 256;
const BK = 128;

/**
 * c(i,j) += sum_k a(i,k) * b(k,j) for i < M, j < N, k < K, where a(i,k) = a[aOff + i*aI + k*aK],
 * b(k,j) = b[bOff + k*ldb + j] and c(i,j) = c[cOff + i*ldc + j]. Used by conv3d.
 */
export function gemm(
  M: number, N: number, K: number,
  a: Float32Array, aOff: number, aI: number, aK: number,
  b: Float32Array, bOff: number, ldb: number,
  c: Float32Array, cOff: number, ldc: number,
): void {
  const N2 = 2 * ldb;
  const N3 = 3 * ldb;
  const M4 = M - 3;
  const C2 = 2 * ldc;
  const C3 = 3 * ldc;

  for (let j0 = 0; j0 < N; j0 += BJ) {
    const j1 = j0 + BJ < N ? j0 + BJ : N;
    for (let k0 = 0; k0 < K; k0 += BK) {
      const k1 = k0 + BK < K ? k0 + BK : K;
      const k4 = k1 - 3;
      let i = 0;
      // 4 x 4 register tile: four rows of c updated from four rows of b per pass.
      for (; i < M4; i += 4) {
        const c0 = cOff + i * ldc;
        let k = k0;
        for (; k < k4; k += 4) {
          const p0 = aOff + i * aI + k * aK, p1 = p0 + aI, p2 = p1 + aI, p3 = p2 + aI;
          const a00 = a[p0], a01 = a[p0 + aK], a02 = a[p0 + 2 * aK], a03 = a[p0 + 3 * aK];
          const a10 = a[p1], a11 = a[p1 + aK], a12 = a[p1 + 2 * aK], a13 = a[p1 + 3 * aK];
          const a20 = a[p2], a21 = a[p2 + aK], a22 = a[p2 + 2 * aK], a23 = a[p2 + 3 * aK];
          const a30 = a[p3], a31 = a[p3 + aK], a32 = a[p3 + 2 * aK], a33 = a[p3 + 3 * aK];
          const bRow = bOff + k * ldb;
          const d = c0 - bRow;
          for (let j = bRow + j0, jEnd = bRow + j1; j < jEnd; j++) {
            const b0 = b[j], b1 = b[j + ldb], b2 = b[j + N2], b3 = b[j + N3];
            const q = d + j;
            c[q] += a00 * b0 + a01 * b1 + a02 * b2 + a03 * b3;
            c[q + ldc] += a10 * b0 + a11 * b1 + a12 * b2 + a13 * b3;
            c[q + C2] += a20 * b0 + a21 * b1 + a22 * b2 + a23 * b3;
            c[q + C3] += a30 * b0 + a31 * b1 + a32 * b2 + a33 * b3;
          }
        }
        for (; k < k1; k++) {
          const p0 = aOff + i * aI + k * aK;
          const a0 = a[p0], a1 = a[p0 + aI], a2 = a[p0 + 2 * aI], a3 = a[p0 + 3 * aI];
          const bRow = bOff + k * ldb;
          const d = c0 - bRow;
          for (let j = bRow + j0, jEnd = bRow + j1; j < jEnd; j++) {
            const b0 = b[j];
            const q = d + j;
            c[q] += a0 * b0;
            c[q + ldc] += a1 * b0;
            c[q + C2] += a2 * b0;
            c[q + C3] += a3 * b0;
          }
        }
      }
      // Leftover rows: one row of c, four rows of b per pass.
      for (; i < M; i++) {
        const c0 = cOff + i * ldc;
        let k = k0;
        for (; k < k4; k += 4) {
          const p0 = aOff + i * aI + k * aK;
          const a0 = a[p0], a1 = a[p0 + aK], a2 = a[p0 + 2 * aK], a3 = a[p0 + 3 * aK];
          const bRow = bOff + k * ldb;
          const d = c0 - bRow;
          for (let j = bRow + j0, jEnd = bRow + j1; j < jEnd; j++) {
            c[d + j] += a0 * b[j] + a1 * b[j + ldb] + a2 * b[j + N2] + a3 * b[j + N3];
          }
        }
        for (; k < k1; k++) {
          const a0 = a[aOff + i * aI + k * aK];
          const bRow = bOff + k * ldb;
          const d = c0 - bRow;
          for (let j = bRow + j0, jEnd = bRow + j1; j < jEnd; j++) c[d + j] += a0 * b[j];
        }
      }
    }
  }
}

/** Depth block: a KC-deep B panel of NR columns stays in L1. */
const KC = 512;
/** Row block: an MC x KC block of packed A stays in L2. */
const MC = 128;
/** Column block: bounds the packed B block (KC x NC doubles) on wide products. */
const NC = 1024;

let aPack = new Float64Array(0);
let bPack = new Float64Array(0);

export function matmul(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const a = buffers[0];
  const b = buffers[1];
  const c = buffers[2];
  const M = ints[0] | 0;
  const N = ints[1] | 0;
  const K = ints[2] | 0;
  const transA = ints[3] !== 0;
  const transB = ints[4] !== 0;
  // Eight columns per tile when that wastes no more padding than four.
  const NR = ((N + 7) >> 3) << 3 === ((N + 3) >> 2) << 2 ? 8 : 4;
  const kcMax = K < KC ? K : KC;
  const ncMax = N < NC ? Math.ceil(N / NR) * NR : NC;
  if (bPack.length < ncMax * kcMax) bPack = new Float64Array(ncMax * kcMax);
  const mcMax = M < MC ? ((M + 3) >> 2) << 2 : MC;
  if (aPack.length < mcMax * kcMax) aPack = new Float64Array(mcMax * kcMax);
  const ap = aPack;
  const bp = bPack;
  // A(i, k) = a[i * aI + k * aK]; B(k, j) = b[k * bK + j * bJ].
  const aI = transA ? 1 : K;
  const aK = transA ? M : 1;
  const bK = transB ? 1 : N;
  const bJ = transB ? K : 1;

  for (let n0 = 0; n0 < N; n0 += NC) {
    const nc = N - n0 < NC ? N - n0 : NC;
    const nTiles = ((nc + NR - 1) / NR) | 0;
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = K - k0 < KC ? K - k0 : KC;
      // bp[t][k][NR] = B(k0 + k, n0 + t*NR + j), zero past N.
      for (let t = 0, dst = 0; t < nTiles; t++) {
        const j0 = n0 + t * NR;
        const cols = N - j0 < NR ? N - j0 : NR;
        for (let k = 0; k < kc; k++, dst += NR) {
          const src = (k0 + k) * bK + j0 * bJ;
          for (let j = 0; j < cols; j++) bp[dst + j] = b[src + j * bJ];
          for (let j = cols; j < NR; j++) bp[dst + j] = 0;
        }
      }
      for (let m0 = 0; m0 < M; m0 += MC) {
        const mc = M - m0 < MC ? M - m0 : MC;
        // ap[tile][k][4] = A(m0 + tile*4 + i, k0 + k), zero past M.
        for (let i0 = 0, dst = 0; i0 < mc; i0 += 4) {
          const rows = mc - i0 < 4 ? mc - i0 : 4;
          for (let k = 0; k < kc; k++, dst += 4) {
            const src = (m0 + i0) * aI + (k0 + k) * aK;
            for (let i = 0; i < rows; i++) ap[dst + i] = a[src + i * aI];
            for (let i = rows; i < 4; i++) ap[dst + i] = 0;
          }
        }
        // The first depth block stores, later ones add to c.
        if (NR === 8) gemm4x8(ap, bp, kc, mc, nc, c, N, m0 * N + n0, k0 > 0);
        else gemm4x4(ap, bp, kc, mc, nc, c, N, m0 * N + n0, k0 > 0);
      }
    }
  }
}
