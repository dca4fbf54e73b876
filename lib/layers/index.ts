/** Layer factories, Keras style: `conv2d({ filters: 6, kernelSize: 5, padding: 'same' })`. */
import { ActivationLayer } from './activation';
import { Conv2d, Conv2dOptions } from './conv2d';
import { Dense, DenseOptions } from './dense';
import type { LayerOptions } from './layer';
import { Pool2d, Pool2dOptions } from './pool2d';
import { Flatten } from './reshape';

export { Layer, Param, SymbolicTensor } from './layer';
export type { Shape, LayerOptions, ForwardContext, BackwardContext } from './layer';
export { InputLayer, input } from './input';
export { Conv2d, Dense, Pool2d, Flatten, ActivationLayer };
export type { Conv2dOptions, DenseOptions, Pool2dOptions };
export type { Initializer } from './initializers';
export { initialize } from './initializers';

export const conv2d = (options: Conv2dOptions): Conv2d => new Conv2d(options);
export const dense = (options: DenseOptions): Dense => new Dense(options);
export const maxPool2d = (options: Pool2dOptions = {}): Pool2d => new Pool2d('max', options);
export const avgPool2d = (options: Pool2dOptions = {}): Pool2d => new Pool2d('avg', options);
export const flatten = (options: LayerOptions = {}): Flatten => new Flatten(options);
export const relu = (options: LayerOptions = {}): ActivationLayer => new ActivationLayer('relu', options);
