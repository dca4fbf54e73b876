/**
 * Generated data sets for sequences and video: labelled, seeded, small enough to train
 * in seconds, hard enough that a model must use the structure the layer is for.
 */
import { ArgumentError } from '../errors';
import { Random } from '../random';
import { Tensor } from '../tensor';
import type { Dataset } from './dataset';

function checkCount(name: string, value: unknown, min = 1): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ArgumentError(`${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

export const WAVE_CLASSES = ['sine', 'square', 'sawtooth'] as const;

/**
 * Time series of one channel, [count, length, 1]: a sine, square or sawtooth wave with a
 * random period (8 to 24 steps), phase and amplitude (0.5 to 1.5), plus Gaussian noise.
 */
export function waves(options: { count: number; length?: number; noise?: number; seed?: number }): Dataset {
  const count = checkCount('waves: count', options?.count);
  const length = checkCount('waves: length', options.length ?? 64, 8);
  const noise = options.noise ?? 0.2;
  if (typeof noise !== 'number' || !(noise >= 0)) throw new ArgumentError(`waves: noise must be a number >= 0, got ${String(noise)}`);
  const rng = new Random(options.seed ?? 1);
  const images = new Tensor([count, length, 1]);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const label = rng.int(3);
    const period = rng.uniformRange(8, 24);
    const phase = rng.uniform();
    const amplitude = rng.uniformRange(0.5, 1.5);
    for (let t = 0; t < length; t++) {
      const cycle = (t / period + phase) % 1;
      const clean = label === 0 ? Math.sin(2 * Math.PI * cycle) : label === 1 ? (cycle < 0.5 ? 1 : -1) : 2 * cycle - 1;
      images.data[i * length + t] = amplitude * clean + noise * rng.normal();
    }
    labels[i] = label;
  }
  return { images, labels, classes: 3 };
}

export const DIRECTIONS = ['right', 'left', 'down', 'up'] as const;

/**
 * Video clips [count, frames, size, size, 1]: a 3x3 bright square moving one pixel per
 * frame right, left, down or up from a random start, over a dim noisy background. The
 * label is the direction; no single frame tells it.
 */
export function movingSquares(options: { count: number; frames?: number; size?: number; noise?: number; seed?: number }): Dataset {
  const count = checkCount('movingSquares: count', options?.count);
  const frames = checkCount('movingSquares: frames', options.frames ?? 8, 2);
  const size = checkCount('movingSquares: size', options.size ?? 16, frames + 3);
  const noise = options.noise ?? 0.1;
  const rng = new Random(options.seed ?? 1);
  const images = new Tensor([count, frames, size, size, 1]);
  const labels = new Uint8Array(count);
  const frameSize = size * size;
  const square = 3;
  for (let i = 0; i < count; i++) {
    const label = rng.int(4);
    const [dx, dy] = [
      [1, 0],
      [-1, 0],
      [0, 1],
      [0, -1],
    ][label];
    // Start so that the whole path stays inside the frame.
    const span = size - square - (frames - 1);
    let x = dx > 0 ? rng.int(span + 1) : dx < 0 ? frames - 1 + rng.int(span + 1) : rng.int(size - square + 1);
    let y = dy > 0 ? rng.int(span + 1) : dy < 0 ? frames - 1 + rng.int(span + 1) : rng.int(size - square + 1);
    for (let f = 0; f < frames; f++) {
      const base = (i * frames + f) * frameSize;
      for (let p = 0; p < frameSize; p++) images.data[base + p] = noise * rng.uniform();
      for (let r = 0; r < square; r++) for (let c = 0; c < square; c++) images.data[base + (y + r) * size + (x + c)] = 1;
      x += dx;
      y += dy;
    }
    labels[i] = label;
  }
  return { images, labels, classes: 4 };
}
