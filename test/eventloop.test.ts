/**
 * A native training step runs off the main thread: while LeNet-5 trains, a 1 ms timer
 * on the main thread keeps firing.
 */
import * as path from 'path';
import { loadIdxDataset, subset } from '../lib/data';
import { lenet5 } from '../lib/model';
import { sgd } from '../lib/optim';

test('native fit keeps the event loop responsive (longest timer gap under 50 ms)', async () => {
  const all = loadIdxDataset(path.join(__dirname, '..', '..', 'shared', 'data', 'fashion-mnist'), 't10k');
  const data = subset(all, Array.from({ length: 3200 }, (_, i) => i));
  const net = lenet5([28, 28, 1], 10, 1);
  net.compile({ optimizer: sgd({ lr: 0.01, momentum: 0.9 }), backend: 'native' });
  const started = performance.now();
  let last = started;
  let longest = 0;
  let ticks = 0;
  const gaps: string[] = [];
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    if (now - last > 15) gaps.push(`${(last - started).toFixed(0)}:${(now - last).toFixed(1)}`);
    last = now;
    ticks++;
  }, 1);
  try {
    await net.fit(data.images, data.labels, { batchSize: 64, epochs: 2, seed: 1 });
  } finally {
    clearInterval(timer);
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(`event loop during native LeNet-5 fit: ${ticks} ticks in ${seconds.toFixed(2)} s, longest gap ${longest.toFixed(1)} ms ${gaps.join(" ")}`);
  expect(ticks).toBeGreaterThan(seconds * 100); // it really ran while training
  expect(longest).toBeLessThan(50);
});
