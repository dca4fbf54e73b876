/**
 * Event-loop delay while convkit works: one epoch of native LeNet-5 training on the 60,000
 * Fashion-MNIST images, then predict over the 10,000 test images in batches of 256 and
 * 2,000 single-image predicts, each measured with perf_hooks.monitorEventLoopDelay and a
 * 1 ms setInterval on the main thread.
 *   npx ts-node --transpile-only bench/eventloop.ts
 */
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { Tensor, backendInfo, data, sgd } from '../lib';
import { lenet5 } from '../lib/model';

async function measure(what: string, work: () => Promise<void>): Promise<void> {
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  let last = performance.now();
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  const started = performance.now();
  await work();
  clearInterval(timer);
  histogram.disable();
  const ms = (ns: number) => (ns / 1e6).toFixed(2);
  console.log(
    `${what}: ${((performance.now() - started) / 1000).toFixed(1)} s; event-loop delay p50 ${ms(histogram.percentile(50))} ms, ` +
      `p99 ${ms(histogram.percentile(99))} ms, max ${ms(histogram.max)} ms; longest 1 ms-timer gap ${longest.toFixed(1)} ms`,
  );
}

async function main(): Promise<void> {
  const dir = path.join(__dirname, '..', '..', 'shared', 'data', 'fashion-mnist');
  const train = data.loadIdxDataset(dir, 'train');
  const test = data.loadIdxDataset(dir, 't10k');
  const net = lenet5([28, 28, 1], 10, 1);
  net.compile({ optimizer: sgd({ lr: 0.01, momentum: 0.9 }), backend: 'native' });
  console.log(`backend ${JSON.stringify(backendInfo())}`);
  await measure('fit, 1 epoch of 60,000 images, batch 64', () => net.fit(train.images, train.labels, { batchSize: 64, epochs: 1, seed: 1 }).then(() => undefined));
  await measure('predict, 10,000 images in batches of 256', () => net.predict(test.images).then(() => undefined));
  const one = new Tensor([1, 28, 28, 1], test.images.data.slice(0, 784));
  await measure('predict, 2,000 single-image calls', async () => {
    for (let i = 0; i < 2000; i++) await net.predict(one);
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
