/**
 * Native and TypeScript backends agree: every kernel on random shapes (odd sizes, batch 1,
 * a kernel as large as the input, a stride larger than the kernel), and a LeNet-5 training
 * run whose loss curves match step by step.
 */
import * as path from 'path';
import { KERNELS, KernelName, kernelOutputs } from '../lib/backend/kernels';
import { createBackend } from '../lib/backend';
import { loadIdxDataset, subset } from '../lib/data';
import { lenet5 } from '../lib/model';
import { sgd } from '../lib/optim';
import { Random } from '../lib/random';

const js = createBackend('js');
const native = createBackend('native');

type Case = Record<string, number>;

function conv(n: number, h: number, w: number, c: number, oc: number, kh: number, kw: number, s: number, d: number, pad: number, groups: number): Case {
  const oh = Math.floor((h + 2 * pad - d * (kh - 1) - 1) / s) + 1;
  const ow = Math.floor((w + 2 * pad - d * (kw - 1) - 1) / s) + 1;
  return { n, h, w, c, oc, kh, kw, strideH: s, strideW: s, dilationH: d, dilationW: d, padTop: pad, padLeft: pad, oh, ow, groups };
}

function pool(n: number, h: number, w: number, c: number, p: number, s: number, pad: number): Case {
  const oh = Math.floor((h + 2 * pad - p) / s) + 1;
  const ow = Math.floor((w + 2 * pad - p) / s) + 1;
  return { n, h, w, c, ph: p, pw: p, strideH: s, strideW: s, padTop: pad, padLeft: pad, oh, ow };
}

const CONV_CASES = [
  conv(1, 5, 7, 3, 4, 3, 3, 1, 1, 1, 1), // odd sizes, batch 1, 'same'-like padding
  conv(2, 6, 6, 2, 3, 6, 6, 1, 1, 0, 1), // kernel equal to the input
  conv(2, 9, 8, 3, 5, 2, 2, 3, 1, 0, 1), // stride larger than the kernel
  conv(3, 11, 10, 4, 6, 3, 3, 2, 2, 2, 2), // dilation and groups
  conv(2, 7, 7, 5, 5, 3, 3, 1, 1, 1, 5), // depthwise
  conv(4, 28, 28, 1, 6, 5, 5, 1, 1, 2, 1), // LeNet's first layer
  conv(2, 8, 9, 16, 20, 3, 3, 1, 1, 1, 1), // the native implicit-GEMM path, all three kernels
  conv(3, 10, 10, 6, 16, 5, 5, 1, 1, 0, 1), // LeNet's second layer (implicit forward and filter gradient)
  // Rows of at least 14 output pixels and whole 32-channel panels: the implicit path's
  // tiles that the micro-kernel writes in place (without relu, then with relu after bias).
  conv(2, 4, 17, 8, 32, 3, 3, 1, 1, 1, 1),
  conv(2, 3, 20, 32, 64, 3, 3, 1, 1, 1, 1), // the input gradient's tiles in place too
];
const POOL_CASES = [pool(1, 5, 7, 3, 2, 2, 0), pool(2, 6, 6, 4, 3, 1, 1), pool(2, 9, 8, 2, 2, 3, 0), pool(3, 4, 4, 5, 4, 4, 0)];
const MATMUL_CASES: Case[] = [];
for (const [m, n, k] of [
  [1, 1, 1],
  [7, 13, 5],
  [64, 33, 129],
]) {
  for (const transA of [0, 1]) for (const transB of [0, 1]) MATMUL_CASES.push({ m, n, k, transA, transB });
}

function conv3(n: number, d: number, h: number, w: number, c: number, oc: number, k: [number, number, number], s: number, dil: number, pad: number, groups: number): Case {
  const out = (size: number, kk: number) => Math.floor((size + 2 * pad - dil * (kk - 1) - 1) / s) + 1;
  return {
    n, d, h, w, c, oc, kd: k[0], kh: k[1], kw: k[2], strideD: s, strideH: s, strideW: s, dilationD: dil, dilationH: dil, dilationW: dil,
    padFront: pad, padTop: pad, padLeft: pad, od: out(d, k[0]), oh: out(h, k[1]), ow: out(w, k[2]), groups,
  };
}

function pool3(n: number, d: number, h: number, w: number, c: number, p: [number, number, number], s: number, pad: number): Case {
  const out = (size: number, pp: number) => Math.floor((size + 2 * pad - pp) / s) + 1;
  return { n, d, h, w, c, pd: p[0], ph: p[1], pw: p[2], strideD: s, strideH: s, strideW: s, padFront: pad, padTop: pad, padLeft: pad, od: out(d, p[0]), oh: out(h, p[1]), ow: out(w, p[2]) };
}

const CONV3D_CASES = [
  conv3(1, 3, 5, 4, 2, 3, [2, 3, 3], 1, 1, 1, 1), // odd sizes, batch 1
  conv3(2, 4, 4, 4, 2, 2, [4, 4, 4], 1, 1, 0, 1), // kernel equal to the input
  conv3(2, 5, 6, 5, 4, 6, [2, 2, 2], 3, 1, 0, 2), // stride larger than the kernel, groups
  conv3(1, 5, 5, 5, 3, 3, [3, 3, 3], 1, 2, 2, 3), // dilation, depthwise
];
const POOL3D_CASES = [pool3(1, 3, 5, 4, 2, [2, 2, 2], 2, 0), pool3(2, 4, 4, 4, 3, [3, 3, 3], 1, 1), pool3(2, 5, 6, 7, 2, [1, 2, 2], 3, 0)];
const ROWS_CHANNELS = [
  { rows: 1, channels: 3 },
  { rows: 37, channels: 5 },
];
const ACTIVATION_CASES = [0, 1, 2, 3, 4, 5].map((kind) => ({ size: 257, kind }));
const COLUMN_CASES = [
  { rows: 1, width: 1, yWidth: 1, offset: 0 },
  { rows: 9, width: 3, yWidth: 8, offset: 4 },
];

const CASES: Record<KernelName, Case[]> = {
  conv3d: CONV3D_CASES,
  conv3dBackwardInput: CONV3D_CASES,
  conv3dBackwardFilter: CONV3D_CASES,
  maxPool3d: POOL3D_CASES,
  maxPool3dBackward: POOL3D_CASES,
  avgPool3d: POOL3D_CASES,
  avgPool3dBackward: POOL3D_CASES,
  l2Pool3d: POOL3D_CASES,
  l2Pool3dBackward: POOL3D_CASES,
  batchNormTrain: ROWS_CHANNELS,
  batchNormBackward: ROWS_CHANNELS,
  batchNormInference: ROWS_CHANNELS,
  activation: ACTIVATION_CASES,
  activationBackward: ACTIVATION_CASES,
  softmax: [{ rows: 1, classes: 2 }, { rows: 17, classes: 10 }],
  softmaxBackward: [{ rows: 1, classes: 2 }, { rows: 17, classes: 10 }],
  mul: [{ size: 1 }, { size: 333 }],
  scatterColumns: COLUMN_CASES,
  gatherColumns: COLUMN_CASES,
  softmaxCrossEntropyDense: [{ rows: 1, classes: 2 }, { rows: 13, classes: 7 }],
  sigmoidCrossEntropy: [{ size: 1 }, { size: 99 }],
  meanSquaredError: [{ size: 1 }, { size: 99 }],
  smoothL1: [{ size: 1 }, { size: 99 }],
  sgdNesterov: [{ size: 1 }, { size: 777 }],
  adam: [{ size: 1 }, { size: 777 }],
  sumSquares: [{ size: 1 }, { size: 1001 }],
  clipByGlobalNorm: [{ count: 1, size: 5 }, { count: 4, size: 300 }],
  matmul: MATMUL_CASES,
  conv2d: CONV_CASES,
  conv2dBackwardInput: CONV_CASES,
  conv2dBackwardFilter: CONV_CASES,
  maxPool2d: POOL_CASES,
  maxPool2dBackward: POOL_CASES,
  avgPool2d: POOL_CASES,
  avgPool2dBackward: POOL_CASES,
  biasAdd: [{ rows: 1, channels: 1 }, { rows: 37, channels: 11 }],
  biasAddGrad: [{ rows: 1, channels: 3 }, { rows: 513, channels: 7 }],
  relu: [{ size: 1 }, { size: 1001 }],
  reluBackward: [{ size: 1 }, { size: 1001 }],
  add: [{ size: 1 }, { size: 999 }],
  softmaxCrossEntropy: [{ rows: 1, classes: 2 }, { rows: 33, classes: 10 }],
  sgdMomentum: [{ size: 1 }, { size: 777 }],
  conv2dBiasActivation: CONV_CASES.map((c, i) => ({ ...c, relu: i % 2 })),
  matmulBiasActivation: [
    { m: 3, n: 5, k: 4, transA: 0, transB: 0, relu: 1 },
    { m: 64, n: 33, k: 129, transA: 1, transB: 1, relu: 0 },
  ],
  reluBackwardBiasGrad: [{ rows: 1, channels: 3 }, { rows: 513, channels: 7 }],
  addRelu: [{ size: 1 }, { size: 999 }],
  // Past one row chunk per thread, and past the native kernels' 256-channel block.
  batchNormReluTrain: [...ROWS_CHANNELS, { rows: 4099, channels: 16 }, { rows: 70, channels: 300 }],
  batchNormReluBackward: [...ROWS_CHANNELS, { rows: 4099, channels: 16 }, { rows: 70, channels: 300 }],
};

/** Inputs for one kernel call: random values, with integer labels and valid hyperparameters. */
function inputsFor(name: KernelName, lengths: number[], p: Case, rng: Random): Float32Array[] {
  const spec = KERNELS.find((k) => k.name === name)!;
  return spec.buffers.map((buffer, i) => {
    const data = new Float32Array(lengths[i]);
    if (buffer === 'labels') for (let j = 0; j < data.length; j++) data[j] = rng.int(p.classes);
    else if (buffer === 'y' && name === 'batchNormReluBackward') {
      // A relu output: about half exact zeros, where the gradient must stop.
      for (let j = 0; j < data.length; j++) data[j] = Math.max(0, rng.uniformRange(-1, 1));
    }
    else if (buffer === 'hyper' && name === 'adam') data.set([0.01, 0.9, 0.999, 1e-8, 0.01, 1, 1 - 0.9 ** 3, 1 - 0.999 ** 3]);
    else if (buffer === 'hyper') data.set([0.05, 0.9, 1e-3]);
    else if (['v', 'runningVar', 'invStd', 'norms', 'y'].includes(buffer) && !name.startsWith('gather')) {
      // Quantities that are positive by nature (variances, norms, l2-pool outputs).
      for (let j = 0; j < data.length; j++) data[j] = rng.uniformRange(0.5, 1.5);
    } else if (buffer === 'target' && (name === 'sigmoidCrossEntropy' || name === 'softmaxCrossEntropyDense')) {
      for (let j = 0; j < data.length; j++) data[j] = rng.uniform();
    } else for (let j = 0; j < data.length; j++) data[j] = rng.uniformRange(-1, 1);
    if (name === 'l2Pool3dBackward' && buffer === 'y') return data; // replaced by the forward result below
    return data;
  });
}

/** max |a - b| over max |b|: relative agreement that near-zero elements cannot dominate. */
function relativeDifference(a: Float32Array, b: Float32Array): number {
  let diff = 0;
  let scale = 1e-30;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}

describe('native and TypeScript kernels agree within 1e-5 relative', () => {
  const rng = new Random(2024);
  for (const spec of KERNELS) {
    const name = spec.name as KernelName;
    test.each(CASES[name].map((c, i) => [i, c] as const))(`${name} case %i`, (_i, params) => {
      const ints = spec.ints.map((k) => params[k]);
      const lengths = spec.lengths(params);
      const inputs = inputsFor(name, lengths, params, rng);
      const floats = spec.floats.map((f) => ({ alpha: 0.2, eps: 1e-5, momentum: 0.1, beta: 0.5, maxNorm: 1.5 })[f] ?? 1);
      // l2Pool3dBackward needs y = l2Pool3d(x) to be meaningful.
      if (name === 'l2Pool3dBackward') js.runKernel('l2Pool3d', [inputs[0], inputs[1]], ints);
      const onJs = inputs.map((b) => b.slice());
      const onNative = inputs.map((b) => b.slice());
      js.runKernel(name, onJs, ints, floats);
      native.runKernel(name, onNative, ints, floats);
      // Every buffer a kernel writes (including sgd's param and velocity) must agree.
      spec.buffers.forEach((buffer, i) => {
        if (!kernelOutputs(spec).includes(buffer)) return;
        const diff = relativeDifference(onJs[i], onNative[i]);
        expect([buffer, diff <= 1e-5 ? 'agrees' : diff]).toEqual([buffer, 'agrees']);
      });
    });
  }
});

describe('LeNet-5 on Fashion-MNIST', () => {
  test('the TypeScript backend follows the native loss curve within 1e-3 relative', async () => {
    const dir = path.join(__dirname, '..', '..', 'shared', 'data', 'fashion-mnist');
    const all = loadIdxDataset(dir, 't10k');
    const data = subset(all, Array.from({ length: 640 }, (_, i) => i));
    const curves: number[][] = [];
    for (const backend of ['native', 'js'] as const) {
      const net = lenet5([28, 28, 1], 10, 17);
      net.compile({ optimizer: sgd({ lr: 0.01, momentum: 0.9 }), backend });
      const losses: number[] = [];
      await net.fit(data.images, data.labels, { batchSize: 64, epochs: 2, seed: 5, onBatchEnd: (l) => void losses.push(l.loss) });
      curves.push(losses);
    }
    const [onNative, onJs] = curves;
    expect(onNative).toHaveLength(20);
    expect(onNative[19]).toBeLessThan(onNative[0]); // it learns
    onNative.forEach((loss, step) => {
      expect({ step, rel: Math.abs(onJs[step] - loss) / loss <= 1e-3 }).toEqual({ step, rel: true });
    });
  });
});
