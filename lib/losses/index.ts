/** Losses, as kernel calls in the plan: each writes the mean loss and the gradient of the model output. */
import type { BufferRef, PlanBuilder } from '../plan/builder';
import { ArgumentError, ShapeError } from '../errors';
import { shapeToString } from '../tensor';

export interface Loss {
  readonly kind: string;
  /** Checks the model's output shape suits this loss; returns the number of classes. */
  classes(outputShape: readonly number[]): number;
  /** Emits loss and gradient; `labels` holds one class index per row. Returns dL/d(output). */
  emit(builder: PlanBuilder, output: BufferRef, labels: BufferRef, loss: BufferRef, rows: number, classes: number, dOutput: BufferRef): void;
}

/** Softmax cross-entropy on logits with integer class labels (sparse categorical cross-entropy). */
export const softmaxCrossEntropy: Loss = {
  kind: 'softmaxCrossEntropy',
  classes(outputShape) {
    if (outputShape.length !== 1 || outputShape[0] < 2) {
      throw new ShapeError(`softmaxCrossEntropy: the model output must be [classes] logits with classes >= 2, got ${shapeToString(outputShape)}`);
    }
    return outputShape[0];
  },
  emit(builder, output, labels, loss, rows, classes, dOutput) {
    builder.emit('softmaxCrossEntropy', [output, labels, loss, dOutput], [rows, classes]);
  },
};

const ALIASES: Record<string, Loss> = {
  softmaxCrossEntropy,
  sparseCategoricalCrossentropy: softmaxCrossEntropy,
  crossEntropy: softmaxCrossEntropy,
};

export function resolveLoss(value: unknown): Loss {
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(ALIASES, value)) return ALIASES[value];
  throw new ArgumentError(`compile: loss must be one of ${Object.keys(ALIASES).join(', ')}, got ${JSON.stringify(value)}`);
}
