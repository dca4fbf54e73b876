/**
 * The kernel contract of lib/backend/kernels.ts, checked against naive float64 references
 * and central finite differences. Every test loops over `backends`, so another backend
 * (the native addon) is one more line in that list.
 */
import { JS_KERNELS } from '../lib/backend/js';
import { KernelName, kernelId } from '../lib/backend/kernels';
import { loadAddon } from '../lib/backend/native';
import { dot, expectClose, mulberry32, numericGrad, rand } from './helpers/numeric';

type Run = (name: KernelName, bufs: Float32Array[], ints: number[], floats?: number[]) => void;
interface TestBackend {
  name: string;
  run: Run;
}

const addon = loadAddon();
if (!('addon' in addon)) throw new Error(`these tests need the native addon: ${addon.error}`);
const native = addon.addon;

// The raw kernels: the js functions and the addon's entry point (which checks its
// arguments, then calls the C++ kernel), so both implementations face the same cases.
const backends: TestBackend[] = [
  { name: 'js', run: (name, bufs, ints, floats = []) => JS_KERNELS[name](bufs, ints, floats) },
  { name: 'native', run: (name, bufs, ints, floats = []) => native.runKernel(kernelId(name), bufs, ints, floats) },
];

// ---------------------------------------------------------------------------------------
// helpers

/** n distinct values, pairwise at least `gap` apart, shuffled; for max-pool (no ties). */
function distinct(n: number, rng: () => number, gap = 0.01): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (i - n / 2) * gap;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** Values with |v| in [0.1, 1]: away from the relu kink. */
function awayFromZero(n: number, rng: () => number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (0.1 + 0.9 * rng()) * (rng() < 0.5 ? -1 : 1);
  return a;
}

/** Garbage-filled output buffer: a kernel must overwrite every element. */
function out(n: number): Float32Array {
  return new Float32Array(n).fill(12345.5);
}

// ---------------------------------------------------------------------------------------
// naive float64 references

function refMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, n: number, k: number, tA: boolean, tB: boolean): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += (tA ? a[t * m + i] : a[i * k + t]) * (tB ? b[j * k + t] : b[t * n + j]);
      c[i * n + j] = s;
    }
  }
  return c;
}

interface ConvP {
  n: number; h: number; w: number; c: number; oc: number; kh: number; kw: number;
  strideH: number; strideW: number; dilationH: number; dilationW: number;
  padTop: number; padLeft: number; oh: number; ow: number; groups: number;
}

function convInts(p: ConvP): number[] {
  return [p.n, p.h, p.w, p.c, p.oc, p.kh, p.kw, p.strideH, p.strideW, p.dilationH, p.dilationW, p.padTop, p.padLeft, p.oh, p.ow, p.groups];
}

function refConv(x: ArrayLike<number>, w: ArrayLike<number>, p: ConvP): Float64Array {
  const cg = p.c / p.groups;
  const ocg = p.oc / p.groups;
  const y = new Float64Array(p.n * p.oh * p.ow * p.oc);
  for (let n = 0; n < p.n; n++)
    for (let oy = 0; oy < p.oh; oy++)
      for (let ox = 0; ox < p.ow; ox++)
        for (let o = 0; o < p.oc; o++) {
          const g = Math.floor(o / ocg);
          let s = 0;
          for (let ky = 0; ky < p.kh; ky++)
            for (let kx = 0; kx < p.kw; kx++)
              for (let ci = 0; ci < cg; ci++) {
                const iy = oy * p.strideH - p.padTop + ky * p.dilationH;
                const ix = ox * p.strideW - p.padLeft + kx * p.dilationW;
                if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                s += x[((n * p.h + iy) * p.w + ix) * p.c + g * cg + ci] * w[((ky * p.kw + kx) * cg + ci) * p.oc + o];
              }
          y[((n * p.oh + oy) * p.ow + ox) * p.oc + o] = s;
        }
  return y;
}

interface PoolP {
  n: number; h: number; w: number; c: number; ph: number; pw: number;
  strideH: number; strideW: number; padTop: number; padLeft: number; oh: number; ow: number;
}

function poolInts(p: PoolP): number[] {
  return [p.n, p.h, p.w, p.c, p.ph, p.pw, p.strideH, p.strideW, p.padTop, p.padLeft, p.oh, p.ow];
}

function refPool(x: ArrayLike<number>, p: PoolP, kind: 'max' | 'avg'): Float64Array {
  const y = new Float64Array(p.n * p.oh * p.ow * p.c);
  for (let n = 0; n < p.n; n++)
    for (let oy = 0; oy < p.oh; oy++)
      for (let ox = 0; ox < p.ow; ox++)
        for (let c = 0; c < p.c; c++) {
          let count = 0;
          let acc = kind === 'max' ? -Infinity : 0;
          for (let ky = 0; ky < p.ph; ky++)
            for (let kx = 0; kx < p.pw; kx++) {
              const iy = oy * p.strideH - p.padTop + ky;
              const ix = ox * p.strideW - p.padLeft + kx;
              if (iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
              const v = x[((n * p.h + iy) * p.w + ix) * p.c + c];
              acc = kind === 'max' ? Math.max(acc, v) : acc + v;
              count++;
            }
          y[((n * p.oh + oy) * p.ow + ox) * p.c + c] = count === 0 ? 0 : kind === 'max' ? acc : acc / count;
        }
  return y;
}

function refSoftmaxCE(logits: ArrayLike<number>, labels: ArrayLike<number>, rows: number, k: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    const l = labels[r];
    if (!(Number.isInteger(l) && l >= 0 && l < k)) continue;
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, logits[r * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(logits[r * k + j] - m);
    total += Math.log(s) + m - logits[r * k + l];
  }
  return total / rows;
}

// ---------------------------------------------------------------------------------------
// cases

function conv(o: Partial<ConvP> & { h: number; w: number; c: number; oc: number; kh: number; kw: number }): ConvP {
  const p: ConvP = {
    n: 2, strideH: 1, strideW: 1, dilationH: 1, dilationW: 1, padTop: 0, padLeft: 0, groups: 1, oh: 0, ow: 0,
    ...o,
  };
  // Default output size: the window's last tap stays within the input plus padTop/padLeft on both sides.
  if (!o.oh) p.oh = Math.floor((p.h + 2 * p.padTop - (p.dilationH * (p.kh - 1) + 1)) / p.strideH) + 1;
  if (!o.ow) p.ow = Math.floor((p.w + 2 * p.padLeft - (p.dilationW * (p.kw - 1) + 1)) / p.strideW) + 1;
  return p;
}

const CONV_CASES: [string, ConvP][] = [
  ['3x3 pad 1, odd sizes', conv({ h: 5, w: 7, c: 3, oc: 4, kh: 3, kw: 3, padTop: 1, padLeft: 1 })],
  ['batch 1, 3x2 kernel, stride 2', conv({ n: 1, h: 7, w: 6, c: 2, oc: 3, kh: 3, kw: 2, strideH: 2, strideW: 2 })],
  ['stride 3 larger than 2x2 kernel', conv({ h: 9, w: 8, c: 2, oc: 3, kh: 2, kw: 2, strideH: 3, strideW: 3 })],
  ['dilation 2', conv({ h: 7, w: 8, c: 2, oc: 3, kh: 3, kw: 3, dilationH: 2, dilationW: 2, padTop: 2, padLeft: 1 })],
  ['groups 2', conv({ h: 5, w: 6, c: 4, oc: 6, kh: 3, kw: 3, padTop: 1, padLeft: 1, groups: 2 })],
  ['groups 2, 5 channels per group', conv({ n: 1, h: 4, w: 9, c: 10, oc: 4, kh: 2, kw: 3, padLeft: 1, groups: 2 })],
  ['depthwise groups == c', conv({ h: 6, w: 5, c: 3, oc: 3, kh: 3, kw: 3, padTop: 1, padLeft: 1, groups: 3 })],
  ['depthwise multiplier 2', conv({ h: 5, w: 6, c: 3, oc: 6, kh: 3, kw: 3, strideW: 2, padTop: 1, padLeft: 1, groups: 3 })],
  ['kernel equals input', conv({ h: 4, w: 5, c: 3, oc: 2, kh: 4, kw: 5 })],
  ['9 input channels (unrolled + tail)', conv({ n: 1, h: 5, w: 9, c: 9, oc: 5, kh: 3, kw: 3, padTop: 1, padLeft: 1 })],
  // TF 'same', stride 1, even kernel: pad total 3 -> top 1 / bottom 2; k 3 -> left 1 / right 1.
  ['TF same, 4x3 kernel, padTop 1', conv({ h: 5, w: 6, c: 2, oc: 3, kh: 4, kw: 3, padTop: 1, padLeft: 1, oh: 5, ow: 6 })],
  // TF 'same', stride 2 on even input: pad total 1 -> top/left 0, bottom/right 1.
  ['TF same, stride 2, pad only bottom/right', conv({ h: 6, w: 6, c: 3, oc: 2, kh: 3, kw: 3, strideH: 2, strideW: 2, oh: 3, ow: 3 })],
  ['1x1 stride 2', conv({ h: 5, w: 5, c: 4, oc: 3, kh: 1, kw: 1, strideH: 2, strideW: 2 })],
  ['wide rows (pixel unroll), stride 2 x / 1 y', conv({ n: 1, h: 3, w: 21, c: 3, oc: 2, kh: 2, kw: 3, strideW: 2, padLeft: 1 })],
  ['windows entirely in padding', conv({ n: 1, h: 3, w: 3, c: 2, oc: 2, kh: 2, kw: 2, padTop: 3, padLeft: 3, oh: 4, ow: 5 })],
  ['more output pixels than one patch block, groups 2', conv({ n: 3, h: 10, w: 11, c: 6, oc: 4, kh: 3, kw: 3, padTop: 1, padLeft: 1, groups: 2 })],
  ['depthwise, batch 3, stride 2, dilation 2', conv({ n: 3, h: 9, w: 8, c: 4, oc: 4, kh: 3, kw: 3, strideH: 2, strideW: 2, dilationH: 2, dilationW: 2, padTop: 2, padLeft: 2, groups: 4 })],
];

function pool(o: Partial<PoolP> & { h: number; w: number; c: number; ph: number; pw: number }): PoolP {
  const p: PoolP = { n: 2, strideH: o.ph, strideW: o.pw, padTop: 0, padLeft: 0, oh: 0, ow: 0, ...o };
  if (!o.oh) p.oh = Math.floor((p.h + 2 * p.padTop - p.ph) / p.strideH) + 1;
  if (!o.ow) p.ow = Math.floor((p.w + 2 * p.padLeft - p.pw) / p.strideW) + 1;
  return p;
}

const POOL_CASES: [string, PoolP][] = [
  ['2x2 stride 2', pool({ h: 6, w: 6, c: 3, ph: 2, pw: 2 })],
  ['2x2 stride 2, odd input', pool({ n: 1, h: 5, w: 7, c: 2, ph: 2, pw: 2 })],
  ['3x3 stride 2 pad 1 (overlapping)', pool({ h: 5, w: 6, c: 3, ph: 3, pw: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1 })],
  ['3x3 stride 1 pad 1 (same)', pool({ n: 1, h: 4, w: 5, c: 2, ph: 3, pw: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1 })],
  ['2x3 window, stride 3 larger than window', pool({ h: 8, w: 9, c: 2, ph: 2, pw: 3, strideH: 3, strideW: 4 })],
  ['window equals input', pool({ h: 3, w: 4, c: 5, ph: 3, pw: 4 })],
  ['windows entirely in padding', pool({ n: 1, h: 3, w: 3, c: 2, ph: 2, pw: 2, strideH: 2, strideW: 2, padTop: 2, padLeft: 2, oh: 4, ow: 4 })],
];

// ---------------------------------------------------------------------------------------

describe.each(backends)('kernels ($name backend)', (be) => {
  describe('matmul', () => {
    const shapes: [number, number, number][] = [[1, 1, 1], [3, 5, 4], [7, 9, 13], [17, 6, 133], [2, 600, 5]];
    for (const [m, n, k] of shapes) {
      for (const tA of [false, true]) {
        for (const tB of [false, true]) {
          test(`m=${m} n=${n} k=${k} transA=${tA} transB=${tB}`, () => {
            const rng = mulberry32(m * 1000 + n * 10 + k + (tA ? 7 : 0) + (tB ? 13 : 0));
            const a = rand(m * k, rng);
            const b = rand(k * n, rng);
            const c = out(m * n);
            be.run('matmul', [a, b, c], [m, n, k, tA ? 1 : 0, tB ? 1 : 0]);
            expectClose(c, refMatmul(a, b, m, n, k, tA, tB), 2e-5, 'c');
          });
        }
      }
    }

    test('gradients via transposed matmul calls match finite differences', () => {
      const rng = mulberry32(11);
      const [m, n, k] = [4, 5, 6];
      const a = rand(m * k, rng);
      const b = rand(k * n, rng);
      const dc = rand(m * n, rng);
      const da = out(m * k);
      const db = out(k * n);
      be.run('matmul', [dc, b, da], [m, k, n, 0, 1]); // da = dc * b^T
      be.run('matmul', [a, dc, db], [k, n, m, 1, 0]); // db = a^T * dc
      const fdA = numericGrad((av) => dot(refMatmul(av, b, m, n, k, false, false), dc), a, 1e-3);
      const fdB = numericGrad((bv) => dot(refMatmul(a, bv, m, n, k, false, false), dc), b, 1e-3);
      expectClose(da, fdA, 1e-5, 'da');
      expectClose(db, fdB, 1e-5, 'db');
    });
  });

  describe.each(CONV_CASES)('conv2d: %s', (_label, p) => {
    const ints = convInts(p);
    const xLen = p.n * p.h * p.w * p.c;
    const wLen = p.kh * p.kw * (p.c / p.groups) * p.oc;
    const yLen = p.n * p.oh * p.ow * p.oc;

    test('forward matches the naive reference', () => {
      const rng = mulberry32(101 + xLen + wLen);
      const x = rand(xLen, rng);
      const w = rand(wLen, rng);
      const y = out(yLen);
      be.run('conv2d', [x, w, y], ints);
      expectClose(y, refConv(x, w, p), 2e-5, 'y');
    });

    // A dense dy, then one with about 15% nonzero, as after max pooling and relu (the
    // TypeScript kernels then sum over lists of the nonzero entries instead of whole tiles).
    for (const [kind, density, seed] of [['', 1, 0], [' with a mostly zero dy', 0.15, 404]] as const) {
      const makeDy = (rng: () => number): Float32Array => {
        const dy = rand(yLen, rng);
        if (density === 1) return dy;
        const sparse = dy.map((v) => (rng() < density ? v : 0));
        sparse[yLen - 1] = 0.5; // at least one nonzero
        return sparse;
      };

      test(`conv2dBackwardInput${kind} matches finite differences`, () => {
        const rng = mulberry32(202 + seed + xLen + wLen);
        const x = rand(xLen, rng);
        const w = rand(wLen, rng);
        const dy = makeDy(rng);
        const dx = out(xLen);
        be.run('conv2dBackwardInput', [dy, w, dx], ints);
        expectClose(dx, numericGrad((xv) => dot(refConv(xv, w, p), dy), x, 1e-3), 1e-5, 'dx');
      });

      test(`conv2dBackwardFilter${kind} matches finite differences`, () => {
        const rng = mulberry32(303 + seed + xLen + wLen);
        const x = rand(xLen, rng);
        const w = rand(wLen, rng);
        const dy = makeDy(rng);
        const dw = out(wLen);
        be.run('conv2dBackwardFilter', [x, dy, dw], ints);
        expectClose(dw, numericGrad((wv) => dot(refConv(x, wv, p), dy), w, 1e-3), 1e-5, 'dw');
      });
    }
  });

  describe('fused epilogues', () => {
    const biasRef = (y: Float64Array, bias: Float32Array, relu: boolean): Float64Array => {
      const out64 = new Float64Array(y.length);
      for (let i = 0; i < y.length; i++) {
        const v = Math.fround(Math.fround(y[i]) + bias[i % bias.length]);
        out64[i] = relu ? Math.max(v, 0) : v;
      }
      return out64;
    };

    // The second shape's 40,000-float images make the native kernel run several blocks of
    // images, each with its own epilogue.
    test.each([
      ['3x3 pad 1', conv({ h: 5, w: 7, c: 3, oc: 4, kh: 3, kw: 3, padTop: 1, padLeft: 1 }), true],
      ['3 images of 50x50x16, linear', conv({ n: 3, h: 50, w: 50, c: 1, oc: 16, kh: 3, kw: 3, padTop: 1, padLeft: 1, oh: 50, ow: 50 }), false],
      ['3 images of 50x50x16, relu', conv({ n: 3, h: 50, w: 50, c: 1, oc: 16, kh: 3, kw: 3, padTop: 1, padLeft: 1, oh: 50, ow: 50 }), true],
      ['stride 2, groups 2', conv({ h: 6, w: 7, c: 4, oc: 6, kh: 3, kw: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, groups: 2 }), true],
    ] as [string, ConvP, boolean][])('conv2dBiasActivation, %s: conv + bias (+ relu)', (_label, p, relu) => {
      const rng = mulberry32(p.n * 31 + p.h + p.oc);
      const x = rand(p.n * p.h * p.w * p.c, rng);
      const w = rand(p.kh * p.kw * (p.c / p.groups) * p.oc, rng);
      const bias = rand(p.oc, rng);
      const y = out(p.n * p.oh * p.ow * p.oc);
      be.run('conv2dBiasActivation', [x, w, bias, y], [...convInts(p), relu ? 1 : 0]);
      const want = biasRef(refConv(x, w, p), bias, relu);
      expectClose(y, want, 2e-5, 'y');
      if (relu) expect(y.some((v) => v === 0) && y.some((v) => v > 0)).toBe(true);
    });

    test.each([
      [5, 7, 3, 0, 0, 1],
      [4, 33, 9, 1, 0, 0],
      [3, 6, 5, 0, 1, 1],
    ])('matmulBiasActivation m=%i n=%i k=%i transA=%i transB=%i relu=%i', (m, n, k, tA, tB, relu) => {
      const rng = mulberry32(m * 100 + n + k);
      const a = rand(m * k, rng);
      const b = rand(k * n, rng);
      const bias = rand(n, rng);
      const c = out(m * n);
      be.run('matmulBiasActivation', [a, b, bias, c], [m, n, k, tA, tB, relu]);
      expectClose(c, biasRef(refMatmul(a, b, m, n, k, tA === 1, tB === 1), bias, relu === 1), 2e-5, 'c');
    });

    test.each([
      [7, 5, false],
      [300, 16, false],
      [130, 3, true],
    ])('reluBackwardBiasGrad %i rows x %i channels (dx aliasing dy: %s)', (rows, channels, alias) => {
      const rng = mulberry32(rows + channels);
      const y = awayFromZero(rows * channels, rng).map((v) => Math.max(v, 0));
      const dy = rand(rows * channels, rng);
      const wantDx = new Float64Array(rows * channels);
      const wantDb = new Float64Array(channels);
      for (let i = 0; i < y.length; i++) {
        wantDx[i] = y[i] > 0 ? dy[i] : 0;
        wantDb[i % channels] += wantDx[i];
      }
      const dx = alias ? dy : out(rows * channels);
      const db = out(channels);
      be.run('reluBackwardBiasGrad', [y, dy, dx, db], [rows, channels]);
      expectClose(dx, wantDx, 0, 'dx');
      expectClose(db, wantDb, 1e-6, 'dbias');
    });

    test.each([
      [1, false],
      [999, false],
      [70000, true],
    ])('addRelu, %i elements (y aliasing a: %s)', (size, alias) => {
      const rng = mulberry32(size);
      const a = rand(size, rng);
      const b = rand(size, rng);
      const want = new Float64Array(size);
      for (let i = 0; i < size; i++) want[i] = Math.max(Math.fround(a[i] + b[i]), 0);
      const y = alias ? a : out(size);
      be.run('addRelu', [a, b, y], [size]);
      expectClose(y, want, 0, 'y');
    });

    // The fused batch-norm kernels against the unfused sequence on the same backend: the
    // same arithmetic, so the same bits. 4099 x 16 spans several row chunks; 70 x 300 two
    // of the native kernels' channel blocks.
    const bnCases: [number, number, boolean][] = [
      [5, 3, false],
      [4099, 16, false],
      [70, 300, true],
    ];
    test.each(bnCases)('batchNormReluTrain %i rows x %i channels = batchNormTrain, then relu', (rows, channels) => {
      const rng = mulberry32(rows * 7 + channels);
      const x = rand(rows * channels, rng);
      const gamma = rand(channels, rng);
      const beta = rand(channels, rng);
      const stats = () => [out(channels), out(channels), new Float32Array(channels).fill(0.25), new Float32Array(channels).fill(2)];
      const fused = [x, gamma, beta, out(rows * channels), ...stats()];
      const unfused = [x, gamma, beta, out(rows * channels), ...stats()];
      be.run('batchNormReluTrain', fused, [rows, channels], [1e-5, 0.1]);
      be.run('batchNormTrain', unfused, [rows, channels], [1e-5, 0.1]);
      be.run('relu', [unfused[3], unfused[3]], [rows * channels]);
      ['y', 'mean', 'invStd', 'runningMean', 'runningVar'].forEach((name, i) => expectClose(fused[3 + i], unfused[3 + i], 0, name));
      expect(fused[3].some((v) => v === 0) && fused[3].some((v) => v > 0)).toBe(true);
    });

    test.each(bnCases)('batchNormReluBackward %i rows x %i channels = reluBackward, then batchNormBackward (dx aliasing dy: %s)', (rows, channels, alias) => {
      const rng = mulberry32(rows * 11 + channels);
      const x = rand(rows * channels, rng);
      const gamma = rand(channels, rng);
      const mean = rand(channels, rng);
      const invStd = rand(channels, rng).map((v) => 0.5 + Math.abs(v));
      const y = rand(rows * channels, rng).map((v) => Math.max(v, 0));
      const dy = rand(rows * channels, rng);
      const dPre = out(rows * channels);
      be.run('reluBackward', [y, dy, dPre], [rows * channels]);
      const want = [out(rows * channels), out(channels), out(channels)];
      be.run('batchNormBackward', [x, gamma, mean, invStd, dPre, ...want], [rows, channels]);
      const dyCopy = dy.slice();
      const dx = alias ? dyCopy : out(rows * channels);
      const dgamma = out(channels);
      const dbeta = out(channels);
      be.run('batchNormReluBackward', [x, gamma, mean, invStd, y, dyCopy, dx, dgamma, dbeta], [rows, channels]);
      expectClose(dx, want[0], 0, 'dx');
      expectClose(dgamma, want[1], 0, 'dgamma');
      expectClose(dbeta, want[2], 0, 'dbeta');
    });
  });

  describe.each(POOL_CASES)('pool2d: %s', (_label, p) => {
    const ints = poolInts(p);
    const xLen = p.n * p.h * p.w * p.c;
    const yLen = p.n * p.oh * p.ow * p.c;

    test('maxPool2d matches the naive reference', () => {
      const x = distinct(xLen, mulberry32(1 + xLen));
      const y = out(yLen);
      be.run('maxPool2d', [x, y], ints);
      expectClose(y, refPool(x, p, 'max'), 0, 'y');
    });

    test('maxPool2dBackward matches finite differences', () => {
      const rng = mulberry32(2 + xLen);
      const x = distinct(xLen, rng);
      const dy = rand(yLen, rng);
      const dx = out(xLen);
      be.run('maxPool2dBackward', [x, dy, dx], ints);
      expectClose(dx, numericGrad((xv) => dot(refPool(xv, p, 'max'), dy), x, 1e-4), 1e-5, 'dx');
    });

    test('avgPool2d matches the naive reference', () => {
      const x = rand(xLen, mulberry32(3 + xLen));
      const y = out(yLen);
      be.run('avgPool2d', [x, y], ints);
      expectClose(y, refPool(x, p, 'avg'), 1e-6, 'y');
    });

    test('avgPool2dBackward matches finite differences', () => {
      const rng = mulberry32(4 + xLen);
      const x = rand(xLen, rng);
      const dy = rand(yLen, rng);
      const dx = out(xLen);
      be.run('avgPool2dBackward', [dy, dx], ints);
      expectClose(dx, numericGrad((xv) => dot(refPool(xv, p, 'avg'), dy), x, 1e-3), 1e-5, 'dx');
    });
  });

  describe('maxPool2dBackward ties', () => {
    test('the first in-range maximum in row-major window order wins; overlapping windows accumulate', () => {
      // 1 image, 3x3, 1 channel, all equal; 2x2 windows, stride 1, pad 1 -> 4x4 outputs.
      const p = pool({ n: 1, h: 3, w: 3, c: 1, ph: 2, pw: 2, strideH: 1, strideW: 1, padTop: 1, padLeft: 1 });
      expect([p.oh, p.ow]).toEqual([4, 4]);
      const x = new Float32Array(9).fill(2);
      const dy = new Float32Array(16);
      for (let i = 0; i < 16; i++) dy[i] = i + 1;
      const dx = out(9);
      be.run('maxPool2dBackward', [x, dy, dx], poolInts(p));
      // Window (oy, ox) covers rows oy-1..oy, cols ox-1..ox; its first in-range position is
      // (max(oy-1, 0), max(ox-1, 0)).
      const want = new Float64Array(9);
      for (let oy = 0; oy < 4; oy++)
        for (let ox = 0; ox < 4; ox++) {
          const iy = Math.max(oy - 1, 0);
          const ix = Math.max(ox - 1, 0);
          if (iy < 3 && ix < 3) want[iy * 3 + ix] += dy[oy * 4 + ox];
        }
      expectClose(dx, want, 0, 'dx');
    });

    test.each([
      [4, 6, 1],
      [5, 7, 6],
      [6, 4, 17],
    ])('2x2 stride-2 windows on %ix%i, %i channels: ties go to the first maximum; uncovered pixels get zero', (h, w, c) => {
      // Values from {0, 1, 2} (as after a relu), so most windows hold ties; odd sizes leave
      // a last row or column that no window covers. dx starts as garbage: every element
      // must be written.
      const p = pool({ n: 2, h, w, c, ph: 2, pw: 2 });
      const rng = mulberry32(h * 100 + w * 10 + c);
      const x = new Float32Array(2 * h * w * c);
      for (let i = 0; i < x.length; i++) x[i] = Math.floor(rng() * 3);
      const dy = rand(2 * p.oh * p.ow * c, rng);
      const dx = new Float32Array(x.length).fill(7);
      be.run('maxPool2dBackward', [x, dy, dx], poolInts(p));
      const want = new Float64Array(x.length);
      for (let n = 0; n < 2; n++)
        for (let oy = 0; oy < p.oh; oy++)
          for (let ox = 0; ox < p.ow; ox++)
            for (let ch = 0; ch < c; ch++) {
              let best = -Infinity;
              let at = -1;
              for (let ky = 0; ky < 2; ky++)
                for (let kx = 0; kx < 2; kx++) {
                  const i = ((n * h + 2 * oy + ky) * w + 2 * ox + kx) * c + ch;
                  if (at < 0 || x[i] > best) [best, at] = [x[i], i];
                }
              want[at] += dy[((n * p.oh + oy) * p.ow + ox) * c + ch];
            }
      expectClose(dx, want, 0, 'dx');
    });
  });

  describe('elementwise', () => {
    const rows = 7;
    const ch = 5;

    test('biasAdd, also in place', () => {
      const rng = mulberry32(5);
      const x = rand(rows * ch, rng);
      const b = rand(ch, rng);
      const want = new Float64Array(rows * ch);
      for (let i = 0; i < rows * ch; i++) want[i] = Math.fround(x[i] + b[i % ch]);
      const y = out(rows * ch);
      be.run('biasAdd', [x, b, y], [rows, ch]);
      expectClose(y, want, 0, 'y');
      be.run('biasAdd', [x, b, x], [rows, ch]);
      expectClose(x, want, 0, 'y aliasing x');
    });

    test('biasAddGrad matches finite differences', () => {
      const rng = mulberry32(6);
      const x = rand(rows * ch, rng);
      const b = rand(ch, rng);
      const dy = rand(rows * ch, rng);
      const db = out(ch);
      be.run('biasAddGrad', [dy, db], [rows, ch]);
      const f = (bv: Float64Array): number => {
        let s = 0;
        for (let i = 0; i < rows * ch; i++) s += (x[i] + bv[i % ch]) * dy[i];
        return s;
      };
      expectClose(db, numericGrad(f, b, 1e-3), 1e-5, 'db');
    });

    test('relu, also in place', () => {
      const x = rand(40, mulberry32(7));
      x[0] = 0;
      x[1] = -0;
      const want = Array.from(x, (v) => Math.max(v, 0));
      const y = out(40);
      be.run('relu', [x, y], [40]);
      expectClose(y, want, 0, 'y');
      expect(y.every((v) => v >= 0)).toBe(true);
      be.run('relu', [x, x], [40]);
      expectClose(x, want, 0, 'y aliasing x');
    });

    test('reluBackward matches finite differences and uses the output', () => {
      const rng = mulberry32(8);
      const x = awayFromZero(50, rng);
      const dy = rand(50, rng);
      const y = out(50);
      be.run('relu', [x, y], [50]);
      const dx = out(50);
      be.run('reluBackward', [y, dy, dx], [50]);
      const f = (xv: Float64Array): number => {
        let s = 0;
        for (let i = 0; i < xv.length; i++) s += Math.max(xv[i], 0) * dy[i];
        return s;
      };
      expectClose(dx, numericGrad(f, x, 1e-4), 1e-5, 'dx');
      // y == 0 exactly -> no gradient.
      const dx0 = out(1);
      be.run('reluBackward', [new Float32Array([0]), new Float32Array([3]), dx0], [1]);
      expect(dx0[0]).toBe(0);
    });

    test('add, also aliasing either input', () => {
      const rng = mulberry32(9);
      const a = rand(33, rng);
      const b = rand(33, rng);
      const want = Array.from(a, (v, i) => Math.fround(v + b[i]));
      const y = out(33);
      be.run('add', [a, b, y], [33]);
      expectClose(y, want, 0, 'y');
      const a2 = a.slice();
      be.run('add', [a2, b, a2], [33]);
      expectClose(a2, want, 0, 'y aliasing a');
      const b2 = b.slice();
      be.run('add', [a, b2, b2], [33]);
      expectClose(b2, want, 0, 'y aliasing b');
    });
  });

  describe('softmaxCrossEntropy', () => {
    test('loss matches the reference and dlogits match finite differences', () => {
      const rng = mulberry32(10);
      const rows = 6;
      const k = 5;
      const logits = rand(rows * k, rng, -3, 3);
      const labels = new Float32Array(rows);
      for (let r = 0; r < rows; r++) labels[r] = Math.floor(rng() * k);
      const loss = out(1);
      const dl = out(rows * k);
      be.run('softmaxCrossEntropy', [logits, labels, loss, dl], [rows, k]);
      expect(Math.abs(loss[0] - refSoftmaxCE(logits, labels, rows, k))).toBeLessThan(1e-6);
      expectClose(dl, numericGrad((lv) => refSoftmaxCE(lv, labels, rows, k), logits, 1e-5), 1e-6, 'dlogits');
    });

    test('is stable for large logits', () => {
      const logits = new Float32Array([1000, 0, -1000, 500, 1e30, -1e30]);
      const labels = new Float32Array([0, 0]);
      const loss = out(1);
      const dl = out(6);
      be.run('softmaxCrossEntropy', [logits, labels, loss, dl], [2, 3]);
      // Row 0: softmax ~ [1, 0, 0], loss ~ 0. Row 1: softmax ~ [0, 1, 0], loss = 1e30 - 500.
      const wantLoss = (0 + (1e30 - 500)) / 2;
      expect(Math.abs(loss[0] - wantLoss) / wantLoss).toBeLessThan(1e-6);
      expectClose(dl, [0, 0, 0, -0.5, 0.5, 0], 1e-7, 'dlogits');
    });

    test('a label outside [0, classes) or not an integer adds nothing to the loss and no one-hot', () => {
      const rng = mulberry32(12);
      const rows = 5;
      const k = 4;
      const logits = rand(rows * k, rng, -2, 2);
      const labels = new Float32Array([1, -1, 4, 1.5, 1e30]);
      const loss = out(1);
      const dl = out(rows * k);
      be.run('softmaxCrossEntropy', [logits, labels, loss, dl], [rows, k]);
      expect(Math.abs(loss[0] - refSoftmaxCE(logits, labels, rows, k))).toBeLessThan(1e-6);
      const want = new Float64Array(rows * k);
      for (let r = 0; r < rows; r++) {
        let m = -Infinity;
        for (let j = 0; j < k; j++) m = Math.max(m, logits[r * k + j]);
        let s = 0;
        for (let j = 0; j < k; j++) s += Math.exp(logits[r * k + j] - m);
        for (let j = 0; j < k; j++) want[r * k + j] = (Math.exp(logits[r * k + j] - m) / s - (r === 0 && j === 1 ? 1 : 0)) / rows;
      }
      expectClose(dl, want, 1e-6, 'dlogits');
    });
  });

  describe('sgdMomentum', () => {
    test('two steps match a hand computation (PyTorch semantics)', () => {
      const param = new Float32Array([1, -2]);
      const velocity = new Float32Array([0, 0]);
      const hyper = new Float32Array([0.1, 0.9, 0.01]); // lr, momentum, weightDecay
      // Step 1: g = grad + 0.01 * p = [0.51, 0.23]; v = g; p -= 0.1 * v.
      be.run('sgdMomentum', [param, new Float32Array([0.5, 0.25]), velocity, hyper], [2]);
      expectClose(velocity, [0.51, 0.23], 1e-6, 'velocity after step 1');
      expectClose(param, [0.949, -2.023], 1e-6, 'param after step 1');
      // Step 2: g = [-0.5 + 0.00949, 1 - 0.02023] = [-0.49051, 0.97977];
      // v = 0.9 * [0.51, 0.23] + g = [-0.03151, 1.18677]; p -= 0.1 * v.
      be.run('sgdMomentum', [param, new Float32Array([-0.5, 1]), velocity, hyper], [2]);
      expectClose(velocity, [-0.03151, 1.18677], 1e-6, 'velocity after step 2');
      expectClose(param, [0.952151, -2.141677], 1e-6, 'param after step 2');
    });
  });
});

// The gradient a conv before a 2 x 2 max pool and relu really gets: one pixel of each pool
// window per channel, and only where the relu output is positive (about 15% of dy).
describe('conv2d gradients from a pooled relu gradient: js and native agree', () => {
  const cases: [string, ConvP][] = [
    ["LeNet's first layer, batch 4", conv({ n: 4, h: 28, w: 28, c: 1, oc: 6, kh: 5, kw: 5, padTop: 2, padLeft: 2, oh: 28, ow: 28 })],
    ["LeNet's second layer, batch 3", conv({ n: 3, h: 14, w: 14, c: 6, oc: 16, kh: 5, kw: 5 })],
    ['groups 2, 10 output channels', conv({ n: 2, h: 12, w: 12, c: 4, oc: 10, kh: 3, kw: 3, padTop: 1, padLeft: 1, groups: 2, oh: 12, ow: 12 })],
    // 40 images of 12 x 12 x 8 outputs: past the 1,024-pixel chunk of the list tiles.
    ['40 images, 8 channels', conv({ n: 40, h: 12, w: 12, c: 3, oc: 8, kh: 3, kw: 3, padTop: 1, padLeft: 1, oh: 12, ow: 12 })],
  ];
  test.each(cases)('%s', (_label, p) => {
    const rng = mulberry32(505 + p.h * p.oc);
    const x = rand(p.n * p.h * p.w * p.c, rng);
    const yLen = p.n * p.oh * p.ow * p.oc;
    const y = rand(yLen, rng).map((v) => Math.max(v, 0));
    const pooledLen = p.n * (p.oh / 2) * (p.ow / 2) * p.oc;
    const dPooled = rand(pooledLen, rng);
    const dy = new Float32Array(yLen);
    const poolInts = [p.n, p.oh, p.ow, p.oc, 2, 2, 2, 2, 0, 0, p.oh / 2, p.ow / 2];
    JS_KERNELS.maxPool2dBackward([y, dPooled, dy], poolInts, []);
    JS_KERNELS.reluBackward([y, dy, dy], [yLen], []);
    let nonzero = 0;
    for (const v of dy) if (v !== 0) nonzero++;
    expect(nonzero / yLen).toBeGreaterThan(0.05);
    expect(nonzero / yLen).toBeLessThan(0.25);
    const wLen = p.kh * p.kw * (p.c / p.groups) * p.oc;
    const dwJs = out(wLen);
    const dwNative = out(wLen);
    backends[0].run('conv2dBackwardFilter', [x, dy, dwJs], convInts(p));
    backends[1].run('conv2dBackwardFilter', [x, dy, dwNative], convInts(p));
    expectClose(dwJs, dwNative, 1e-5, 'dw');
    const w = rand(wLen, rng);
    const dxJs = out(x.length);
    const dxNative = out(x.length);
    backends[0].run('conv2dBackwardInput', [dy, w, dxJs], convInts(p));
    backends[1].run('conv2dBackwardInput', [dy, w, dxNative], convInts(p));
    expectClose(dxJs, dxNative, 1e-5, 'dx');
  });

  test('an all-zero dy gives an all-zero dw and dx', () => {
    const p = conv({ n: 2, h: 8, w: 8, c: 3, oc: 4, kh: 3, kw: 3 });
    const dw = out(3 * 3 * 3 * 4);
    const dx = out(2 * 8 * 8 * 3);
    const dy = new Float32Array(2 * 6 * 6 * 4);
    backends[0].run('conv2dBackwardFilter', [rand(2 * 8 * 8 * 3, mulberry32(6)), dy, dw], convInts(p));
    backends[0].run('conv2dBackwardInput', [dy, rand(dw.length, mulberry32(7)), dx], convInts(p));
    expect(Array.from(dw)).toEqual(new Array(dw.length).fill(0));
    expect(Array.from(dx)).toEqual(new Array(dx.length).fill(0));
  });
});
