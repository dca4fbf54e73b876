/** The pure-TypeScript kernels, by name; each takes its buffers and integer parameters in the order of ../kernels.ts. */
import type { KernelName } from '../kernels';
import { matmul } from './matmul';
import { conv2d, conv2dBackwardInput, conv2dBackwardFilter } from './conv2d';
import { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } from './pool2d';
import { biasAdd, biasAddGrad, relu, reluBackward, add } from './elementwise';
import { softmaxCrossEntropy } from './softmaxCrossEntropy';
import { sgdMomentum } from './sgd';
import { conv3d, conv3dBackwardInput, conv3dBackwardFilter } from './conv3d';
import { maxPool3d, maxPool3dBackward, avgPool3d, avgPool3dBackward, l2Pool3d, l2Pool3dBackward } from './pool3d';
import { batchNormTrain, batchNormBackward, batchNormInference } from './batchNorm';
import { activation, activationBackward, softmax, softmaxBackward, mul } from './activation';
import { scatterColumns, gatherColumns } from './columns';
import { softmaxCrossEntropyDense, sigmoidCrossEntropy, meanSquaredError, smoothL1 } from './losses';
import { sgdNesterov, adam, sumSquares, clipByGlobalNorm } from './optimizers';
import { conv2dBiasActivation, matmulBiasActivation, reluBackwardBiasGrad, addRelu, batchNormReluTrain, batchNormReluBackward } from './fused';

export type JsKernel = (buffers: Float32Array[], ints: ArrayLike<number>, floats: ArrayLike<number>) => void;

export const JS_KERNELS: Record<KernelName, JsKernel> = {
  matmul,
  conv2d,
  conv2dBackwardInput,
  conv2dBackwardFilter,
  maxPool2d,
  maxPool2dBackward,
  avgPool2d,
  avgPool2dBackward,
  biasAdd,
  biasAddGrad,
  relu,
  reluBackward,
  add,
  softmaxCrossEntropy,
  sgdMomentum,
  conv3d,
  conv3dBackwardInput,
  conv3dBackwardFilter,
  maxPool3d,
  maxPool3dBackward,
  avgPool3d,
  avgPool3dBackward,
  l2Pool3d,
  l2Pool3dBackward,
  batchNormTrain,
  batchNormBackward,
  batchNormInference,
  activation,
  activationBackward,
  softmax,
  softmaxBackward,
  mul,
  scatterColumns,
  gatherColumns,
  softmaxCrossEntropyDense,
  sigmoidCrossEntropy,
  meanSquaredError,
  smoothL1,
  sgdNesterov,
  adam,
  sumSquares,
  clipByGlobalNorm,
  conv2dBiasActivation,
  matmulBiasActivation,
  reluBackwardBiasGrad,
  addRelu,
  batchNormReluTrain,
  batchNormReluBackward,
};

export { matmul, conv2d, conv2dBackwardInput, conv2dBackwardFilter, maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward };
export { biasAdd, biasAddGrad, relu, reluBackward, add, softmaxCrossEntropy, sgdMomentum };
export { conv3d, conv3dBackwardInput, conv3dBackwardFilter, maxPool3d, maxPool3dBackward, avgPool3d, avgPool3dBackward };
export { l2Pool3d, l2Pool3dBackward, batchNormTrain, batchNormBackward, batchNormInference };
export { activation, activationBackward, softmax, softmaxBackward, mul, scatterColumns, gatherColumns };
export { softmaxCrossEntropyDense, sigmoidCrossEntropy, meanSquaredError, smoothL1, sgdNesterov, adam, sumSquares, clipByGlobalNorm };
export { conv2dBiasActivation, matmulBiasActivation, reluBackwardBiasGrad, addRelu, batchNormReluTrain, batchNormReluBackward };
