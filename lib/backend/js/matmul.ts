/**
 * matmul: c[M,N] = op(a) * op(b) (see ../kernels.ts). Cache-blocked i-k-j loops over
 * Float32Array with a 4 x 4 (rows of c x rows of b) register tile, so the innermost loop runs
 * over contiguous columns of b and c. A transposed b is first copied into a reusable [K,N]
 * scratch so every case shares the same core (`gemm`, also used by conv2d).
 */

/** Column block of b/c (floats) and depth block of k: a BK x BJ panel of b stays in L2. */
const BJ = 256;
const BK = 128;
/** Tile edge for the blocked transpose of b. */
const BT = 32;

let scratch = new Float32Array(0);

function scratchF32(len: number): Float32Array {
  if (scratch.length < len) scratch = new Float32Array(len);
  return scratch;
}

/** dst[K,N] = src^T with src stored [N,K]. */
function transposeInto(src: Float32Array, dst: Float32Array, n: number, k: number): void {
  for (let j0 = 0; j0 < n; j0 += BT) {
    const j1 = j0 + BT < n ? j0 + BT : n;
    for (let k0 = 0; k0 < k; k0 += BT) {
      const k1 = k0 + BT < k ? k0 + BT : k;
      for (let j = j0; j < j1; j++) {
        const srcRow = j * k;
        for (let kk = k0; kk < k1; kk++) dst[kk * n + j] = src[srcRow + kk];
      }
    }
  }
}

/**
 * c(i,j) += sum_k a(i,k) * b(k,j) for i < M, j < N, k < K, where a(i,k) = a[aOff + i*aI + k*aK],
 * b(k,j) = b[bOff + k*ldb + j] and c(i,j) = c[cOff + i*ldc + j]. Shared with conv2d.
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

export function matmul(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const a = buffers[0];
  const c = buffers[2];
  const M = ints[0] | 0;
  const N = ints[1] | 0;
  const K = ints[2] | 0;
  const transA = ints[3] !== 0;
  const transB = ints[4] !== 0;

  let b = buffers[1];
  if (transB) {
    const t = scratchF32(K * N);
    transposeInto(b, t, N, K);
    b = t;
  }
  // a(i,k) = a[i * aI + k * aK]
  const aI = transA ? 1 : K;
  const aK = transA ? M : 1;
  c.fill(0, 0, M * N);
  gemm(M, N, K, a, 0, aI, aK, b, 0, N, c, 0, N);
}
