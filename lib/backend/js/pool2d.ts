/**
 * Max and average pooling and their gradients (see ../kernels.ts). NHWC, explicit
 * padTop/padLeft; window positions outside the input are skipped. Each output pixel clips
 * its window to the in-range rows [kyLo, kyHi) and columns [kxLo, kxHi) once, then the inner
 * loops run over contiguous channels.
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

/** maxPool2d: y = max over the window's in-range positions (0 if none). */
export function maxPool2d(buffers: Float32Array[], ints: ArrayLike<number>, _floats: ArrayLike<number>): void {
  const x = buffers[0];
  const y = buffers[1];
  const N = ints[0] | 0, H = ints[1] | 0, W = ints[2] | 0, C = ints[3] | 0;
  const PH = ints[4] | 0, PW = ints[5] | 0, SH = ints[6] | 0, SW = ints[7] | 0;
  const PT = ints[8] | 0, PL = ints[9] | 0, OH = ints[10] | 0, OW = ints[11] | 0;

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
