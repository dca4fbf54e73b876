/**
 * ResNet-8 (residual blocks with batch norm and 1x1 projection shortcuts) on
 * Fashion-MNIST. Run from the repository root, beside ../shared/data:
 *   npx ts-node --transpile-only examples/resnet8-fashion.ts [epochs]
 */
import * as path from 'path';
import { data, sgd, cosineDecay, backendInfo } from '../lib';
import { resnet8 } from '../lib/model';

async function main(): Promise<void> {
  const epochs = Number(process.argv[2] ?? 8);
  const dir = path.join(__dirname, '..', '..', 'shared', 'data', 'fashion-mnist');
  const train = data.loadIdxDataset(dir, 'train');
  const test = data.loadIdxDataset(dir, 't10k');
  const net = resnet8([28, 28, 1], 10, 1);
  net.summary();
  const batchSize = 64;
  const steps = epochs * Math.ceil(train.labels.length / batchSize);
  net.compile({ optimizer: sgd({ lr: cosineDecay({ initial: 0.05, decaySteps: steps }), momentum: 0.9, weightDecay: 5e-4 }), loss: 'softmaxCrossEntropy' });
  console.log(`backend: ${JSON.stringify(backendInfo())}`);
  const started = Date.now();
  await net.fit(train.images, train.labels, {
    epochs,
    batchSize,
    seed: 1,
    validationData: [test.images, test.labels],
    onEpochEnd: (l) =>
      console.log(
        `epoch ${l.epoch + 1}: loss ${l.loss.toFixed(4)} acc ${l.accuracy?.toFixed(4)}  test acc ${l.valAccuracy?.toFixed(4)}  (${((Date.now() - started) / 1000).toFixed(0)} s)`,
      ),
  });
  const result = await net.evaluate(test.images, test.labels);
  console.log(`trained in ${((Date.now() - started) / 1000).toFixed(1)} s; test accuracy ${(100 * (result.accuracy ?? 0)).toFixed(2)}%`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
