/**
 * convkit's side of `npm run bench`, run by bench/run.ts in a child process per thread
 * count (CONVKIT_NUM_THREADS is read once, at process start) and per backend
 * (CONVKIT_BACKEND=js for the TypeScript kernels). Prints one @@RESULT line per
 * measurement; see bench/lib/timing.ts.
 *
 *   ts-node --transpile-only bench/convkit_bench.ts --only train.lenet5,sgemm.512 [--quick]
 */
import * as fs from 'fs';
import * as path from 'path';
import { AbortError, Tensor, backendInfo, ops, sgd } from '../lib';
import type { Model } from '../lib';
import { loadAddon } from '../lib/backend/native';
import { loadIdxDataset } from '../lib/data';
import { convNetM, lenet5, resnet8 } from '../lib/model/zoo';
import { FULL, QUICK, WindowOptions, WindowTracker, childArgs, emitError, emitInfo, runMeasurements, timeSteps } from './lib/timing';
import { CONV, FASHION_MNIST_DIR, INFER_BATCH, TRAIN_BATCH, TRAIN_ROWS_SYNTHETIC, convFlops } from './lib/config';

const args = childArgs();
const windows: WindowOptions = args.quick ? QUICK : FULL;

/** A deterministic generator for synthetic inputs (values in [0, 1), or [-1, 1) for GEMM operands). */
function randomArray(length: number, seed: number, signed = false): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    const u = (s >>> 0) / 2 ** 32;
    out[i] = signed ? 2 * u - 1 : u;
  }
  return out;
}

interface Data {
  images: Tensor;
  labels: Uint8Array;
  source: string;
}

let fashion: Data | undefined;
/** Fashion-MNIST training images, cut to whole batches (fit would otherwise build a plan for the last, short batch). */
function fashionTrain(): Data {
  if (fashion) return fashion;
  if (!fs.existsSync(FASHION_MNIST_DIR)) {
    const rows = TRAIN_ROWS_SYNTHETIC;
    fashion = { images: new Tensor([rows, 28, 28, 1], randomArray(rows * 784, 5)), labels: syntheticLabels(rows), source: `synthetic (${FASHION_MNIST_DIR} not found)` };
    return fashion;
  }
  const all = loadIdxDataset(FASHION_MNIST_DIR, 'train');
  const rows = Math.floor(all.images.shape[0] / TRAIN_BATCH) * TRAIN_BATCH;
  fashion = {
    images: new Tensor([rows, 28, 28, 1], all.images.data.subarray(0, rows * 784)),
    labels: all.labels.subarray(0, rows),
    source: `Fashion-MNIST train (${rows} images, shuffled each epoch)`,
  };
  return fashion;
}

function fashionTest(rows: number): Tensor {
  if (!fs.existsSync(FASHION_MNIST_DIR)) return new Tensor([rows, 28, 28, 1], randomArray(rows * 784, 6));
  const all = loadIdxDataset(FASHION_MNIST_DIR, 't10k');
  return new Tensor([rows, 28, 28, 1], all.images.data.slice(0, rows * 784));
}

function syntheticLabels(rows: number): Uint8Array {
  const labels = new Uint8Array(rows);
  for (let i = 0; i < rows; i++) labels[i] = (i * 7919) % 10;
  return labels;
}

const MODELS: Record<string, () => Model> = {
  lenet5: () => lenet5([28, 28, 1], 10, 1),
  convnetm: () => convNetM([32, 32, 3], 10, 1),
  resnet8: () => resnet8([32, 32, 3], 10, 1),
};

function trainingData(name: string): Data {
  if (name === 'lenet5') return fashionTrain();
  const rows = TRAIN_ROWS_SYNTHETIC;
  return { images: new Tensor([rows, 32, 32, 3], randomArray(rows * 3072, 7)), labels: syntheticLabels(rows), source: `synthetic 32x32x3 (${rows} images)` };
}

/** Training images/s: one long fit() timed by onBatchEnd, stopped with an AbortSignal once the windows are done. */
async function train(name: string): Promise<Record<string, unknown>> {
  const net = MODELS[name]();
  net.compile({ optimizer: sgd({ lr: 0.01, momentum: 0.9 }), loss: 'softmaxCrossEntropy', metrics: [] });
  const data = trainingData(name);
  const tracker = new WindowTracker(TRAIN_BATCH, windows);
  const controller = new AbortController();
  try {
    await net.fit(data.images, data.labels, {
      batchSize: TRAIN_BATCH,
      epochs: 1_000_000,
      seed: 1,
      signal: controller.signal,
      onBatchEnd: () => {
        if (tracker.step()) controller.abort();
      },
    });
  } catch (err) {
    if (!(err instanceof AbortError)) throw err;
  }
  const t = tracker.result();
  return { unit: 'images/s', value: t.median, timing: t, data: data.source, backend: backendInfo() };
}

async function infer(name: string): Promise<Record<string, unknown>> {
  const net = MODELS[name]();
  const x = name === 'lenet5' ? fashionTest(INFER_BATCH) : new Tensor([INFER_BATCH, 32, 32, 3], randomArray(INFER_BATCH * 3072, 8));
  const t = await timeSteps(() => net.predict(x, { batchSize: INFER_BATCH }), INFER_BATCH, windows);
  return { unit: 'images/s', value: t.median, timing: t, backend: backendInfo() };
}

async function sgemm(n: number): Promise<Record<string, unknown>> {
  const a = { shape: [n, n], data: randomArray(n * n, 11, true) };
  const b = { shape: [n, n], data: randomArray(n * n, 12, true) };
  // The result goes into one reused tensor, as a training loop would keep it: a new
  // Float32Array per call would time V8's zero-filled allocation, not the GEMM.
  const out = new Tensor([n, n]);
  const t = await timeSteps(() => ops.matmul(a, b, { out }), 2 * n ** 3, windows);
  return { unit: 'GFLOP/s', value: t.median / 1e9, timing: t, backend: backendInfo() };
}

async function conv(backward: boolean): Promise<Record<string, unknown>> {
  const { n, h, w, c, k, kernel } = CONV;
  const x = { shape: [n, h, w, c], data: randomArray(n * h * w * c, 13, true) };
  const filter = { shape: [kernel, kernel, c, k], data: randomArray(kernel * kernel * c * k, 14, true) };
  const dy = { shape: [n, h, w, k], data: randomArray(n * h * w * k, 15, true) };
  // Results go into reused tensors (see sgemm above).
  const y = new Tensor(dy.shape);
  const dx = new Tensor(x.shape);
  const dw = new Tensor(filter.shape);
  const step = backward
    ? () => {
        ops.conv2d(x, filter, { padding: 'same', out: y });
        ops.convBackwardInput(dy, filter, x.shape, { padding: 'same', out: dx });
        ops.convBackwardFilter(x, dy, filter.shape, { padding: 'same', out: dw });
      }
    : () => ops.conv2d(x, filter, { padding: 'same', out: y });
  const flops = convFlops() * (backward ? 3 : 1);
  const t = await timeSteps(step, flops, windows);
  return { unit: 'GFLOP/s', value: t.median / 1e9, timing: t, backend: backendInfo() };
}

/** The addon's own peak-FMA measurement, when it has one (any exported function named like "peak"). */
async function peak(): Promise<Record<string, unknown>> {
  const loaded = loadAddon();
  if (!('addon' in loaded)) throw new Error(loaded.error);
  const addon = loaded.addon as unknown as Record<string, unknown>;
  const name = Object.keys(addon).find((k) => /peak/i.test(k) && typeof addon[k] === 'function');
  if (!name) return { unit: 'GFLOP/s', value: null, note: 'the addon has no peak-FMA export' };
  let r = (addon[name] as (...a: unknown[]) => unknown)(args.threads);
  if (r instanceof Promise) r = await r;
  const value =
    typeof r === 'number' ? r : r && typeof r === 'object' ? Number((r as Record<string, unknown>).gflops ?? (r as Record<string, unknown>).peak ?? NaN) : NaN;
  if (!Number.isFinite(value)) throw new Error(`addon.${name}() returned ${JSON.stringify(r)}`);
  return { unit: 'GFLOP/s', value, source: `addon.${name}()` };
}

async function main(): Promise<void> {
  let info;
  try {
    info = backendInfo();
  } catch (err) {
    for (const id of args.only) emitError(id, err); // e.g. CONVKIT_BACKEND=native and the addon does not load
    return;
  }
  // Which addon file loaded (build/Release first, then build-cmake; CONVKIT_ADDON_PATH overrides), and when it was built.
  const addon = Object.keys(require.cache).find((k) => k.endsWith('.node'));
  const built = addon ? fs.statSync(addon).mtime.toISOString() : undefined;
  const shown = addon && (path.relative(process.cwd(), addon).startsWith('..') ? addon : path.relative(process.cwd(), addon));
  emitInfo({ backend: info, addon: shown, addonBuilt: built, node: process.version, requestedThreads: args.threads });
  await runMeasurements(args.only, {
    'train.lenet5': () => train('lenet5'),
    'train.convnetm': () => train('convnetm'),
    'train.resnet8': () => train('resnet8'),
    'infer.lenet5': () => infer('lenet5'),
    'infer.convnetm': () => infer('convnetm'),
    'infer.resnet8': () => infer('resnet8'),
    'sgemm.256': () => sgemm(256),
    'sgemm.512': () => sgemm(512),
    'sgemm.1024': () => sgemm(1024),
    'conv.fwd': () => conv(false),
    'conv.fwdbwd': () => conv(true),
    peak,
  });
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`${path.basename(__filename)}: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
