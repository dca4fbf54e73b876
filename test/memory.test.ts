/**
 * Memory stays flat: after warm-up, more training steps and predict calls leave RSS and
 * `external` (typed arrays, addon buffers) within 5%. The long run (10,000 steps and
 * 100,000 predicts) is bench/memory.ts; this is the trend check.
 */
import * as v8 from 'v8';
import * as vm from 'vm';
import { Tensor, sgd, getBackend } from '../lib';
import { digitsCnn } from '../lib/model';
import { Random } from '../lib/random';

function batch(rows: number, seed: number): { x: Tensor; y: Uint8Array } {
  const rng = new Random(seed);
  const x = new Tensor([rows, 8, 8, 1]);
  for (let i = 0; i < x.data.length; i++) x.data[i] = rng.uniform();
  return { x, y: Uint8Array.from({ length: rows }, () => rng.int(10)) };
}

/** A full garbage collection before each reading, so the heap's own growth does not read as a leak. */
v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

test(`training steps and predict calls do not grow memory (${getBackend().name} backend)`, async () => {
  const net = digitsCnn(1);
  net.compile({ optimizer: sgd({ lr: 0.01, momentum: 0.9 }) });
  const { x, y } = batch(320, 1);
  const one = batch(1, 2).x;
  const steps = getBackend().name === 'native' ? 30 : 6; // epochs of 10 steps
  const predicts = getBackend().name === 'native' ? 3000 : 600;
  const run = async (epochs: number, calls: number) => {
    await net.fit(x, y, { batchSize: 32, epochs, seed: 1 });
    for (let i = 0; i < calls; i++) await net.predict(one);
  };
  // Warm-up (plans, arenas, JIT, malloc's per-thread arenas), then two equal windows.
  await run(steps, predicts);
  await run(steps, predicts);
  gc();
  const before = process.memoryUsage();
  await run(steps * 2, predicts * 2);
  gc();
  const after = process.memoryUsage();
  const growth = (a: number, b: number) => (b - a) / a;
  console.log(`rss ${(before.rss / 2 ** 20).toFixed(1)} -> ${(after.rss / 2 ** 20).toFixed(1)} MiB, external ${(before.external / 2 ** 20).toFixed(2)} -> ${(after.external / 2 ** 20).toFixed(2)} MiB`);
  expect(growth(before.rss, after.rss)).toBeLessThan(0.05);
  expect(growth(before.external, after.external)).toBeLessThan(0.05);
});
