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
  /**
   * Inputs the native backend checks for NaN and Infinity as part of the kernel call, not in
   * a separate pass first: each image just before it is used where the kernel's path reads
   * them image by image (one pass over memory instead of two), after the kernel otherwise.
   * When one of these holds a bad value the call still throws the same ValueError, but the
   * outputs may have been written by then: their contents are unspecified. The TypeScript
   * backend checks every input before it writes anything.
   */
  readonly checkedWhileRunning?: readonly string[];
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

function requireFlag(kernel: string, p: Readonly<Record<string, number>>, name: string): void {
  if (p[name] !== 0 && p[name] !== 1) throw new ArgumentError(`${kernel}: ${name} must be 0 or 1, got ${p[name]}`);
}

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

function checkActivationKind(kernel: string, kind: number): void {
  if (!Number.isInteger(kind) || kind < 0 || kind >= ACTIVATION_KINDS.length) {
    throw new ArgumentError(`${kernel}: kind must be an activation code in [0, ${ACTIVATION_KINDS.length}), got ${kind}`);
  }
}

function columnLengths(kernel: string, p: Readonly<Record<string, number>>): [number, number] {
  requirePositive(kernel, p, ['rows', 'width', 'yWidth']);
  requireNonNegative(kernel, p, ['offset']);
  if (p.offset + p.width > p.yWidth) {
    throw new ArgumentError(`${kernel}: columns [${p.offset}, ${p.offset + p.width}) do not fit in ${p.yWidth}`);
  }
  return [p.rows * p.width, p.rows * p.yWidth];
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


const CONV3D_INTS = [
  'n', 'd', 'h', 'w', 'c', 'oc', 'kd', 'kh', 'kw',
  'strideD', 'strideH', 'strideW', 'dilationD', 'dilationH', 'dilationW',
  'padFront', 'padTop', 'padLeft', 'od', 'oh', 'ow', 'groups',
] as const;
const POOL3D_INTS = ['n', 'd', 'h', 'w', 'c', 'pd', 'ph', 'pw', 'strideD', 'strideH', 'strideW', 'padFront', 'padTop', 'padLeft', 'od', 'oh', 'ow'] as const;

function conv3dLengths(kernel: string, p: Readonly<Record<string, number>>): { x: number; w: number; y: number } {
  requirePositive(kernel, p, ['n', 'd', 'h', 'w', 'c', 'oc', 'kd', 'kh', 'kw', 'strideD', 'strideH', 'strideW', 'dilationD', 'dilationH', 'dilationW', 'od', 'oh', 'ow', 'groups']);
  requireNonNegative(kernel, p, ['padFront', 'padTop', 'padLeft']);
  if (p.c % p.groups !== 0 || p.oc % p.groups !== 0) {
    throw new ArgumentError(`${kernel}: channels in (${p.c}) and out (${p.oc}) must both be divisible by groups (${p.groups})`);
  }
  return {
    x: p.n * p.d * p.h * p.w * p.c,
    w: p.kd * p.kh * p.kw * (p.c / p.groups) * p.oc,
    y: p.n * p.od * p.oh * p.ow * p.oc,
  };
}

function pool3dLengths(kernel: string, p: Readonly<Record<string, number>>): { x: number; y: number } {
  requirePositive(kernel, p, ['n', 'd', 'h', 'w', 'c', 'pd', 'ph', 'pw', 'strideD', 'strideH', 'strideW', 'od', 'oh', 'ow']);
  requireNonNegative(kernel, p, ['padFront', 'padTop', 'padLeft']);
  return { x: p.n * p.d * p.h * p.w * p.c, y: p.n * p.od * p.oh * p.ow * p.c };
}

function conv3dSpec(name: string, buffers: [string, string, string], order: ('x' | 'w' | 'y')[]): KernelSpec {
  return {
    name,
    buffers,
    inputs: buffers.slice(0, 2),
    ints: CONV3D_INTS,
    floats: [],
    lengths(p) {
      const l = conv3dLengths(name, p);
      return order.map((k) => l[k]);
    },
  };
}

function pool3dSpec(name: string, buffers: string[], order: ('x' | 'y')[]): KernelSpec {
  return {
    name,
    buffers,
    inputs: buffers.slice(0, -1),
    ints: POOL3D_INTS,
    floats: [],
    lengths(p) {
      const l = pool3dLengths(name, p);
      return order.map((k) => l[k]);
    },
  };
}

/** batchNormTrain and batchNormReluTrain: the same buffers, parameters and lengths. */
function batchNormTrainSpec(name: string): KernelSpec {
  return {
    name,
    buffers: ['x', 'gamma', 'beta', 'y', 'mean', 'invStd', 'runningMean', 'runningVar'],
    inputs: ['x', 'gamma', 'beta', 'runningMean', 'runningVar'],
    outputs: ['y', 'mean', 'invStd', 'runningMean', 'runningVar'],
    ints: ['rows', 'channels'],
    floats: ['eps', 'momentum'],
    lengths(p) {
      requirePositive(name, p, ['rows', 'channels']);
      const c = p.channels;
      return [p.rows * c, c, c, p.rows * c, c, c, c, c];
    },
  };
}

/** A kernel over `size` elements whose buffers all have that length. */
function elementwiseSpec(name: string, buffers: string[], inputs: string[], floats: string[] = [], extraInts: string[] = []): KernelSpec {
  return {
    name,
    buffers,
    inputs,
    ints: ['size', ...extraInts],
    floats,
    lengths(p) {
      requirePositive(name, p, ['size']);
      for (const k of extraInts) requireNonNegative(name, p, [k]);
      return buffers.map(() => p.size);
    },
  };
}

/** A loss over [rows, classes] (or `size` elements): prediction, target, loss[1], gradient. */
function lossSpec(name: string, ints: string[], floats: string[] = []): KernelSpec {
  return {
    name,
    buffers: ['pred', 'target', 'loss', 'dpred'],
    inputs: ['pred', 'target'],
    ints,
    floats,
    lengths(p) {
      requirePositive(name, p, ints);
      const size = ints.reduce((acc, k) => acc * p[k], 1);
      return [size, size, 1, size];
    },
  };
}

/** Activation kinds of the `activation` kernels, by their integer code. */
export const ACTIVATION_KINDS = ['relu', 'leakyRelu', 'elu', 'gelu', 'sigmoid', 'tanh'] as const;
export type ActivationKind = (typeof ACTIVATION_KINDS)[number];

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
 *
 * conv3d, conv3dBackwardInput, conv3dBackwardFilter: as conv2d over NDHWC activations and
 *   [KD, KH, KW, C/groups, OC] weights, with a depth axis before height (padFront, od).
 * maxPool3d, avgPool3d and their backwards: as the 2D kernels over NDHWC.
 * l2Pool3d: y = sqrt(sum of x^2 over the window's in-range positions) (0 if none).
 *   l2Pool3dBackward: dx += dy * x / y for each window, and nothing where y == 0 (no NaN).
 * batchNormTrain (PyTorch conventions): per channel over `rows` (= N*spatial) rows:
 *   mean, biased var; invStd = 1/sqrt(var + eps); y = gamma*(x-mean)*invStd + beta; saves
 *   mean and invStd for the backward pass; runningMean = (1-momentum)*runningMean +
 *   momentum*mean, runningVar the same with the unbiased var (var*rows/(rows-1); the biased
 *   var when rows == 1). floats = [eps, momentum]. runningMean/runningVar are read and written.
 * batchNormBackward: given x, gamma, the saved mean and invStd, and dy: dx, dgamma, dbeta
 *   (the exact gradient of the training-mode transform, batch statistics included).
 * batchNormInference: y = gamma*(x-runningMean)/sqrt(runningVar+eps) + beta. floats = [eps].
 * activation: y = f(x) with kind = index in ACTIVATION_KINDS: relu max(x,0); leakyRelu
 *   x>0 ? x : alpha*x; elu x>0 ? x : alpha*(exp(x)-1); gelu 0.5*x*(1+erf(x/sqrt(2)))
 *   (exact, not the tanh approximation); sigmoid 1/(1+exp(-x)); tanh. floats = [alpha]
 *   (ignored by kinds without one). y may alias x.
 * activationBackward: dx = dy * f'(x) (uses x and/or y = f(x), whichever is stabler);
 *   relu/leakyRelu at exactly 0 use the x <= 0 branch.
 * softmax: row-wise over [rows, classes], max-subtracted. softmaxBackward: dx = y*(dy - sum(dy*y)).
 * mul: y = a * b elementwise (dropout masks); y may alias a or b.
 * scatterColumns: y[r, offset + j] = x[r, j] for j < width, y has yWidth columns; the
 *   other columns of y are left as they are (concatenate writes each input in turn).
 *   gatherColumns: x[r, j] = y[r, offset + j] (concatenate's gradient).
 * softmaxCrossEntropyDense: loss = mean over rows of -sum_k t[r,k] log softmax(z)[r,k];
 *   dpred = (softmax(z) * sum_k t[r,k] - t) / rows (one-hot or soft targets).
 * sigmoidCrossEntropy (binary cross-entropy on logits, every element its own label):
 *   loss = mean of max(z,0) - z*t + log(1 + exp(-|z|)); dpred = (sigmoid(z) - t) / size.
 * meanSquaredError: loss = mean (p - t)^2; dpred = 2 (p - t) / size.
 * smoothL1 (PyTorch's, beta > 0): per element |d| < beta ? 0.5 d^2 / beta : |d| - 0.5 beta,
 *   mean; dpred = (|d| < beta ? d / beta : sign(d)) / size. floats = [beta].
 * sgdNesterov: g = grad + weightDecay*param; velocity = momentum*velocity + g;
 *   param -= lr * (g + momentum*velocity). hyper = [lr, momentum, weightDecay].
 * adam: hyper = [lr, beta1, beta2, eps, weightDecay, decoupled, biasCorrection1,
 *   biasCorrection2] with biasCorrection_i = 1 - beta_i^step (the caller counts steps).
 *   decoupled == 0 (Adam): g = grad + weightDecay*param; decoupled == 1 (AdamW): param *=
 *   1 - lr*weightDecay first, g = grad. m = beta1*m + (1-beta1) g; v = beta2*v + (1-beta2) g^2;
 *   param -= lr * (m/biasCorrection1) / (sqrt(v/biasCorrection2) + eps) (eps after the
 *   bias correction, as PyTorch).
 * conv2dBiasActivation: conv2d, then y[.., o] += bias[o], then relu when `relu` is 1 (0:
 *   none): the three in one pass over y (the native kernels apply bias and relu to each
 *   block of images while it is still in cache). y must not alias x.
 * matmulBiasActivation: matmul, then c[r, j] += bias[j], then relu when `relu` is 1.
 * reluBackwardBiasGrad: dx = y > 0 ? dy : 0 (as reluBackward) and dbias[c] = sum_r dx[r,c]
 *   (as biasAddGrad of dx), in one pass; dx may alias dy.
 * addRelu: y = max(a + b, 0) (a residual add and the relu after it); y may alias a or b.
 * batchNormReluTrain: batchNormTrain, then y = max(y, 0), in batch norm's own passes.
 * batchNormReluBackward: given y from batchNormReluTrain, the gradient of both: batchNormBackward
 *   of (y > 0 ? dy : 0), with the relu mask applied in batch norm's passes. dx may alias dy.
 * sumSquares: out[0] = sum of x^2 (accumulated in double). clipByGlobalNorm: total =
 *   sqrt(sum of norms[0..count)) where norms holds squared norms; grad *= maxNorm / total
 *   when total > maxNorm (else unchanged). floats = [maxNorm].
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
    checkedWhileRunning: ['x'],
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
    checkedWhileRunning: ['dy'],
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
    checkedWhileRunning: ['x', 'dy'],
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
  conv3dSpec('conv3d', ['x', 'w', 'y'], ['x', 'w', 'y']),
  conv3dSpec('conv3dBackwardInput', ['dy', 'w', 'dx'], ['y', 'w', 'x']),
  conv3dSpec('conv3dBackwardFilter', ['x', 'dy', 'dw'], ['x', 'y', 'w']),
  pool3dSpec('maxPool3d', ['x', 'y'], ['x', 'y']),
  pool3dSpec('maxPool3dBackward', ['x', 'dy', 'dx'], ['x', 'y', 'x']),
  pool3dSpec('avgPool3d', ['x', 'y'], ['x', 'y']),
  pool3dSpec('avgPool3dBackward', ['dy', 'dx'], ['y', 'x']),
  pool3dSpec('l2Pool3d', ['x', 'y'], ['x', 'y']),
  pool3dSpec('l2Pool3dBackward', ['x', 'y', 'dy', 'dx'], ['x', 'y', 'y', 'x']),
  batchNormTrainSpec('batchNormTrain'),
  {
    name: 'batchNormBackward',
    buffers: ['x', 'gamma', 'mean', 'invStd', 'dy', 'dx', 'dgamma', 'dbeta'],
    inputs: ['x', 'gamma', 'mean', 'invStd', 'dy'],
    ints: ['rows', 'channels'],
    floats: [],
    lengths(p) {
      requirePositive('batchNormBackward', p, ['rows', 'channels']);
      const c = p.channels;
      return [p.rows * c, c, c, c, p.rows * c, p.rows * c, c, c];
    },
  },
  {
    name: 'batchNormInference',
    buffers: ['x', 'gamma', 'beta', 'runningMean', 'runningVar', 'y'],
    inputs: ['x', 'gamma', 'beta', 'runningMean', 'runningVar'],
    ints: ['rows', 'channels'],
    floats: ['eps'],
    lengths(p) {
      requirePositive('batchNormInference', p, ['rows', 'channels']);
      const c = p.channels;
      return [p.rows * c, c, c, c, c, p.rows * c];
    },
  },
  {
    ...elementwiseSpec('activation', ['x', 'y'], ['x'], ['alpha'], ['kind']),
    lengths(p) {
      requirePositive('activation', p, ['size']);
      checkActivationKind('activation', p.kind);
      return [p.size, p.size];
    },
  },
  {
    ...elementwiseSpec('activationBackward', ['x', 'y', 'dy', 'dx'], ['x', 'y', 'dy'], ['alpha'], ['kind']),
    lengths(p) {
      requirePositive('activationBackward', p, ['size']);
      checkActivationKind('activationBackward', p.kind);
      return [p.size, p.size, p.size, p.size];
    },
  },
  {
    name: 'softmax',
    buffers: ['x', 'y'],
    inputs: ['x'],
    ints: ['rows', 'classes'],
    floats: [],
    lengths(p) {
      requirePositive('softmax', p, ['rows', 'classes']);
      return [p.rows * p.classes, p.rows * p.classes];
    },
  },
  {
    name: 'softmaxBackward',
    buffers: ['y', 'dy', 'dx'],
    inputs: ['y', 'dy'],
    ints: ['rows', 'classes'],
    floats: [],
    lengths(p) {
      requirePositive('softmaxBackward', p, ['rows', 'classes']);
      const size = p.rows * p.classes;
      return [size, size, size];
    },
  },
  elementwiseSpec('mul', ['a', 'b', 'y'], ['a', 'b']),
  {
    name: 'scatterColumns',
    buffers: ['x', 'y'],
    inputs: ['x', 'y'],
    outputs: ['y'],
    ints: ['rows', 'width', 'yWidth', 'offset'],
    floats: [],
    lengths(p) {
      return columnLengths('scatterColumns', p);
    },
  },
  {
    name: 'gatherColumns',
    buffers: ['y', 'x'],
    inputs: ['y'],
    ints: ['rows', 'width', 'yWidth', 'offset'],
    floats: [],
    lengths(p) {
      const [x, y] = columnLengths('gatherColumns', p);
      return [y, x];
    },
  },
  lossSpec('softmaxCrossEntropyDense', ['rows', 'classes']),
  lossSpec('sigmoidCrossEntropy', ['size']),
  lossSpec('meanSquaredError', ['size']),
  lossSpec('smoothL1', ['size'], ['beta']),
  {
    name: 'sgdNesterov',
    buffers: ['param', 'grad', 'velocity', 'hyper'],
    inputs: ['param', 'grad', 'velocity', 'hyper'],
    outputs: ['param', 'velocity'],
    ints: ['size'],
    floats: [],
    lengths(p) {
      requirePositive('sgdNesterov', p, ['size']);
      return [p.size, p.size, p.size, 3];
    },
  },
  {
    name: 'adam',
    buffers: ['param', 'grad', 'm', 'v', 'hyper'],
    inputs: ['param', 'grad', 'm', 'v', 'hyper'],
    outputs: ['param', 'm', 'v'],
    ints: ['size'],
    floats: [],
    lengths(p) {
      requirePositive('adam', p, ['size']);
      return [p.size, p.size, p.size, p.size, 8];
    },
  },
  {
    name: 'sumSquares',
    buffers: ['x', 'out'],
    inputs: ['x'],
    ints: ['size'],
    floats: [],
    lengths(p) {
      requirePositive('sumSquares', p, ['size']);
      return [p.size, 1];
    },
  },
  {
    name: 'clipByGlobalNorm',
    buffers: ['norms', 'grad'],
    inputs: ['norms', 'grad'],
    outputs: ['grad'],
    ints: ['count', 'size'],
    floats: ['maxNorm'],
    lengths(p) {
      requirePositive('clipByGlobalNorm', p, ['count', 'size']);
      return [p.count, p.size];
    },
  },
  {
    name: 'conv2dBiasActivation',
    buffers: ['x', 'w', 'bias', 'y'],
    inputs: ['x', 'w', 'bias'],
    ints: [...CONV2D_INTS, 'relu'],
    floats: [],
    lengths(p) {
      const l = conv2dLengths('conv2dBiasActivation', p);
      requireFlag('conv2dBiasActivation', p, 'relu');
      return [l.x, l.w, p.oc, l.y];
    },
  },
  {
    name: 'matmulBiasActivation',
    buffers: ['a', 'b', 'bias', 'c'],
    inputs: ['a', 'b', 'bias'],
    ints: ['m', 'n', 'k', 'transA', 'transB', 'relu'],
    floats: [],
    lengths(p) {
      requirePositive('matmulBiasActivation', p, ['m', 'n', 'k']);
      for (const flag of ['transA', 'transB', 'relu']) requireFlag('matmulBiasActivation', p, flag);
      return [p.m * p.k, p.k * p.n, p.n, p.m * p.n];
    },
  },
  {
    name: 'reluBackwardBiasGrad',
    buffers: ['y', 'dy', 'dx', 'dbias'],
    inputs: ['y', 'dy'],
    ints: ['rows', 'channels'],
    floats: [],
    lengths(p) {
      requirePositive('reluBackwardBiasGrad', p, ['rows', 'channels']);
      return [p.rows * p.channels, p.rows * p.channels, p.rows * p.channels, p.channels];
    },
  },
  elementwiseSpec('addRelu', ['a', 'b', 'y'], ['a', 'b']),
  batchNormTrainSpec('batchNormReluTrain'),
  {
    name: 'batchNormReluBackward',
    buffers: ['x', 'gamma', 'mean', 'invStd', 'y', 'dy', 'dx', 'dgamma', 'dbeta'],
    inputs: ['x', 'gamma', 'mean', 'invStd', 'y', 'dy'],
    ints: ['rows', 'channels'],
    floats: [],
    lengths(p) {
      requirePositive('batchNormReluBackward', p, ['rows', 'channels']);
      const c = p.channels;
      return [p.rows * c, c, c, c, p.rows * c, p.rows * c, p.rows * c, c, c];
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
  | 'sgdMomentum'
  | 'conv3d'
  | 'conv3dBackwardInput'
  | 'conv3dBackwardFilter'
  | 'maxPool3d'
  | 'maxPool3dBackward'
  | 'avgPool3d'
  | 'avgPool3dBackward'
  | 'l2Pool3d'
  | 'l2Pool3dBackward'
  | 'batchNormTrain'
  | 'batchNormBackward'
  | 'batchNormInference'
  | 'activation'
  | 'activationBackward'
  | 'softmax'
  | 'softmaxBackward'
  | 'mul'
  | 'scatterColumns'
  | 'gatherColumns'
  | 'softmaxCrossEntropyDense'
  | 'sigmoidCrossEntropy'
  | 'meanSquaredError'
  | 'smoothL1'
  | 'sgdNesterov'
  | 'adam'
  | 'sumSquares'
  | 'clipByGlobalNorm'
  | 'conv2dBiasActivation'
  | 'matmulBiasActivation'
  | 'reluBackwardBiasGrad'
  | 'addRelu'
  | 'batchNormReluTrain'
  | 'batchNormReluBackward';

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
