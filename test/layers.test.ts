/**
 * Every layer and loss: gradients of whole training plans against central finite
 * differences of the training loss, the conventions the docs promise (TensorFlow 'same'
 * padding, PyTorch batch-norm statistics, Adam's eps after bias correction), and layer
 * configs that cannot work failing when the graph is built, naming the layer and numbers.
 */
import {
  Tensor,
  input,
  model,
  sequential,
  sgd,
  adam,
  ops,
  getBackend,
  conv1d,
  conv2d,
  conv3d,
  conv2dTranspose,
  depthwiseConv2d,
  dense,
  maxPool1d,
  avgPool1d,
  l2Pool1d,
  maxPool2d,
  l2Pool2d,
  maxPool3d,
  avgPool3d,
  l2Pool3d,
  globalAvgPool,
  globalMaxPool,
  flatten,
  reshape,
  batchNorm,
  dropout,
  add,
  concatenate,
  timeDistributed,
  leakyRelu,
  elu,
  gelu,
  sigmoid,
  tanh,
  softmax,
  relu,
} from '../lib';
import type { Model, Targets } from '../lib';
import { Random } from '../lib/random';
import { ArgumentError, ShapeError } from '../lib/errors';

function randomTensor(shape: number[], rng: Random, lo = -1, hi = 1): Tensor {
  const t = new Tensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.uniformRange(lo, hi);
  return t;
}

/** The training-mode loss of one full-batch step with a zero learning rate (weights unchanged). */
async function trainingLoss(net: Model, x: Tensor, y: Targets): Promise<number> {
  let loss = NaN;
  await net.fit(x, y, { batchSize: x.shape[0], epochs: 1, shuffle: false, seed: 9, onBatchEnd: (l) => void (loss = l.loss) });
  return loss;
}

/**
 * Compares the plan's parameter gradients with central differences of the training loss,
 * a few sampled entries per parameter. Dropout masks repeat because every step uses seed 9.
 */
async function checkGradients(net: Model, x: Tensor, y: Targets, loss = 'softmaxCrossEntropy'): Promise<void> {
  net.compile({ optimizer: sgd({ lr: 0, momentum: 0 }), loss });
  await trainingLoss(net, x, y);
  const grads = net.getGradients();
  const weights = net.getWeights();
  const trainable = net.params.map((p, i) => ({ p, i })).filter(({ p }) => p.trainable);
  expect(grads).toHaveLength(trainable.length);
  const rng = new Random(17);
  const eps = 1e-3;
  for (let g = 0; g < trainable.length; g++) {
    const { p, i: w } = trainable[g];
    const scale = Math.max(...Array.from(grads[g].data, Math.abs), 1e-3);
    for (let trial = 0; trial < 3; trial++) {
      const k = rng.int(p.size);
      const probe = weights.map((t) => new Tensor(t.shape, t.data.slice()));
      probe[w].data[k] = weights[w].data[k] + eps;
      net.setWeights(probe);
      const up = await trainingLoss(net, x, y);
      probe[w].data[k] = weights[w].data[k] - eps;
      net.setWeights(probe);
      const down = await trainingLoss(net, x, y);
      const numeric = (up - down) / (2 * eps);
      const error = Math.abs(numeric - grads[g].data[k]);
      if (!(error < 3e-2 * scale + 3e-4)) {
        throw new Error(`${p.name}[${k}]: plan gradient ${grads[g].data[k]}, finite difference ${numeric} (scale ${scale})`);
      }
    }
  }
  net.setWeights(weights);
}

function labelsFor(rows: number, classes: number, seed: number): Uint8Array {
  const rng = new Random(seed);
  return Uint8Array.from({ length: rows }, () => rng.int(classes));
}

describe(`layer gradients through whole plans (${getBackend().name} backend)`, () => {
  const rng = new Random(3);

  test('conv1d (stride, dilation, groups, same padding), 1D pools, leakyRelu, elu, gelu', async () => {
    const net = sequential(
      [
        conv1d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'elu' }),
        conv1d({ filters: 4, kernelSize: 2, dilation: 2, groups: 2, activation: 'gelu' }),
        maxPool1d({ poolSize: 2 }),
        l2Pool1d({ poolSize: 2, strides: 1 }),
        leakyRelu({ alpha: 0.1 }),
        avgPool1d({ poolSize: 2, padding: 'same' }),
        conv1d({ filters: 3, kernelSize: 1, strides: 2, activation: 'leakyRelu' }),
        flatten(),
        dense({ units: 3 }),
      ],
      { inputShape: [13, 2], seed: 1 },
    );
    await checkGradients(net, randomTensor([4, 13, 2], rng), labelsFor(4, 3, 1));
  });

  test('conv2d groups and depthwise, l2Pool2d, batchNorm, dropout, globalAvgPool, sigmoid, tanh', async () => {
    const net = sequential(
      [
        conv2d({ filters: 4, kernelSize: 3, padding: 'same' }),
        batchNorm(),
        tanh(),
        depthwiseConv2d({ channels: 4, kernelSize: 3, padding: 'same', activation: 'sigmoid' }),
        conv2d({ filters: 6, kernelSize: 2, groups: 2, padding: [[1, 0], [0, 1]] }),
        l2Pool2d({ poolSize: 2 }),
        dropout({ rate: 0.3 }),
        globalAvgPool(),
        dense({ units: 3 }),
      ],
      { inputShape: [7, 6, 2], seed: 2 },
    );
    await checkGradients(net, randomTensor([5, 7, 6, 2], rng), labelsFor(5, 3, 2));
  });

  test('conv3d, 3D pools (max, avg, l2) and globalMaxPool', async () => {
    const net = sequential(
      [
        conv3d({ filters: 3, kernelSize: [2, 3, 3], padding: 'same', activation: 'tanh' }),
        maxPool3d({ poolSize: [1, 2, 2] }),
        avgPool3d({ poolSize: [2, 1, 1], strides: 1 }),
        l2Pool3d({ poolSize: 1 }),
        conv3d({ filters: 4, kernelSize: 2, strides: [1, 2, 2], padding: 'same' }),
        globalMaxPool(),
        dense({ units: 3 }),
      ],
      { inputShape: [4, 6, 6, 2], seed: 3 },
    );
    await checkGradients(net, randomTensor([3, 4, 6, 6, 2], rng), labelsFor(3, 3, 3));
  });

  test('residual add, concatenate, conv2dTranspose, reshape, a softmax layer', async () => {
    const x = input({ shape: [4, 4, 2] });
    const a = conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(x);
    const b = conv2d({ filters: 3, kernelSize: 1 }).apply(x);
    const sum = add().apply(a, b, a); // fan-out of a and a three-way add
    const up = conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, padding: 'same', outputPadding: 1 }).apply(sum); // (4-1)*2 + 3 - 2 + 1 = 8
    const down = maxPool2d({ poolSize: 2 }).apply(up); // 4x4x2
    const joined = concatenate().apply(sum, down, x); // 4x4x7
    const flat = reshape({ targetShape: [16, 7] }).apply(joined);
    const rows = dense({ units: 2, activation: 'tanh' }).apply(flat);
    const probs = softmax().apply(flatten().apply(rows));
    const out = dense({ units: 3 }).apply(probs);
    const net = model({ inputs: x, outputs: out, seed: 4 });
    expect(up.shape).toEqual([8, 8, 2]);
    await checkGradients(net, randomTensor([3, 4, 4, 2], rng), labelsFor(3, 3, 4));
  });

  test('batchNorm and add with a fused relu: the same loss and gradients as relu layers after them', async () => {
    const block = (fused: boolean): Model => {
      const x = input({ shape: [5, 5, 3] });
      const bn1 = batchNorm(fused ? { activation: 'relu' } : {}).apply(conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(x));
      const h = fused ? bn1 : relu().apply(bn1);
      const bn2 = batchNorm().apply(conv2d({ filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(h));
      const shortcut = conv2d({ filters: 4, kernelSize: 1 }).apply(x);
      const sum = fused ? add({ activation: 'relu' }).apply(bn2, shortcut) : relu().apply(add().apply(bn2, shortcut));
      const out = dense({ units: 3 }).apply(globalAvgPool().apply(sum));
      return model({ inputs: x, outputs: out, seed: 11 });
    };
    const x = randomTensor([6, 5, 5, 3], rng);
    const y = labelsFor(6, 3, 11);
    const [fused, unfused] = [block(true), block(false)];
    const losses: number[] = [];
    for (const net of [fused, unfused]) {
      net.compile({ optimizer: sgd({ lr: 0, momentum: 0 }) });
      losses.push(await trainingLoss(net, x, y));
    }
    expect(Math.abs(losses[0] - losses[1])).toBeLessThan(1e-6);
    const [gf, gu] = [fused.getGradients(), unfused.getGradients()];
    expect(gf.length).toBe(gu.length);
    gf.forEach((g, i) => g.data.forEach((v, j) => expect(Math.abs(v - gu[i].data[j])).toBeLessThan(1e-5)));
    // Inference mode: running statistics, then relu.
    const [pf, pu] = [await fused.predict(x), await unfused.predict(x)];
    pf.data.forEach((v, i) => expect(Math.abs(v - pu.data[i])).toBeLessThan(1e-5));
    await checkGradients(fused, x, y);
  });

  test('timeDistributed(conv2d) before conv3d', async () => {
    const net = sequential(
      [
        timeDistributed(conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu' })),
        timeDistributed(maxPool2d({ poolSize: 2 })),
        conv3d({ filters: 4, kernelSize: [3, 2, 2], activation: 'relu' }),
        flatten(),
        dense({ units: 3 }),
      ],
      { inputShape: [4, 6, 6, 1], seed: 5 },
    );
    await checkGradients(net, randomTensor([3, 4, 6, 6, 1], rng), labelsFor(3, 3, 5));
  });

  test.each(['categoricalCrossEntropy', 'binaryCrossEntropy', 'meanSquaredError', 'smoothL1'])('the %s loss', async (loss) => {
    const net = sequential([conv2d({ filters: 2, kernelSize: 3, activation: 'relu' }), flatten(), dense({ units: 4 })], { inputShape: [4, 4, 1], seed: 6 });
    const x = randomTensor([5, 4, 4, 1], rng);
    let y: Tensor;
    if (loss === 'categoricalCrossEntropy') {
      y = new Tensor([5, 4]);
      labelsFor(5, 4, 7).forEach((c, r) => (y.data[r * 4 + c] = 1));
    } else if (loss === 'binaryCrossEntropy') {
      y = new Tensor([5, 4], Float32Array.from(labelsFor(20, 2, 8)));
    } else {
      y = randomTensor([5, 4], rng, -2, 2);
    }
    await checkGradients(net, x, y, loss);
  });
});

describe('eager ops write into `out` when given one', () => {
  const rng = new Random(5);
  /** A tensor of garbage (7s): the op must overwrite all of it. */
  const filled = (shape: readonly number[]): Tensor => new Tensor(shape, new Float32Array(shape.reduce((p, d) => p * d, 1)).fill(7));
  const x = randomTensor([2, 6, 5, 3], rng, -1, 1);
  const w = randomTensor([3, 3, 3, 4], rng, -1, 1);

  test('conv, its two gradients and matmul give the same values into a reused out', () => {
    const fresh = ops.conv2d(x, w, { padding: 'same' });
    const out = filled(fresh.shape);
    const written = ops.conv2d(x, w, { padding: 'same', out });
    expect(written.data).toBe(out.data);
    expect(Array.from(out.data)).toEqual(Array.from(fresh.data));
    const dy = randomTensor(fresh.shape as number[], rng, -1, 1);
    const dx = ops.convBackwardInput(dy, w, [2, 6, 5, 3], { padding: 'same' });
    const dxOut = filled(dx.shape);
    expect(Array.from(ops.convBackwardInput(dy, w, [2, 6, 5, 3], { padding: 'same', out: dxOut }).data)).toEqual(Array.from(dx.data));
    const dw = ops.convBackwardFilter(x, dy, [3, 3, 3, 4], { padding: 'same' });
    const dwOut = filled(dw.shape);
    expect(Array.from(ops.convBackwardFilter(x, dy, [3, 3, 3, 4], { padding: 'same', out: dwOut }).data)).toEqual(Array.from(dw.data));
    const a = randomTensor([4, 6], rng, -1, 1);
    const b = randomTensor([6, 3], rng, -1, 1);
    const c = filled([4, 3]);
    expect(Array.from(ops.matmul(a, b, { out: c }).data)).toEqual(Array.from(ops.matmul(a, b).data));
  });

  test('an out of the wrong shape or sharing memory with an input is refused, naming out', () => {
    expect(() => ops.conv2d(x, w, { padding: 'same', out: new Tensor([2, 6, 5, 5]) })).toThrow(ShapeError);
    expect(() => ops.conv2d(x, w, { padding: 'same', out: new Tensor([2, 6, 5, 5]) })).toThrow(/conv: out must have shape \[2, 6, 5, 4\]/);
    const shared = new Float32Array(x.data.length + 2 * 6 * 5 * 4);
    shared.set(x.data);
    const xView = new Tensor(x.shape, shared.subarray(0, x.data.length));
    const overlapping = new Tensor([2, 6, 5, 4], shared.subarray(x.data.length - 1, x.data.length - 1 + 240));
    expect(() => ops.conv2d(xView, w, { padding: 'same', out: overlapping })).toThrow(ArgumentError);
    expect(() => ops.conv2d(xView, w, { padding: 'same', out: overlapping })).toThrow(/out must not share memory with an input/);
    // Adjacent but not overlapping is fine.
    const adjacent = new Tensor([2, 6, 5, 4], shared.subarray(x.data.length, x.data.length + 240));
    expect(Array.from(ops.conv2d(xView, w, { padding: 'same', out: adjacent }).data)).toEqual(Array.from(ops.conv2d(x, w, { padding: 'same' }).data));
    expect(() => ops.matmul(new Tensor([2, 3]), new Tensor([3, 4]), { out: { shape: [2, 4], data: new Float64Array(8) } as never })).toThrow(/matmul: out must be a tensor/);
  });
});

describe('conventions', () => {
  test("'same' padding puts the odd extra pixel at the end (TensorFlow)", () => {
    // 4x4 input, 2x2 kernel, stride 1: one row and one column of padding, all at the bottom/right.
    const x = new Tensor([1, 4, 4, 1], Float32Array.from({ length: 16 }, (_, i) => i + 1));
    const w = new Tensor([2, 2, 1, 1], Float32Array.from([1, 10, 100, 1000]));
    const y = ops.conv2d(x, w, { padding: 'same' });
    expect(y.shape).toEqual([1, 4, 4, 1]);
    expect(y.data[0]).toBe(1 * 1 + 2 * 10 + 5 * 100 + 6 * 1000); // top-left window starts at x[0,0]
    expect(y.data[15]).toBe(16 * 1); // bottom-right window hangs over the padding
    // Stride 2 on 5 wide: out = ceil(5/2) = 3, total padding 1, at the end.
    const x5 = new Tensor([1, 1, 5, 1], Float32Array.from([1, 2, 3, 4, 5]));
    const y5 = ops.conv2d(x5, new Tensor([1, 2, 1, 1], Float32Array.from([1, 1])), { padding: 'same', strides: 2 });
    expect(Array.from(y5.data)).toEqual([3, 7, 5]);
  });

  test('batch norm normalises with the biased variance and tracks the unbiased one (momentum 0.1)', async () => {
    const net = sequential([batchNorm()], { inputShape: [2], seed: 1 });
    net.compile({ optimizer: sgd({ lr: 0 }), loss: 'meanSquaredError' });
    const x = new Tensor([4, 2], Float32Array.from([1, 10, 2, 20, 3, 30, 6, 40]));
    const zeros = new Tensor([4, 2]);
    const loss = await trainingLoss(net, x, zeros);
    // The mean of the squared normalised values is var/(var + eps) with the biased variance: about 1, not 3/4.
    expect(loss).toBeCloseTo(1, 3);
    const [, , runningMean, runningVar] = net.getWeights();
    const mean = [3, 25];
    const unbiased = [(4 + 1 + 0 + 9) / 3, (225 + 25 + 25 + 225) / 3];
    expect(Array.from(runningMean.data)).toEqual(mean.map((m) => Math.fround(0.1 * m)));
    runningVar.data.forEach((v, c) => expect(v).toBeCloseTo(0.9 + 0.1 * unbiased[c], 4));
    // Inference uses the running statistics.
    const out = await net.predict(x);
    expect(out.data[0]).toBeCloseTo((1 - runningMean.data[0]) / Math.sqrt(runningVar.data[0] + 1e-5), 4);
  });

  test("Adam adds eps after the bias correction (PyTorch)", async () => {
    // One weight w = 0, x = 1, target 0.05: MSE gradient -0.1. With eps = 1 the first step is
    // lr * 0.1 / (0.1 + 1) = 0.0909...; eps before the correction would give about 0.0031.
    const net = sequential([dense({ units: 1, useBias: false, kernelInitializer: { constant: 0 } })], { inputShape: [1], seed: 1 });
    net.compile({ optimizer: adam({ lr: 1, eps: 1 }), loss: 'meanSquaredError' });
    await net.fit(new Tensor([1, 1], Float32Array.from([1])), new Tensor([1, 1], Float32Array.from([0.05])), { batchSize: 1, epochs: 1 });
    expect(net.getWeights()[0].data[0]).toBeCloseTo(0.1 / 1.1, 5);
  });
});

describe('layer configs that cannot work fail when the graph is built', () => {
  test('a kernel larger than the padded input', () => {
    expect(() => sequential([conv2d({ filters: 2, kernelSize: 5 })], { inputShape: [3, 3, 1] })).toThrow(ShapeError);
    expect(() => sequential([conv2d({ filters: 2, kernelSize: 5, name: 'big' })], { inputShape: [3, 3, 1] })).toThrow(
      /big: the window along height spans 5 .* but the padded input has only 3/,
    );
    expect(() => sequential([maxPool1d({ poolSize: 4, name: 'p' })], { inputShape: [3, 1] })).toThrow(/p: the window along width spans 4/);
  });

  test('zero strides', () => {
    expect(() => conv2d({ filters: 2, kernelSize: 3, strides: 0, name: 'c' })).toThrow(ArgumentError);
    expect(() => conv2d({ filters: 2, kernelSize: 3, strides: [1, 0], name: 'c' })).toThrow(/c: strides\[1\] must be an integer >= 1, got 0/);
  });

  test('channel counts not divisible by groups', () => {
    expect(() => conv2d({ filters: 6, kernelSize: 3, groups: 4, name: 'g' })).toThrow(/g: filters \(6\) must be divisible by groups \(4\)/);
    expect(() => sequential([conv2d({ filters: 4, kernelSize: 1, groups: 2, name: 'g2' })], { inputShape: [4, 4, 3] })).toThrow(
      /g2: input channels \(3\) must be divisible by groups \(2\)/,
    );
  });

  test('mismatched shapes at add and concatenate', () => {
    const x = input({ shape: [4, 4, 2] });
    const a = conv2d({ filters: 3, kernelSize: 1 }).apply(x);
    expect(() => add({ name: 'sum' }).apply(a, x)).toThrow(/sum: input 1 has shape \[4, 4, 2\] but input 0 has \[4, 4, 3\]/);
    const b = maxPool2d().apply(x);
    expect(() => concatenate({ name: 'cat' }).apply(a, b)).toThrow(/cat: input 1 has shape \[2, 2, 2\]/);
  });

  test('bad options name the layer', () => {
    expect(() => dropout({ rate: 1 })).toThrow(/dropout_\d+: rate must be a number in \[0, 1\)/);
    expect(() => batchNorm({ momentum: 2, name: 'bn' })).toThrow(/bn: momentum/);
    expect(() => batchNorm({ activation: 'tanh' as 'relu', name: 'bn' })).toThrow(/bn: activation must be 'linear' or 'relu', got "tanh"/);
    expect(() => add({ activation: 'sigmoid' as 'relu', name: 'sum' })).toThrow(/sum: activation must be 'linear' or 'relu'/);
    expect(() => reshape({ targetShape: [-1, -1] })).toThrow(ArgumentError);
    expect(() => sequential([reshape({ targetShape: [5], name: 'r' })], { inputShape: [2, 2] })).toThrow(/r: cannot reshape \[2, 2\]/);
    expect(() => conv2dTranspose({ filters: 1, kernelSize: 3, strides: 2, outputPadding: 2, name: 't' })).toThrow(/t: outputPadding \(2\) must be smaller than the stride \(2\)/);
    expect(() => sequential([relu(), conv2d({ filters: 1, kernelSize: 1, kernelInitializer: 'random' as never, name: 'k' })], { inputShape: [2, 2, 1] })).toThrow(
      /k: kernelInitializer must be one of/,
    );
  });
});

describe('training knobs', () => {
  test('gradient clipping by global norm bounds the update; schedules change the learning rate', async () => {
    const rng = new Random(1);
    const x = randomTensor([8, 3], rng, -5, 5);
    const y = randomTensor([8, 2], rng, -50, 50);
    const make = () => sequential([dense({ units: 2, kernelInitializer: { constant: 0 } })], { inputShape: [3], seed: 1 });
    const clipped = make();
    clipped.compile({ optimizer: sgd({ lr: 1 }), loss: 'meanSquaredError', clipNorm: 0.5 });
    await clipped.fit(x, y, { batchSize: 8, epochs: 1, shuffle: false });
    const change = Math.hypot(...clipped.getWeights().flatMap((w) => Array.from(w.data)));
    expect(change).toBeCloseTo(0.5, 4); // one step of lr 1 on a gradient clipped to norm 0.5
  });
});
