/** A labelled image set, plus the splitting, subsetting and checking helpers around it. */
import { ArgumentError, ShapeError, ValueError } from '../errors';
import { Random } from '../random';
import { Tensor, shapeSize, shapeToString } from '../tensor';

export interface Dataset {
  /** [N, ...sample shape], channels-last. */
  images: Tensor;
  /** N class indices in 0..classes-1. */
  labels: Uint8Array;
  classes: number;
}

function sampleCount(ds: Dataset, name: string): number {
  const n = ds.images.shape[0];
  if (ds.images.rank < 1 || n !== ds.labels.length) {
    throw new ShapeError(
      `${name}: expected labels.length to equal images.shape[0], got images ${shapeToString(ds.images.shape)} and ${ds.labels.length} labels`,
    );
  }
  return n;
}

/** Copies the given rows (in the given order; repeats allowed) into a new data set. */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const n = sampleCount(ds, 'subset dataset');
  const sampleShape = ds.images.shape.slice(1);
  const rowSize = shapeSize(sampleShape);
  const images = new Float32Array(indices.length * rowSize);
  const labels = new Uint8Array(indices.length);
  const src = ds.images.data;
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    if (!Number.isInteger(k) || k < 0 || k >= n) {
      throw new ArgumentError(`indices[${i}]: expected an integer in 0..${n - 1}, got ${k}`);
    }
    images.set(src.subarray(k * rowSize, (k + 1) * rowSize), i * rowSize);
    labels[i] = ds.labels[k];
  }
  return { images: new Tensor([indices.length, ...sampleShape], images), labels, classes: ds.classes };
}

/**
 * Splits after a seeded shuffle: the same data, fraction and seed always give the same
 * split. Both parts keep the shuffled order and never share a row.
 */
export function trainTestSplit(
  ds: Dataset,
  testFraction: number,
  seed: number,
): { train: Dataset; test: Dataset } {
  if (typeof testFraction !== 'number' || !(testFraction > 0 && testFraction < 1)) {
    throw new ArgumentError(`testFraction: expected a number in (0, 1), got ${String(testFraction)}`);
  }
  const n = sampleCount(ds, 'trainTestSplit dataset');
  const nTest = Math.round(n * testFraction);
  if (nTest < 1 || nTest > n - 1) {
    throw new ArgumentError(
      `testFraction: expected a split leaving at least 1 sample on each side, got ${nTest} test of ${n} samples (testFraction ${testFraction})`,
    );
  }
  const order = new Random(seed).permutation(n);
  return {
    train: subset(ds, order.subarray(nTest)),
    test: subset(ds, order.subarray(0, nTest)),
  };
}

/** Throws a ValueError naming `name` and the first NaN or Infinity, if there is one. */
export function checkFinite(data: Float32Array, name: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isFinite(v)) {
      throw new ValueError(`${name}: expected finite values, got ${v} at index ${i} (of ${data.length})`);
    }
  }
}
