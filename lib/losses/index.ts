/**
 * Losses, as kernel calls in the plan: each writes the mean loss and the gradient of the
 * model output. Sparse softmax cross-entropy takes one class index per example; the others
 * take targets of the output's shape.
 */
import type { BufferRef, PlanBuilder } from '../plan/builder';
import type { KernelName } from '../backend/kernels';
import { ArgumentError, ShapeError } from '../errors';
import { shapeSize, shapeToString } from '../tensor';

export interface Loss {
  readonly kind: string;
  /** 'labels': one class index per example; 'dense': a target of the output's shape. */
  readonly targets: 'labels' | 'dense';
  /** Whether 'accuracy' means something for this loss. */
  readonly classification: boolean;
  /** Throws when the model output cannot feed this loss. */
  check(outputShape: readonly number[]): void;
  emit(builder: PlanBuilder, output: BufferRef, target: BufferRef, loss: BufferRef, dOutput: BufferRef, batch: number, outputShape: readonly number[]): void;
  /** Correct predictions in a batch (fraction of elements for binary targets, times rows). */
  hits?(output: Float32Array, target: Float32Array, rows: number): number;
}

function argmax(data: Float32Array, offset: number, length: number): number {
  let best = 0;
  for (let c = 1; c < length; c++) if (data[offset + c] > data[offset + best]) best = c;
  return best;
}

function requireClasses(kind: string, outputShape: readonly number[]): void {
  if (outputShape.length !== 1 || outputShape[0] < 2) {
    throw new ShapeError(`${kind}: the model output must be [classes] logits with classes >= 2, got ${shapeToString(outputShape)}`);
  }
}

/** Softmax cross-entropy on logits with integer class labels (sparse categorical cross-entropy). */
export const softmaxCrossEntropy: Loss = {
  kind: 'softmaxCrossEntropy',
  targets: 'labels',
  classification: true,
  check: (outputShape) => requireClasses('softmaxCrossEntropy', outputShape),
  emit(builder, output, target, loss, dOutput, batch, outputShape) {
    builder.emit('softmaxCrossEntropy', [output, target, loss, dOutput], [batch, outputShape[0]]);
  },
  hits(output, target, rows) {
    const classes = output.length / rows;
    let hits = 0;
    for (let r = 0; r < rows; r++) if (argmax(output, r * classes, classes) === target[r]) hits++;
    return hits;
  },
};

/** Softmax cross-entropy on logits with one-hot (or soft) targets. */
export const categoricalCrossEntropy: Loss = {
  kind: 'categoricalCrossEntropy',
  targets: 'dense',
  classification: true,
  check: (outputShape) => requireClasses('categoricalCrossEntropy', outputShape),
  emit(builder, output, target, loss, dOutput, batch, outputShape) {
    builder.emit('softmaxCrossEntropyDense', [output, target, loss, dOutput], [batch, outputShape[0]]);
  },
  hits(output, target, rows) {
    const classes = output.length / rows;
    let hits = 0;
    for (let r = 0; r < rows; r++) if (argmax(output, r * classes, classes) === argmax(target, r * classes, classes)) hits++;
    return hits;
  },
};

/** Element-wise losses over targets of the output's shape. */
function elementwiseLoss(kind: string, kernel: KernelName, classification: boolean, floats: () => number[] = () => []): Loss {
  return {
    kind,
    targets: 'dense',
    classification,
    check(outputShape) {
      if (shapeSize(outputShape) < 1) throw new ShapeError(`${kind}: the model output is empty`);
    },
    emit(builder, output, target, loss, dOutput) {
      builder.emit(kernel, [output, target, loss, dOutput], [output.length], floats());
    },
    hits: classification
      ? (output, target, rows) => {
          let hits = 0;
          for (let i = 0; i < output.length; i++) if (output[i] > 0 === target[i] > 0.5) hits++;
          return (hits * rows) / output.length;
        }
      : undefined,
  };
}

/** Binary cross-entropy on logits: every output element is an independent yes/no. */
export const binaryCrossEntropy = elementwiseLoss('binaryCrossEntropy', 'sigmoidCrossEntropy', true);
export const meanSquaredError = elementwiseLoss('meanSquaredError', 'meanSquaredError', false);

/** Smooth L1 (Huber-like, PyTorch's definition); beta defaults to 1. */
export function smoothL1(options: { beta?: number } = {}): Loss {
  const beta = options.beta ?? 1;
  if (typeof beta !== 'number' || !(beta > 0) || !Number.isFinite(beta)) throw new ArgumentError(`smoothL1: beta must be a positive number, got ${String(beta)}`);
  return { ...elementwiseLoss('smoothL1', 'smoothL1', false, () => [beta]), beta } as Loss;
}

const ALIASES: Record<string, () => Loss> = {
  softmaxCrossEntropy: () => softmaxCrossEntropy,
  sparseCategoricalCrossentropy: () => softmaxCrossEntropy,
  crossEntropy: () => softmaxCrossEntropy,
  categoricalCrossEntropy: () => categoricalCrossEntropy,
  categoricalCrossentropy: () => categoricalCrossEntropy,
  binaryCrossEntropy: () => binaryCrossEntropy,
  binaryCrossentropy: () => binaryCrossEntropy,
  meanSquaredError: () => meanSquaredError,
  mse: () => meanSquaredError,
  smoothL1: () => smoothL1(),
};

export function resolveLoss(value: unknown): Loss {
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(ALIASES, value)) return ALIASES[value]();
  if (value && typeof value === 'object' && typeof (value as Loss).emit === 'function' && typeof (value as Loss).kind === 'string') return value as Loss;
  throw new ArgumentError(`compile: loss must be one of ${Object.keys(ALIASES).join(', ')} or a loss object, got ${JSON.stringify(value)}`);
}
