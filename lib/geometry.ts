/**
 * Output size and padding of a sliding window along one axis, TensorFlow conventions.
 * Shared by layers (at build time) and eager ops.
 */
import { ArgumentError, ShapeError } from './errors';

/** 'valid', 'same', or explicit [before, after] amounts per spatial axis (a single number pads every side alike). */
export type Padding = 'valid' | 'same' | number | readonly (readonly [number, number])[];

export function checkPadding(layer: string, value: unknown, rank: number): Padding {
  if (value === undefined) return 'valid';
  if (value === 'valid' || value === 'same') return value;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (
    Array.isArray(value) &&
    value.length === rank &&
    value.every((p) => Array.isArray(p) && p.length === 2 && p.every((v) => Number.isInteger(v) && v >= 0))
  ) {
    return value as readonly (readonly [number, number])[];
  }
  throw new ArgumentError(
    `${layer}: padding must be 'valid', 'same', a non-negative integer, or ${rank} [before, after] pairs, got ${JSON.stringify(value)}`,
  );
}

export interface WindowAxis {
  out: number;
  /** Padding before the first element; the rest goes at the end. */
  padBefore: number;
}

/**
 * `same`: out = ceil(in / stride), and the odd extra pixel of padding goes at the end
 * (bottom/right), as in TensorFlow. `valid`: out = floor((in - span) / stride) + 1.
 * Explicit: out = floor((in + before + after - span) / stride) + 1.
 */
export function windowAxis(
  layer: string,
  axis: string,
  size: number,
  kernel: number,
  stride: number,
  dilation: number,
  padding: Padding,
  axisIndex = 0,
): WindowAxis {
  const span = (kernel - 1) * dilation + 1;
  if (padding === 'same') {
    const out = Math.ceil(size / stride);
    const padTotal = Math.max((out - 1) * stride + span - size, 0);
    return { out, padBefore: Math.floor(padTotal / 2) };
  }
  const [before, after] = padding === 'valid' ? [0, 0] : typeof padding === 'number' ? [padding, padding] : padding[axisIndex];
  const padded = size + before + after;
  if (span > padded) {
    throw new ShapeError(
      `${layer}: the window along ${axis} spans ${span} (kernel ${kernel}, dilation ${dilation}) but the padded input has only ${padded}` +
        (padding === 'valid' ? " with 'valid' padding" : ''),
    );
  }
  return { out: Math.floor((padded - span) / stride) + 1, padBefore: before };
}
