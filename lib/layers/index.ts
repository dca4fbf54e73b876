/** Layer factories, Keras style: `conv2d({ filters: 6, kernelSize: 5, padding: 'same' })`. */
import { ActivationLayer, ActivationName, ActivationOptions, FusedActivation } from './activation';
import { Conv, Conv2dTranspose, Conv2dTransposeOptions, ConvOptions } from './conv';
import { Dense, DenseOptions } from './dense';
import { Dropout, DropoutOptions } from './dropout';
import type { Layer, LayerOptions } from './layer';
import { Add, AddOptions, Concatenate, ConcatenateOptions } from './merge';
import { BatchNorm, BatchNormOptions } from './normalization';
import { GlobalPool, Pool, PoolOptions } from './pool';
import { Flatten, Reshape, ReshapeOptions } from './reshape';
import { TimeDistributed } from './wrappers';

export { Layer, Param, SymbolicTensor } from './layer';
export type { Shape, LayerOptions, ForwardContext, BackwardContext } from './layer';
export { InputLayer, input } from './input';
export { Conv, Conv2dTranspose, Dense, Pool, GlobalPool, Flatten, Reshape, ActivationLayer, BatchNorm, Dropout, Add, Concatenate, TimeDistributed };
export type {
  ConvOptions,
  Conv2dTransposeOptions,
  DenseOptions,
  PoolOptions,
  ReshapeOptions,
  ActivationName,
  ActivationOptions,
  BatchNormOptions,
  DropoutOptions,
  AddOptions,
  ConcatenateOptions,
  FusedActivation,
};
export type { Initializer } from './initializers';
export { initialize } from './initializers';

export const conv1d = (options: ConvOptions): Conv => new Conv(1, options);
export const conv2d = (options: ConvOptions): Conv => new Conv(2, options);
export const conv3d = (options: ConvOptions): Conv => new Conv(3, options);
export const conv2dTranspose = (options: Conv2dTransposeOptions): Conv2dTranspose => new Conv2dTranspose(options);
export const depthwiseConv2d = (options: Omit<ConvOptions, 'groups' | 'filters'> & { channels: number; depthMultiplier?: number }): Conv =>
  new Conv(2, { ...options, groups: options.channels, filters: options.channels * (options.depthMultiplier ?? 1) });
export const dense = (options: DenseOptions): Dense => new Dense(options);

export const maxPool1d = (options: PoolOptions = {}): Pool => new Pool('max', 1, options);
export const maxPool2d = (options: PoolOptions = {}): Pool => new Pool('max', 2, options);
export const maxPool3d = (options: PoolOptions = {}): Pool => new Pool('max', 3, options);
export const avgPool1d = (options: PoolOptions = {}): Pool => new Pool('avg', 1, options);
export const avgPool2d = (options: PoolOptions = {}): Pool => new Pool('avg', 2, options);
export const avgPool3d = (options: PoolOptions = {}): Pool => new Pool('avg', 3, options);
export const l2Pool1d = (options: PoolOptions = {}): Pool => new Pool('l2', 1, options);
export const l2Pool2d = (options: PoolOptions = {}): Pool => new Pool('l2', 2, options);
export const l2Pool3d = (options: PoolOptions = {}): Pool => new Pool('l2', 3, options);
export const globalAvgPool = (options: LayerOptions = {}): GlobalPool => new GlobalPool('avg', options);
export const globalMaxPool = (options: LayerOptions = {}): GlobalPool => new GlobalPool('max', options);

export const flatten = (options: LayerOptions = {}): Flatten => new Flatten(options);
export const reshape = (options: ReshapeOptions): Reshape => new Reshape(options);
export const batchNorm = (options: BatchNormOptions = {}): BatchNorm => new BatchNorm(options);
export const dropout = (options: DropoutOptions): Dropout => new Dropout(options);
export const add = (options: AddOptions = {}): Add => new Add(options);
export const concatenate = (options: ConcatenateOptions = {}): Concatenate => new Concatenate(options);
export const timeDistributed = (layer: Layer, options: LayerOptions = {}): TimeDistributed => new TimeDistributed(layer, options);

export const activation = (name: ActivationName, options: ActivationOptions = {}): ActivationLayer => new ActivationLayer(name, options);
export const relu = (options: LayerOptions = {}): ActivationLayer => new ActivationLayer('relu', options);
export const leakyRelu = (options: ActivationOptions = {}): ActivationLayer => new ActivationLayer('leakyRelu', options);
export const elu = (options: ActivationOptions = {}): ActivationLayer => new ActivationLayer('elu', options);
export const gelu = (options: LayerOptions = {}): ActivationLayer => new ActivationLayer('gelu', options);
export const sigmoid = (options: LayerOptions = {}): ActivationLayer => new ActivationLayer('sigmoid', options);
export const tanh = (options: LayerOptions = {}): ActivationLayer => new ActivationLayer('tanh', options);
export const softmax = (options: LayerOptions = {}): ActivationLayer => new ActivationLayer('softmax', options);
