/**
 * The long memory run: 10,000 LeNet-5 training steps and 100,000 predict calls, with RSS
 * and `external` read after a full GC at each checkpoint. Growth is measured from the end
 * of warm-up (the first 10%).
 *   node --expose-gc -r ts-node/register/transpile-only bench/memory.ts [steps] [predicts]
 */
import * as path from 'path';
import { Tensor, data, sgd, backendInfo } from '../lib';
import { lenet5 } from '../lib/model';

async function main(): Promise<void> {
  const steps = Number(process.argv[2] ?? 10000);
  const predicts = Number(process.argv[3] ?? 100000);
  const gc = (global as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with node --expose-gc');
  const all = data.loadIdxDataset(path.join(__dirname, '..', '..', 'shared', 'data', 'fashion-mnist'), 't10k');
  const net = lenet5([28, 28, 1], 10, 1);
  net.compile({ optimizer: sgd({ lr: 0.01, momentum: 0.9 }) });
  const reading = () => {
    gc();
    const m = process.memoryUsage();
    return { rss: m.rss / 2 ** 20, external: m.external / 2 ** 20 };
  };
  const report = (what: string, base: { rss: number; external: number }, now: { rss: number; external: number }) =>
    console.log(
      `${what}: rss ${now.rss.toFixed(1)} MiB (${(((now.rss - base.rss) / base.rss) * 100).toFixed(1)}% since warm-up), ` +
        `external ${now.external.toFixed(2)} MiB (${(((now.external - base.external) / base.external) * 100).toFixed(1)}%)`,
    );
  console.log(`backend ${JSON.stringify(backendInfo())}`);
  const stepsPerEpoch = all.labels.length / 64; // 156.25 -> 157 steps with the remainder
  const epochs = Math.ceil(steps / 157);
  let base: { rss: number; external: number } | undefined;
  let done = 0;
  await net.fit(all.images, all.labels, {
    epochs,
    batchSize: 64,
    seed: 1,
    onEpochEnd: (l) => {
      done = (l.epoch + 1) * Math.ceil(stepsPerEpoch);
      if (!base && done >= steps / 10) base = reading();
      else if (base && (l.epoch + 1) % Math.ceil(epochs / 5) === 0) report(`after ${done} training steps`, base, reading());
    },
  });
  report(`after ${done} training steps`, base!, reading());
  const one = new Tensor([1, 28, 28, 1], all.images.data.slice(0, 784));
  let predictBase: { rss: number; external: number } | undefined;
  for (let i = 1; i <= predicts; i++) {
    await net.predict(one);
    if (i === predicts / 10) predictBase = reading();
    else if (predictBase && i % (predicts / 5) === 0) report(`after ${i} predict calls`, predictBase, reading());
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
