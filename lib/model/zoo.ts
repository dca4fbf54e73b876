/** Ready-made models: the CLI's defaults and the benchmarks' references. */
import { conv2d, dense, flatten, maxPool2d } from '../layers';
import { Model, sequential } from './model';

/** A small CNN for the embedded 8x8 digits. */
export function digitsCnn(seed?: number): Model {
  return sequential(
    [
      conv2d({ filters: 16, kernelSize: 3, padding: 'same', activation: 'relu' }),
      maxPool2d({ poolSize: 2 }),
      conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      maxPool2d({ poolSize: 2 }),
      flatten(),
      dense({ units: 64, activation: 'relu' }),
      dense({ units: 10 }),
    ],
    { inputShape: [8, 8, 1], name: 'digits-cnn', seed },
  );
}

/**
 * LeNet-5 as in the benchmarks: conv 6@5x5 same, relu, maxpool 2, conv 16@5x5 valid,
 * relu, maxpool 2, dense 120, dense 84, dense 10 (relu between dense layers).
 */
export function lenet5(inputShape: number[] = [28, 28, 1], classes = 10, seed?: number): Model {
  return sequential(
    [
      conv2d({ filters: 6, kernelSize: 5, padding: 'same', activation: 'relu' }),
      maxPool2d({ poolSize: 2 }),
      conv2d({ filters: 16, kernelSize: 5, padding: 'valid', activation: 'relu' }),
      maxPool2d({ poolSize: 2 }),
      flatten(),
      dense({ units: 120, activation: 'relu' }),
      dense({ units: 84, activation: 'relu' }),
      dense({ units: classes }),
    ],
    { inputShape, name: 'lenet5', seed },
  );
}
