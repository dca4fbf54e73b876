/**
 * The kernel contract: every kernel both backends implement, with its buffers, its integer
 * parameters and the buffer lengths those parameters imply. The numeric id of a kernel is
 * its index in KERNELS; native/runtime/kernel_table.cc lists the same kernels in the same
 * order (a test compares the two lists).
 *
 * Conventions shared by every kernel:
 * - Buffers are float32, row-major, channels-last: activations NHWC, conv weights HWIO
 *   ([KH, KW, C / groups, OC]), dense weights [in, out].
 * - Output buffers are overwritten, never accumulated into; an output may alias an input
 *   only where a kernel says so.
 * - Padding is explicit (padTop, padLeft); the output size says how far the window runs,
 *   and any input position outside [0, H) x [0, W) reads as zero (conv) or is skipped (pool).
 * - Kernels never allocate per element and never throw: arguments are checked above them.
 */
import { ShapeError, ArgumentError } from '../errors';

export interface KernelSpec {
  /** Kernel name, the same in both backends. */
  readonly name: string;
  /** Names of the buffer arguments, in order. */
  readonly buffers: readonly string[];
  /** Which of `buffers` the kernel reads; these are checked for NaN and Infinity in eager calls. */
  readonly inputs: readonly string[];
  /** Which of `buffers` the kernel writes, when some are read too (default: those not in inputs). */
  readonly outputs?: readonly string[];
  /** Names of the integer parameters, in order. */
  readonly ints: readonly string[];
  /** Names of the float parameters, in order (constants baked into a plan). */
  readonly floats: readonly string[];
  /** Validates the integer parameters and returns the length each buffer must have. */
  lengths(p: Readonly<Record<string, number>>): number[];
}

const CONV2D_INTS = ['n', 'h', 'w', 'c', 'oc', 'kh', 'kw', 'strideH', 'strideW', 'dilationH', 'dilationW', 'padTop', 'padLeft', 'oh', 'ow', 'groups'] as const;
const POOL2D_INTS = ['n', 'h', 'w', 'c', 'ph', 'pw', 'strideH', 'strideW', 'padTop', 'padLeft', 'oh', 'ow'] as const;

function requirePositive(kernel: string, p: Readonly<Record<string, number>>, names: readonly string[]): void {
  for (const name of names) {
    const v = p[name];
    if (!Number.isInteger(v) || v < 1) throw new ArgumentError(`${kernel}: ${name} must be a positive integer, got ${v}`);
  }
}

function requireNonNegative(kernel: string, p: Readonly<Record<string, number>>, names: readonly string[]): void {
  for (const name of names) {
    const v = p[name];
    if (!Number.isInteger(v) || v < 0) throw new ArgumentError(`${kernel}: ${name} must be a non-negative integer, got ${v}`);
  }
}

function conv2dLengths(kernel: string, p: Readonly<Record<string, number>>): { x: number; w: number; y: number } {
  requirePositive(kernel, p, ['n', 'h', 'w', 'c', 'oc', 'kh', 'kw', 'strideH', 'strideW', 'dilationH', 'dilationW', 'oh', 'ow', 'groups']);
  requireNonNegative(kernel, p, ['padTop', 'padLeft']);
  if (p.c % p.groups !== 0 || p.oc % p.groups !== 0) {
    throw new ArgumentError(`${kernel}: channels in (${p.c}) and out (${p.oc}) must both be divisible by groups (${p.groups})`);
  }
  return {
    x: p.n * p.h * p.w * p.c,
    w: p.kh * p.kw * (p.c / p.groups) * p.oc,
    y: p.n * p.oh * p.ow * p.oc,
  };
}

function pool2dLengths(kernel: string, p: Readonly<Record<string, number>>): { x: number; y: number } {
  requirePositive(kernel, p, ['n', 'h', 'w', 'c', 'ph', 'pw', 'strideH', 'strideW', 'oh', 'ow']);
  requireNonNegative(kernel, p, ['padTop', 'padLeft']);
  return { x: p.n * p.h * p.w * p.c, y: p.n * p.oh * p.ow * p.c };
}

/**
 * The kernels, in id order. Semantics:
 *
 * matmul: c[M,N] = op(a) * op(b), op(a) = transA ? a^T (a stored [K,M]) : a (stored [M,K]),
 *   op(b) = transB ? b^T (b stored [N,K]) : b (stored [K,N]). The two gradients of
 *   c = a*b are matmul calls: da = dc * b^T (transB), db = a^T * dc (transA).
 * conv2d: y[n,oy,ox,o] = sum_{ky,kx,ci} x[n, oy*sH - pT + ky*dH, ox*sW - pL + kx*dW, g*Cg + ci]
 *   * w[ky,kx,ci,o], g = floor(o / OCg), Cg = C/groups, OCg = OC/groups. No bias.
 * conv2dBackwardInput: dx = d(sum(y * dy))/dx given dy and w (dx fully overwritten).
 * conv2dBackwardFilter: dw = d(sum(y * dy))/dw given x and dy (dw fully overwritten).
 * maxPool2d: y = max over the window's in-range positions (0 if none are in range).
 * maxPool2dBackward: dx = 0, then each dy goes to the first maximum of its window in
 *   row-major window order (ties: first wins), accumulated over overlapping windows.
 * avgPool2d: y = mean over the window's in-range positions (padding is not counted;
 *   0 if none are in range). avgPool2dBackward: its exact gradient.
 * biasAdd: y[r,c] = x[r,c] + bias[c]; y may alias x. biasAddGrad: db[c] = sum_r dy[r,c].
 * relu: y = max(x, 0); y may alias x. reluBackward: dx = y > 0 ? dy : 0 (uses the output).
 * add: y = a + b elementwise; y may alias a or b.
 * softmaxCrossEntropy: loss[0] = mean over rows of -log softmax(logits)[label];
 *   dlogits = (softmax(logits) - onehot(label)) / N. labels hold integer class indices
 *   as floats; a label outside [0, K) contributes nothing (callers validate first).
 * sgdMomentum (PyTorch semantics): g = grad + weightDecay * param; velocity = momentum *
 *   velocity + g; param -= lr * velocity. hyper = [lr, momentum, weightDecay].
 */
export const KERNELS: readonly KernelSpec[] = [
  {
    name: 'matmul',
    buffers: ['a', 'b', 'c'],
    inputs: ['a', 'b'],
    ints: ['m', 'n', 'k', 'transA', 'transB'],
    floats: [],
    lengths(p) {
      requirePositive('matmul', p, ['m', 'n', 'k']);
      for (const flag of ['transA', 'transB']) {
        if (p[flag] !== 0 && p[flag] !== 1) throw new ArgumentError(`matmul: ${flag} must be 0 or 1, got ${p[flag]}`);
      }
      return [p.m * p.k, p.k * p.n, p.m * p.n];
    },
  },
  {
    name: 'conv2d',
    buffers: ['x', 'w', 'y'],
    inputs: ['x', 'w'],
    ints: CONV2D_INTS,
    floats: [],
    lengths(p) {
      const l = conv2dLengths('conv2d', p);
      return [l.x, l.w, l.y];
    },
  },
  {
    name: 'conv2dBackwardInput',
    buffers: ['dy', 'w', 'dx'],
    inputs: ['dy', 'w'],
    ints: CONV2D_INTS,
    floats: [],
    lengths(p) {
      const l = conv2dLengths('conv2dBackwardInput', p);
      return [l.y, l.w, l.x];
    },
  },
  {
    name: 'conv2dBackwardFilter',
    buffers: ['x', 'dy', 'dw'],
    inputs: ['x', 'dy'],
    ints: CONV2D_INTS,
    floats: [],
    lengths(p) {
      const l = conv2dLengths('conv2dBackwardFilter', p);
      return [l.x, l.y, l.w];
    },
  },
  {
    name: 'maxPool2d',
    buffers: ['x', 'y'],
    inputs: ['x'],
    ints: POOL2D_INTS,
    floats: [],
    lengths(p) {
      const l = pool2dLengths('maxPool2d', p);
      return [l.x, l.y];
    },
  },
  {
    name: 'maxPool2dBackward',
    buffers: ['x', 'dy', 'dx'],
    inputs: ['x', 'dy'],
    ints: POOL2D_INTS,
    floats: [],
    lengths(p) {
      const l = pool2dLengths('maxPool2dBackward', p);
      return [l.x, l.y, l.x];
    },
  },
  {
    name: 'avgPool2d',
    buffers: ['x', 'y'],
    inputs: ['x'],
    ints: POOL2D_INTS,
    floats: [],
    lengths(p) {
      const l = pool2dLengths('avgPool2d', p);
      return [l.x, l.y];
    },
  },
  {
    name: 'avgPool2dBackward',
    buffers: ['dy', 'dx'],
    inputs: ['dy'],
    ints: POOL2D_INTS,
    floats: [],
    lengths(p) {
      const l = pool2dLengths('avgPool2dBackward', p);
      return [l.y, l.x];
    },
  },
  {
    name: 'biasAdd',
    buffers: ['x', 'bias', 'y'],
    inputs: ['x', 'bias'],
    ints: ['rows', 'channels'],
    floats: [],
    lengths(p) {
      requirePositive('biasAdd', p, ['rows', 'channels']);
      return [p.rows * p.channels, p.channels, p.rows * p.channels];
    },
  },
  {
    name: 'biasAddGrad',
    buffers: ['dy', 'dbias'],
    inputs: ['dy'],
    ints: ['rows', 'channels'],
    floats: [],
    lengths(p) {
      requirePositive('biasAddGrad', p, ['rows', 'channels']);
      return [p.rows * p.channels, p.channels];
    },
  },
  {
    name: 'relu',
    buffers: ['x', 'y'],
    inputs: ['x'],
    ints: ['size'],
    floats: [],
    lengths(p) {
      requirePositive('relu', p, ['size']);
      return [p.size, p.size];
    },
  },
  {
    name: 'reluBackward',
    buffers: ['y', 'dy', 'dx'],
    inputs: ['y', 'dy'],
    ints: ['size'],
    floats: [],
    lengths(p) {
      requirePositive('reluBackward', p, ['size']);
      return [p.size, p.size, p.size];
    },
  },
  {
    name: 'add',
    buffers: ['a', 'b', 'y'],
    inputs: ['a', 'b'],
    ints: ['size'],
    floats: [],
    lengths(p) {
      requirePositive('add', p, ['size']);
      return [p.size, p.size, p.size];
    },
  },
  {
    name: 'softmaxCrossEntropy',
    buffers: ['logits', 'labels', 'loss', 'dlogits'],
    inputs: ['logits', 'labels'],
    ints: ['rows', 'classes'],
    floats: [],
    lengths(p) {
      requirePositive('softmaxCrossEntropy', p, ['rows', 'classes']);
      return [p.rows * p.classes, p.rows, 1, p.rows * p.classes];
    },
  },
  {
    name: 'sgdMomentum',
    buffers: ['param', 'grad', 'velocity', 'hyper'],
    inputs: ['param', 'grad', 'velocity', 'hyper'],
    outputs: ['param', 'velocity'],
    ints: ['size'],
    floats: [],
    lengths(p) {
      requirePositive('sgdMomentum', p, ['size']);
      return [p.size, p.size, p.size, 3];
    },
  },
];

export type KernelName =
  | 'matmul'
  | 'conv2d'
  | 'conv2dBackwardInput'
  | 'conv2dBackwardFilter'
  | 'maxPool2d'
  | 'maxPool2dBackward'
  | 'avgPool2d'
  | 'avgPool2dBackward'
  | 'biasAdd'
  | 'biasAddGrad'
  | 'relu'
  | 'reluBackward'
  | 'add'
  | 'softmaxCrossEntropy'
  | 'sgdMomentum';

const KERNEL_IDS = new Map<string, number>(KERNELS.map((k, i) => [k.name, i]));

export function kernelOutputs(spec: KernelSpec): readonly string[] {
  return spec.outputs ?? spec.buffers.filter((b) => !spec.inputs.includes(b));
}

export function kernelId(name: KernelName): number {
  const id = KERNEL_IDS.get(name);
  if (id === undefined) throw new ArgumentError(`unknown kernel '${name}'`);
  return id;
}

/** Turns named integer parameters into the ordered list a kernel takes, checking none is missing. */
export function orderedInts(spec: KernelSpec, params: Readonly<Record<string, number>>): number[] {
  return spec.ints.map((name) => {
    const v = params[name];
    if (v === undefined) throw new ArgumentError(`${spec.name}: missing integer parameter '${name}'`);
    return v;
  });
}

export function namedInts(spec: KernelSpec, ints: ArrayLike<number>): Record<string, number> {
  const p: Record<string, number> = {};
  spec.ints.forEach((name, i) => (p[name] = ints[i]));
  return p;
}

/**
 * Checks one kernel call the way the addon does: the buffer count, each buffer's length,
 * and the integer parameters. Throws a ShapeError or ArgumentError naming the argument.
 */
export function checkKernelCall(spec: KernelSpec, buffers: readonly Float32Array[], ints: ArrayLike<number>, floatCount = 0): void {
  if (!Array.isArray(buffers)) throw new ArgumentError(`${spec.name}: buffers must be an array of Float32Array`);
  buffers.forEach((buf, i) => {
    if (!(buf instanceof Float32Array)) {
      throw new ArgumentError(`${spec.name}: buffer '${spec.buffers[i] ?? i}' must be a Float32Array, got ${describeType(buf)}`);
    }
  });
  checkKernelLengths(
    spec,
    buffers.map((b) => b.length),
    ints,
    floatCount,
  );
}

/** The length and parameter half of checkKernelCall, for plans whose buffers do not exist yet. */
export function checkKernelLengths(spec: KernelSpec, bufferLengths: readonly number[], ints: ArrayLike<number>, floatCount = 0): void {
  if (!(Array.isArray(ints) || ints instanceof Int32Array)) {
    throw new ArgumentError(`${spec.name}: ints must be an array of integers or an Int32Array, got ${describeType(ints)}`);
  }
  for (let i = 0; i < ints.length; i++) {
    const v = ints[i];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -2147483648 || v > 2147483647) {
      throw new ArgumentError(`${spec.name}: ${spec.ints[i] ?? `ints[${i}]`} must be a 32-bit integer, got ${String(v)}`);
    }
  }
  if (floatCount !== spec.floats.length) {
    throw new ArgumentError(`${spec.name}: expected ${spec.floats.length} float parameters, got ${floatCount}`);
  }
  if (ints.length !== spec.ints.length) {
    throw new ArgumentError(`${spec.name}: expected ${spec.ints.length} integer parameters (${spec.ints.join(', ')}), got ${ints.length}`);
  }
  if (bufferLengths.length !== spec.buffers.length) {
    throw new ArgumentError(`${spec.name}: expected ${spec.buffers.length} buffers (${spec.buffers.join(', ')}), got ${bufferLengths.length}`);
  }
  const lengths = spec.lengths(namedInts(spec, ints));
  bufferLengths.forEach((length, i) => {
    if (length !== lengths[i]) {
      throw new ShapeError(`${spec.name}: buffer '${spec.buffers[i]}' must have ${lengths[i]} elements, got ${length}`);
    }
  });
}

export function describeType(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v !== 'object') return typeof v;
  return (v as object).constructor?.name ?? 'object';
}
