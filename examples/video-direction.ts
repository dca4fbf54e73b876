/**
 * A 2D CNN runs on every frame (timeDistributed), then a 3D convolution reads motion
 * across frames: which way does the square move in an 8-frame clip?
 * Run: npx ts-node --transpile-only examples/video-direction.ts
 */
import { sequential, timeDistributed, conv2d, maxPool2d, conv3d, globalMaxPool, dense, adam, data, backendInfo } from '../lib';

async function main(): Promise<void> {
  const train = data.movingSquares({ count: 1200, frames: 8, size: 16, seed: 1 });
  const test = data.movingSquares({ count: 400, frames: 8, size: 16, seed: 2 });
  const net = sequential(
    [
      timeDistributed(conv2d({ filters: 8, kernelSize: 3, padding: 'same', activation: 'relu' })),
      timeDistributed(maxPool2d({ poolSize: 2 })),
      conv3d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
      globalMaxPool(),
      dense({ units: 4 }),
    ],
    { inputShape: [8, 16, 16, 1], name: 'video-direction', seed: 1 },
  );
  net.summary();
  net.compile({ optimizer: adam({ lr: 0.003 }), loss: 'softmaxCrossEntropy' });
  console.log(`backend: ${JSON.stringify(backendInfo())}`);
  const started = Date.now();
  await net.fit(train.images, train.labels, {
    epochs: 6,
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
