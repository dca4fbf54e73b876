/**
 * A seeded generator for initialisation, shuffling and dropout. xoshiro128** over four
 * uint32 words, seeded through splitmix32. Everything up to uniform() is integer math
 * (Math.imul, shifts), so the same seed gives the same bits on every platform; normal()
 * adds Math.log/sqrt/cos/sin, which V8 computes in software (fdlibm port), not via libm.
 */
import { ArgumentError } from './errors';

const TWO_POW_32 = 4294967296;

/** splitmix32 finaliser: a bijective 32-bit mix. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** Fills 4 words of state from a splitmix32 sequence that starts at `start`. */
function splitmixState(start: number): Uint32Array {
  const s = new Uint32Array(4);
  let x = start >>> 0;
  for (let i = 0; i < 4; i++) {
    x = (x + 0x9e3779b9) >>> 0;
    s[i] = mix32(x);
  }
  // xoshiro's one forbidden state; splitmix never gives it in practice, but be sure.
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 0x9e3779b9;
  return s;
}

/** Folds all 64 bits of a finite double into one 32-bit word (-0 counts as 0). */
function hashSeed(seed: number): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, seed === 0 ? 0 : seed, true);
  const lo = view.getUint32(0, true);
  const hi = view.getUint32(4, true);
  return mix32((mix32(hi + 0x6a09e667) ^ lo) >>> 0);
}

export class Random {
  private readonly s: Uint32Array;
  private spare: number | null = null;

  constructor(seed: number) {
    if (typeof seed !== 'number' || !Number.isFinite(seed)) {
      throw new ArgumentError(`seed: expected a finite number, got ${String(seed)}`);
    }
    this.s = splitmixState(hashSeed(seed));
  }

  /** Next raw 32-bit output of xoshiro128**, as a number in [0, 2^32). */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1), a multiple of 2^-32 (exact in float64). */
  uniform(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Uniform in [lo, hi). */
  uniformRange(lo: number, hi: number): number {
    if (!Number.isFinite(lo) || !Number.isFinite(hi) || !(lo < hi)) {
      throw new ArgumentError(`uniformRange: expected finite lo < hi, got lo=${lo}, hi=${hi}`);
    }
    const r = lo + (hi - lo) * this.uniform();
    return r < hi ? r : lo; // rounding can reach hi when the range is wide
  }

  /** Standard normal by Box-Muller; the second value of each pair is kept for the next call. */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    const u1 = 1 - this.uniform(); // (0, 1], so log never sees 0
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Unbiased integer in [0, n), by rejection; n is an integer in [1, 2^32]. */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) {
      throw new ArgumentError(`int: expected an integer n in [1, 2^32], got ${n}`);
    }
    // Reject the lowest (2^32 mod n) outputs so every residue is equally likely.
    const threshold = (TWO_POW_32 - n) % n;
    for (;;) {
      const r = this.nextUint32();
      if (r >= threshold) return r % n;
    }
  }

  /** Fisher-Yates shuffle in place; returns the same array. */
  shuffle<T extends { length: number; [index: number]: any }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** A random permutation of 0..n-1. */
  permutation(n: number): Uint32Array {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
      throw new ArgumentError(`permutation: expected a non-negative integer n, got ${n}`);
    }
    const p = new Uint32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    return this.shuffle(p);
  }

  /**
   * A new generator whose stream is derived from (and advances) this one, so each purpose
   * (init, shuffling, dropout) can own a stream and the order of forks alone fixes them.
   */
  fork(): Random {
    const child = new Random(0);
    for (let i = 0; i < 4; i++) child.s[i] = mix32((this.nextUint32() ^ Math.imul(0x632be5ab, i + 1)) >>> 0);
    if ((child.s[0] | child.s[1] | child.s[2] | child.s[3]) === 0) child.s[0] = 0x9e3779b9;
    return child;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
