/**
 * The layer kernels of lib/backend/kernels.ts (conv3d onwards: 3D conv and pooling, batch norm,
 * activations, softmax, column copies, losses, optimizers, clipping), checked against naive
 * float64 references, central finite differences of sum(y * r) and hand computations. Every
 * test loops over `backends`, so another backend is one more line in that list. Every call is
 * first checked against the kernel's spec (buffer count and lengths, ints, float count), so a
 * case that passes here is one the addon accepts too.
 */
import { JS_KERNELS } from '../lib/backend/js';
import { erf as jsErf, erfc as jsErfc } from '../lib/backend/js/activation';
import { ACTIVATION_KINDS, ActivationKind, KERNELS, KernelName, checkKernelCall, kernelId } from '../lib/backend/kernels';
import { loadAddon } from '../lib/backend/native';
import { dot, expectClose, mulberry32, numericGrad, rand } from './helpers/numeric';

const loaded = loadAddon();
if (!('addon' in loaded)) throw new Error(`these tests need the native addon: ${loaded.error}`);
const addon = loaded.addon;

type Run = (name: KernelName, bufs: Float32Array[], ints: number[], floats: number[]) => void;
interface TestBackend {
  name: string;
  run: Run;
}

const backends: TestBackend[] = [
  { name: 'js', run: (name, bufs, ints, floats) => JS_KERNELS[name](bufs, ints, floats) },
  { name: 'native', run: (name, bufs, ints, floats) => addon.runKernel(kernelId(name), bufs, ints, floats) },
];

// ---------------------------------------------------------------------------------------
// helpers

/** Checks the call against the kernel's spec, then runs it on the backend. */
function call(be: TestBackend, name: KernelName, bufs: Float32Array[], ints: number[], floats: number[] = []): void {
  checkKernelCall(KERNELS[kernelId(name)], bufs, ints, floats.length);
  be.run(name, bufs, ints, floats);
}

/** n distinct values, pairwise at least `gap` apart, shuffled; for max-pool (no ties). */
function distinct(n: number, rng: () => number, gap = 0.01, shift = 0): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (i - n / 2) * gap + shift;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng() * (i + 1));
    const t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
  return a;
}

/** Values with |v| in [lo, hi]: away from the kinks at 0. */
function awayFromZero(n: number, rng: () => number, lo = 0.1, hi = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (lo + (hi - lo) * rng()) * (rng() < 0.5 ? -1 : 1);
  return a;
}

const GARBAGE = 12345.5;

/** Garbage-filled output buffer: a kernel must overwrite every element. */
function out(n: number): Float32Array {
  return new Float32Array(n).fill(GARBAGE);
}

function expectFinite(a: ArrayLike<number>, what: string): void {
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) throw new Error(`${what}: element ${i} is ${a[i]}`);
  }
}

function f32(a: ArrayLike<number>): Float32Array {
  return Float32Array.from(a);
}

// ---------------------------------------------------------------------------------------
// naive float64 references: 3D conv and pooling

interface Conv3P {
  n: number; d: number; h: number; w: number; c: number; oc: number; kd: number; kh: number; kw: number;
  strideD: number; strideH: number; strideW: number; dilationD: number; dilationH: number; dilationW: number;
  padFront: number; padTop: number; padLeft: number; od: number; oh: number; ow: number; groups: number;
}

function conv3Ints(p: Conv3P): number[] {
  return [
    p.n, p.d, p.h, p.w, p.c, p.oc, p.kd, p.kh, p.kw, p.strideD, p.strideH, p.strideW,
    p.dilationD, p.dilationH, p.dilationW, p.padFront, p.padTop, p.padLeft, p.od, p.oh, p.ow, p.groups,
  ];
}

function refConv3(x: ArrayLike<number>, w: ArrayLike<number>, p: Conv3P): Float64Array {
  const cg = p.c / p.groups;
  const ocg = p.oc / p.groups;
  const y = new Float64Array(p.n * p.od * p.oh * p.ow * p.oc);
  for (let n = 0; n < p.n; n++)
    for (let oz = 0; oz < p.od; oz++)
      for (let oy = 0; oy < p.oh; oy++)
        for (let ox = 0; ox < p.ow; ox++)
          for (let o = 0; o < p.oc; o++) {
            const g = Math.floor(o / ocg);
            let s = 0;
            for (let kz = 0; kz < p.kd; kz++)
              for (let ky = 0; ky < p.kh; ky++)
                for (let kx = 0; kx < p.kw; kx++) {
                  const iz = oz * p.strideD - p.padFront + kz * p.dilationD;
                  const iy = oy * p.strideH - p.padTop + ky * p.dilationH;
                  const ix = ox * p.strideW - p.padLeft + kx * p.dilationW;
                  if (iz < 0 || iz >= p.d || iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                  for (let ci = 0; ci < cg; ci++) {
                    s += x[(((n * p.d + iz) * p.h + iy) * p.w + ix) * p.c + g * cg + ci] *
                      w[(((kz * p.kh + ky) * p.kw + kx) * cg + ci) * p.oc + o];
                  }
                }
            y[(((n * p.od + oz) * p.oh + oy) * p.ow + ox) * p.oc + o] = s;
          }
  return y;
}

interface Pool3P {
  n: number; d: number; h: number; w: number; c: number; pd: number; ph: number; pw: number;
  strideD: number; strideH: number; strideW: number; padFront: number; padTop: number; padLeft: number;
  od: number; oh: number; ow: number;
}

function pool3Ints(p: Pool3P): number[] {
  return [p.n, p.d, p.h, p.w, p.c, p.pd, p.ph, p.pw, p.strideD, p.strideH, p.strideW, p.padFront, p.padTop, p.padLeft, p.od, p.oh, p.ow];
}

function refPool3(x: ArrayLike<number>, p: Pool3P, kind: 'max' | 'avg' | 'l2'): Float64Array {
  const y = new Float64Array(p.n * p.od * p.oh * p.ow * p.c);
  for (let n = 0; n < p.n; n++)
    for (let oz = 0; oz < p.od; oz++)
      for (let oy = 0; oy < p.oh; oy++)
        for (let ox = 0; ox < p.ow; ox++)
          for (let c = 0; c < p.c; c++) {
            let count = 0;
            let acc = kind === 'max' ? -Infinity : 0;
            for (let kz = 0; kz < p.pd; kz++)
              for (let ky = 0; ky < p.ph; ky++)
                for (let kx = 0; kx < p.pw; kx++) {
                  const iz = oz * p.strideD - p.padFront + kz;
                  const iy = oy * p.strideH - p.padTop + ky;
                  const ix = ox * p.strideW - p.padLeft + kx;
                  if (iz < 0 || iz >= p.d || iy < 0 || iy >= p.h || ix < 0 || ix >= p.w) continue;
                  const v = x[(((n * p.d + iz) * p.h + iy) * p.w + ix) * p.c + c];
                  acc = kind === 'max' ? Math.max(acc, v) : kind === 'avg' ? acc + v : acc + v * v;
                  count++;
                }
            y[(((n * p.od + oz) * p.oh + oy) * p.ow + ox) * p.c + c] =
              count === 0 ? 0 : kind === 'max' ? acc : kind === 'avg' ? acc / count : Math.sqrt(acc);
          }
  return y;
}

// ---------------------------------------------------------------------------------------
// naive float64 references: the rest

/** erf by its Maclaurin series (|x| < 3) or erfc's continued fraction (|x| >= 3); ~1e-14. */
function refErf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 200; n++) {
      term *= (-x * x) / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  let k = ax;
  for (let n = 80; n >= 1; n--) k = ax + n / 2 / k;
  const c = Math.exp(-ax * ax) / (Math.sqrt(Math.PI) * k);
  return x < 0 ? c - 1 : 1 - c;
}

function refActivation(kind: ActivationKind, x: number, alpha: number): number {
  switch (kind) {
    case 'relu':
      return x > 0 ? x : 0;
    case 'leakyRelu':
      return x > 0 ? x : alpha * x;
    case 'elu':
      return x > 0 ? x : alpha * (Math.exp(x) - 1);
    case 'gelu':
      return 0.5 * x * (1 + refErf(x / Math.SQRT2));
    case 'sigmoid':
      return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
    case 'tanh':
      return Math.tanh(x);
  }
}

function refSoftmax(x: ArrayLike<number>, rows: number, k: number): Float64Array {
  const y = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, x[r * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(x[r * k + j] - m);
    for (let j = 0; j < k; j++) y[r * k + j] = Math.exp(x[r * k + j] - m) / s;
  }
  return y;
}

/** mean over rows of -sum_k t log softmax(z). */
function refSoftmaxCEDense(z: ArrayLike<number>, t: ArrayLike<number>, rows: number, k: number): number {
  let total = 0;
  for (let r = 0; r < rows; r++) {
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, z[r * k + j]);
    let s = 0;
    for (let j = 0; j < k; j++) s += Math.exp(z[r * k + j] - m);
    const lse = Math.log(s) + m;
    for (let j = 0; j < k; j++) total += t[r * k + j] * (lse - z[r * k + j]);
  }
  return total / rows;
}

function refSigmoidCE(z: ArrayLike<number>, t: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < z.length; i++) s += Math.max(z[i], 0) - z[i] * t[i] + Math.log1p(Math.exp(-Math.abs(z[i])));
  return s / z.length;
}

function refMse(p: ArrayLike<number>, t: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += (p[i] - t[i]) ** 2;
  return s / p.length;
}

function refSmoothL1(p: ArrayLike<number>, t: ArrayLike<number>, beta: number): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) {
    const d = Math.abs(p[i] - t[i]);
    s += d < beta ? (0.5 * d * d) / beta : d - 0.5 * beta;
  }
  return s / p.length;
}

interface BnStats {
  mean: Float64Array;
  biasedVar: Float64Array;
  invStd: Float64Array;
  y: Float64Array;
}

/** The training-mode batch-norm transform in float64. */
function refBatchNorm(x: ArrayLike<number>, gamma: ArrayLike<number>, beta: ArrayLike<number>, rows: number, ch: number, eps: number): BnStats {
  const mean = new Float64Array(ch);
  const biasedVar = new Float64Array(ch);
  const invStd = new Float64Array(ch);
  const y = new Float64Array(rows * ch);
  for (let c = 0; c < ch; c++) {
    let s = 0;
    for (let r = 0; r < rows; r++) s += x[r * ch + c];
    mean[c] = s / rows;
    let v = 0;
    for (let r = 0; r < rows; r++) v += (x[r * ch + c] - mean[c]) ** 2;
    biasedVar[c] = v / rows;
    invStd[c] = 1 / Math.sqrt(biasedVar[c] + eps);
    for (let r = 0; r < rows; r++) y[r * ch + c] = gamma[c] * (x[r * ch + c] - mean[c]) * invStd[c] + beta[c];
  }
  return { mean, biasedVar, invStd, y };
}

// ---------------------------------------------------------------------------------------
// cases

function conv3(o: Partial<Conv3P> & { d: number; h: number; w: number; c: number; oc: number; kd: number; kh: number; kw: number }): Conv3P {
  const p: Conv3P = {
    n: 2, strideD: 1, strideH: 1, strideW: 1, dilationD: 1, dilationH: 1, dilationW: 1,
    padFront: 0, padTop: 0, padLeft: 0, groups: 1, od: 0, oh: 0, ow: 0,
    ...o,
  };
  // Default output size: the window's last tap stays within the input plus the padding on both sides.
  if (!o.od) p.od = Math.floor((p.d + 2 * p.padFront - (p.dilationD * (p.kd - 1) + 1)) / p.strideD) + 1;
  if (!o.oh) p.oh = Math.floor((p.h + 2 * p.padTop - (p.dilationH * (p.kh - 1) + 1)) / p.strideH) + 1;
  if (!o.ow) p.ow = Math.floor((p.w + 2 * p.padLeft - (p.dilationW * (p.kw - 1) + 1)) / p.strideW) + 1;
  return p;
}

const K3 = { kd: 3, kh: 3, kw: 3 };
const PAD1 = { padFront: 1, padTop: 1, padLeft: 1 };

const CONV3D_CASES: [string, Conv3P][] = [
  ['batch 1, 3x3x3 pad 1, odd sizes', conv3({ n: 1, d: 3, h: 5, w: 7, c: 3, oc: 4, ...K3, ...PAD1 })],
  ['2x3x2 kernel, stride 2', conv3({ d: 5, h: 7, w: 6, c: 2, oc: 3, kd: 2, kh: 3, kw: 2, strideD: 2, strideH: 2, strideW: 2 })],
  ['stride 3 larger than the 2x2x2 kernel', conv3({ d: 7, h: 7, w: 8, c: 2, oc: 3, kd: 2, kh: 2, kw: 2, strideD: 3, strideH: 3, strideW: 3 })],
  ['kernel equals input', conv3({ d: 3, h: 4, w: 5, c: 3, oc: 2, kd: 3, kh: 4, kw: 5 })],
  ['dilation 2', conv3({ d: 5, h: 6, w: 7, c: 2, oc: 3, ...K3, dilationD: 2, dilationH: 2, dilationW: 2, padFront: 2, padTop: 1, padLeft: 2 })],
  ['groups 2', conv3({ d: 3, h: 4, w: 5, c: 4, oc: 6, ...K3, ...PAD1, groups: 2 })],
  ['groups 2, 3 channels per group, 1x1x1 stride 2', conv3({ n: 1, d: 5, h: 5, w: 4, c: 6, oc: 4, kd: 1, kh: 1, kw: 1, strideD: 2, strideH: 2, strideW: 2, groups: 2 })],
  ['depthwise (groups == c)', conv3({ d: 4, h: 5, w: 4, c: 3, oc: 3, ...K3, ...PAD1, groups: 3 })],
  ['depthwise multiplier 2, stride 2', conv3({ d: 4, h: 5, w: 6, c: 3, oc: 6, ...K3, strideD: 2, strideW: 2, ...PAD1, groups: 3 })],
  ['depthwise, batch 3, stride 2, dilation 2', conv3({ n: 3, d: 5, h: 6, w: 6, c: 2, oc: 2, ...K3, strideD: 2, strideH: 2, strideW: 2, dilationD: 2, dilationH: 2, dilationW: 2, padFront: 2, padTop: 2, padLeft: 2, groups: 2 })],
  ['one input channel, groups 1', conv3({ d: 4, h: 4, w: 5, c: 1, oc: 3, kd: 2, kh: 3, kw: 3, padTop: 1, padLeft: 1 })],
  // TF 'same' with stride 2: padding only at the far end in depth and height.
  ['TF same, stride 2, explicit output size', conv3({ d: 4, h: 6, w: 5, c: 3, oc: 2, ...K3, strideD: 2, strideH: 2, strideW: 2, padLeft: 1, od: 2, oh: 3, ow: 3 })],
  ['windows entirely in padding', conv3({ n: 1, d: 2, h: 3, w: 3, c: 2, oc: 2, kd: 2, kh: 2, kw: 2, padFront: 2, padTop: 3, padLeft: 3, od: 3, oh: 4, ow: 5 })],
  ['more output voxels than one patch block, groups 2', conv3({ d: 4, h: 6, w: 6, c: 4, oc: 4, ...K3, ...PAD1, groups: 2 })],
];

function pool3(o: Partial<Pool3P> & { d: number; h: number; w: number; c: number; pd: number; ph: number; pw: number }): Pool3P {
  const p: Pool3P = {
    n: 2, strideD: o.pd, strideH: o.ph, strideW: o.pw, padFront: 0, padTop: 0, padLeft: 0, od: 0, oh: 0, ow: 0,
    ...o,
  };
  if (!o.od) p.od = Math.floor((p.d + 2 * p.padFront - p.pd) / p.strideD) + 1;
  if (!o.oh) p.oh = Math.floor((p.h + 2 * p.padTop - p.ph) / p.strideH) + 1;
  if (!o.ow) p.ow = Math.floor((p.w + 2 * p.padLeft - p.pw) / p.strideW) + 1;
  return p;
}

const P2 = { pd: 2, ph: 2, pw: 2 };
const P3 = { pd: 3, ph: 3, pw: 3 };

const POOL3D_CASES: [string, Pool3P][] = [
  ['2x2x2 stride 2', pool3({ d: 4, h: 4, w: 6, c: 3, ...P2 })],
  ['2x2x2 stride 2, odd input, batch 1', pool3({ n: 1, d: 5, h: 5, w: 7, c: 2, ...P2 })],
  ['3x3x3 stride 2 pad 1 (overlapping)', pool3({ d: 5, h: 5, w: 6, c: 2, ...P3, strideD: 2, strideH: 2, strideW: 2, ...PAD1 })],
  ['3x3x3 stride 1 pad 1 (same)', pool3({ n: 1, d: 3, h: 4, w: 5, c: 2, ...P3, strideD: 1, strideH: 1, strideW: 1, ...PAD1 })],
  ['1x2x3 window, stride larger than the window', pool3({ d: 4, h: 8, w: 9, c: 2, pd: 1, ph: 2, pw: 3, strideD: 2, strideH: 3, strideW: 4 })],
  ['window equals input', pool3({ d: 2, h: 3, w: 4, c: 5, pd: 2, ph: 3, pw: 4 })],
  ['windows entirely in padding', pool3({ n: 1, d: 2, h: 3, w: 3, c: 2, ...P2, padFront: 2, padTop: 2, padLeft: 2, od: 3, oh: 4, ow: 4 })],
];

const KIND_INDEX = (k: ActivationKind): number => ACTIVATION_KINDS.indexOf(k);
/** alpha per kind, exactly representable in float32. */
const ALPHA: Record<ActivationKind, number> = { relu: 0, leakyRelu: 0.25, elu: 1.5, gelu: 0, sigmoid: 0, tanh: 0 };

// ---------------------------------------------------------------------------------------

describe('erf (the js helper behind gelu)', () => {
  // mpmath, 30 digits.
  const xs = [-5, -2, -0.5, -0.46875, 0.1, 0.46875, 0.5, 1, 3.9, 4, 4.1, 6];
  const erfs = [
    -0.99999999999846256, -0.99532226501895271, -0.52049987781304652, -0.49261347321793797, 0.1124629160182849,
    0.49261347321793797, 0.52049987781304652, 0.84270079294971489, 0.99999996520775136, 0.99999998458274209,
    0.99999999329997236, 1,
  ];
  const erfcs = [
    1.9999999999984626, 1.9953222650189528, 1.5204998778130465, 1.4926134732179379, 0.88753708398171505,
    0.50738652678206198, 0.47950012218695348, 0.15729920705028513, 3.4792248597231765e-8, 1.541725790028002e-8,
    6.7000276540849183e-9, 2.1519736712498913e-17,
  ];

  test('matches high-precision values (erf absolute, erfc relative)', () => {
    xs.forEach((x, i) => {
      expect(Math.abs(jsErf(x) - erfs[i])).toBeLessThan(1e-15);
      expect(Math.abs(jsErfc(x) - erfcs[i]) / erfcs[i]).toBeLessThan(1e-14);
      expect(Math.abs(refErf(x) - erfs[i])).toBeLessThan(1e-13); // the test's own reference
    });
  });

  test('agrees with the series / continued-fraction reference on a dense grid, and is odd', () => {
    let worst = 0;
    for (let x = -8; x <= 8; x += 0.00731) {
      worst = Math.max(worst, Math.abs(jsErf(x) - refErf(x)));
      expect(jsErf(-x)).toBe(-jsErf(x));
    }
    expect(worst).toBeLessThan(1e-13);
    expect(jsErf(0)).toBe(0);
    expect(jsErfc(30)).toBe(0);
    expect(jsErfc(-30)).toBe(2);
  });
});

describe.each(backends)('layer kernels ($name backend)', (be) => {
  // -------------------------------------------------------------------------------------
  describe.each(CONV3D_CASES)('conv3d: %s', (_label, p) => {
    const ints = conv3Ints(p);
    const xLen = p.n * p.d * p.h * p.w * p.c;
    const wLen = p.kd * p.kh * p.kw * (p.c / p.groups) * p.oc;
    const yLen = p.n * p.od * p.oh * p.ow * p.oc;

    test('forward matches the naive reference', () => {
      const rng = mulberry32(101 + xLen + wLen);
      const x = rand(xLen, rng);
      const w = rand(wLen, rng);
      const y = out(yLen);
      call(be, 'conv3d', [x, w, y], ints);
      expectClose(y, refConv3(x, w, p), 2e-5, 'y');
    });

    test('conv3dBackwardInput matches finite differences', () => {
      const rng = mulberry32(202 + xLen + wLen);
      const x = rand(xLen, rng);
      const w = rand(wLen, rng);
      const dy = rand(yLen, rng);
      const dx = out(xLen);
      call(be, 'conv3dBackwardInput', [dy, w, dx], ints);
      expectClose(dx, numericGrad((xv) => dot(refConv3(xv, w, p), dy), x, 1e-3), 1e-5, 'dx');
    });

    test('conv3dBackwardFilter matches finite differences', () => {
      const rng = mulberry32(303 + xLen + wLen);
      const x = rand(xLen, rng);
      const w = rand(wLen, rng);
      const dy = rand(yLen, rng);
      const dw = out(wLen);
      call(be, 'conv3dBackwardFilter', [x, dy, dw], ints);
      expectClose(dw, numericGrad((wv) => dot(refConv3(x, wv, p), dy), w, 1e-3), 1e-5, 'dw');
    });
  });

  // -------------------------------------------------------------------------------------
  describe.each(POOL3D_CASES)('pool3d: %s', (_label, p) => {
    const ints = pool3Ints(p);
    const xLen = p.n * p.d * p.h * p.w * p.c;
    const yLen = p.n * p.od * p.oh * p.ow * p.c;

    test('maxPool3d matches the naive reference (also on all-negative input)', () => {
      const rng = mulberry32(1 + xLen);
      for (const shift of [0, -50]) {
        const x = distinct(xLen, rng, 0.01, shift);
        const y = out(yLen);
        call(be, 'maxPool3d', [x, y], ints);
        expectClose(y, refPool3(x, p, 'max'), 0, `y (shift ${shift})`);
      }
    });

    test('maxPool3dBackward matches finite differences', () => {
      const rng = mulberry32(2 + xLen);
      const x = distinct(xLen, rng);
      const dy = rand(yLen, rng);
      const dx = out(xLen);
      call(be, 'maxPool3dBackward', [x, dy, dx], ints);
      expectClose(dx, numericGrad((xv) => dot(refPool3(xv, p, 'max'), dy), x, 1e-4), 1e-5, 'dx');
    });

    test('avgPool3d matches the naive reference', () => {
      const x = rand(xLen, mulberry32(3 + xLen));
      const y = out(yLen);
      call(be, 'avgPool3d', [x, y], ints);
      expectClose(y, refPool3(x, p, 'avg'), 1e-6, 'y');
    });

    test('avgPool3dBackward matches finite differences', () => {
      const rng = mulberry32(4 + xLen);
      const x = rand(xLen, rng);
      const dy = rand(yLen, rng);
      const dx = out(xLen);
      call(be, 'avgPool3dBackward', [dy, dx], ints);
      expectClose(dx, numericGrad((xv) => dot(refPool3(xv, p, 'avg'), dy), x, 1e-3), 1e-5, 'dx');
    });

    test('l2Pool3d matches the naive reference', () => {
      const x = rand(xLen, mulberry32(5 + xLen));
      const y = out(yLen);
      call(be, 'l2Pool3d', [x, y], ints);
      expectClose(y, refPool3(x, p, 'l2'), 1e-6, 'y');
    });

    test('l2Pool3dBackward matches finite differences', () => {
      const rng = mulberry32(6 + xLen);
      const x = awayFromZero(xLen, rng);
      const dy = rand(yLen, rng);
      const y = f32(refPool3(x, p, 'l2'));
      const dx = out(xLen);
      call(be, 'l2Pool3dBackward', [x, y, dy, dx], ints);
      expectClose(dx, numericGrad((xv) => dot(refPool3(xv, p, 'l2'), dy), x, 1e-5), 1e-5, 'dx');
    });
  });

  describe('pool3d special cases', () => {
    test('maxPool3dBackward: ties go to the first in-range maximum in row-major window order; overlaps accumulate', () => {
      // 1 volume 2x2x2, 1 channel, all equal; 2x2x2 windows, stride 1, pad 1 -> 3x3x3 outputs.
      const p = pool3({ n: 1, d: 2, h: 2, w: 2, c: 1, ...P2, strideD: 1, strideH: 1, strideW: 1, ...PAD1 });
      expect([p.od, p.oh, p.ow]).toEqual([3, 3, 3]);
      const x = new Float32Array(8).fill(-2);
      const dy = new Float32Array(27);
      for (let i = 0; i < 27; i++) dy[i] = i + 1;
      const dx = out(8);
      call(be, 'maxPool3dBackward', [x, dy, dx], pool3Ints(p));
      // Window (oz, oy, ox) covers z oz-1..oz etc.; its first in-range position is (max(oz-1,0), ...).
      const want = new Float64Array(8);
      for (let oz = 0; oz < 3; oz++)
        for (let oy = 0; oy < 3; oy++)
          for (let ox = 0; ox < 3; ox++) {
            const iz = Math.max(oz - 1, 0), iy = Math.max(oy - 1, 0), ix = Math.max(ox - 1, 0);
            want[(iz * 2 + iy) * 2 + ix] += dy[(oz * 3 + oy) * 3 + ox];
          }
      expectClose(dx, want, 0, 'dx');
      const y = out(27);
      call(be, 'maxPool3d', [x, y], pool3Ints(p));
      expect(Array.from(y)).toEqual(new Array(27).fill(-2)); // the max of in-range values, not the padding's 0
    });

    test('maxPool3dBackward: a later equal value does not take the gradient from an earlier maximum', () => {
      // One 1x1x5 window over x = [1, 3, 2, 3, -1] (two channels: the second reversed).
      const p = pool3({ n: 1, d: 1, h: 1, w: 5, c: 2, pd: 1, ph: 1, pw: 5 });
      const x = new Float32Array([1, -1, 3, 3, 2, 2, 3, 3, -1, 1]);
      const dx = out(10);
      call(be, 'maxPool3dBackward', [x, new Float32Array([7, 5]), dx], pool3Ints(p));
      expect(Array.from(dx)).toEqual([0, 0, 7, 5, 0, 0, 0, 0, 0, 0]);
    });

    test('l2Pool3d with all-zero windows: y = 0 there, zero gradient, no NaN', () => {
      // 1x2x4 input (1 channel), 1x2x2 windows stride 2: the first window is all zeros.
      const p = pool3({ n: 1, d: 1, h: 2, w: 4, c: 1, pd: 1, ph: 2, pw: 2 });
      const x = new Float32Array([0, 0, 3, 0, 0, 0, 0, 4]);
      const y = out(2);
      call(be, 'l2Pool3d', [x, y], pool3Ints(p));
      expect(Array.from(y)).toEqual([0, 5]);
      const dx = out(8);
      call(be, 'l2Pool3dBackward', [x, y, new Float32Array([2, 10]), dx], pool3Ints(p));
      expectFinite(dx, 'dx');
      expectClose(dx, [0, 0, 6, 0, 0, 0, 0, 8], 1e-7, 'dx'); // dy * x / y = 10 * [3, 4] / 5
      // All zero, and windows entirely in padding.
      const q = pool3({ n: 1, d: 2, h: 3, w: 3, c: 2, ...P2, padFront: 2, padTop: 2, padLeft: 2, od: 3, oh: 4, ow: 4 });
      const yq = out(3 * 4 * 4 * 2);
      const xq = new Float32Array(2 * 3 * 3 * 2);
      call(be, 'l2Pool3d', [xq, yq], pool3Ints(q));
      expect(yq.every((v) => v === 0)).toBe(true);
      const dxq = out(xq.length);
      call(be, 'l2Pool3dBackward', [xq, yq, rand(yq.length, mulberry32(77)), dxq], pool3Ints(q));
      expect(dxq.every((v) => v === 0)).toBe(true);
    });
  });

  // -------------------------------------------------------------------------------------
  describe('batch norm', () => {
    test('batchNormTrain matches the reference: y, saved mean and invStd, running stats', () => {
      const rng = mulberry32(21);
      const rows = 13;
      const ch = 5;
      const x = rand(rows * ch, rng, -2, 3);
      const gamma = rand(ch, rng, 0.5, 1.5);
      const beta = rand(ch, rng);
      const rm = rand(ch, rng);
      const rv = rand(ch, rng, 0.5, 2);
      const eps = 1e-5;
      const momentum = 0.1;
      const ref = refBatchNorm(x, gamma, beta, rows, ch, Math.fround(eps));
      const wantRm = Array.from(rm, (v, c) => (1 - momentum) * v + momentum * ref.mean[c]);
      const wantRv = Array.from(rv, (v, c) => (1 - momentum) * v + momentum * ref.biasedVar[c] * (rows / (rows - 1)));
      const y = out(rows * ch);
      const mean = out(ch);
      const invStd = out(ch);
      call(be, 'batchNormTrain', [x, gamma, beta, y, mean, invStd, rm, rv], [rows, ch], [eps, momentum]);
      expectClose(y, ref.y, 1e-5, 'y');
      expectClose(mean, ref.mean, 1e-6, 'mean');
      expectClose(invStd, ref.invStd, 1e-6, 'invStd');
      expectClose(rm, wantRm, 1e-6, 'runningMean');
      expectClose(rv, wantRv, 1e-6, 'runningVar');
    });

    test('running statistics by hand: unbiased variance, momentum weights the new batch', () => {
      // rows 4, channels 2: channel 0 = [1, 3, 5, 7] (mean 4, biased var 5, unbiased 20/3),
      // channel 1 = [0, 1, 2, 5] (mean 2, biased var 3.5, unbiased 14/3).
      const x = new Float32Array([1, 0, 3, 1, 5, 2, 7, 5]);
      const gamma = new Float32Array([2, -1]);
      const beta = new Float32Array([0.5, 1]);
      const rm = new Float32Array([0.5, -1]);
      const rv = new Float32Array([2, 1]);
      const eps = 0.015625;
      const y = out(8);
      const mean = out(2);
      const invStd = out(2);
      call(be, 'batchNormTrain', [x, gamma, beta, y, mean, invStd, rm, rv], [4, 2], [eps, 0.25]);
      expectClose(mean, [4, 2], 1e-7, 'mean');
      const is0 = 1 / Math.sqrt(5.015625);
      const is1 = 1 / 1.875; // 1/sqrt(3.5 + 0.015625)
      expectClose(invStd, [is0, is1], 1e-7, 'invStd');
      // runningMean = 0.75 * old + 0.25 * mean; runningVar = 0.75 * old + 0.25 * unbiased var.
      expectClose(rm, [0.75 * 0.5 + 0.25 * 4, 0.75 * -1 + 0.25 * 2], 1e-7, 'runningMean');
      expectClose(rv, [0.75 * 2 + 0.25 * (20 / 3), 0.75 * 1 + 0.25 * (14 / 3)], 1e-7, 'runningVar');
      const want = [];
      for (let r = 0; r < 4; r++) want.push(2 * (x[2 * r] - 4) * is0 + 0.5, -1 * (x[2 * r + 1] - 2) * is1 + 1);
      expectClose(y, want, 1e-6, 'y');
    });

    test('rows == 1: the biased variance (0) goes into the running variance; y = beta', () => {
      const x = new Float32Array([3, -2]);
      const gamma = new Float32Array([1.5, 2]);
      const beta = new Float32Array([0.25, -0.5]);
      const rm = new Float32Array([1, 1]);
      const rv = new Float32Array([4, 2]);
      const y = out(2);
      const mean = out(2);
      const invStd = out(2);
      call(be, 'batchNormTrain', [x, gamma, beta, y, mean, invStd, rm, rv], [1, 2], [0.25, 0.5]);
      expectFinite(rv, 'runningVar');
      expectClose(rv, [2, 1], 1e-7, 'runningVar');
      expectClose(rm, [2, -0.5], 1e-7, 'runningMean');
      expectClose(mean, [3, -2], 1e-7, 'mean');
      expectClose(invStd, [2, 2], 1e-7, 'invStd');
      expectClose(y, [0.25, -0.5], 1e-7, 'y');
    });

    for (const [rows, ch] of [[9, 4], [2, 3], [30, 2]]) {
      test(`batchNormBackward (rows ${rows}, channels ${ch}) matches finite differences of the training-mode transform`, () => {
        const rng = mulberry32(23 + rows * 7 + ch);
        const x = rand(rows * ch, rng, -1, 2);
        const gamma = rand(ch, rng, 0.5, 1.5);
        const beta = rand(ch, rng);
        const dy = rand(rows * ch, rng);
        const eps = 1e-3;
        const ref = refBatchNorm(x, gamma, beta, rows, ch, eps);
        const dx = out(rows * ch);
        const dgamma = out(ch);
        const dbeta = out(ch);
        call(be, 'batchNormBackward', [x, gamma, f32(ref.mean), f32(ref.invStd), dy, dx, dgamma, dbeta], [rows, ch]);
        const fdX = numericGrad((xv) => dot(refBatchNorm(xv, gamma, beta, rows, ch, eps).y, dy), x, 1e-5);
        const fdG = numericGrad((gv) => dot(refBatchNorm(x, gv, beta, rows, ch, eps).y, dy), gamma, 1e-5);
        const fdB = numericGrad((bv) => dot(refBatchNorm(x, gamma, bv, rows, ch, eps).y, dy), beta, 1e-5);
        expectClose(dx, fdX, 1e-5, 'dx');
        expectClose(dgamma, fdG, 1e-5, 'dgamma');
        expectClose(dbeta, fdB, 1e-5, 'dbeta');
      });
    }

    test('batchNormInference matches the reference', () => {
      const rng = mulberry32(24);
      const rows = 11;
      const ch = 6;
      const x = rand(rows * ch, rng, -2, 2);
      const gamma = rand(ch, rng, 0.5, 1.5);
      const beta = rand(ch, rng);
      const rm = rand(ch, rng);
      const rv = rand(ch, rng, 0.1, 3);
      const eps = 1e-3;
      const want = new Float64Array(rows * ch);
      for (let i = 0; i < rows * ch; i++) {
        const c = i % ch;
        want[i] = (gamma[c] * (x[i] - rm[c])) / Math.sqrt(rv[c] + Math.fround(eps)) + beta[c];
      }
      const y = out(rows * ch);
      call(be, 'batchNormInference', [x, gamma, beta, rm, rv, y], [rows, ch], [eps]);
      expectClose(y, want, 1e-6, 'y');
    });
  });

  // -------------------------------------------------------------------------------------
  describe.each(ACTIVATION_KINDS.map((k) => [k]))('activation %s', (kind) => {
    const k = KIND_INDEX(kind);
    const alpha = ALPHA[kind];

    test('forward matches the reference, also in place', () => {
      const rng = mulberry32(31 + k);
      const x = rand(200, rng, -6, 6);
      x.set([0, -0, 1e-6, -1e-6, 30, -30, 100, -100, 1e-30, -5e-4], 0);
      const want = Array.from(x, (v) => refActivation(kind, v, alpha));
      const y = out(x.length);
      call(be, 'activation', [x, y], [x.length, k], [alpha]);
      expectFinite(y, 'y');
      expectClose(y, want, 1e-6, 'y');
      // Small outputs checked in relative terms too (near 0 and far negative), down to float32 normals.
      for (let i = 0; i < x.length; i++) {
        if (Math.abs(want[i]) < 1e-3 && Math.abs(want[i]) > 1e-37) { // float32 normals only
          expect(Math.abs(y[i] - want[i]) / Math.abs(want[i])).toBeLessThan(1e-5);
        }
      }
      const x2 = x.slice();
      call(be, 'activation', [x2, x2], [x.length, k], [alpha]);
      expectClose(x2, y, 0, 'y aliasing x');
    });

    test('activationBackward matches finite differences', () => {
      const rng = mulberry32(41 + k);
      const x = awayFromZero(120, rng, 0.05, 5);
      const dy = rand(x.length, rng);
      const y = f32(Array.from(x, (v) => refActivation(kind, v, alpha)));
      const dx = out(x.length);
      call(be, 'activationBackward', [x, y, dy, dx], [x.length, k], [alpha]);
      const f = (xv: Float64Array): number => {
        let s = 0;
        for (let i = 0; i < xv.length; i++) s += refActivation(kind, xv[i], alpha) * dy[i];
        return s;
      };
      expectClose(dx, numericGrad(f, x, 1e-6), 1e-5, 'dx');
    });

    test('activationBackward at large |x| is finite and matches the limits', () => {
      const x = new Float32Array([100, -100, 30, -30]);
      const y = f32(Array.from(x, (v) => refActivation(kind, v, alpha)));
      const dy = new Float32Array([1, 1, 1, 1]);
      const dx = out(4);
      call(be, 'activationBackward', [x, y, dy, dx], [4, k], [alpha]);
      expectFinite(dx, 'dx');
      const slopeNeg = kind === 'leakyRelu' ? alpha : 0;
      const slopePos = kind === 'sigmoid' || kind === 'tanh' ? 0 : 1;
      expectClose(dx, [slopePos, slopeNeg, slopePos, slopeNeg], 1e-6, 'dx');
    });
  });

  describe('activation details', () => {
    test('relu, leakyRelu and elu at exactly 0 take the x <= 0 branch in the backward', () => {
      const x = new Float32Array([0, -0]);
      const dy = new Float32Array([3, -2]);
      for (const [kind, slope] of [['relu', 0], ['leakyRelu', 0.25], ['elu', 1.5]] as [ActivationKind, number][]) {
        const dx = out(2);
        call(be, 'activationBackward', [x, new Float32Array(2), dy, dx], [2, KIND_INDEX(kind)], [ALPHA[kind]]);
        expectClose(dx, [3 * slope, -2 * slope], 0, `${kind} dx`);
      }
    });

    test('gelu is exact (erf, not the tanh approximation) against high-precision values', () => {
      // mpmath: gelu(x) and gelu'(x).
      const xs = [-6, -3.5, -1.2, -0.3, 0, 0.1, 0.7, 2.5, 5];
      const g = [
        -5.9195258702261885e-9, -0.00081420177662433761, -0.13808360426604993, -0.11462657334331421, 0,
        0.053982783727702904, 0.53062544344384888, 2.4844758366855597, 4.9999985667421409,
      ];
      const dg = [
        -3.5468709453902015e-8, -0.0028217603536246352, -0.11795359575814726, 0.26767223317289013, 0.5,
        0.57952309202473018, 0.97661410113365987, 1.0376110859081451, 1.0000071469460019,
      ];
      const x = f32(xs);
      const y = out(xs.length);
      call(be, 'activation', [x, y], [xs.length, KIND_INDEX('gelu')], [0]);
      expectClose(y, g, 1e-7, 'gelu');
      const dx = out(xs.length);
      call(be, 'activationBackward', [x, y, new Float32Array(xs.length).fill(1), dx], [xs.length, KIND_INDEX('gelu')], [0]);
      expectClose(dx, dg, 1e-7, "gelu'");
      // The tanh approximation differs by ~2e-4 at x = -1.2; the exact value must be closer than that.
      expect(Math.abs(y[2] - g[2])).toBeLessThan(1e-6);
    });

    test('sigmoid saturates without overflow', () => {
      const x = new Float32Array([-1000, -100, 100, 1000, -80]);
      const y = out(5);
      call(be, 'activation', [x, y], [5, KIND_INDEX('sigmoid')], [0]);
      expectFinite(y, 'y');
      expect(y[0]).toBe(0);
      expect(y[2]).toBe(1);
      expect(y[3]).toBe(1);
      expect(Math.abs(y[4] - Math.exp(-80)) / Math.exp(-80)).toBeLessThan(1e-5);
    });
  });

  // -------------------------------------------------------------------------------------
  describe('softmax', () => {
    test('softmax matches the reference and is stable for large logits', () => {
      const rng = mulberry32(51);
      const rows = 6;
      const k = 7;
      const x = rand(rows * k, rng, -4, 4);
      x.set([1000, 999, -1000, 0, 0, 0, 0], 0);
      x.set([1e30, -1e30, 5, 5, 5, 5, 5], k);
      const y = out(rows * k);
      call(be, 'softmax', [x, y], [rows, k]);
      expectFinite(y, 'y');
      expectClose(y, refSoftmax(x, rows, k), 1e-6, 'y');
    });

    test('softmaxBackward matches finite differences', () => {
      const rng = mulberry32(52);
      const rows = 5;
      const k = 6;
      const x = rand(rows * k, rng, -3, 3);
      const dy = rand(rows * k, rng);
      const y = f32(refSoftmax(x, rows, k));
      const dx = out(rows * k);
      call(be, 'softmaxBackward', [y, dy, dx], [rows, k]);
      expectClose(dx, numericGrad((xv) => dot(refSoftmax(xv, rows, k), dy), x, 1e-5), 1e-5, 'dx');
    });

    test('one class: y = 1, dx = 0', () => {
      const y = out(3);
      call(be, 'softmax', [new Float32Array([-5, 0, 7]), y], [3, 1]);
      expect(Array.from(y)).toEqual([1, 1, 1]);
      const dx = out(3);
      call(be, 'softmaxBackward', [y, new Float32Array([2, -1, 4]), dx], [3, 1]);
      expect(Array.from(dx)).toEqual([0, 0, 0]);
    });
  });

  // -------------------------------------------------------------------------------------
  describe('mul and columns', () => {
    test('mul, also aliasing either input', () => {
      const rng = mulberry32(61);
      const a = rand(37, rng);
      const b = rand(37, rng);
      const want = Array.from(a, (v, i) => Math.fround(v * b[i]));
      const y = out(37);
      call(be, 'mul', [a, b, y], [37]);
      expectClose(y, want, 0, 'y');
      const a2 = a.slice();
      call(be, 'mul', [a2, b, a2], [37]);
      expectClose(a2, want, 0, 'y aliasing a');
      const b2 = b.slice();
      call(be, 'mul', [a, b2, b2], [37]);
      expectClose(b2, want, 0, 'y aliasing b');
    });

    test('scatterColumns writes only its columns (concatenate writes each input in turn)', () => {
      const rng = mulberry32(62);
      const rows = 4;
      const widths = [2, 3, 1];
      const yWidth = 7; // the last column is written by no one and must stay garbage
      const xs = widths.map((w) => rand(rows * w, rng));
      const y = out(rows * yWidth);
      let offset = 0;
      const want = new Float64Array(rows * yWidth).fill(GARBAGE);
      xs.forEach((x, i) => {
        const width = widths[i];
        call(be, 'scatterColumns', [x, y], [rows, width, yWidth, offset]);
        for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) want[r * yWidth + offset + j] = x[r * width + j];
        expectClose(y, want, 0, `y after input ${i}`);
        offset += width;
      });
      // width == yWidth: a plain copy.
      const x = rand(rows * 3, rng);
      const y2 = out(rows * 3);
      call(be, 'scatterColumns', [x, y2], [rows, 3, 3, 0]);
      expectClose(y2, x, 0, 'full-width copy');
    });

    test('gatherColumns reads its columns and is the adjoint of scatterColumns', () => {
      const rng = mulberry32(63);
      const rows = 5;
      const yWidth = 6;
      const y = rand(rows * yWidth, rng);
      for (const [width, offset] of [[2, 0], [3, 2], [1, 5], [6, 0]]) {
        const x = out(rows * width);
        call(be, 'gatherColumns', [y, x], [rows, width, yWidth, offset]);
        const want = new Float64Array(rows * width);
        for (let r = 0; r < rows; r++) for (let j = 0; j < width; j++) want[r * width + j] = y[r * yWidth + offset + j];
        expectClose(x, want, 0, `x (width ${width}, offset ${offset})`);
        // <scatter(v), y> == <v, gather(y)>
        const v = rand(rows * width, rng);
        const s = new Float32Array(rows * yWidth);
        call(be, 'scatterColumns', [v, s], [rows, width, yWidth, offset]);
        expect(Math.abs(dot(s, y) - dot(v, x))).toBeLessThan(1e-9);
      }
    });
  });

  // -------------------------------------------------------------------------------------
  describe('losses', () => {
    test('softmaxCrossEntropyDense with one-hot targets: loss and gradient', () => {
      const rng = mulberry32(71);
      const rows = 6;
      const k = 5;
      const z = rand(rows * k, rng, -3, 3);
      const t = new Float32Array(rows * k);
      for (let r = 0; r < rows; r++) t[r * k + Math.floor(rng() * k)] = 1;
      const loss = out(1);
      const dz = out(rows * k);
      call(be, 'softmaxCrossEntropyDense', [z, t, loss, dz], [rows, k]);
      expectClose(loss, [refSoftmaxCEDense(z, t, rows, k)], 1e-6, 'loss');
      // one-hot: dz = (softmax - t) / rows
      const sm = refSoftmax(z, rows, k);
      expectClose(dz, Array.from(sm, (v, i) => (v - t[i]) / rows), 1e-6, 'dz');
      expectClose(dz, numericGrad((zv) => refSoftmaxCEDense(zv, t, rows, k), z, 1e-5), 1e-6, 'dz vs finite differences');
    });

    test('softmaxCrossEntropyDense with soft targets (and rows not summing to 1)', () => {
      const rng = mulberry32(72);
      const rows = 5;
      const k = 4;
      const z = rand(rows * k, rng, -3, 3);
      const t = rand(rows * k, rng, 0, 1);
      // Rows 0..3 normalised (label smoothing style), row 4 left summing to something else.
      for (let r = 0; r < 4; r++) {
        let s = 0;
        for (let j = 0; j < k; j++) s += t[r * k + j];
        for (let j = 0; j < k; j++) t[r * k + j] /= s;
      }
      const loss = out(1);
      const dz = out(rows * k);
      call(be, 'softmaxCrossEntropyDense', [z, t, loss, dz], [rows, k]);
      expectClose(loss, [refSoftmaxCEDense(z, t, rows, k)], 1e-6, 'loss');
      expectClose(dz, numericGrad((zv) => refSoftmaxCEDense(zv, t, rows, k), z, 1e-5), 1e-6, 'dz');
    });

    test('softmaxCrossEntropyDense is stable for large logits', () => {
      const z = new Float32Array([1000, 0, -1000, 500, 1e30, -1e30]);
      const t = new Float32Array([1, 0, 0, 1, 0, 0]);
      const loss = out(1);
      const dz = out(6);
      call(be, 'softmaxCrossEntropyDense', [z, t, loss, dz], [2, 3]);
      const wantLoss = (0 + (1e30 - 500)) / 2;
      expect(Math.abs(loss[0] - wantLoss) / wantLoss).toBeLessThan(1e-6);
      expectClose(dz, [0, 0, 0, -0.5, 0.5, 0], 1e-7, 'dz');
    });

    test('sigmoidCrossEntropy: loss and gradient, hard and soft labels, large |z|', () => {
      const rng = mulberry32(73);
      const n = 40;
      const z = rand(n, rng, -6, 6);
      const t = rand(n, rng, 0, 1);
      for (let i = 0; i < 10; i++) t[i] = i % 2;
      z.set([100, -100, -100, 100], 10);
      t.set([1, 0, 1, 0], 10);
      const loss = out(1);
      const dz = out(n);
      call(be, 'sigmoidCrossEntropy', [z, t, loss, dz], [n]);
      expectFinite(loss, 'loss');
      expectClose(loss, [refSigmoidCE(z, t)], 1e-6, 'loss');
      expectClose(dz, numericGrad((zv) => refSigmoidCE(zv, t), z, 1e-5), 1e-6, 'dz');
      // The saturated elements: exact limits.
      expectClose(dz.subarray(10, 14), [0, 0, -1 / n, 1 / n], 1e-9, 'saturated dz');
    });

    test('meanSquaredError: loss and gradient', () => {
      const rng = mulberry32(74);
      const n = 33;
      const p = rand(n, rng, -2, 2);
      const t = rand(n, rng, -2, 2);
      const loss = out(1);
      const dp = out(n);
      call(be, 'meanSquaredError', [p, t, loss, dp], [n]);
      expectClose(loss, [refMse(p, t)], 1e-6, 'loss');
      expectClose(dp, numericGrad((pv) => refMse(pv, t), p, 1e-4), 1e-6, 'dp');
    });

    for (const beta of [0.5, 1, 2.25]) {
      test(`smoothL1 (beta ${beta}): loss and gradient on both sides of beta`, () => {
        const rng = mulberry32(75 + beta * 8);
        const n = 60;
        const t = rand(n, rng, -2, 2);
        const d = awayFromZero(n, rng, 0.02, 3 * beta);
        // Keep |d| away from the switch at beta.
        for (let i = 0; i < n; i++) if (Math.abs(Math.abs(d[i]) - beta) < 0.02) d[i] *= 1.1;
        const p = f32(Array.from(t, (v, i) => v + d[i]));
        p[0] = t[0]; // d == 0
        const loss = out(1);
        const dp = out(n);
        call(be, 'smoothL1', [p, t, loss, dp], [n], [beta]);
        expectClose(loss, [refSmoothL1(p, t, beta)], 1e-6, 'loss');
        expectClose(dp, numericGrad((pv) => refSmoothL1(pv, t, beta), p, 1e-5), 1e-6, 'dp');
        expect(dp[0]).toBe(0);
      });
    }
  });

  // -------------------------------------------------------------------------------------
  describe('optimizers', () => {
    test('sgdNesterov: two steps by hand', () => {
      const param = new Float32Array([1, -2]);
      const velocity = new Float32Array([0, 0]);
      const hyper = new Float32Array([0.1, 0.9, 0.01]); // lr, momentum, weightDecay
      // Step 1: g = [0.5, 0.25] + 0.01 p = [0.51, 0.23]; v = g; p -= 0.1 (g + 0.9 v) = [0.0969, 0.0437].
      call(be, 'sgdNesterov', [param, new Float32Array([0.5, 0.25]), velocity, hyper], [2]);
      expectClose(velocity, [0.51, 0.23], 1e-6, 'velocity after step 1');
      expectClose(param, [0.9031, -2.0437], 1e-6, 'param after step 1');
      // Step 2: g = [-0.5 + 0.009031, 1 - 0.020437] = [-0.490969, 0.979563];
      // v = 0.9 [0.51, 0.23] + g = [-0.031969, 1.186563]; p -= 0.1 (g + 0.9 v).
      call(be, 'sgdNesterov', [param, new Float32Array([-0.5, 1]), velocity, hyper], [2]);
      expectClose(velocity, [-0.031969, 1.186563], 1e-6, 'velocity after step 2');
      expectClose(param, [0.95507411, -2.24844697], 1e-6, 'param after step 2');
    });

    // lr 0.1, beta1 0.9, beta2 0.99, eps 0.01, weightDecay 0.1; grads [0.5, -0.25] then [-0.3, 0.4].
    const adamCases: [string, number, number[][]][] = [
      // Adam: g = grad + 0.1 p. Step 1: g = [0.6, -0.45], m = 0.1 g, v = 0.01 g^2,
      // p -= 0.1 * g / (|g| + 0.01) -> [1 - 0.06/0.61, -2 + 0.045/0.46].
      ['adam (L2 weight decay)', 0, [
        [0.901639344, -1.90217391], [0.06, -0.045], [0.0036, 0.002025],
        [0.863745962, -1.87367361], [0.0330163934, -0.0195217391], [0.00400431174, 0.00244483743],
      ]],
      // AdamW: p *= 1 - 0.01 first, g = grad. Step 1: p = [0.99, -1.98] - 0.1 * g / (|g| + 0.01).
      ['adamw (decoupled weight decay)', 1, [
        [0.891960784, -1.88384615], [0.05, -0.025], [0.0025, 0.000625],
        [0.864325409, -1.89178959], [0.015, 0.0175], [0.003375, 0.00221875],
      ]],
    ];
    for (const [label, decoupled, want] of adamCases) {
      test(`${label}: two steps by hand`, () => {
        const param = new Float32Array([1, -2]);
        const m = new Float32Array(2);
        const v = new Float32Array(2);
        const grads = [new Float32Array([0.5, -0.25]), new Float32Array([-0.3, 0.4])];
        for (let step = 1; step <= 2; step++) {
          const hyper = new Float32Array([0.1, 0.9, 0.99, 0.01, 0.1, decoupled, 1 - 0.9 ** step, 1 - 0.99 ** step]);
          call(be, 'adam', [param, grads[step - 1], m, v, hyper], [2]);
          const o = (step - 1) * 3;
          expectClose(param, want[o], 1e-6, `param after step ${step}`);
          expectClose(m, want[o + 1], 1e-6, `m after step ${step}`);
          expectClose(v, want[o + 2], 1e-6, `v after step ${step}`);
        }
      });
    }

    test('sumSquares accumulates in double', () => {
      const rng = mulberry32(81);
      const x = rand(5000, rng, -3, 3);
      const o = out(1);
      call(be, 'sumSquares', [x, o], [x.length]);
      expectClose(o, [dot(x, x)], 1e-7, 'out');
      // Many small values after a large one: a float32 running sum would drop them all.
      const y = new Float32Array(100001).fill(1e-3);
      y[0] = 1e3;
      call(be, 'sumSquares', [y, o], [y.length]);
      expect(Math.abs(o[0] - (1e6 + 100000 * 1e-6)) / 1e6).toBeLessThan(1e-7);
    });

    test('clipByGlobalNorm scales when total > maxNorm and leaves grad alone otherwise', () => {
      const g1 = new Float32Array([3, 0, 0]); // squared norm 9
      const g2 = new Float32Array([0, 4]); // squared norm 16 -> total 5
      const norms = new Float32Array(2);
      const o = new Float32Array(1);
      call(be, 'sumSquares', [g1, o], [3]);
      norms[0] = o[0];
      call(be, 'sumSquares', [g2, o], [2]);
      norms[1] = o[0];
      expect(Array.from(norms)).toEqual([9, 16]);
      const a = g1.slice();
      const b = g2.slice();
      call(be, 'clipByGlobalNorm', [norms, a], [2, 3], [2.5]);
      call(be, 'clipByGlobalNorm', [norms, b], [2, 2], [2.5]);
      expectClose(a, [1.5, 0, 0], 1e-7, 'clipped g1');
      expectClose(b, [0, 2], 1e-7, 'clipped g2');
      for (const maxNorm of [5, 7]) {
        const c = new Float32Array([0.3, -1.7, 2.9]);
        const before = Array.from(c);
        call(be, 'clipByGlobalNorm', [norms, c], [2, 3], [maxNorm]);
        expect(Array.from(c)).toEqual(before);
      }
      // Only norms[0..count) count: with count 1, total = 3 > 2 -> scaled by 2/3.
      const d = new Float32Array([3, 6]);
      call(be, 'clipByGlobalNorm', [norms.subarray(0, 1), d], [1, 2], [2]);
      expectClose(d, [2, 4], 1e-7, 'count 1');
    });
  });
});
