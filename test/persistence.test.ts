/**
 * Saved models and checkpoints: round trips (on this run's backend and across backends),
 * hostile and corrupt files, atomic writes, JSON embedding, and kill-and-resume training
 * that ends bit-identical to an uninterrupted run.
 */
import { spawn } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import {
  Model,
  Tensor,
  activation,
  adam,
  add,
  avgPool1d,
  avgPool2d,
  avgPool3d,
  batchNorm,
  concatenate,
  conv1d,
  conv2d,
  conv2dTranspose,
  conv3d,
  cosineDecay,
  dense,
  depthwiseConv2d,
  dropout,
  flatten,
  getBackend,
  globalAvgPool,
  globalMaxPool,
  input,
  l2Pool1d,
  l2Pool2d,
  l2Pool3d,
  leakyRelu,
  loadModel,
  maxPool1d,
  maxPool2d,
  maxPool3d,
  model,
  modelFromBuffer,
  modelFromJSON,
  modelToBuffer,
  reshape,
  sequential,
  sgd,
  softmax,
  stepDecay,
  timeDistributed,
} from '../lib';
import * as layerFactories from '../lib/layers';
import { layerKinds, CHECKPOINT_FILE } from '../lib/model';
import { FormatError } from '../lib/errors';
import { Random } from '../lib/random';
import { fixtureCompile, fixtureData, fixtureModel } from './fixtures/persistence-train';

const backendName = getBackend().name;
const REPO = path.resolve(__dirname, '..');
let tmp: string;

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-persist-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

const file = (name: string): string => path.join(tmp, name);

function randomTensor(shape: number[], seed: number): Tensor {
  const rng = new Random(seed);
  const t = new Tensor(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.uniformRange(-1, 1);
  return t;
}

function labels(rows: number, classes: number, seed: number): Uint8Array {
  const rng = new Random(seed);
  return Uint8Array.from({ length: rows }, () => rng.int(classes));
}

function bytesOf(t: { data: Float32Array }): Buffer {
  return Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

function weightBytes(m: Model): Buffer {
  return Buffer.concat(m.getWeights().map(bytesOf));
}

/** A residual block whose relus ride in batchNorm and add (their activation option). */
function residualWithFusedRelu(seed: number): Model {
  const x = input({ shape: [4, 4, 2] });
  const h = batchNorm({ activation: 'relu' }).apply(conv2d({ filters: 2, kernelSize: 3, padding: 'same' }).apply(x));
  return model({ inputs: x, outputs: add({ activation: 'relu' }).apply(h, x), seed });
}

/** conv, batchNorm, dropout, dense, an add and a concatenate branch, timeDistributed. */
function branchyModel(seed: number): Model {
  const x = input({ shape: [3, 5, 5, 2] });
  const frames = timeDistributed(conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' })).apply(x);
  const normed = batchNorm().apply(frames);
  const side = conv3d({ filters: 4, kernelSize: [1, 3, 3], padding: 'same' }).apply(normed);
  const sum = add().apply(normed, side);
  const thin = timeDistributed(conv2d({ filters: 2, kernelSize: 1 })).apply(frames);
  const joined = concatenate().apply(sum, thin);
  const pooled = timeDistributed(maxPool2d({ poolSize: 2 })).apply(joined);
  const flat = flatten().apply(leakyRelu({ alpha: 0.05 }).apply(pooled));
  const hidden = dense({ units: 8, activation: 'tanh' }).apply(dropout({ rate: 0.25 }).apply(flat));
  const out = dense({ units: 3 }).apply(hidden);
  return model({ inputs: x, outputs: out, seed, name: 'branchy' });
}

async function trainedBranchy(backend?: 'js' | 'native'): Promise<{ net: Model; x: Tensor; y: Uint8Array }> {
  const net = branchyModel(1);
  net.compile({ optimizer: adam({ lr: cosineDecay({ initial: 0.01, decaySteps: 20 }) }), clipNorm: 2, metrics: ['accuracy'], backend });
  const x = randomTensor([12, 3, 5, 5, 2], 2);
  const y = labels(12, 3, 3);
  await net.fit(x, y, { epochs: 2, batchSize: 4, seed: 4 });
  return { net, x, y };
}

function expectFormatError(fn: () => unknown, pattern: RegExp, source = 'bad.ckm'): FormatError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(FormatError);
  const err = caught as FormatError;
  expect(err.code).toBe('E_FORMAT');
  expect(err.message.startsWith(`${source}: `)).toBe(true);
  expect(err.message).toMatch(pattern);
  return err;
}

/** The parts of a saved file, and a way to put (edited) parts back together with a valid checksum. */
function split(buf: Buffer): { headerText: string; header: any; data: Buffer } {
  const length = buf.readUInt32LE(12);
  const pad = (4 - (length % 4)) % 4;
  const headerText = buf.subarray(16, 16 + length).toString('utf8');
  return { headerText, header: JSON.parse(headerText), data: buf.subarray(16 + length + pad, buf.length - 32) };
}

function assemble(headerText: string, data: Buffer, version = 1): Buffer {
  const json = Buffer.from(headerText, 'utf8');
  const pad = (4 - (json.length % 4)) % 4;
  const prefix = Buffer.alloc(16);
  prefix.write('CONVKIT\0', 0, 'latin1');
  prefix.writeUInt32LE(version, 8);
  prefix.writeUInt32LE(json.length, 12);
  const body = Buffer.concat([prefix, json, Buffer.alloc(pad), data]);
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

function edited(buf: Buffer, edit: (header: any) => void): Buffer {
  const { header, data } = split(buf);
  edit(header);
  return assemble(JSON.stringify(header), data);
}

describe(`saved models (${backendName} backend)`, () => {
  test('save -> load predicts bit-identically and keeps the training config and optimizer state', async () => {
    const { net, x, y } = await trainedBranchy();
    const target = file('branchy.ckm');
    await net.save(target, { includeOptimizer: true });
    const loaded = await loadModel(target);
    expect(loaded.name).toBe('branchy');
    expect(loaded.toJSON()).toEqual(net.toJSON());
    expect(weightBytes(loaded).equals(weightBytes(net))).toBe(true);
    expect(bytesOf(await loaded.predict(x)).equals(bytesOf(await net.predict(x)))).toBe(true);
    expect(loaded.optimizer?.kind).toBe('adam');
    expect(loaded.optimizer?.iterations).toBe(net.optimizer?.iterations);
    // Same optimizer state: one more epoch on each gives the same weights.
    await net.fit(x, y, { epochs: 1, batchSize: 4, seed: 8 });
    await loaded.fit(x, y, { epochs: 1, batchSize: 4, seed: 8 });
    expect(weightBytes(loaded).equals(weightBytes(net))).toBe(true);
    expect(loaded.optimizer?.iterations).toBe(net.optimizer?.iterations);
  });

  test('without the optimizer state: compiled again with a fresh optimizer; uncompiled models stay uncompiled', async () => {
    const { net, x } = await trainedBranchy();
    const bytes = modelToBuffer(net);
    const loaded = modelFromBuffer(bytes);
    expect(loaded.optimizer?.kind).toBe('adam');
    expect(loaded.optimizer?.iterations).toBe(0);
    expect(bytesOf(await loaded.predict(x)).equals(bytesOf(await net.predict(x)))).toBe(true);
    expect(bytes.length).toBeLessThan(modelToBuffer(net, { includeOptimizer: true }).length);

    const plain = sequential([dense({ units: 4, activation: 'relu' }), dense({ units: 2 })], { inputShape: [3], seed: 2 });
    await plain.save(file('plain.ckm'));
    const back = await loadModel(file('plain.ckm'));
    expect(back.optimizer).toBeUndefined();
    expect(back.toJSON().training).toBeNull();
    const px = randomTensor([5, 3], 1);
    expect(bytesOf(await back.predict(px)).equals(bytesOf(await plain.predict(px)))).toBe(true);
    await expect(plain.save(file('plain2.ckm'), { includeOptimizer: true })).rejects.toMatchObject({ code: 'E_STATE' });
  });

  test('a model trained and saved on the js backend predicts identically on native after loading', async () => {
    const { net, x } = await trainedBranchy('js');
    await net.save(file('from-js.ckm'), { includeOptimizer: true });
    const onNative = await loadModel(file('from-js.ckm'), { backend: 'native' });
    expect(onNative.backend.name).toBe('native');
    net.useBackend('native');
    expect(bytesOf(await onNative.predict(x)).equals(bytesOf(await net.predict(x)))).toBe(true);
    // And back: the js backend on both sides.
    const onJs = await loadModel(file('from-js.ckm'), { backend: 'js' });
    net.useBackend('js');
    expect(bytesOf(await onJs.predict(x)).equals(bytesOf(await net.predict(x)))).toBe(true);
  });

  test('the registry covers every layer kind, and every kind round trips', async () => {
    const kinds = new Set<string>();
    const f = layerFactories;
    const made = [
      f.conv1d({ filters: 1, kernelSize: 1 }), f.conv2d({ filters: 1, kernelSize: 1 }), f.conv3d({ filters: 1, kernelSize: 1 }),
      f.conv2dTranspose({ filters: 1, kernelSize: 1 }), f.depthwiseConv2d({ channels: 2, kernelSize: 1 }), f.dense({ units: 1 }),
      f.maxPool1d(), f.maxPool2d(), f.maxPool3d(), f.avgPool1d(), f.avgPool2d(), f.avgPool3d(), f.l2Pool1d(), f.l2Pool2d(), f.l2Pool3d(),
      f.globalAvgPool(), f.globalMaxPool(), f.flatten(), f.reshape({ targetShape: [-1] }), f.batchNorm(), f.dropout({ rate: 0.1 }),
      f.add(), f.concatenate(), f.timeDistributed(f.dense({ units: 1 })), f.activation('elu'), f.relu(), f.leakyRelu(), f.elu(), f.gelu(),
      f.sigmoid(), f.tanh(), f.softmax(), f.input({ shape: [1] }).layer,
    ];
    for (const layer of made) kinds.add(layer.kind);
    expect([...kinds].sort()).toEqual([...layerKinds()].sort());

    const nets: [Model, number[]][] = [
      [
        sequential([conv1d({ filters: 3, kernelSize: 3, dilation: 2, padding: [[1, 2]] }), maxPool1d(), avgPool1d({ padding: 'same' }), l2Pool1d({ poolSize: 1 }), globalMaxPool(), softmax()], { inputShape: [12, 2], seed: 1 }),
        [4, 12, 2],
      ],
      [
        sequential(
          [
            depthwiseConv2d({ channels: 2, kernelSize: 3, depthMultiplier: 2, activation: 'gelu' }),
            conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', outputPadding: 1, activation: 'sigmoid' }),
            avgPool2d(),
            l2Pool2d({ strides: 1 }),
            globalAvgPool(),
            reshape({ targetShape: [1, -1] }),
            activation('elu', { alpha: 0.5 }),
            flatten(),
          ],
          { inputShape: [7, 7, 2], seed: 2 },
        ),
        [3, 7, 7, 2],
      ],
      [sequential([conv3d({ filters: 2, kernelSize: 2, strides: [1, 2, 2], useBias: false }), maxPool3d({ poolSize: 1 }), avgPool3d({ poolSize: [1, 2, 2] }), l2Pool3d({ poolSize: 1 }), flatten()], { inputShape: [3, 6, 6, 1], seed: 3 }), [2, 3, 6, 6, 1]],
      [residualWithFusedRelu(4), [3, 4, 4, 2]],
    ];
    for (const [net, shape] of nets) {
      const back = modelFromBuffer(modelToBuffer(net));
      expect(back.toJSON()).toEqual(net.toJSON());
      const x = randomTensor(shape, 9);
      expect(bytesOf(await back.predict(x)).equals(bytesOf(await net.predict(x)))).toBe(true);
    }
  });

  test('toJSON / getWeightsAsArrays -> modelFromJSON round trip through JSON text', async () => {
    const { net, x } = await trainedBranchy();
    const text = JSON.stringify({ model: net.toJSON(), weights: net.getWeightsAsArrays() });
    const parsed = JSON.parse(text);
    expect(parsed.model).toEqual(JSON.parse(JSON.stringify(net)));
    expect(parsed.weights[0]).toMatchObject({ name: net.params[0].name, shape: [...net.params[0].shape] });
    expect(Array.isArray(parsed.weights[0].values)).toBe(true);
    const back = modelFromJSON(parsed.model, parsed.weights);
    expect(bytesOf(await back.predict(x)).equals(bytesOf(await net.predict(x)))).toBe(true);
    expect(back.optimizer?.kind).toBe('adam');
    // Without weights: the same topology, freshly initialised.
    const fresh = modelFromJSON(JSON.stringify(parsed.model));
    expect(fresh.params.map((p) => p.shape)).toEqual(net.params.map((p) => p.shape));
    // Wrong weights and hostile JSON are FormatErrors.
    const wrong = parsed.weights.map((w: any) => ({ ...w }));
    wrong[1].values = wrong[1].values.slice(1);
    expectFormatError(() => modelFromJSON(parsed.model, wrong), /weights\[1\]\.values: expected \d+ numbers/, 'model JSON');
    wrong[1] = { ...parsed.weights[1], values: parsed.weights[1].values.map(() => 'x') };
    expectFormatError(() => modelFromJSON(parsed.model, wrong), /weights\[1\]\.values\[0\]: expected a finite number/, 'model JSON');
    expectFormatError(() => modelFromJSON(text.replace('"topology":', '"__proto__":{"x":1},"topology":').replace(/^\{"model":/, '').replace(/,"weights":.*$/, '')), /forbidden key "__proto__"/, 'model JSON');
  });
});

describe('corrupt and hostile files are FormatErrors', () => {
  let good: Buffer;
  const load = (bytes: Buffer) => modelFromBuffer(bytes, { source: 'bad.ckm' });

  beforeAll(async () => {
    const net = branchyModel(5);
    net.compile({ optimizer: sgd({ lr: stepDecay({ initial: 0.1, stepSize: 3 }), momentum: 0.9 }) });
    good = modelToBuffer(net, { includeOptimizer: true });
    expect(load(good).params.length).toBe(net.params.length);
  });

  test('truncated at several points', () => {
    const headerEnd = 16 + good.readUInt32LE(12);
    for (const size of [0, 7, 12, 30, headerEnd - 5, headerEnd + 40, good.length - 33, good.length - 1]) {
      expectFormatError(() => load(good.subarray(0, size)), /file size: expected at least|header length: expected|SHA-256: .*corrupt or truncated/);
    }
    expectFormatError(() => load(good.subarray(0, good.length - 100)), /SHA-256: .*describes a \d+-byte file but it has \d+ bytes/);
  });

  test('a flipped data byte fails the checksum', () => {
    const bad = Buffer.from(good);
    bad[good.length - 40] ^= 0x10;
    expectFormatError(() => load(bad), /SHA-256: expected [0-9a-f]{64} \(the stored checksum\), got [0-9a-f]{64}: the file is corrupt/);
  });

  test('wrong magic, a future version, a header length past the end', () => {
    const magic = Buffer.from(good);
    magic.write('PK', 0, 'latin1');
    expectFormatError(() => load(magic), /magic bytes: expected 434f4e564b495400 .*got 504b4e564b495400; not a convkit model file/);
    const { headerText, data } = split(good);
    expectFormatError(() => load(assemble(headerText, data, 2)), /format version: expected 1, got 2 \(written by a newer convkit/);
    const long = Buffer.from(good);
    long.writeUInt32LE(0x7fffffff, 12);
    expectFormatError(() => load(long), /header length: expected 2 to \d+ bytes .*got 2147483647; the header runs past the end of the file/);
  });

  test('__proto__, constructor and prototype keys are refused', () => {
    const { headerText, data } = split(good);
    for (const [key, at] of [
      ['__proto__', '"name":'],
      ['constructor', '"topology":'],
      ['prototype', '"filters":'],
    ]) {
      const text = headerText.replace(at, `"${key}":{"polluted":true},${at}`);
      expect(text).not.toBe(headerText);
      expectFormatError(() => load(assemble(text, data)), new RegExp(`header: forbidden key "${key}"`));
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('unknown layer kinds, bad configs, absurd dimensions', () => {
    const before = process.memoryUsage().arrayBuffers;
    expectFormatError(() => load(edited(good, (h) => (h.topology.layers[1].kind = 'capsule'))), /topology\.layers\[1\]\.kind: expected a known layer kind \(input, conv1d, .*\), got "capsule"/);
    const convIndex = (h: any) => h.topology.layers.findIndex((l: any) => l.kind === 'conv3d');
    expectFormatError(
      () => load(edited(good, (h) => (h.topology.layers[convIndex(h)].config.filters = 2 ** 31))),
      /topology\.layers\[\d+\]\.config\.filters: expected an integer in \[1, 16777216\], got 2147483648/,
    );
    expectFormatError(() => load(edited(good, (h) => (h.topology.layers[convIndex(h)].config.kernelSize = [1, 4096, 4096]))), /params\[\d+\]\.shape: expected \[1, 4096, 4096, 4, 4\] \(from the topology\)/);
    expectFormatError(() => load(edited(good, (h) => (h.params[0].shape = [2 ** 20, 2 ** 20]))), /params\[0\]\.shape: expected fewer than 268435456 elements, got \[1048576, 1048576\] \(1099511627776 elements\)/);
    expectFormatError(() => load(edited(good, (h) => (h.params[0].shape = [2 ** 40]))), /params\[0\]\.shape\[0\]: expected an integer in \[1, 268435455\], got 1099511627776/);
    expectFormatError(() => load(edited(good, (h) => (h.topology.layers[0].config.shape = [2 ** 20, 2 ** 20, 5, 2]))), /output shape .*fewer than 268435456 elements/);
    expectFormatError(() => load(edited(good, (h) => (h.topology.layers[0].config.shape = [3, 5, 5, -2]))), /topology\.layers\[0\]\.config\.shape\[3\]: expected an integer in \[1, 16777216\], got -2/);
    expectFormatError(() => load(edited(good, (h) => (h.topology.layers[1].config.extra = 1))), /topology\.layers\[1\]\.config: unexpected key "extra"/);
    expectFormatError(() => load(edited(good, (h) => (h.topology.layers[convIndex(h)].config.padding = 'wide'))), /config\.padding: expected 'valid', 'same', an integer or 3 \[before, after\] pairs, got "wide"/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
  });

  test('node indices out of range or cyclic, unused layers, unreachable nodes', () => {
    expectFormatError(() => load(edited(good, (h) => (h.topology.nodes[2].inputs = [7]))), /topology\.nodes\[2\]\.inputs\[0\]: node 7 does not come before node 2/);
    expectFormatError(() => load(edited(good, (h) => (h.topology.nodes[2].inputs = [2]))), /node 2 does not come before node 2/);
    expectFormatError(() => load(edited(good, (h) => (h.topology.nodes[1].inputs = [99]))), /topology\.nodes\[1\]\.inputs\[0\]: expected an integer in \[0, \d+\], got 99/);
    expectFormatError(() => load(edited(good, (h) => (h.topology.nodes[1].layer = -1))), /topology\.nodes\[1\]\.layer: expected an integer in \[0, \d+\], got -1/);
    expectFormatError(() => load(edited(good, (h) => (h.topology.output = 2))), /topology\.nodes\[\d+\]: is not on a path to the output node 2/);
    expectFormatError(() => load(edited(good, (h) => h.topology.layers.push({ kind: 'flatten', name: 'spare', config: {} }))), /topology\.layers\[\d+\]: no node applies layer spare/);
  });

  test('parameters and float counts must match the topology and the data exactly', () => {
    expectFormatError(() => load(edited(good, (h) => (h.params[0].name = 'other/kernel'))), /params\[0\]\.name: expected ".*\/kernel" \(from the topology\), got "other\/kernel"/);
    expectFormatError(() => load(edited(good, (h) => h.params.pop())), /params: expected \d+ entries \(the parameters the topology creates\)/);
    expectFormatError(() => load(edited(good, (h) => (h.floats.params += 1))), /floats\.params: expected \d+ \(the sum of the parameter sizes\), got \d+/);
    expectFormatError(() => load(edited(good, (h) => (h.optimizerState.slotsPerParam = 2))), /optimizerState\.slotsPerParam: expected 1 \(sgd\), got 2/);
    const { headerText, data } = split(good);
    expectFormatError(() => load(assemble(headerText, data.subarray(0, data.length - 4))), /data length: expected \d+ bytes \(\d+ parameter floats \+ \d+ optimizer floats, as the header counts\), got \d+ bytes/);
    const nan = Buffer.from(data);
    nan.writeFloatLE(NaN, 8);
    expectFormatError(() => load(assemble(headerText, nan)), /data \(params\): expected finite float32 values, got NaN at .*\[2\]/);
    expectFormatError(() => load(assemble(headerText.replace('{', '{{'), data)), /header: expected JSON/);
    expectFormatError(() => load(edited(good, (h) => (h.training.optimizer.kind = 'rmsprop'))), /training\.optimizer\.kind: expected one of sgd, adam, adamw, got "rmsprop"/);
    expectFormatError(() => load(edited(good, (h) => (h.training.optimizer.momentum = 7))), /training\.optimizer: sgd: momentum must be a number in \[0, 1\], got 7/);
  });
});

describe('atomic saves', () => {
  const entries = (dir: string) => fs.readdirSync(dir).sort();

  test('saving over an existing file replaces it whole', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'over-'));
    const target = path.join(dir, 'm.ckm');
    const a = sequential([dense({ units: 2 })], { inputShape: [3], seed: 1 });
    const b = sequential([dense({ units: 2 })], { inputShape: [3], seed: 2 });
    await a.save(target);
    await b.save(target);
    expect(entries(dir)).toEqual(['m.ckm']);
    expect(fs.readFileSync(target).equals(modelToBuffer(b))).toBe(true);
  });

  test('a failure after the temporary file is written leaves the old file and no temporary', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'fail-'));
    const target = path.join(dir, 'm.ckm');
    const a = sequential([dense({ units: 2 })], { inputShape: [3], seed: 1 });
    const b = sequential([dense({ units: 2 })], { inputShape: [3], seed: 2 });
    await a.save(target);
    const old = fs.readFileSync(target);
    const rename = jest.spyOn(fs.promises, 'rename').mockRejectedValueOnce(Object.assign(new Error('EIO: simulated'), { code: 'EIO' }));
    try {
      await expect(b.save(target)).rejects.toThrow('EIO: simulated');
      expect(rename).toHaveBeenCalledTimes(1);
    } finally {
      rename.mockRestore();
    }
    expect(entries(dir)).toEqual(['m.ckm']);
    expect(fs.readFileSync(target).equals(old)).toBe(true);
  });

  test('a disk-full error half way through the write leaves the old file and no temporary', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'full-'));
    const target = path.join(dir, 'm.ckm');
    const a = sequential([dense({ units: 64 }), dense({ units: 2 })], { inputShape: [32], seed: 1 });
    const b = sequential([dense({ units: 64 }), dense({ units: 2 })], { inputShape: [32], seed: 2 });
    await a.save(target);
    const old = fs.readFileSync(target);
    const realOpen = fs.promises.open.bind(fs.promises);
    let writes = 0;
    const open = jest.spyOn(fs.promises, 'open').mockImplementation(async (...args: Parameters<typeof fs.promises.open>) => {
      const handle = await realOpen(...args);
      if (String(args[0]).endsWith('.tmp')) {
        const write = handle.write.bind(handle) as (...a: unknown[]) => Promise<{ bytesWritten: number }>;
        (handle as unknown as { write: unknown }).write = async (...a: unknown[]) => {
          if (++writes > 2) throw Object.assign(new Error('ENOSPC: simulated'), { code: 'ENOSPC' });
          return write(...a);
        };
      }
      return handle;
    });
    try {
      await expect(b.save(target)).rejects.toThrow('ENOSPC: simulated');
    } finally {
      open.mockRestore();
    }
    expect(writes).toBeGreaterThan(2);
    expect(entries(dir)).toEqual(['m.ckm']);
    expect(fs.readFileSync(target).equals(old)).toBe(true);
    expect(modelFromBuffer(fs.readFileSync(target)).params.length).toBe(4);
  });
});

describe('checkpoints and resume', () => {
  const { x, y } = fixtureData();

  async function resumeInProcess(backend: 'js' | 'native'): Promise<void> {
    const dir = fs.mkdtempSync(path.join(tmp, `ckpt-${backend}-`));
    const full = fixtureCompile(fixtureModel(1), backend);
    const fullHistory = await full.fit(x, y, { epochs: 5, batchSize: 8, seed: 5 });

    // Stopped after 3 epochs; the last checkpoint (every 2 epochs) holds 2.
    const stopped = fixtureCompile(fixtureModel(1), backend);
    const controller = new AbortController();
    await expect(
      stopped.fit(x, y, {
        epochs: 5, batchSize: 8, seed: 5, checkpoint: { dir, everyEpochs: 2 }, signal: controller.signal,
        onEpochEnd: (logs) => void (logs.epoch === 2 && controller.abort()),
      }),
    ).rejects.toMatchObject({ code: 'E_ABORT' });
    expect(fs.readdirSync(dir)).toEqual([CHECKPOINT_FILE]);
    const saved = (await loadModel(path.join(dir, CHECKPOINT_FILE))).toJSON();
    expect(saved.training?.optimizer.kind).toBe('adam');

    // A fresh model (other initial weights) resumes at epoch 2: seed, batch size and epochs come from the checkpoint.
    const resumed = fixtureCompile(fixtureModel(99), backend);
    const history = await resumed.fit(x, y, { resumeFrom: path.join(dir, CHECKPOINT_FILE) });
    expect(history.epochs.map((e) => e.epoch)).toEqual([2, 3, 4]);
    expect(history.epochs.map((e) => e.loss)).toEqual(fullHistory.epochs.slice(2).map((e) => e.loss));
    expect(weightBytes(resumed).equals(weightBytes(full))).toBe(true);
    expect(resumed.optimizer?.iterations).toBe(full.optimizer?.iterations);
  }

  test('stop after some epochs, resume in-process: bit-identical to an uninterrupted run (js backend)', () => resumeInProcess('js'));

  if (backendName === 'native') {
    test('stop after some epochs, resume in-process: bit-identical to an uninterrupted run (native backend)', () => resumeInProcess('native'));
  }

  test('resumeFrom refuses a checkpoint of another model, a plain saved model, and a different optimizer', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'mismatch-'));
    const net = fixtureCompile(fixtureModel(1), 'js');
    await net.fit(x, y, { epochs: 1, batchSize: 20, seed: 1, checkpoint: { dir } });
    const ckpt = path.join(dir, CHECKPOINT_FILE);
    const other = sequential([conv2d({ filters: 5, kernelSize: 3 }), flatten(), dense({ units: 3 })], { inputShape: [6, 6, 1], seed: 1 }).compile({ optimizer: 'adam', backend: 'js' });
    await expect(other.fit(x, y, { resumeFrom: ckpt })).rejects.toThrow(/checkpoint\.ckpt: the checkpoint is for a different model: topology\.layers/);
    const sgdNet = fixtureModel(1).compile({ optimizer: sgd(), backend: 'js' });
    await expect(sgdNet.fit(x, y, { resumeFrom: ckpt })).rejects.toThrow(/training\.optimizer\.kind: expected sgd \(this model's optimizer\), got adam/);
    await net.save(path.join(dir, 'plain.ckm'), { includeOptimizer: true });
    await expect(net.fit(x, y, { resumeFrom: path.join(dir, 'plain.ckm') })).rejects.toMatchObject({ code: 'E_FORMAT', message: expect.stringMatching(/not a checkpoint/) });
    await expect(net.fit(x, y, { checkpoint: { dir, everyEpochs: 0 } })).rejects.toMatchObject({ code: 'E_ARG' });
  });

  test('a training child killed with SIGKILL after its first checkpoint resumes to the same weights as an uninterrupted run (native)', async () => {
    const dir = fs.mkdtempSync(path.join(tmp, 'kill-'));
    const env = { ...process.env, CONVKIT_BACKEND: 'native', CONVKIT_NUM_THREADS: '1' };
    const child = (args: object) => {
      const proc = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', 'test/fixtures/persistence-train.ts', JSON.stringify(args)], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr!.on('data', (chunk) => (stderr += chunk));
      const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
      return { proc, done, stderr: () => stderr };
    };
    const epochs = 12;
    const ckptDir = path.join(dir, 'ckpt');
    const ckpt = path.join(ckptDir, CHECKPOINT_FILE);
    const uninterrupted = child({ epochs, out: path.join(dir, 'full.bin') });
    const victim = child({ epochs, out: path.join(dir, 'victim.bin'), checkpointDir: ckptDir, epochDelayMs: 150 });
    // Started now so that it is ready when the victim dies; it trains once `go` exists.
    const go = path.join(dir, 'go');
    const resumed = child({ epochs, out: path.join(dir, 'resumed.bin'), resumeFrom: ckpt, waitFor: go });
    const victimExit = victim.done.then((r) => ({ ...r, exited: true }));
    while (!fs.existsSync(ckpt)) {
      const state = await Promise.race([victimExit, new Promise<null>((r) => setTimeout(() => r(null), 10))]);
      if (state) throw new Error(`the training child exited before its first checkpoint: ${JSON.stringify(state)} ${victim.stderr()}`);
    }
    victim.proc.kill('SIGKILL');
    expect((await victim.done).signal).toBe('SIGKILL');
    expect(fs.existsSync(path.join(dir, 'victim.bin'))).toBe(false);
    const completed = (await loadModel(ckpt)).toJSON();
    const progress = JSON.parse(fs.readFileSync(ckpt).subarray(16, 16 + fs.readFileSync(ckpt).readUInt32LE(12)).toString()).checkpoint;
    expect(completed.training?.optimizer.iterations).toBe(progress.epochsCompleted * 5);
    expect(progress.epochsCompleted).toBeGreaterThanOrEqual(1);
    expect(progress.epochsCompleted).toBeLessThan(epochs);

    fs.writeFileSync(go, '');
    for (const run of [uninterrupted, resumed]) {
      const exit = await run.done;
      if (exit.code !== 0) throw new Error(`a training child failed (${JSON.stringify(exit)}): ${run.stderr()}`);
    }
    const full = fs.readFileSync(path.join(dir, 'full.bin'));
    expect(full.length).toBeGreaterThan(0);
    expect(fs.readFileSync(path.join(dir, 'resumed.bin')).equals(full)).toBe(true);
  });
});
