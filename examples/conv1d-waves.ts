/**
 * A 1D CNN tells sine, square and sawtooth waves apart in noisy time series with random
 * period, phase and amplitude. Run: npx ts-node --transpile-only examples/conv1d-waves.ts
 */
import { sequential, conv1d, maxPool1d, globalAvgPool, dense, adam, data, backendInfo } from '../lib';

async function main(): Promise<void> {
  const train = data.waves({ count: 3000, length: 64, noise: 0.3, seed: 1 });
  const test = data.waves({ count: 1000, length: 64, noise: 0.3, seed: 2 });
  const net = sequential(
    [
      conv1d({ filters: 16, kernelSize: 5, padding: 'same', activation: 'relu' }),
      maxPool1d({ poolSize: 2 }),
      conv1d({ filters: 32, kernelSize: 5, padding: 'same', activation: 'relu' }),
      maxPool1d({ poolSize: 2 }),
      conv1d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      globalAvgPool(),
      dense({ units: 3 }),
    ],
    { inputShape: [64, 1], name: 'waves-cnn', seed: 1 },
  );
  net.summary();
  net.compile({ optimizer: adam({ lr: 0.003 }), loss: 'softmaxCrossEntropy' });
  console.log(`backend: ${JSON.stringify(backendInfo())}`);
  const started = Date.now();
  await net.fit(train.images, train.labels, {
    epochs: 8,
    batchSize: 32,
    seed: 1,
    onEpochEnd: (l) => console.log(`epoch ${l.epoch + 1}: loss ${l.loss.toFixed(4)} acc ${l.accuracy?.toFixed(4)}`),
  });
  const result = await net.evaluate(test.images, test.labels);
  console.log(`trained in ${((Date.now() - started) / 1000).toFixed(1)} s; test accuracy ${(100 * (result.accuracy ?? 0)).toFixed(2)}%`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
