export { Model, model, sequential } from './model';
export type { CompileOptions, FitOptions, History, BatchLogs, EpochLogs, Labels, Targets, ModelOptions, SequentialOptions } from './model';
export { digitsCnn, lenet5, resnet8, convNetM } from './zoo';
export { loadModel, loadStateInto, modelFromBuffer, modelFromJSON, modelToBuffer, MODEL_FORMAT, MODEL_FORMAT_VERSION, CHECKPOINT_FILE } from './io';
export type { ModelJSON, WeightArray, SaveOptions, LoadOptions, CheckpointJSON } from './io';
export { layerKinds } from './registry';
