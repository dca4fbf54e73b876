/** Output size and padding of a sliding window along one axis, TensorFlow conventions. */
import { ArgumentError, ShapeError } from '../errors';

export type Padding = 'valid' | 'same';

export function checkPadding(layer: string, value: unknown): Padding {
  if (value === undefined) return 'valid';
  if (value === 'valid' || value === 'same') return value;
  throw new ArgumentError(`${layer}: padding must be 'valid' or 'same', got ${JSON.stringify(value)}`);
}

export interface WindowAxis {
  out: number;
  /** Padding before the first element; the rest (padTotal - padBefore) goes at the end. */
  padBefore: number;
}

/**
 * `same`: out = ceil(in / stride), and the odd extra pixel of padding goes at the end
 * (bottom/right), as in TensorFlow. `valid`: out = floor((in - span) / stride) + 1.
 */
export function windowAxis(
  layer: string,
  axis: string,
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: Padding,
): WindowAxis {
  const span = (kernel - 1) * dilation + 1;
  if (padding === 'same') {
    const out = Math.ceil(size / stride);
    const padTotal = Math.max((out - 1) * stride + span - size, 0);
    return { out, padBefore: Math.floor(padTotal / 2) };
  }
  if (span > size) {
    throw new ShapeError(
      `${layer}: the window along ${axis} spans ${span} (kernel ${kernel}, dilation ${dilation}) but the input has only ${size} with 'valid' padding`,
    );
  }
  return { out: Math.floor((size - span) / stride) + 1, padBefore: 0 };
}
