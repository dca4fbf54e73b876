/**
 * ONNX Runtime peer of `npm run bench` (run by bench/run.ts per thread count):
 *   ort.infer.lenet5   LeNet-5 inference images/s at batch 256, from the ONNX file the torch
 *                      peer exports (bench/.cache/lenet5-b256.onnx), intra-op threads = --threads.
 * onnxruntime-node carries its prebuilt binary inside the npm package; install it with
 * ONNXRUNTIME_NODE_INSTALL=skip (no download at install time) and it runs offline.
 */
import * as fs from 'fs';
import { loadIdxDataset } from '../../lib/data';
import { FASHION_MNIST_DIR, INFER_BATCH, ONNX_LENET5 } from '../lib/config';
import { FULL, QUICK, WindowOptions, childArgs, emitInfo, runMeasurements, timeSteps } from '../lib/timing';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const ort = require('onnxruntime-node') as typeof import('onnxruntime-node');

const args = childArgs();
const windows: WindowOptions = args.quick ? QUICK : FULL;

async function inferLenet5(): Promise<Record<string, unknown>> {
  if (!fs.existsSync(ONNX_LENET5)) throw new Error(`${ONNX_LENET5} not found (the torch peer exports it)`);
  const session = await ort.InferenceSession.create(ONNX_LENET5, {
    intraOpNumThreads: args.threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  // NCHW with one channel holds the same bytes as NHWC.
  const pixels = fs.existsSync(FASHION_MNIST_DIR)
    ? loadIdxDataset(FASHION_MNIST_DIR, 't10k').images.data.slice(0, INFER_BATCH * 784)
    : new Float32Array(INFER_BATCH * 784).fill(0.5);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', pixels, [INFER_BATCH, 1, 28, 28]) };
  const t = await timeSteps(() => session.run(feeds), INFER_BATCH, windows);
  return { unit: 'images/s', value: t.median, timing: t, threads: args.threads };
}

async function main(): Promise<void> {
  emitInfo({ onnxruntime: ort.env.versions.node ?? ort.env.versions.common });
  await runMeasurements(args.only, { 'ort.infer.lenet5': inferLenet5 });
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`ort_bench: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
