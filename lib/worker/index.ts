/**
 * convkit/worker: runs `fit` on a worker thread, so a service can train a model without
 * sharing its main thread (the addon is context-aware and loads in every worker). The
 * model travels as bytes of the saved-model format; when training ends its weights,
 * optimizer state and step count are copied back into the caller's model. Callbacks run
 * on the caller's thread as the worker reports batches and epochs (not awaited by it);
 * an AbortSignal stops the worker's fit within one batch.
 */
import * as path from 'path';
import { Worker } from 'worker_threads';
import type { FitOptions, History, Model, Targets } from '../model';
import { loadStateInto, modelToBuffer } from '../model';
import type { TensorLike } from '../tensor';
import { AbortError, ArgumentError, BackendError, ConvkitError, FormatError, ShapeError, StateError, ValueError } from '../errors';

export type WorkerFitOptions = Omit<FitOptions, 'checkpoint' | 'resumeFrom'>;

/** What the worker posts back. */
export type WorkerMessage =
  | { type: 'batch'; logs: Parameters<NonNullable<FitOptions['onBatchEnd']>>[0] }
  | { type: 'epoch'; logs: Parameters<NonNullable<FitOptions['onEpochEnd']>>[0] }
  | { type: 'done'; history: History; model: Uint8Array }
  | { type: 'error'; code?: string; message: string };

const ERRORS: Record<string, new (message: string) => ConvkitError> = {
  E_SHAPE: ShapeError,
  E_ARG: ArgumentError,
  E_VALUE: ValueError,
  E_FORMAT: FormatError,
  E_BACKEND: BackendError,
  E_STATE: StateError,
  E_ABORT: AbortError,
};

/** The worker's entry file: compiled JavaScript, or the TypeScript source under ts-node / jest. */
function threadEntry(): { file: string; execArgv: string[] } {
  if (__filename.endsWith('.ts')) return { file: path.join(__dirname, 'thread.ts'), execArgv: ['-r', 'ts-node/register/transpile-only'] };
  return { file: path.join(__dirname, 'thread.js'), execArgv: [] };
}

function plainTensor(t: TensorLike | Targets): unknown {
  if (t && typeof t === 'object' && 'shape' in t && 'data' in t) return { shape: [...(t as TensorLike).shape], data: (t as TensorLike).data };
  return t;
}

export function fitInWorker(model: Model, x: TensorLike, y: Targets, options: WorkerFitOptions = {}): Promise<History> {
  if (!model || typeof model.fit !== 'function') throw new ArgumentError('fitInWorker: model must be a convkit Model');
  if (!model.optimizer) throw new StateError(`${model.name}: call compile() before fitInWorker()`);
  const { onBatchEnd, onEpochEnd, signal, validationData, ...rest } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) throw new ArgumentError('fitInWorker: signal must be an AbortSignal');
  const { file, execArgv } = threadEntry();
  const workerData = {
    model: modelToBuffer(model, { includeOptimizer: true }),
    x: plainTensor(x),
    y: plainTensor(y),
    options: { ...rest, validationData: validationData ? [plainTensor(validationData[0]), plainTensor(validationData[1])] : undefined },
    env: { CONVKIT_BACKEND: model.backend.name },
  };
  return new Promise<History>((resolve, reject) => {
    const worker = new Worker(file, { workerData, execArgv });
    let settled = false;
    const onAbort = (): void => worker.postMessage({ type: 'abort' });
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      fn();
      void worker.terminate();
    };
    worker.on('message', (msg: WorkerMessage) => {
      try {
        if (msg.type === 'batch') void onBatchEnd?.(msg.logs);
        else if (msg.type === 'epoch') void onEpochEnd?.(msg.logs);
        else if (msg.type === 'done') {
          loadStateInto(model, msg.model, 'the worker');
          finish(() => resolve(msg.history));
        } else if (msg.type === 'error') {
          const Cls = (msg.code && ERRORS[msg.code]) || Error;
          finish(() => reject(new Cls(msg.message)));
        }
      } catch (err) {
        finish(() => reject(err));
      }
    });
    worker.on('error', (err) => finish(() => reject(err)));
    worker.on('exit', (code) => finish(() => reject(new StateError(`the training worker exited with code ${code} before finishing`))));
  });
}
