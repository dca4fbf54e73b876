/**
 * Register-tiled micro-kernels for ./conv2d and ./matmul. Each keeps an M x N tile of sums in
 * local variables (TurboFan holds float64 locals in xmm registers, spilling the rest to the
 * stack, which is still far cheaper than a typed-array access with its bounds check) and loads
 * M + N operands per step of the reduction, so a step does 2*M*N flops for M + N loads instead
 * of a load and a store per multiply-add. Operands are float64 (packed once per call by the
 * callers), so the inner loops convert nothing.
 *
 * The functions are one template unrolled by hand for a few tile shapes (the name says
 * rows x columns); keep them in step when editing. Index arithmetic is written `(i + k) | 0` so
 * TurboFan emits a plain 32-bit add rather than one with an overflow check and deopt exit
 * (every index is a non-negative int32, far from overflow, as the callers' buffers are).
 * Everything a tile touches lies within its arrays: callers pad pbase/offs/dyp/weights so the
 * last, partial tile reads valid memory, and write back only its valid part.
 */

/** Spill space for the partial tiles of the gemm kernels. */
const tmp = new Float64Array(64);

/**
 * Forward tile 4 pixels x 4 output channels: y[p, yCol + o] = sum over the KK window offsets of
 * xp[pbase[p] + xOff + offset] * wp[wOff + (o / 4) * KK * 4 + k * 4 + o % 4], for p < P and the
 * output-channel tiles t0 <= t < t1 (o = t * 4 + j < OCg).
 * The window is S runs of L contiguous elements starting at segOff[s]; pbase holds 3 padding entries.
 */
export function convFwd4x4(
  xp: Float64Array, pbase: Int32Array, P: number, xOff: number, segOff: Int32Array, S: number, L: number,
  wp: Float64Array, wOff: number, KK: number, t0: number, t1: number, OCg: number, y: Float32Array, ldy: number, yCol: number,
): void {
  for (let p = 0; p < P; p += 4) {
    const b0 = pbase[p] + xOff;
    const e1 = pbase[p + 1] + xOff - b0;
    const e2 = pbase[p + 2] + xOff - b0;
    const e3 = pbase[p + 3] + xOff - b0;
    for (let t = t0; t < t1; t++) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let wi = wOff + t * KK * 4;
      for (let s = 0; s < S; s++) {
        for (let ai = b0 + segOff[s], aEnd = ai + L; ai < aEnd; ai++, wi += 4) {
          const a0 = xp[ai], a1 = xp[(ai + e1) | 0], a2 = xp[(ai + e2) | 0], a3 = xp[(ai + e3) | 0];
          const w0 = wp[wi];
          const w1 = wp[(wi + 1) | 0];
          const w2 = wp[(wi + 2) | 0];
          const w3 = wp[(wi + 3) | 0];
          c00 += a0 * w0; c01 += a0 * w1; c02 += a0 * w2; c03 += a0 * w3;
          c10 += a1 * w0; c11 += a1 * w1; c12 += a1 * w2; c13 += a1 * w3;
          c20 += a2 * w0; c21 += a2 * w1; c22 += a2 * w2; c23 += a2 * w3;
          c30 += a3 * w0; c31 += a3 * w1; c32 += a3 * w2; c33 += a3 * w3;
        }
      }
      const o0 = t * 4;
      let q = p * ldy + yCol + o0;
      if (p + 4 <= P && o0 + 4 <= OCg) {
        y[q] = c00; y[q + 1] = c01; y[q + 2] = c02; y[q + 3] = c03; q += ldy;
        y[q] = c10; y[q + 1] = c11; y[q + 2] = c12; y[q + 3] = c13; q += ldy;
        y[q] = c20; y[q + 1] = c21; y[q + 2] = c22; y[q + 3] = c23; q += ldy;
        y[q] = c30; y[q + 1] = c31; y[q + 2] = c32; y[q + 3] = c33;
      } else {
        const rows = P - p < 4 ? P - p : 4;
        const cols = OCg - o0 < 4 ? OCg - o0 : 4;
        if (rows > 0) {
          if (cols > 0) y[q + 0] = c00;
          if (cols > 1) y[q + 1] = c01;
          if (cols > 2) y[q + 2] = c02;
          if (cols > 3) y[q + 3] = c03;
          q += ldy;
        }
        if (rows > 1) {
          if (cols > 0) y[q + 0] = c10;
          if (cols > 1) y[q + 1] = c11;
          if (cols > 2) y[q + 2] = c12;
          if (cols > 3) y[q + 3] = c13;
          q += ldy;
        }
        if (rows > 2) {
          if (cols > 0) y[q + 0] = c20;
          if (cols > 1) y[q + 1] = c21;
          if (cols > 2) y[q + 2] = c22;
          if (cols > 3) y[q + 3] = c23;
          q += ldy;
        }
        if (rows > 3) {
          if (cols > 0) y[q + 0] = c30;
          if (cols > 1) y[q + 1] = c31;
          if (cols > 2) y[q + 2] = c32;
          if (cols > 3) y[q + 3] = c33;
        }
      }
    }
  }
}

/**
 * Forward tile 4 pixels x 6 output channels: y[p, yCol + o] = sum over the KK window offsets of
 * xp[pbase[p] + xOff + offset] * wp[wOff + (o / 6) * KK * 6 + k * 6 + o % 6], for p < P and the
 * output-channel tiles t0 <= t < t1 (o = t * 6 + j < OCg).
 * The window is S runs of L contiguous elements starting at segOff[s]; pbase holds 3 padding entries.
 */
export function convFwd4x6(
  xp: Float64Array, pbase: Int32Array, P: number, xOff: number, segOff: Int32Array, S: number, L: number,
  wp: Float64Array, wOff: number, KK: number, t0: number, t1: number, OCg: number, y: Float32Array, ldy: number, yCol: number,
): void {
  for (let p = 0; p < P; p += 4) {
    const b0 = pbase[p] + xOff;
    const e1 = pbase[p + 1] + xOff - b0;
    const e2 = pbase[p + 2] + xOff - b0;
    const e3 = pbase[p + 3] + xOff - b0;
    for (let t = t0; t < t1; t++) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0;
      let wi = wOff + t * KK * 6;
      for (let s = 0; s < S; s++) {
        for (let ai = b0 + segOff[s], aEnd = ai + L; ai < aEnd; ai++, wi += 6) {
          const a0 = xp[ai], a1 = xp[(ai + e1) | 0], a2 = xp[(ai + e2) | 0], a3 = xp[(ai + e3) | 0];
          const w0 = wp[wi];
          const w1 = wp[(wi + 1) | 0];
          const w2 = wp[(wi + 2) | 0];
          const w3 = wp[(wi + 3) | 0];
          const w4 = wp[(wi + 4) | 0];
          const w5 = wp[(wi + 5) | 0];
          c00 += a0 * w0; c01 += a0 * w1; c02 += a0 * w2; c03 += a0 * w3; c04 += a0 * w4; c05 += a0 * w5;
          c10 += a1 * w0; c11 += a1 * w1; c12 += a1 * w2; c13 += a1 * w3; c14 += a1 * w4; c15 += a1 * w5;
          c20 += a2 * w0; c21 += a2 * w1; c22 += a2 * w2; c23 += a2 * w3; c24 += a2 * w4; c25 += a2 * w5;
          c30 += a3 * w0; c31 += a3 * w1; c32 += a3 * w2; c33 += a3 * w3; c34 += a3 * w4; c35 += a3 * w5;
        }
      }
      const o0 = t * 6;
      let q = p * ldy + yCol + o0;
      if (p + 4 <= P && o0 + 6 <= OCg) {
        y[q] = c00; y[q + 1] = c01; y[q + 2] = c02; y[q + 3] = c03; y[q + 4] = c04; y[q + 5] = c05; q += ldy;
        y[q] = c10; y[q + 1] = c11; y[q + 2] = c12; y[q + 3] = c13; y[q + 4] = c14; y[q + 5] = c15; q += ldy;
        y[q] = c20; y[q + 1] = c21; y[q + 2] = c22; y[q + 3] = c23; y[q + 4] = c24; y[q + 5] = c25; q += ldy;
        y[q] = c30; y[q + 1] = c31; y[q + 2] = c32; y[q + 3] = c33; y[q + 4] = c34; y[q + 5] = c35;
      } else {
        const rows = P - p < 4 ? P - p : 4;
        const cols = OCg - o0 < 6 ? OCg - o0 : 6;
        if (rows > 0) {
          if (cols > 0) y[q + 0] = c00;
          if (cols > 1) y[q + 1] = c01;
          if (cols > 2) y[q + 2] = c02;
          if (cols > 3) y[q + 3] = c03;
          if (cols > 4) y[q + 4] = c04;
          if (cols > 5) y[q + 5] = c05;
          q += ldy;
        }
        if (rows > 1) {
          if (cols > 0) y[q + 0] = c10;
          if (cols > 1) y[q + 1] = c11;
          if (cols > 2) y[q + 2] = c12;
          if (cols > 3) y[q + 3] = c13;
          if (cols > 4) y[q + 4] = c14;
          if (cols > 5) y[q + 5] = c15;
          q += ldy;
        }
        if (rows > 2) {
          if (cols > 0) y[q + 0] = c20;
          if (cols > 1) y[q + 1] = c21;
          if (cols > 2) y[q + 2] = c22;
          if (cols > 3) y[q + 3] = c23;
          if (cols > 4) y[q + 4] = c24;
          if (cols > 5) y[q + 5] = c25;
          q += ldy;
        }
        if (rows > 3) {
          if (cols > 0) y[q + 0] = c30;
          if (cols > 1) y[q + 1] = c31;
          if (cols > 2) y[q + 2] = c32;
          if (cols > 3) y[q + 3] = c33;
          if (cols > 4) y[q + 4] = c34;
          if (cols > 5) y[q + 5] = c35;
        }
      }
    }
  }
}

/**
 * Forward tile 4 pixels x 4 output channels: y[p, yCol + o] = sum over the KK window offsets of
 * xp[pbase[p] + xOff + offset] * wp[wOff + (o / 4) * KK * 4 + k * 4 + o % 4], for p < P and the
 * output-channel tiles t0 <= t < t1 (o = t * 4 + j < OCg).
 * Flat variant for short runs: segOff holds all KK window offsets (S and L unused); pbase holds
 * 3 padding entries.
 */
export function convFwdO4x4(
  xp: Float64Array, pbase: Int32Array, P: number, xOff: number, segOff: Int32Array, _S: number, _L: number,
  wp: Float64Array, wOff: number, KK: number, t0: number, t1: number, OCg: number, y: Float32Array, ldy: number, yCol: number,
): void {
  for (let p = 0; p < P; p += 4) {
    const b0 = pbase[p] + xOff;
    const e1 = pbase[p + 1] + xOff - b0;
    const e2 = pbase[p + 2] + xOff - b0;
    const e3 = pbase[p + 3] + xOff - b0;
    for (let t = t0; t < t1; t++) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let wi = wOff + t * KK * 4;
      for (let k = 0; k < KK; k++, wi += 4) {
        const ai = (b0 + segOff[k]) | 0;
        const a0 = xp[ai], a1 = xp[(ai + e1) | 0], a2 = xp[(ai + e2) | 0], a3 = xp[(ai + e3) | 0];
        const w0 = wp[wi];
        const w1 = wp[(wi + 1) | 0];
        const w2 = wp[(wi + 2) | 0];
        const w3 = wp[(wi + 3) | 0];
        c00 += a0 * w0; c01 += a0 * w1; c02 += a0 * w2; c03 += a0 * w3;
        c10 += a1 * w0; c11 += a1 * w1; c12 += a1 * w2; c13 += a1 * w3;
        c20 += a2 * w0; c21 += a2 * w1; c22 += a2 * w2; c23 += a2 * w3;
        c30 += a3 * w0; c31 += a3 * w1; c32 += a3 * w2; c33 += a3 * w3;
      }
      const o0 = t * 4;
      let q = p * ldy + yCol + o0;
      if (p + 4 <= P && o0 + 4 <= OCg) {
        y[q] = c00; y[q + 1] = c01; y[q + 2] = c02; y[q + 3] = c03; q += ldy;
        y[q] = c10; y[q + 1] = c11; y[q + 2] = c12; y[q + 3] = c13; q += ldy;
        y[q] = c20; y[q + 1] = c21; y[q + 2] = c22; y[q + 3] = c23; q += ldy;
        y[q] = c30; y[q + 1] = c31; y[q + 2] = c32; y[q + 3] = c33;
      } else {
        const rows = P - p < 4 ? P - p : 4;
        const cols = OCg - o0 < 4 ? OCg - o0 : 4;
        if (rows > 0) {
          if (cols > 0) y[q + 0] = c00;
          if (cols > 1) y[q + 1] = c01;
          if (cols > 2) y[q + 2] = c02;
          if (cols > 3) y[q + 3] = c03;
          q += ldy;
        }
        if (rows > 1) {
          if (cols > 0) y[q + 0] = c10;
          if (cols > 1) y[q + 1] = c11;
          if (cols > 2) y[q + 2] = c12;
          if (cols > 3) y[q + 3] = c13;
          q += ldy;
        }
        if (rows > 2) {
          if (cols > 0) y[q + 0] = c20;
          if (cols > 1) y[q + 1] = c21;
          if (cols > 2) y[q + 2] = c22;
          if (cols > 3) y[q + 3] = c23;
          q += ldy;
        }
        if (rows > 3) {
          if (cols > 0) y[q + 0] = c30;
          if (cols > 1) y[q + 1] = c31;
          if (cols > 2) y[q + 2] = c32;
          if (cols > 3) y[q + 3] = c33;
        }
      }
    }
  }
}

/**
 * Forward tile 4 pixels x 6 output channels: y[p, yCol + o] = sum over the KK window offsets of
 * xp[pbase[p] + xOff + offset] * wp[wOff + (o / 6) * KK * 6 + k * 6 + o % 6], for p < P and the
 * output-channel tiles t0 <= t < t1 (o = t * 6 + j < OCg).
 * Flat variant for short runs: segOff holds all KK window offsets (S and L unused); pbase holds
 * 3 padding entries.
 */
export function convFwdO4x6(
  xp: Float64Array, pbase: Int32Array, P: number, xOff: number, segOff: Int32Array, _S: number, _L: number,
  wp: Float64Array, wOff: number, KK: number, t0: number, t1: number, OCg: number, y: Float32Array, ldy: number, yCol: number,
): void {
  for (let p = 0; p < P; p += 4) {
    const b0 = pbase[p] + xOff;
    const e1 = pbase[p + 1] + xOff - b0;
    const e2 = pbase[p + 2] + xOff - b0;
    const e3 = pbase[p + 3] + xOff - b0;
    for (let t = t0; t < t1; t++) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0;
      let wi = wOff + t * KK * 6;
      for (let k = 0; k < KK; k++, wi += 6) {
        const ai = (b0 + segOff[k]) | 0;
        const a0 = xp[ai], a1 = xp[(ai + e1) | 0], a2 = xp[(ai + e2) | 0], a3 = xp[(ai + e3) | 0];
        const w0 = wp[wi];
        const w1 = wp[(wi + 1) | 0];
        const w2 = wp[(wi + 2) | 0];
        const w3 = wp[(wi + 3) | 0];
        const w4 = wp[(wi + 4) | 0];
        const w5 = wp[(wi + 5) | 0];
        c00 += a0 * w0; c01 += a0 * w1; c02 += a0 * w2; c03 += a0 * w3; c04 += a0 * w4; c05 += a0 * w5;
        c10 += a1 * w0; c11 += a1 * w1; c12 += a1 * w2; c13 += a1 * w3; c14 += a1 * w4; c15 += a1 * w5;
        c20 += a2 * w0; c21 += a2 * w1; c22 += a2 * w2; c23 += a2 * w3; c24 += a2 * w4; c25 += a2 * w5;
        c30 += a3 * w0; c31 += a3 * w1; c32 += a3 * w2; c33 += a3 * w3; c34 += a3 * w4; c35 += a3 * w5;
      }
      const o0 = t * 6;
      let q = p * ldy + yCol + o0;
      if (p + 4 <= P && o0 + 6 <= OCg) {
        y[q] = c00; y[q + 1] = c01; y[q + 2] = c02; y[q + 3] = c03; y[q + 4] = c04; y[q + 5] = c05; q += ldy;
        y[q] = c10; y[q + 1] = c11; y[q + 2] = c12; y[q + 3] = c13; y[q + 4] = c14; y[q + 5] = c15; q += ldy;
        y[q] = c20; y[q + 1] = c21; y[q + 2] = c22; y[q + 3] = c23; y[q + 4] = c24; y[q + 5] = c25; q += ldy;
        y[q] = c30; y[q + 1] = c31; y[q + 2] = c32; y[q + 3] = c33; y[q + 4] = c34; y[q + 5] = c35;
      } else {
        const rows = P - p < 4 ? P - p : 4;
        const cols = OCg - o0 < 6 ? OCg - o0 : 6;
        if (rows > 0) {
          if (cols > 0) y[q + 0] = c00;
          if (cols > 1) y[q + 1] = c01;
          if (cols > 2) y[q + 2] = c02;
          if (cols > 3) y[q + 3] = c03;
          if (cols > 4) y[q + 4] = c04;
          if (cols > 5) y[q + 5] = c05;
          q += ldy;
        }
        if (rows > 1) {
          if (cols > 0) y[q + 0] = c10;
          if (cols > 1) y[q + 1] = c11;
          if (cols > 2) y[q + 2] = c12;
          if (cols > 3) y[q + 3] = c13;
          if (cols > 4) y[q + 4] = c14;
          if (cols > 5) y[q + 5] = c15;
          q += ldy;
        }
        if (rows > 2) {
          if (cols > 0) y[q + 0] = c20;
          if (cols > 1) y[q + 1] = c21;
          if (cols > 2) y[q + 2] = c22;
          if (cols > 3) y[q + 3] = c23;
          if (cols > 4) y[q + 4] = c24;
          if (cols > 5) y[q + 5] = c25;
          q += ldy;
        }
        if (rows > 3) {
          if (cols > 0) y[q + 0] = c30;
          if (cols > 1) y[q + 1] = c31;
          if (cols > 2) y[q + 2] = c32;
          if (cols > 3) y[q + 3] = c33;
          if (cols > 4) y[q + 4] = c34;
          if (cols > 5) y[q + 5] = c35;
        }
      }
    }
  }
}

/**
 * Filter-gradient tile 4 window offsets x 4 output channels, summed over pixels p0 <= p < p1:
 * acc[(k + i) * lda + aCol + o] += sum_p xp[pbase[p] + xOff + offs[k + i]] * dyp[p * ldd + dCol + o].
 * offs has KK rounded up to 4 entries and dyp/acc have oTiles * 4 columns from dCol/aCol (padding
 * reads valid memory and lands in padding), so every tile is full.
 */
export function convBwdW4x4(
  xp: Float64Array, pbase: Int32Array, p0: number, p1: number, xOff: number, offs: Int32Array, KK: number,
  dyp: Float64Array, ldd: number, dCol: number, oTiles: number, acc: Float64Array, lda: number, aCol: number,
): void {
  for (let k = 0; k < KK; k += 4) {
    const f0 = offs[k + 0] + xOff;
    const f1 = offs[k + 1] + xOff;
    const f2 = offs[k + 2] + xOff;
    const f3 = offs[k + 3] + xOff;
    for (let t = 0; t < oTiles; t++) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let p = p0, q = p0 * ldd + dCol + t * 4; p < p1; p++, q += ldd) {
        const b = pbase[p];
        const a0 = xp[(b + f0) | 0], a1 = xp[(b + f1) | 0], a2 = xp[(b + f2) | 0], a3 = xp[(b + f3) | 0];
        const d0 = dyp[q];
        const d1 = dyp[(q + 1) | 0];
        const d2 = dyp[(q + 2) | 0];
        const d3 = dyp[(q + 3) | 0];
        c00 += a0 * d0; c01 += a0 * d1; c02 += a0 * d2; c03 += a0 * d3;
        c10 += a1 * d0; c11 += a1 * d1; c12 += a1 * d2; c13 += a1 * d3;
        c20 += a2 * d0; c21 += a2 * d1; c22 += a2 * d2; c23 += a2 * d3;
        c30 += a3 * d0; c31 += a3 * d1; c32 += a3 * d2; c33 += a3 * d3;
      }
      let r = k * lda + aCol + t * 4;
      acc[r] += c00; acc[r + 1] += c01; acc[r + 2] += c02; acc[r + 3] += c03; r += lda;
      acc[r] += c10; acc[r + 1] += c11; acc[r + 2] += c12; acc[r + 3] += c13; r += lda;
      acc[r] += c20; acc[r + 1] += c21; acc[r + 2] += c22; acc[r + 3] += c23; r += lda;
      acc[r] += c30; acc[r + 1] += c31; acc[r + 2] += c32; acc[r + 3] += c33;
    }
  }
}

/**
 * Filter-gradient tile over a list, for a dy with mostly zeros (after max pooling and relu, at
 * most a quarter of its entries are not): 8 window offsets of one output channel, summed over
 * only that channel's nonzero entries, given as the pixels' window origins base[j] (pbase[p])
 * and values val[j] (dyp[p, o]), j < count:
 * acc[(k + i) * lda + aCol] += sum_j xp[base[j] + xOff + offs[k + i]] * val[j], for k < KK by 8.
 * offs has KK rounded up to 8 entries and acc as many rows (the padding rows take the sums of
 * repeated offsets and are never read), so every tile is full.
 */
export function convBwdWList8(
  xp: Float64Array, base: Int32Array, val: Float64Array, count: number, xOff: number, offs: Int32Array, KK: number,
  acc: Float64Array, lda: number, aCol: number,
): void {
  for (let k = 0; k < KK; k += 8) {
    const f0 = offs[k] + xOff;
    const f1 = offs[k + 1] + xOff;
    const f2 = offs[k + 2] + xOff;
    const f3 = offs[k + 3] + xOff;
    const f4 = offs[k + 4] + xOff;
    const f5 = offs[k + 5] + xOff;
    const f6 = offs[k + 6] + xOff;
    const f7 = offs[k + 7] + xOff;
    let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
    for (let j = 0; j < count; j++) {
      const b = base[j];
      const d = val[j];
      c0 += xp[(b + f0) | 0] * d; c1 += xp[(b + f1) | 0] * d; c2 += xp[(b + f2) | 0] * d; c3 += xp[(b + f3) | 0] * d;
      c4 += xp[(b + f4) | 0] * d; c5 += xp[(b + f5) | 0] * d; c6 += xp[(b + f6) | 0] * d; c7 += xp[(b + f7) | 0] * d;
    }
    let r = k * lda + aCol;
    acc[r] += c0; r += lda;
    acc[r] += c1; r += lda;
    acc[r] += c2; r += lda;
    acc[r] += c3; r += lda;
    acc[r] += c4; r += lda;
    acc[r] += c5; r += lda;
    acc[r] += c6; r += lda;
    acc[r] += c7;
  }
}

/**
 * Input-gradient tile over lists, for a dy with mostly zeros (see convBwdWList8): per pixel p
 * and group g (list s = p * G + g), the nonzero dy of that pixel and group as values val[j] and
 * weight columns ch[j] = o * 8, start[s] <= j < start[s + 1]; 8 window offsets at a time,
 * dxp[pbase[p] + g * Cg + offs[k + i]] += sum_j val[j] * wt[g * gStride + k * OCg + ch[j] + i].
 * wt is packed [g][k / 8][o][8] with zeros past KK, and offs has KK rounded up to 8 entries, so
 * the padding offsets add zeros.
 */
export function convBwdXList8(
  start: Int32Array, ch: Int32Array, val: Float64Array, pbase: Int32Array, P: number, G: number, Cg: number,
  offs: Int32Array, KK: number, wt: Float64Array, gStride: number, OCg: number, dxp: Float64Array,
): void {
  for (let p = 0, s = 0; p < P; p++) {
    for (let g = 0; g < G; g++, s++) {
      const j0 = start[s];
      const j1 = start[s + 1];
      if (j0 === j1) continue;
      const b = pbase[p] + g * Cg;
      const wg = g * gStride;
      for (let k = 0; k < KK; k += 8) {
        let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
        const wk = wg + k * OCg;
        for (let j = j0; j < j1; j++) {
          const v = val[j];
          const wi = (wk + ch[j]) | 0;
          c0 += v * wt[wi]; c1 += v * wt[(wi + 1) | 0]; c2 += v * wt[(wi + 2) | 0]; c3 += v * wt[(wi + 3) | 0];
          c4 += v * wt[(wi + 4) | 0]; c5 += v * wt[(wi + 5) | 0]; c6 += v * wt[(wi + 6) | 0]; c7 += v * wt[(wi + 7) | 0];
        }
        dxp[b + offs[k]] += c0; dxp[b + offs[k + 1]] += c1; dxp[b + offs[k + 2]] += c2; dxp[b + offs[k + 3]] += c3;
        dxp[b + offs[k + 4]] += c4; dxp[b + offs[k + 5]] += c5; dxp[b + offs[k + 6]] += c6; dxp[b + offs[k + 7]] += c7;
      }
    }
  }
}

/**
 * Filter-gradient tile 4 window offsets x 6 output channels, summed over pixels p0 <= p < p1:
 * acc[(k + i) * lda + aCol + o] += sum_p xp[pbase[p] + xOff + offs[k + i]] * dyp[p * ldd + dCol + o].
 * offs has KK rounded up to 4 entries and dyp/acc have oTiles * 6 columns from dCol/aCol (padding
 * reads valid memory and lands in padding), so every tile is full.
 */
export function convBwdW4x6(
  xp: Float64Array, pbase: Int32Array, p0: number, p1: number, xOff: number, offs: Int32Array, KK: number,
  dyp: Float64Array, ldd: number, dCol: number, oTiles: number, acc: Float64Array, lda: number, aCol: number,
): void {
  for (let k = 0; k < KK; k += 4) {
    const f0 = offs[k + 0] + xOff;
    const f1 = offs[k + 1] + xOff;
    const f2 = offs[k + 2] + xOff;
    const f3 = offs[k + 3] + xOff;
    for (let t = 0; t < oTiles; t++) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0;
      for (let p = p0, q = p0 * ldd + dCol + t * 6; p < p1; p++, q += ldd) {
        const b = pbase[p];
        const a0 = xp[(b + f0) | 0], a1 = xp[(b + f1) | 0], a2 = xp[(b + f2) | 0], a3 = xp[(b + f3) | 0];
        const d0 = dyp[q];
        const d1 = dyp[(q + 1) | 0];
        const d2 = dyp[(q + 2) | 0];
        const d3 = dyp[(q + 3) | 0];
        const d4 = dyp[(q + 4) | 0];
        const d5 = dyp[(q + 5) | 0];
        c00 += a0 * d0; c01 += a0 * d1; c02 += a0 * d2; c03 += a0 * d3; c04 += a0 * d4; c05 += a0 * d5;
        c10 += a1 * d0; c11 += a1 * d1; c12 += a1 * d2; c13 += a1 * d3; c14 += a1 * d4; c15 += a1 * d5;
        c20 += a2 * d0; c21 += a2 * d1; c22 += a2 * d2; c23 += a2 * d3; c24 += a2 * d4; c25 += a2 * d5;
        c30 += a3 * d0; c31 += a3 * d1; c32 += a3 * d2; c33 += a3 * d3; c34 += a3 * d4; c35 += a3 * d5;
      }
      let r = k * lda + aCol + t * 6;
      acc[r] += c00; acc[r + 1] += c01; acc[r + 2] += c02; acc[r + 3] += c03; acc[r + 4] += c04; acc[r + 5] += c05; r += lda;
      acc[r] += c10; acc[r + 1] += c11; acc[r + 2] += c12; acc[r + 3] += c13; acc[r + 4] += c14; acc[r + 5] += c15; r += lda;
      acc[r] += c20; acc[r + 1] += c21; acc[r + 2] += c22; acc[r + 3] += c23; acc[r + 4] += c24; acc[r + 5] += c25; r += lda;
      acc[r] += c30; acc[r + 1] += c31; acc[r + 2] += c32; acc[r + 3] += c33; acc[r + 4] += c34; acc[r + 5] += c35;
    }
  }
}

/**
 * Filter-gradient tile 4 window offsets x 8 output channels, summed over pixels p0 <= p < p1:
 * acc[(k + i) * lda + aCol + o] += sum_p xp[pbase[p] + xOff + offs[k + i]] * dyp[p * ldd + dCol + o].
 * offs has KK rounded up to 4 entries and dyp/acc have oTiles * 8 columns from dCol/aCol (padding
 * reads valid memory and lands in padding), so every tile is full.
 */
export function convBwdW4x8(
  xp: Float64Array, pbase: Int32Array, p0: number, p1: number, xOff: number, offs: Int32Array, KK: number,
  dyp: Float64Array, ldd: number, dCol: number, oTiles: number, acc: Float64Array, lda: number, aCol: number,
): void {
  for (let k = 0; k < KK; k += 4) {
    const f0 = offs[k + 0] + xOff;
    const f1 = offs[k + 1] + xOff;
    const f2 = offs[k + 2] + xOff;
    const f3 = offs[k + 3] + xOff;
    for (let t = 0; t < oTiles; t++) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
      for (let p = p0, q = p0 * ldd + dCol + t * 8; p < p1; p++, q += ldd) {
        const b = pbase[p];
        const a0 = xp[(b + f0) | 0], a1 = xp[(b + f1) | 0], a2 = xp[(b + f2) | 0], a3 = xp[(b + f3) | 0];
        const d0 = dyp[q];
        const d1 = dyp[(q + 1) | 0];
        const d2 = dyp[(q + 2) | 0];
        const d3 = dyp[(q + 3) | 0];
        const d4 = dyp[(q + 4) | 0];
        const d5 = dyp[(q + 5) | 0];
        const d6 = dyp[(q + 6) | 0];
        const d7 = dyp[(q + 7) | 0];
        c00 += a0 * d0; c01 += a0 * d1; c02 += a0 * d2; c03 += a0 * d3; c04 += a0 * d4; c05 += a0 * d5; c06 += a0 * d6; c07 += a0 * d7;
        c10 += a1 * d0; c11 += a1 * d1; c12 += a1 * d2; c13 += a1 * d3; c14 += a1 * d4; c15 += a1 * d5; c16 += a1 * d6; c17 += a1 * d7;
        c20 += a2 * d0; c21 += a2 * d1; c22 += a2 * d2; c23 += a2 * d3; c24 += a2 * d4; c25 += a2 * d5; c26 += a2 * d6; c27 += a2 * d7;
        c30 += a3 * d0; c31 += a3 * d1; c32 += a3 * d2; c33 += a3 * d3; c34 += a3 * d4; c35 += a3 * d5; c36 += a3 * d6; c37 += a3 * d7;
      }
      let r = k * lda + aCol + t * 8;
      acc[r] += c00; acc[r + 1] += c01; acc[r + 2] += c02; acc[r + 3] += c03; acc[r + 4] += c04; acc[r + 5] += c05; acc[r + 6] += c06; acc[r + 7] += c07; r += lda;
      acc[r] += c10; acc[r + 1] += c11; acc[r + 2] += c12; acc[r + 3] += c13; acc[r + 4] += c14; acc[r + 5] += c15; acc[r + 6] += c16; acc[r + 7] += c17; r += lda;
      acc[r] += c20; acc[r + 1] += c21; acc[r + 2] += c22; acc[r + 3] += c23; acc[r + 4] += c24; acc[r + 5] += c25; acc[r + 6] += c26; acc[r + 7] += c27; r += lda;
      acc[r] += c30; acc[r + 1] += c31; acc[r + 2] += c32; acc[r + 3] += c33; acc[r + 4] += c34; acc[r + 5] += c35; acc[r + 6] += c36; acc[r + 7] += c37;
    }
  }
}

/**
 * Input-gradient tile 4 pixels x 4 window offsets, reduced over OCg output channels and scattered:
 * dxp[pbase[p] + xOff + offs[k]] += sum_o dyp[p * ldd + dCol + o] * wt[wOff + (k / 4) * OCg * 4 + o * 4 + k % 4].
 * Padding pixels (p >= P) have zero rows in dyp and padding offsets (k >= KK) zero weights, so they add 0.
 */
export function convBwdX4x4(
  dyp: Float64Array, ldd: number, dCol: number, OCg: number, pbase: Int32Array, P: number, xOff: number,
  offs: Int32Array, KK: number, wt: Float64Array, wOff: number, dxp: Float64Array,
): void {
  const l1 = 1 * ldd;
  const l2 = 2 * ldd;
  const l3 = 3 * ldd;
  for (let p = 0; p < P; p += 4) {
    const q0 = p * ldd + dCol;
    const b0 = pbase[p] + xOff;
    const b1 = pbase[p + 1] + xOff;
    const b2 = pbase[p + 2] + xOff;
    const b3 = pbase[p + 3] + xOff;
    for (let k = 0; k < KK; k += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let wi = wOff + k * OCg;
      for (let q = q0, qEnd = q0 + OCg; q < qEnd; q++, wi += 4) {
        const d0 = dyp[q], d1 = dyp[(q + l1) | 0], d2 = dyp[(q + l2) | 0], d3 = dyp[(q + l3) | 0];
        const w0 = wt[wi];
        const w1 = wt[(wi + 1) | 0];
        const w2 = wt[(wi + 2) | 0];
        const w3 = wt[(wi + 3) | 0];
        c00 += d0 * w0; c01 += d0 * w1; c02 += d0 * w2; c03 += d0 * w3;
        c10 += d1 * w0; c11 += d1 * w1; c12 += d1 * w2; c13 += d1 * w3;
        c20 += d2 * w0; c21 += d2 * w1; c22 += d2 * w2; c23 += d2 * w3;
        c30 += d3 * w0; c31 += d3 * w1; c32 += d3 * w2; c33 += d3 * w3;
      }
      const f0 = offs[k + 0];
      const f1 = offs[k + 1];
      const f2 = offs[k + 2];
      const f3 = offs[k + 3];
      dxp[b0 + f0] += c00; dxp[b0 + f1] += c01; dxp[b0 + f2] += c02; dxp[b0 + f3] += c03;
      dxp[b1 + f0] += c10; dxp[b1 + f1] += c11; dxp[b1 + f2] += c12; dxp[b1 + f3] += c13;
      dxp[b2 + f0] += c20; dxp[b2 + f1] += c21; dxp[b2 + f2] += c22; dxp[b2 + f3] += c23;
      dxp[b3 + f0] += c30; dxp[b3 + f1] += c31; dxp[b3 + f2] += c32; dxp[b3 + f3] += c33;
    }
  }
}

/**
 * Input-gradient tile 4 pixels x 6 window offsets, reduced over OCg output channels and scattered:
 * dxp[pbase[p] + xOff + offs[k]] += sum_o dyp[p * ldd + dCol + o] * wt[wOff + (k / 6) * OCg * 6 + o * 6 + k % 6].
 * Padding pixels (p >= P) have zero rows in dyp and padding offsets (k >= KK) zero weights, so they add 0.
 */
export function convBwdX4x6(
  dyp: Float64Array, ldd: number, dCol: number, OCg: number, pbase: Int32Array, P: number, xOff: number,
  offs: Int32Array, KK: number, wt: Float64Array, wOff: number, dxp: Float64Array,
): void {
  const l1 = 1 * ldd;
  const l2 = 2 * ldd;
  const l3 = 3 * ldd;
  for (let p = 0; p < P; p += 4) {
    const q0 = p * ldd + dCol;
    const b0 = pbase[p] + xOff;
    const b1 = pbase[p + 1] + xOff;
    const b2 = pbase[p + 2] + xOff;
    const b3 = pbase[p + 3] + xOff;
    for (let k = 0; k < KK; k += 6) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0;
      let wi = wOff + k * OCg;
      for (let q = q0, qEnd = q0 + OCg; q < qEnd; q++, wi += 6) {
        const d0 = dyp[q], d1 = dyp[(q + l1) | 0], d2 = dyp[(q + l2) | 0], d3 = dyp[(q + l3) | 0];
        const w0 = wt[wi];
        const w1 = wt[(wi + 1) | 0];
        const w2 = wt[(wi + 2) | 0];
        const w3 = wt[(wi + 3) | 0];
        const w4 = wt[(wi + 4) | 0];
        const w5 = wt[(wi + 5) | 0];
        c00 += d0 * w0; c01 += d0 * w1; c02 += d0 * w2; c03 += d0 * w3; c04 += d0 * w4; c05 += d0 * w5;
        c10 += d1 * w0; c11 += d1 * w1; c12 += d1 * w2; c13 += d1 * w3; c14 += d1 * w4; c15 += d1 * w5;
        c20 += d2 * w0; c21 += d2 * w1; c22 += d2 * w2; c23 += d2 * w3; c24 += d2 * w4; c25 += d2 * w5;
        c30 += d3 * w0; c31 += d3 * w1; c32 += d3 * w2; c33 += d3 * w3; c34 += d3 * w4; c35 += d3 * w5;
      }
      const f0 = offs[k + 0];
      const f1 = offs[k + 1];
      const f2 = offs[k + 2];
      const f3 = offs[k + 3];
      const f4 = offs[k + 4];
      const f5 = offs[k + 5];
      dxp[b0 + f0] += c00; dxp[b0 + f1] += c01; dxp[b0 + f2] += c02; dxp[b0 + f3] += c03; dxp[b0 + f4] += c04; dxp[b0 + f5] += c05;
      dxp[b1 + f0] += c10; dxp[b1 + f1] += c11; dxp[b1 + f2] += c12; dxp[b1 + f3] += c13; dxp[b1 + f4] += c14; dxp[b1 + f5] += c15;
      dxp[b2 + f0] += c20; dxp[b2 + f1] += c21; dxp[b2 + f2] += c22; dxp[b2 + f3] += c23; dxp[b2 + f4] += c24; dxp[b2 + f5] += c25;
      dxp[b3 + f0] += c30; dxp[b3 + f1] += c31; dxp[b3 + f2] += c32; dxp[b3 + f3] += c33; dxp[b3 + f4] += c34; dxp[b3 + f5] += c35;
    }
  }
}

/**
 * GEMM tiles of 4 x 4 over packed panels: ap holds A as [mTiles][K][4] and bp holds B as
 * [nTiles][K][4] (zero padded); c[cOff + i * ldc + j] = (accumulate ? c[..] : 0) + sum_k A[i, k] B[k, j]
 * for i < M, j < N.
 */
export function gemm4x4(
  ap: Float64Array, bp: Float64Array, K: number, M: number, N: number, c: Float32Array, ldc: number, cOff: number, accumulate: boolean,
): void {
  const nTiles = ((N + 3) / 4) | 0;
  for (let t = 0; t < nTiles; t++) {
    const bBase = t * K * 4;
    const j0 = t * 4;
    for (let i0 = 0; i0 < M; i0 += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let ai = i0 * K, bi = bBase, aEnd = ai + K * 4; ai < aEnd; ai += 4, bi += 4) {
        const a0 = ap[ai], a1 = ap[(ai + 1) | 0], a2 = ap[(ai + 2) | 0], a3 = ap[(ai + 3) | 0];
        const b0 = bp[bi];
        const b1 = bp[(bi + 1) | 0];
        const b2 = bp[(bi + 2) | 0];
        const b3 = bp[(bi + 3) | 0];
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
      }
      let q = cOff + i0 * ldc + j0;
      if (i0 + 4 <= M && j0 + 4 <= N) {
        if (accumulate) {
          c[q + 0] += c00; c[q + 1] += c01; c[q + 2] += c02; c[q + 3] += c03; q += ldc;
          c[q + 0] += c10; c[q + 1] += c11; c[q + 2] += c12; c[q + 3] += c13; q += ldc;
          c[q + 0] += c20; c[q + 1] += c21; c[q + 2] += c22; c[q + 3] += c23; q += ldc;
          c[q + 0] += c30; c[q + 1] += c31; c[q + 2] += c32; c[q + 3] += c33;
        } else {
          c[q + 0] = c00; c[q + 1] = c01; c[q + 2] = c02; c[q + 3] = c03; q += ldc;
          c[q + 0] = c10; c[q + 1] = c11; c[q + 2] = c12; c[q + 3] = c13; q += ldc;
          c[q + 0] = c20; c[q + 1] = c21; c[q + 2] = c22; c[q + 3] = c23; q += ldc;
          c[q + 0] = c30; c[q + 1] = c31; c[q + 2] = c32; c[q + 3] = c33;
        }
      } else {
        const rows = M - i0 < 4 ? M - i0 : 4;
        const cols = N - j0 < 4 ? N - j0 : 4;
        const t0 = tmp;
        t0[0] = c00; t0[1] = c01; t0[2] = c02; t0[3] = c03;
        t0[4] = c10; t0[5] = c11; t0[6] = c12; t0[7] = c13;
        t0[8] = c20; t0[9] = c21; t0[10] = c22; t0[11] = c23;
        t0[12] = c30; t0[13] = c31; t0[14] = c32; t0[15] = c33;
        for (let i = 0; i < rows; i++, q += ldc) {
          for (let j = 0; j < cols; j++) c[q + j] = accumulate ? c[q + j] + t0[i * 4 + j] : t0[i * 4 + j];
        }
      }
    }
  }
}

/**
 * GEMM tiles of 4 x 8 over packed panels: ap holds A as [mTiles][K][4] and bp holds B as
 * [nTiles][K][8] (zero padded); c[cOff + i * ldc + j] = (accumulate ? c[..] : 0) + sum_k A[i, k] B[k, j]
 * for i < M, j < N.
 */
export function gemm4x8(
  ap: Float64Array, bp: Float64Array, K: number, M: number, N: number, c: Float32Array, ldc: number, cOff: number, accumulate: boolean,
): void {
  const nTiles = ((N + 7) / 8) | 0;
  for (let t = 0; t < nTiles; t++) {
    const bBase = t * K * 8;
    const j0 = t * 8;
    for (let i0 = 0; i0 < M; i0 += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0, c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
      for (let ai = i0 * K, bi = bBase, aEnd = ai + K * 4; ai < aEnd; ai += 4, bi += 8) {
        const a0 = ap[ai], a1 = ap[(ai + 1) | 0], a2 = ap[(ai + 2) | 0], a3 = ap[(ai + 3) | 0];
        const b0 = bp[bi];
        const b1 = bp[(bi + 1) | 0];
        const b2 = bp[(bi + 2) | 0];
        const b3 = bp[(bi + 3) | 0];
        const b4 = bp[(bi + 4) | 0];
        const b5 = bp[(bi + 5) | 0];
        const b6 = bp[(bi + 6) | 0];
        const b7 = bp[(bi + 7) | 0];
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3; c04 += a0 * b4; c05 += a0 * b5; c06 += a0 * b6; c07 += a0 * b7;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3; c14 += a1 * b4; c15 += a1 * b5; c16 += a1 * b6; c17 += a1 * b7;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3; c24 += a2 * b4; c25 += a2 * b5; c26 += a2 * b6; c27 += a2 * b7;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3; c34 += a3 * b4; c35 += a3 * b5; c36 += a3 * b6; c37 += a3 * b7;
      }
      let q = cOff + i0 * ldc + j0;
      if (i0 + 4 <= M && j0 + 8 <= N) {
        if (accumulate) {
          c[q + 0] += c00; c[q + 1] += c01; c[q + 2] += c02; c[q + 3] += c03; c[q + 4] += c04; c[q + 5] += c05; c[q + 6] += c06; c[q + 7] += c07; q += ldc;
          c[q + 0] += c10; c[q + 1] += c11; c[q + 2] += c12; c[q + 3] += c13; c[q + 4] += c14; c[q + 5] += c15; c[q + 6] += c16; c[q + 7] += c17; q += ldc;
          c[q + 0] += c20; c[q + 1] += c21; c[q + 2] += c22; c[q + 3] += c23; c[q + 4] += c24; c[q + 5] += c25; c[q + 6] += c26; c[q + 7] += c27; q += ldc;
          c[q + 0] += c30; c[q + 1] += c31; c[q + 2] += c32; c[q + 3] += c33; c[q + 4] += c34; c[q + 5] += c35; c[q + 6] += c36; c[q + 7] += c37;
        } else {
          c[q + 0] = c00; c[q + 1] = c01; c[q + 2] = c02; c[q + 3] = c03; c[q + 4] = c04; c[q + 5] = c05; c[q + 6] = c06; c[q + 7] = c07; q += ldc;
          c[q + 0] = c10; c[q + 1] = c11; c[q + 2] = c12; c[q + 3] = c13; c[q + 4] = c14; c[q + 5] = c15; c[q + 6] = c16; c[q + 7] = c17; q += ldc;
          c[q + 0] = c20; c[q + 1] = c21; c[q + 2] = c22; c[q + 3] = c23; c[q + 4] = c24; c[q + 5] = c25; c[q + 6] = c26; c[q + 7] = c27; q += ldc;
          c[q + 0] = c30; c[q + 1] = c31; c[q + 2] = c32; c[q + 3] = c33; c[q + 4] = c34; c[q + 5] = c35; c[q + 6] = c36; c[q + 7] = c37;
        }
      } else {
        const rows = M - i0 < 4 ? M - i0 : 4;
        const cols = N - j0 < 8 ? N - j0 : 8;
        const t0 = tmp;
        t0[0] = c00; t0[1] = c01; t0[2] = c02; t0[3] = c03; t0[4] = c04; t0[5] = c05; t0[6] = c06; t0[7] = c07;
        t0[8] = c10; t0[9] = c11; t0[10] = c12; t0[11] = c13; t0[12] = c14; t0[13] = c15; t0[14] = c16; t0[15] = c17;
        t0[16] = c20; t0[17] = c21; t0[18] = c22; t0[19] = c23; t0[20] = c24; t0[21] = c25; t0[22] = c26; t0[23] = c27;
        t0[24] = c30; t0[25] = c31; t0[26] = c32; t0[27] = c33; t0[28] = c34; t0[29] = c35; t0[30] = c36; t0[31] = c37;
        for (let i = 0; i < rows; i++, q += ldc) {
          for (let j = 0; j < cols; j++) c[q + j] = accumulate ? c[q + j] + t0[i * 8 + j] : t0[i * 8 + j];
        }
      }
    }
  }
}
