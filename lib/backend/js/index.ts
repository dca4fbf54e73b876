/** The pure-TypeScript kernels, by name; each takes its buffers and integer parameters in the order of ../kernels.ts. */
import type { KernelName } from '../kernels';
import { matmul } from './matmul';
import { conv2d, conv2dBackwardInput, conv2dBackwardFilter } from './conv2d';
import { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward } from './pool2d';
import { biasAdd, biasAddGrad, relu, reluBackward, add } from './elementwise';
import { softmaxCrossEntropy } from './softmaxCrossEntropy';
import { sgdMomentum } from './sgd';

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
};

export { matmul, conv2d, conv2dBackwardInput, conv2dBackwardFilter, maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward };
export { biasAdd, biasAddGrad, relu, reluBackward, add, softmaxCrossEntropy, sgdMomentum };
