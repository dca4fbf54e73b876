export { Model, model, sequential } from './model';
export type { CompileOptions, FitOptions, History, BatchLogs, EpochLogs, Labels, Targets, ModelOptions, SequentialOptions } from './model';
export { digitsCnn, lenet5, resnet8, convNetM } from './zoo';
