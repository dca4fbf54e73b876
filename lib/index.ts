/** convkit: convolutional neural networks for Node.js. */
export { Tensor, shapeSize } from './tensor';
export type { TensorLike } from './tensor';
export * from './errors';
export { backendInfo, getBackend, setBackend } from './backend';
export type { Backend, BackendInfo, BackendName } from './backend';
export * as layers from './layers';
export {
  input,
  conv1d,
  conv2d,
  conv3d,
  conv2dTranspose,
  depthwiseConv2d,
  dense,
  maxPool1d,
  maxPool2d,
  maxPool3d,
  avgPool1d,
  avgPool2d,
  avgPool3d,
  l2Pool1d,
  l2Pool2d,
  l2Pool3d,
  globalAvgPool,
  globalMaxPool,
  flatten,
  reshape,
  batchNorm,
  dropout,
  add,
  concatenate,
  timeDistributed,
  activation,
  relu,
  leakyRelu,
  elu,
  gelu,
  sigmoid,
  tanh,
  softmax,
} from './layers';
export { Model, model, sequential } from './model';
export type { CompileOptions, FitOptions, History, BatchLogs, EpochLogs, Labels, Targets, ModelOptions, SequentialOptions } from './model';
export { loadModel, modelFromBuffer, modelFromJSON, modelToBuffer } from './model';
export type { ModelJSON, WeightArray, SaveOptions, LoadOptions } from './model';
export { sgd, adam, adamw, stepDecay, cosineDecay, Sgd, Adam } from './optim';
export type { Optimizer, LearningRateSchedule } from './optim';
export * as losses from './losses';
export * as ops from './ops';
export * as data from './data';
export { Random } from './random';
