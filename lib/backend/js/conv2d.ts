/**
 * conv2d and its two gradients (see ../kernels.ts): NHWC activations, HWIO weights
 * [KH, KW, C/groups, OC], explicit padTop/padLeft, dilation and groups.
 *
 * All three are an implicit GEMM over the output pixels p = (n, oy, ox), the window offsets
 * k = (ky, kx, ci) and the output channels o: with the input copied once per call into a
 * zero-padded float64 image xp, the window element k of pixel p is xp[pbase[p] + offs[k]]
 * (no bounds tests, no patch matrix), and
 *   forward:         y[p, o]   = sum_k xp[pbase[p] + offs[k]] * w[k, o]
 *   filter gradient: dw[k, o]  = sum_p xp[pbase[p] + offs[k]] * dy[p, o]
 *   input gradient:  dxp[pbase[p] + offs[k]] += sum_o dy[p, o] * w[k, o]
 * each computed by a register-tiled micro-kernel of ./tiles (4 x 4, 4 x 6 or 4 x 8 sums held in
 * locals, float64 throughout, weights and dy repacked into float64 tile panels). The tile width
 * is picked per call to waste the fewest padded columns (LeNet's first layer has 6 output
 * channels and 25-long windows, its second 16 and 150). Groups run one after another on
 * offset views; batches whose padded copy would pass XP_BUDGET doubles go through in groups of
 * whole images, so the scratch stays bounded. Depthwise convolutions (one input channel per
 * group, G > 1) keep direct loops innermost over contiguous channels. Sums are float64 until
 * the final store.
 *
 * The gradients of a conv followed by relu and a 2 x 2 max pool get a dy that is mostly zeros
 * (one pixel of each pool window per channel, where the relu passed it: about 15% nonzero in
 * LeNet-5). Where at most SPARSE_DY of dy is nonzero, both gradients skip the zeros: they
 * gather dy's nonzero entries into lists (per output channel for the filter gradient, per pixel
 * for the input gradient) and run list tiles of 8 window offsets over them: a sixth of the
 * multiply-adds, each dearer than in a dense tile.
 */
import { int32Alias } from './alias';
import { convFwd4x4, convFwd4x6, convFwdO4x4, convFwdO4x6, convBwdW4x4, convBwdW4x6, convBwdW4x8, convBwdWList8, convBwdX4x4, convBwdX4x6, convBwdXList8 } from './tiles';

/** Pixel (forward, input gradient) or window-offset (filter gradient) rows per tile. */
const MR = 4;
/** Output pixels summed per pass of the filter-gradient tiles (keeps their rows of xp and dy in cache). */
const CHUNK = 256;
/** Packed weights (doubles) one forward sweep keeps hot: output-channel tiles are blocked to this. */
const W_BLOCK = 16384;
/** Shortest contiguous window run worth an inner loop of its own in the forward tiles. */
const MIN_RUN = 8;
/**
 * The gradients sum over lists of dy's nonzero entries instead of whole tiles when at most this
 * fraction of them is nonzero. Max pooling 2 x 2 passes each window's gradient to one
 * of its four pixels, and relu zeros more, so a conv before a pool sees about 15% here. With
 * 24% nonzero on LeNet-5's layers, the list tiles took 0.55-0.75 of the dense tiles' time for
 * the filter gradient and about 0.4 for the input gradient, so this bound leaves a margin.
 */
const SPARSE_DY = 0.25;
/** Output pixels per pass of the list tiles: their rows of xp stay in L2 across the 8-offset tiles. */
const SPARSE_CHUNK = 1024;
/** Doubles of padded input (or of repacked dy) per pass: larger batches go through in groups of whole images. */
const XP_BUDGET = 1 << 20;

let xpBuf = new Float64Array(0);
let dyBuf = new Float64Array(0);
let wBuf = new Float64Array(0);
let accBuf = new Float64Array(0);
let pbBuf = new Int32Array(0);
let offBuf = new Int32Array(0);
let segBuf = new Int32Array(0);
let listBaseBuf = new Int32Array(0);
let listValBuf = new Float64Array(0);
let pixelStartBuf = new Int32Array(0);
let pixelChBuf = new Int32Array(0);
let pixelValBuf = new Float64Array(0);

function scratchXp(len: number): Float64Array {
  if (xpBuf.length < len) xpBuf = new Float64Array(len);
  return xpBuf;
}
function scratchDy(len: number): Float64Array {
  if (dyBuf.length < len) dyBuf = new Float64Array(len);
  return dyBuf;
}
function scratchW(len: number): Float64Array {
  if (wBuf.length < len) wBuf = new Float64Array(len);
  return wBuf;
}
function scratchAcc(len: number): Float64Array {
  if (accBuf.length < len) accBuf = new Float64Array(len);
  return accBuf;
}

/** Tile width (4 or 6) that pads n to the fewest columns; ties go to 4. */
function tileWidth(n: number): number {
  const p4 = ((n + 3) >> 2) << 2;
  const p6 = Math.ceil(n / 6) * 6;
  return p6 < p4 ? 6 : 4;
}

/** Rows and columns of the zero-padded input: every window position and every input element fit. */
function paddedRows(H: number, OH: number, KH: number, SH: number, DH: number, PT: number): number {
  const reach = (OH - 1) * SH + (KH - 1) * DH + 1;
  return reach > PT + H ? reach : PT + H;
}

/** Images per pass: as many as fit XP_BUDGET doubles of padded input and of dy, at least one. */
function imagesPerPass(N: number, Hp: number, Wp: number, C: number, OH: number, OW: number, OC: number): number {
  const perImage = Math.max(Hp * Wp * C, OH * OW * OC);
  const n = Math.floor(XP_BUDGET / perImage);
  return n < 1 ? 1 : n < N ? n : N;
}

/** xp[n, PT + iy, PL + ix, c] = x[n0 + n, iy, ix, c] for n < nc, zero elsewhere; xp is [nc, Hp, Wp, C]. */
function padInput(
  x: Float32Array, n0: number, nc: number, H: number, W: number, C: number, PT: number, PL: number, Hp: number, Wp: number,
): Float64Array {
  const len = nc * Hp * Wp * C;
  const xp = scratchXp(len);
  xp.fill(0, 0, len);
  const rowLen = W * C;
  for (let n = 0; n < nc; n++) {
    for (let iy = 0; iy < H; iy++) {
      const src = ((n0 + n) * H + iy) * rowLen;
      const d = ((n * Hp + iy + PT) * Wp + PL) * C - src;
      for (let j = src, jEnd = src + rowLen; j < jEnd; j++) xp[d + j] = x[j];
    }
  }
  return xp;
}

/** pbase[p] = index in xp of the window origin of output pixel p of nc images, then MR copies of the last one. */
function pixelBases(nc: number, OH: number, OW: number, SH: number, SW: number, Hp: number, Wp: number, C: number): Int32Array {
  const P = nc * OH * OW;
  if (pbBuf.length < P + MR) pbBuf = new Int32Array(P + MR);
  const pb = pbBuf;
  let p = 0;
  for (let n = 0; n < nc; n++) {
    for (let oy = 0; oy < OH; oy++) {
      const row = (n * Hp + oy * SH) * Wp;
      for (let ox = 0; ox < OW; ox++) pb[p++] = (row + ox * SW) * C;
    }
  }
  for (let i = 0; i < MR; i++) pb[P + i] = pb[P - 1];
  return pb;
}

/** offs[k] = offset in xp of window element k = (ky, kx, ci), padded to a multiple of `mult` with the last. */
function windowOffsets(KH: number, KW: number, Cg: number, DH: number, DW: number, Wp: number, C: number, mult: number): Int32Array {
  const KK = KH * KW * Cg;
  const KKp = Math.ceil(KK / mult) * mult;
  if (offBuf.length < KKp) offBuf = new Int32Array(KKp);
  const offs = offBuf;
  let k = 0;
  for (let ky = 0; ky < KH; ky++) {
    for (let kx = 0; kx < KW; kx++) {
      const base = (ky * DH * Wp + kx * DW) * C;
      for (let ci = 0; ci < Cg; ci++) offs[k++] = base + ci;
    }
  }
  for (; k < KKp; k++) offs[k] = offs[KK - 1];
  return offs;
}

/**
 * dyp[p, g*OCgp + o] = dy[p0 + p, g*OCg + o] for p < P, o < OCg; zero in the padding columns
 * and in `extraRows` rows after P.
 */
function packDy(dy: Float32Array, p0: number, P: number, G: number, OCg: number, OCgp: number, extraRows: number): Float64Array {
  const ldd = G * OCgp;
  const len = (P + extraRows) * ldd;
  const dyp = scratchDy(len);
  const OC = G * OCg;
  if (OCgp === OCg) {
    const d = -p0 * OC;
    for (let j = p0 * OC, jEnd = (p0 + P) * OC; j < jEnd; j++) dyp[d + j] = dy[j];
    dyp.fill(0, P * OC, len);
    return dyp;
  }
  dyp.fill(0, 0, len);
  for (let p = 0; p < P; p++) {
    for (let g = 0; g < G; g++) {
      const src = (p0 + p) * OC + g * OCg;
      const d = p * ldd + g * OCgp - src;
      for (let j = src, jEnd = src + OCg; j < jEnd; j++) dyp[d + j] = dy[j];
    }
  }
  return dyp;
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
  if (Cg === 1 && G > 1) {
    depthwiseForward(x, w, y, N, H, W, C, OC, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, G);
    return;
  }

  const Hp = paddedRows(H, OH, KH, SH, DH, PT);
  const Wp = paddedRows(W, OW, KW, SW, DW, PL);
  const KK = KH * KW * Cg;

  // The window as S runs of L contiguous elements of xp: whole rows of KW*C when the
  // columns are adjacent and every channel belongs to the group, else runs of Cg channels.
  // Runs shorter than MIN_RUN (LeNet's first layer: 5) go flat over the KK offsets instead.
  const rows = G === 1 && DW === 1;
  const L = rows ? KW * C : Cg;
  const flat = L < MIN_RUN;
  const S = flat ? KK : rows ? KH : KH * KW;
  let seg: Int32Array;
  if (flat) seg = windowOffsets(KH, KW, Cg, DH, DW, Wp, C, 1);
  else {
    if (segBuf.length < S) segBuf = new Int32Array(S);
    seg = segBuf;
    for (let s = 0; s < S; s++) {
      const ky = rows ? s : (s / KW) | 0;
      const kx = rows ? 0 : s - ky * KW;
      seg[s] = (ky * DH * Wp + kx * DW) * C;
    }
  }

  // wp[g][t][k][NR] = w[k, g*OCg + t*NR + j], zero past OCg.
  const NR = tileWidth(OCg);
  const oTiles = Math.ceil(OCg / NR);
  const gStride = oTiles * KK * NR;
  const wp = scratchW(G * gStride);
  for (let g = 0; g < G; g++) {
    for (let t = 0; t < oTiles; t++) {
      for (let k = 0; k < KK; k++) {
        const dst = g * gStride + (t * KK + k) * NR;
        const src = k * OC + g * OCg + t * NR;
        const cols = OCg - t * NR < NR ? OCg - t * NR : NR;
        for (let j = 0; j < cols; j++) wp[dst + j] = w[src + j];
        for (let j = cols; j < NR; j++) wp[dst + j] = 0;
      }
    }
  }

  const tBlock = Math.max(1, Math.floor(W_BLOCK / (KK * NR)));
  const NB = imagesPerPass(N, Hp, Wp, C, OH, OW, OC);
  for (let n0 = 0; n0 < N; n0 += NB) {
    const nc = N - n0 < NB ? N - n0 : NB;
    const xp = padInput(x, n0, nc, H, W, C, PT, PL, Hp, Wp);
    const P = nc * OH * OW;
    const pb = pixelBases(nc, OH, OW, SH, SW, Hp, Wp, C);
    const yBase = n0 * OH * OW * OC;
    for (let g = 0; g < G; g++) {
      const yCol = yBase + g * OCg;
      for (let t0 = 0; t0 < oTiles; t0 += tBlock) {
        const t1 = t0 + tBlock < oTiles ? t0 + tBlock : oTiles;
        if (flat) {
          if (NR === 6) convFwdO4x6(xp, pb, P, g * Cg, seg, S, L, wp, g * gStride, KK, t0, t1, OCg, y, OC, yCol);
          else convFwdO4x4(xp, pb, P, g * Cg, seg, S, L, wp, g * gStride, KK, t0, t1, OCg, y, OC, yCol);
        } else if (NR === 6) convFwd4x6(xp, pb, P, g * Cg, seg, S, L, wp, g * gStride, KK, t0, t1, OCg, y, OC, yCol);
        else convFwd4x4(xp, pb, P, g * Cg, seg, S, L, wp, g * gStride, KK, t0, t1, OCg, y, OC, yCol);
      }
    }
  }
}

/**
 * dx = d(sum(y * dy))/dx: per group, tiles of 4 pixels x NR window offsets reduce dy against
 * the transposed weights and scatter-add into the padded float64 image, whose interior is dx.
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
  if (Cg === 1 && G > 1) {
    depthwiseBackwardInput(dy, w, dx, N, H, W, C, OC, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, G);
    return;
  }

  const Hp = paddedRows(H, OH, KH, SH, DH, PT);
  const Wp = paddedRows(W, OW, KW, SW, DW, PL);
  const KK = KH * KW * Cg;
  // A mostly zero dy (see SPARSE_DY) goes through the list tiles, 8 window offsets wide.
  const sparse = countNonzero(dy, 0, N * OH * OW * OC) <= SPARSE_DY * N * OH * OW * OC;
  const NR = sparse ? 8 : tileWidth(KK);
  const offs = windowOffsets(KH, KW, Cg, DH, DW, Wp, C, NR);
  const kTiles = Math.ceil(KK / NR);

  // wt[g][kTile][o][NR] = w[kTile*NR + j, g*OCg + o], zero past KK.
  const gStride = kTiles * OCg * NR;
  const wt = scratchW(G * gStride);
  for (let g = 0; g < G; g++) {
    for (let t = 0; t < kTiles; t++) {
      for (let o = 0; o < OCg; o++) {
        const dst = g * gStride + (t * OCg + o) * NR;
        for (let j = 0, k = t * NR; j < NR; j++, k++) wt[dst + j] = k < KK ? w[k * OC + g * OCg + o] : 0;
      }
    }
  }

  const NB = imagesPerPass(N, Hp, Wp, C, OH, OW, OC);
  const rowLen = W * C;
  for (let n0 = 0; n0 < N; n0 += NB) {
    const nc = N - n0 < NB ? N - n0 : NB;
    const xLen = nc * Hp * Wp * C;
    const dxp = scratchXp(xLen);
    dxp.fill(0, 0, xLen);
    const P = nc * OH * OW;
    const pb = pixelBases(nc, OH, OW, SH, SW, Hp, Wp, C);
    if (sparse) {
      nonzeroListsByPixel(dy, n0 * OH * OW, P, G, OCg);
      convBwdXList8(pixelStartBuf, pixelChBuf, pixelValBuf, pb, P, G, Cg, offs, KK, wt, gStride, OCg, dxp);
    } else {
      // Zero rows after P: the padding pixels of the last tile add nothing.
      const dyp = packDy(dy, n0 * OH * OW, P, G, OCg, OCg, MR);
      for (let g = 0; g < G; g++) {
        if (NR === 6) convBwdX4x6(dyp, OC, g * OCg, OCg, pb, P, g * Cg, offs, KK, wt, g * gStride, dxp);
        else convBwdX4x4(dyp, OC, g * OCg, OCg, pb, P, g * Cg, offs, KK, wt, g * gStride, dxp);
      }
    }
    // dx is the interior of dxp; what landed in the padding belongs to no input element.
    for (let n = 0; n < nc; n++) {
      for (let iy = 0; iy < H; iy++) {
        const dst = ((n0 + n) * H + iy) * rowLen;
        const d = ((n * Hp + iy + PT) * Wp + PL) * C - dst;
        for (let j = dst, jEnd = dst + rowLen; j < jEnd; j++) dx[j] = dxp[d + j];
      }
    }
  }
}

/**
 * dw = d(sum(y * dy))/dw: dw[ky,kx,ci,o] = sum_{n,oy,ox} x[n,iy,ix,g*Cg+ci] * dy[n,oy,ox,o],
 * per CHUNK pixels and group a pass of 4 window offsets x NR output-channel tiles, added into
 * a float64 accumulator the size of dw.
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
  if (Cg === 1 && G > 1) {
    depthwiseBackwardFilter(x, dy, dw, N, H, W, C, OC, KH, KW, SH, SW, DH, DW, PT, PL, OH, OW, G);
    return;
  }

  const Hp = paddedRows(H, OH, KH, SH, DH, PT);
  const Wp = paddedRows(W, OW, KW, SW, DW, PL);
  const KK = KH * KW * Cg;
  // Rounded up to 8 offsets for the list tiles (the 4-row tiles read only the first KK rounded to 4).
  const offs = windowOffsets(KH, KW, Cg, DH, DW, Wp, C, 8);
  const KKp = Math.ceil(KK / 8) * 8;
  const NR = OCg % 8 === 0 ? 8 : tileWidth(OCg);
  const oTiles = Math.ceil(OCg / NR);
  const OCgp = oTiles * NR;
  const ldd = G * OCgp;
  const acc = scratchAcc(KKp * ldd);
  acc.fill(0, 0, KKp * ldd);

  const NB = imagesPerPass(N, Hp, Wp, C, OH, OW, OC);
  for (let n0 = 0; n0 < N; n0 += NB) {
    const nc = N - n0 < NB ? N - n0 : NB;
    const xp = padInput(x, n0, nc, H, W, C, PT, PL, Hp, Wp);
    const P = nc * OH * OW;
    const pb = pixelBases(nc, OH, OW, SH, SW, Hp, Wp, C);
    if (countNonzero(dy, n0 * OH * OW * OC, P * OC) <= SPARSE_DY * P * OC) {
      filterGradientFromLists(xp, pb, P, G, Cg, OCg, OCgp, offs, KK, dy, n0 * OH * OW, acc, ldd);
      continue;
    }
    const dyp = packDy(dy, n0 * OH * OW, P, G, OCg, OCgp, 0);
    for (let p0 = 0; p0 < P; p0 += CHUNK) {
      const p1 = p0 + CHUNK < P ? p0 + CHUNK : P;
      for (let g = 0; g < G; g++) {
        if (NR === 8) convBwdW4x8(xp, pb, p0, p1, g * Cg, offs, KK, dyp, ldd, g * OCgp, oTiles, acc, ldd, g * OCgp);
        else if (NR === 6) convBwdW4x6(xp, pb, p0, p1, g * Cg, offs, KK, dyp, ldd, g * OCgp, oTiles, acc, ldd, g * OCgp);
        else convBwdW4x4(xp, pb, p0, p1, g * Cg, offs, KK, dyp, ldd, g * OCgp, oTiles, acc, ldd, g * OCgp);
      }
    }
  }
  for (let k = 0; k < KK; k++) {
    for (let g = 0; g < G; g++) {
      const d = k * OC + g * OCg;
      const s = k * ldd + g * OCgp - d;
      for (let j = d, jEnd = d + OCg; j < jEnd; j++) dw[j] = acc[s + j];
    }
  }
}

/**
 * 1 if the float32 with these bits is not +-0, else 0, without a branch: dy's nonzero entries
 * lie at random places, where a branch would mispredict often. (bits & 0x7fffffff) + 0x7fffffff
 * carries into bit 31 exactly when the magnitude bits are not all zero.
 */
function nonzeroBit(bits: number): number {
  return ((bits & 0x7fffffff) + 0x7fffffff) >>> 31;
}

/** How many of a[start, start + len) are not +-0. */
function countNonzero(a: Float32Array, start: number, len: number): number {
  const bits = int32Alias(a);
  const first = (a.byteOffset >> 2) + start;
  let n = 0;
  for (let i = first, end = first + len; i < end; i++) n += nonzeroBit(bits[i]);
  return n;
}

/**
 * For convBwdXList8, into pixelStartBuf, pixelChBuf and pixelValBuf: the nonzero dy of pixels
 * pFirst .. pFirst + P - 1, listed per pixel and group (list s = p * G + g holds entries
 * start[s] .. start[s + 1] - 1, each a value and its weight column o * 8). Built without a
 * branch per entry, as in filterGradientFromLists.
 */
function nonzeroListsByPixel(dy: Float32Array, pFirst: number, P: number, G: number, OCg: number): void {
  const OC = G * OCg;
  if (pixelStartBuf.length < P * G + 1) pixelStartBuf = new Int32Array(P * G + 1);
  if (pixelChBuf.length < P * OC) {
    pixelChBuf = new Int32Array(P * OC);
    pixelValBuf = new Float64Array(P * OC);
  }
  const start = pixelStartBuf;
  const ch = pixelChBuf;
  const val = pixelValBuf;
  const bits = int32Alias(dy);
  const bitsAt = dy.byteOffset >> 2;
  let j = 0;
  for (let p = 0, s = 0; p < P; p++) {
    const row = (pFirst + p) * OC;
    for (let g = 0; g < G; g++, s++) {
      start[s] = j;
      for (let o = 0, i = row + g * OCg; o < OCg; o++, i++) {
        ch[j] = o * 8;
        val[j] = dy[i];
        j += nonzeroBit(bits[(bitsAt + i) | 0]);
      }
    }
  }
  start[P * G] = j;
}

/**
 * The filter gradient of one pass from dy's nonzero entries only: per chunk of pixels, each
 * output channel's nonzero dy (and its pixels' window origins) gathered into a list, then
 * convBwdWList8 over the list. Skipped entries are exact zeros, whose products add nothing
 * (as long as x is finite, which the layers before a relu keep it). The lists are built
 * without a branch per entry: every entry is written, and the list's end moves past it only
 * when it is nonzero.
 */
function filterGradientFromLists(
  xp: Float64Array, pb: Int32Array, P: number, G: number, Cg: number, OCg: number, OCgp: number,
  offs: Int32Array, KK: number, dy: Float32Array, pFirst: number, acc: Float64Array, lda: number,
): void {
  const chunk = P < SPARSE_CHUNK ? P : SPARSE_CHUNK;
  const OC = G * OCg;
  if (listBaseBuf.length < chunk) {
    listBaseBuf = new Int32Array(chunk);
    listValBuf = new Float64Array(chunk);
  }
  const base = listBaseBuf;
  const val = listValBuf;
  const bits = int32Alias(dy);
  const bitsAt = dy.byteOffset >> 2;
  for (let p0 = 0; p0 < P; p0 += chunk) {
    const p1 = p0 + chunk < P ? p0 + chunk : P;
    // One channel at a time (channel l of dy, group l / OCg): its list, then its sums. The
    // chunk's rows of dy stay in cache across the channels.
    for (let g = 0, l = 0; g < G; g++) {
      for (let o = 0; o < OCg; o++, l++) {
        let j = 0;
        for (let p = p0, i = (pFirst + p0) * OC + l; p < p1; p++, i += OC) {
          base[j] = pb[p];
          val[j] = dy[i];
          j += nonzeroBit(bits[(bitsAt + i) | 0]);
        }
        if (j > 0) convBwdWList8(xp, base, val, j, g * Cg, offs, KK, acc, lda, g * OCgp + o);
      }
    }
  }
}

// Depthwise convolutions (one input channel per group, any channel multiplier OCg): direct
// loops innermost over contiguous channels with float64 accumulators.

let dwAcc = new Float64Array(0);

function scratchDwAcc(len: number): Float64Array {
  if (dwAcc.length < len) dwAcc = new Float64Array(len);
  return dwAcc;
}

function depthwiseForward(
  x: Float32Array, w: Float32Array, y: Float32Array, N: number, H: number, W: number, C: number, OC: number,
  KH: number, KW: number, SH: number, SW: number, DH: number, DW: number, PT: number, PL: number, OH: number, OW: number, G: number,
): void {
  // w is [KH, KW, 1, OC]; channel c feeds outputs c*OCg .. c*OCg + OCg - 1.
  const OCg = (OC / G) | 0;
  const acc = scratchDwAcc(OC);
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

function depthwiseBackwardInput(
  dy: Float32Array, w: Float32Array, dx: Float32Array, N: number, H: number, W: number, C: number, OC: number,
  KH: number, KW: number, SH: number, SW: number, DH: number, DW: number, PT: number, PL: number, OH: number, OW: number, G: number,
): void {
  // Gathered per input pixel: every (ky, kx) whose output position (oy, ox) lands on the
  // stride grid and in range adds dy[n,oy,ox,c*OCg + m] * w[ky,kx,0,c*OCg + m] over m.
  const OCg = (OC / G) | 0;
  const acc = scratchDwAcc(C);
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
            const wOff = (ky * KW + kx) * OC;
            if (OCg === 1) {
              const d = yOff - wOff;
              for (let j = wOff, jEnd = wOff + OC, a = 0; j < jEnd; j++, a++) acc[a] += dy[d + j] * w[j];
            } else {
              for (let c = 0, j = 0; c < C; c++) {
                let s = 0;
                for (const jEnd = j + OCg; j < jEnd; j++) s += dy[yOff + j] * w[wOff + j];
                acc[c] += s;
              }
            }
          }
        }
        for (let c = 0; c < C; c++) dx[xOff + c] = acc[c];
      }
    }
  }
}

function depthwiseBackwardFilter(
  x: Float32Array, dy: Float32Array, dw: Float32Array, N: number, H: number, W: number, C: number, OC: number,
  KH: number, KW: number, SH: number, SW: number, DH: number, DW: number, PT: number, PL: number, OH: number, OW: number, G: number,
): void {
  // dw[ky,kx,0,o] = sum over pixels of x[.., o / OCg] * dy[.., o], in float64.
  const OCg = (OC / G) | 0;
  const wLen = KH * KW * OC;
  const acc = scratchDwAcc(wLen);
  acc.fill(0, 0, wLen);
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
  for (let j = 0; j < wLen; j++) dw[j] = acc[j];
}
