/** convkit: convolutional neural networks for Node.js. */
export { Tensor, shapeSize } from './tensor';
export type { TensorLike } from './tensor';
export * from './errors';
export { backendInfo, getBackend, setBackend } from './backend';
export type { Backend, BackendInfo, BackendName } from './backend';
export * as layers from './layers';
export { input, conv2d, dense, maxPool2d, avgPool2d, flatten, relu } from './layers';
export { Model, model, sequential } from './model';
export type { CompileOptions, FitOptions, History, BatchLogs, EpochLogs, Labels, ModelOptions, SequentialOptions } from './model';
export { sgd, Sgd } from './optim';
export * as data from './data';
export { Random } from './random';
