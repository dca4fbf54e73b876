import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { loadIdxDataset } from '../lib/data';
import { lenet5 } from '../lib/model';
import { sgd } from '../lib/optim';
async function main() {
  const train = loadIdxDataset(path.join(__dirname, '..', '..', 'shared', 'data', 'fashion-mnist'), 'train');
  const net = lenet5([28, 28, 1], 10, 1);
  net.compile({ optimizer: sgd({ lr: 0.01, momentum: 0.9 }), backend: 'native' });
  const h = monitorEventLoopDelay({ resolution: 1 }); h.enable();
  let last = performance.now(); let longest = 0;
  const timer = setInterval(() => { const now = performance.now(); longest = Math.max(longest, now - last); last = now; }, 1);
  const t0 = performance.now();
  await net.fit(train.images, train.labels, { batchSize: 64, epochs: 1, seed: 1 });
  clearInterval(timer); h.disable();
  console.log(`1 epoch LeNet-5 native fit (60k): ${((performance.now() - t0) / 1000).toFixed(1)} s; setInterval(1) longest gap ${longest.toFixed(1)} ms; monitorEventLoopDelay p50 ${(h.percentile(50) / 1e6).toFixed(2)} ms p99 ${(h.percentile(99) / 1e6).toFixed(2)} ms max ${(h.max / 1e6).toFixed(2)} ms`);
}
main();
