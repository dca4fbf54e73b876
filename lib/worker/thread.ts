/** The worker side of fitInWorker: rebuild the model from bytes, fit, send the state back. */
import { parentPort, workerData } from 'worker_threads';
import { modelFromBuffer, modelToBuffer } from '../model';
import type { WorkerMessage } from './index';

async function run(): Promise<void> {
  const port = parentPort!;
  const post = (msg: WorkerMessage): void => port.postMessage(msg);
  try {
    if (workerData.env?.CONVKIT_BACKEND) process.env.CONVKIT_BACKEND = workerData.env.CONVKIT_BACKEND;
    const model = modelFromBuffer(workerData.model, { source: 'the caller' });
    const controller = new AbortController();
    port.on('message', (msg: { type: string }) => {
      if (msg.type === 'abort') controller.abort();
    });
    const history = await model.fit(workerData.x, workerData.y, {
      ...workerData.options,
      signal: controller.signal,
      onBatchEnd: (logs) => post({ type: 'batch', logs }),
      onEpochEnd: (logs) => post({ type: 'epoch', logs }),
    });
    post({ type: 'done', history, model: modelToBuffer(model, { includeOptimizer: true }) });
  } catch (err) {
    const e = err as { code?: string; message?: string };
    post({ type: 'error', code: e?.code, message: String(e?.message ?? err) });
  }
}

void run();
