/**
 * LeNet-5 training images/s on one backend: 2,560 Fashion-MNIST test images, batch 64,
 * one warm-up epoch, then two timed epochs.
 *   npx ts-node --transpile-only bench/lenet-train-speed.ts js|native
 */
import * as path from 'path';
import { data, sgd } from '../lib';
import { lenet5 } from '../lib/model';

async function main(): Promise<void> {
  const backend = (process.argv[2] ?? 'js') as 'js' | 'native';
  const all = data.loadIdxDataset(path.join(__dirname, '..', '..', 'shared', 'data', 'fashion-mnist'), 't10k');
  const ds = data.subset(all, Array.from({ length: 2560 }, (_, i) => i));
  const net = lenet5([28, 28, 1], 10, 1);
  net.compile({ optimizer: sgd({ lr: 0.01, momentum: 0.9 }), backend });
  await net.fit(ds.images, ds.labels, { batchSize: 64, epochs: 1, seed: 1 });
  const started = performance.now();
  await net.fit(ds.images, ds.labels, { batchSize: 64, epochs: 2, seed: 1 });
  const seconds = (performance.now() - started) / 1000;
  console.log(`${backend}: ${(5120 / seconds).toFixed(0)} images/s training LeNet-5 (batch 64)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
