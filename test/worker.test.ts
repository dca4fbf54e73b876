/**
 * convkit/worker: fit on worker threads. The addon loads in several workers at once, two
 * models train at the same time, and each ends bit-identical to the same fit run in-process.
 */
import { Tensor, sequential, conv2d, maxPool2d, flatten, dense, dropout, sgd, getBackend } from '../lib';
import type { Model } from '../lib';
import { fitInWorker } from '../lib/worker';
import { Random } from '../lib/random';
import { AbortError } from '../lib/errors';

function makeModel(seed: number): Model {
  const net = sequential(
    [conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }), maxPool2d(), flatten(), dropout({ rate: 0.2 }), dense({ units: 3 })],
    { inputShape: [8, 8, 1], seed },
  );
  net.compile({ optimizer: sgd({ lr: 0.05, momentum: 0.9 }) });
  return net;
}

function dataset(seed: number): { x: Tensor; y: Uint8Array } {
  const rng = new Random(seed);
  const x = new Tensor([96, 8, 8, 1]);
  for (let i = 0; i < x.data.length; i++) x.data[i] = rng.uniform();
  return { x, y: Uint8Array.from({ length: 96 }, () => rng.int(3)) };
}

const bytes = (m: Model) => m.getWeights().map((w) => Buffer.from(w.data.buffer, w.data.byteOffset, w.data.byteLength).toString('hex'));

describe(`fitInWorker (${getBackend().name} backend)`, () => {
  test('two models train in two workers at once, each matching the in-process run bit for bit', async () => {
    const a = dataset(1);
    const b = dataset(2);
    const [m1, m2] = [makeModel(1), makeModel(2)];
    const epochs: number[] = [];
    const [h1, h2] = await Promise.all([
      fitInWorker(m1, a.x, a.y, { epochs: 3, batchSize: 16, seed: 5, onEpochEnd: (l) => void epochs.push(l.epoch) }),
      fitInWorker(m2, b.x, b.y, { epochs: 2, batchSize: 16, seed: 6 }),
    ]);
    expect(h1.epochs).toHaveLength(3);
    expect(h2.epochs).toHaveLength(2);
    expect(epochs).toEqual([0, 1, 2]);

    const [r1, r2] = [makeModel(1), makeModel(2)];
    await r1.fit(a.x, a.y, { epochs: 3, batchSize: 16, seed: 5 });
    await r2.fit(b.x, b.y, { epochs: 2, batchSize: 16, seed: 6 });
    expect(bytes(m1)).toEqual(bytes(r1));
    expect(bytes(m2)).toEqual(bytes(r2));
    expect(m1.optimizer!.iterations).toBe(18);
    // The optimizer state came back too: one more step matches as well.
    await m1.fit(a.x, a.y, { epochs: 1, batchSize: 16, seed: 9 });
    await r1.fit(a.x, a.y, { epochs: 1, batchSize: 16, seed: 9 });
    expect(bytes(m1)).toEqual(bytes(r1));
  });

  test('an AbortSignal stops the worker and leaves the caller model as it was', async () => {
    const { x, y } = dataset(3);
    const net = makeModel(3);
    const before = bytes(net);
    const controller = new AbortController();
    const run = fitInWorker(net, x, y, { epochs: 50, batchSize: 4, signal: controller.signal, onBatchEnd: (l) => l.batch === 2 && controller.abort() });
    await expect(run).rejects.toBeInstanceOf(AbortError);
    expect(bytes(net)).toEqual(before);
  });
});
