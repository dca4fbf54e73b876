/**
 * TensorFlow.js peers of `npm run bench` (run by bench/run.ts):
 *   tfjs.cpu.train.lenet5    LeNet-5 training images/s on the pure-JS cpu backend (slow: a few batches only)
 *   tfjs.wasm.infer.lenet5   LeNet-5 inference images/s at batch 256 on the wasm backend (XNNPACK, SIMD)
 * Both are single-threaded in Node (the wasm backend has no threads there), so run.ts runs them once.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadIdxDataset } from '../../lib/data';
import { FASHION_MNIST_DIR, INFER_BATCH, TRAIN_BATCH } from '../lib/config';
import { FULL, QUICK, WindowOptions, childArgs, emitInfo, runMeasurements, timeSteps } from '../lib/timing';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const tf = require('@tensorflow/tfjs') as typeof import('@tensorflow/tfjs');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const wasm = require('@tensorflow/tfjs-backend-wasm') as typeof import('@tensorflow/tfjs-backend-wasm');

const args = childArgs();
const windows: WindowOptions = args.quick ? QUICK : FULL;
/** The cpu backend trains LeNet-5 at a few images/s: one warm-up batch, then two timed batches. */
const SLOW: WindowOptions = { warmupSeconds: 0, minWarmupSteps: 1, windowSeconds: 0, windows: args.quick ? 1 : 2, maxSeconds: 120 };

function lenet5(): import('@tensorflow/tfjs').Sequential {
  return tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 6, kernelSize: 5, padding: 'same', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.conv2d({ filters: 16, kernelSize: 5, padding: 'valid', activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 120, activation: 'relu' }),
      tf.layers.dense({ units: 84, activation: 'relu' }),
      tf.layers.dense({ units: 10 }),
    ],
  });
}

function images(split: 'train' | 't10k', rows: number): { x: Float32Array; labels: Uint8Array } {
  if (!fs.existsSync(FASHION_MNIST_DIR)) {
    const x = new Float32Array(rows * 784).map((_, i) => ((i * 2654435761) >>> 0) / 2 ** 32);
    return { x, labels: new Uint8Array(rows).map((_, i) => (i * 7919) % 10) };
  }
  const d = loadIdxDataset(FASHION_MNIST_DIR, split);
  return { x: d.images.data.slice(0, rows * 784), labels: d.labels.slice(0, rows) };
}

async function cpuTrain(): Promise<Record<string, unknown>> {
  await tf.setBackend('cpu');
  const batches = 8;
  const data = images('train', batches * TRAIN_BATCH);
  const model = lenet5();
  model.compile({
    optimizer: tf.train.momentum(0.01, 0.9),
    loss: (yTrue: import('@tensorflow/tfjs').Tensor, yPred: import('@tensorflow/tfjs').Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred),
  });
  let b = 0;
  const step = async (): Promise<void> => {
    const start = (b++ % batches) * TRAIN_BATCH;
    const x = tf.tensor4d(data.x.subarray(start * 784, (start + TRAIN_BATCH) * 784), [TRAIN_BATCH, 28, 28, 1]);
    const y = tf.oneHot(tf.tensor1d(Array.from(data.labels.subarray(start, start + TRAIN_BATCH)), 'int32'), 10);
    await model.trainOnBatch(x, y);
    tf.dispose([x, y]);
  };
  const t = await timeSteps(step, TRAIN_BATCH, SLOW);
  return { unit: 'images/s', value: t.median, timing: t, backend: tf.getBackend() };
}

async function wasmInfer(): Promise<Record<string, unknown>> {
  // The .wasm files ship inside the npm package; point the loader at them (a directory path, trailing slash).
  wasm.setWasmPaths(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + path.sep);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
  const model = lenet5();
  const x = tf.tensor4d(images('t10k', INFER_BATCH).x, [INFER_BATCH, 28, 28, 1]);
  const step = async (): Promise<void> => {
    const y = model.predict(x) as import('@tensorflow/tfjs').Tensor;
    await y.data();
    y.dispose();
  };
  const t = await timeSteps(step, INFER_BATCH, windows);
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  return { unit: 'images/s', value: t.median, timing: t, backend: tf.getBackend(), simd, multithread: threads, threads: wasm.getThreadsCount() };
}

async function main(): Promise<void> {
  emitInfo({ tfjs: tf.version.tfjs, wasm: wasm.version_wasm });
  await runMeasurements(args.only, { 'tfjs.cpu.train.lenet5': cpuTrain, 'tfjs.wasm.infer.lenet5': wasmInfer });
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`tfjs_bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
