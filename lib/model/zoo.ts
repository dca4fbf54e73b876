/** Ready-made models: the CLI's defaults and the benchmarks' references. */
import { add, batchNorm, conv2d, dense, flatten, globalAvgPool, input, maxPool2d, SymbolicTensor } from '../layers';
import type { FusedActivation } from '../layers';
import { Model, model, sequential } from './model';

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

/** conv 3x3 (no bias) + batch norm, the unit of a ResNet basic block. */
function convBn(x: SymbolicTensor, filters: number, strides: number, kernelSize = 3, activation: FusedActivation = 'linear'): SymbolicTensor {
  const y = conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: 'heNormal' }).apply(x);
  return batchNorm({ activation }).apply(y);
}

/**
 * A basic block: conv-BN-relu-conv-BN, plus the shortcut (a 1x1 conv + BN projection when
 * the shape changes), then relu. Each relu rides in the batch norm or add before it.
 */
function basicBlock(x: SymbolicTensor, filters: number, strides: number): SymbolicTensor {
  const inChannels = x.shape[x.shape.length - 1];
  let y = convBn(x, filters, strides, 3, 'relu');
  y = convBn(y, filters, 1);
  const shortcut = strides !== 1 || inChannels !== filters ? convBn(x, filters, strides, 1) : x;
  return add({ activation: 'relu' }).apply(y, shortcut);
}

/**
 * ResNet-8: a conv 16 3x3 + BN + relu stem, three stages of one basic block each (16, 32
 * and 64 channels; stages 2 and 3 downsample by 2 with a projection shortcut), global
 * average pooling and a dense classifier.
 */
export function resnet8(inputShape: number[] = [32, 32, 3], classes = 10, seed?: number): Model {
  const x = input({ shape: inputShape });
  let y = convBn(x, 16, 1, 3, 'relu');
  y = basicBlock(y, 16, 1);
  y = basicBlock(y, 32, 2);
  y = basicBlock(y, 64, 2);
  y = globalAvgPool().apply(y);
  const out = dense({ units: classes }).apply(y);
  return model({ inputs: x, outputs: out, name: 'resnet8', seed });
}

/** ConvNet-M: (conv 32 3x3 same relu) x2, maxpool 2, (conv 64 3x3 same relu) x2, maxpool 2, dense 256 relu, dense 10. */
export function convNetM(inputShape: number[] = [32, 32, 3], classes = 10, seed?: number): Model {
  return sequential(
    [
      conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      conv2d({ filters: 32, kernelSize: 3, padding: 'same', activation: 'relu' }),
      maxPool2d({ poolSize: 2 }),
      conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
      conv2d({ filters: 64, kernelSize: 3, padding: 'same', activation: 'relu' }),
      maxPool2d({ poolSize: 2 }),
      flatten(),
      dense({ units: 256, activation: 'relu' }),
      dense({ units: classes }),
    ],
    { inputShape, name: 'convnet-m', seed },
  );
}
