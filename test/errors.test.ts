/**
 * Bad input gets a typed ConvkitError whose message names the argument, never a crash:
 * kernel calls on both backends, the Model API on the default backend of this run, layer
 * configs, and IDX data files.
 *
 * Errors the native addon throws are created in Node's main realm, not in jest's sandbox,
 * so lib/errors.ts fromNativeError (which tests `instanceof Error`) passes them through
 * unconverted under jest: they carry the right `code` but are not ConvkitError instances
 * here. expectError() therefore checks the class only for errors of this realm and checks
 * `code` always; 'native errors are ConvkitError subclasses in a plain Node process' checks
 * the class of the addon's errors outside jest.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { KERNELS, createBackend, getBackend } from '../lib/backend';
import type { Backend, KernelName } from '../lib/backend';
import { KernelSpec, namedInts } from '../lib/backend/kernels';
import {
  AbortError,
  ArgumentError,
  BackendError,
  ConvkitError,
  ErrorCode,
  FormatError,
  ShapeError,
  StateError,
  ValueError,
} from '../lib/errors';
import { conv2d, dense, flatten, input, Model, model, sequential, Tensor } from '../lib';
import { loadIdxDataset, readIdxFile } from '../lib/data';

type Err = Error & { code?: string };

const CLASSES: Record<ErrorCode, new (message: string) => ConvkitError> = {
  E_SHAPE: ShapeError,
  E_ARG: ArgumentError,
  E_VALUE: ValueError,
  E_FORMAT: FormatError,
  E_BACKEND: BackendError,
  E_STATE: StateError,
  E_ABORT: AbortError,
};

function thrown(fn: () => unknown): Err {
  try {
    fn();
  } catch (err) {
    return err as Err;
  }
  throw new Error('expected the call to throw');
}

async function rejected(p: Promise<unknown>): Promise<Err> {
  try {
    await p;
  } catch (err) {
    return err as Err;
  }
  throw new Error('expected the promise to reject');
}

/** `code` is one of `codes` and the message matches `pattern`; a same-realm error is the matching subclass. */
function expectError(err: Err, codes: ErrorCode | ErrorCode[], pattern: RegExp): void {
  const allowed = Array.isArray(codes) ? codes : [codes];
  expect(allowed).toContain(err.code);
  expect(err.message).toMatch(pattern);
  if (err instanceof Error) {
    expect(err).toBeInstanceOf(ConvkitError);
    expect(err).toBeInstanceOf(CLASSES[err.code as ErrorCode]);
  }
}

// ---------------------------------------------------------------------------------------
// kernel calls, on both backends

/** Small valid integer parameters for every kernel. */
const CONV_INTS = [1, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1, 0, 0, 2, 2, 1]; // n h w c oc kh kw sH sW dH dW pT pL oh ow groups
const POOL_INTS = [1, 4, 4, 2, 2, 2, 2, 2, 0, 0, 2, 2]; // n h w c ph pw sH sW pT pL oh ow
// n d h w c oc kd kh kw sD sH sW dD dH dW pF pT pL od oh ow groups
const CONV3D_INTS = [1, 3, 4, 4, 2, 2, 2, 3, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 2, 1];
// n d h w c pd ph pw sD sH sW pF pT pL od oh ow
const POOL3D_INTS = [1, 2, 4, 4, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1, 2, 2];
const VALID_INTS: Record<KernelName, number[]> = {
  matmul: [2, 3, 4, 0, 0],
  conv2d: CONV_INTS,
  conv2dBackwardInput: CONV_INTS,
  conv2dBackwardFilter: CONV_INTS,
  maxPool2d: POOL_INTS,
  maxPool2dBackward: POOL_INTS,
  avgPool2d: POOL_INTS,
  avgPool2dBackward: POOL_INTS,
  biasAdd: [3, 2],
  biasAddGrad: [3, 2],
  relu: [4],
  reluBackward: [4],
  add: [4],
  softmaxCrossEntropy: [2, 3],
  sgdMomentum: [4],
  conv3d: CONV3D_INTS,
  conv3dBackwardInput: CONV3D_INTS,
  conv3dBackwardFilter: CONV3D_INTS,
  maxPool3d: POOL3D_INTS,
  maxPool3dBackward: POOL3D_INTS,
  avgPool3d: POOL3D_INTS,
  avgPool3dBackward: POOL3D_INTS,
  l2Pool3d: POOL3D_INTS,
  l2Pool3dBackward: POOL3D_INTS,
  batchNormTrain: [3, 2],
  batchNormBackward: [3, 2],
  batchNormInference: [3, 2],
  activation: [4, 3],
  activationBackward: [4, 3],
  softmax: [2, 3],
  softmaxBackward: [2, 3],
  mul: [4],
  scatterColumns: [2, 2, 5, 1],
  gatherColumns: [2, 2, 5, 1],
  softmaxCrossEntropyDense: [2, 3],
  sigmoidCrossEntropy: [4],
  meanSquaredError: [4],
  smoothL1: [4],
  sgdNesterov: [4],
  adam: [4],
  sumSquares: [4],
  clipByGlobalNorm: [3, 4],
  conv2dBiasActivation: [...CONV_INTS, 1],
  matmulBiasActivation: [2, 3, 4, 0, 0, 1],
  reluBackwardBiasGrad: [3, 2],
  addRelu: [4],
  batchNormReluTrain: [3, 2],
  batchNormReluBackward: [3, 2],
};

/** The float parameters each kernel takes (most take none). */
const VALID_FLOATS: Partial<Record<KernelName, number[]>> = {
  batchNormTrain: [1e-5, 0.1],
  batchNormReluTrain: [1e-5, 0.1],
  batchNormInference: [1e-5],
  activation: [0.1],
  activationBackward: [0.1],
  smoothL1: [1],
  clipByGlobalNorm: [1],
};
const floatsOf = (name: KernelName): number[] => VALID_FLOATS[name] ?? [];

const spec = (name: KernelName): KernelSpec => KERNELS.find((k) => k.name === name)!;

/** Valid buffers for a kernel call: distinct finite inputs, labels in range, garbage outputs. */
function validBuffers(name: KernelName, ints = VALID_INTS[name]): Float32Array[] {
  const s = spec(name);
  const lengths = s.lengths(namedInts(s, ints));
  return s.buffers.map((b, i) => {
    const a = new Float32Array(lengths[i]);
    if (name === 'softmaxCrossEntropy' && b === 'labels') a.forEach((_, j) => (a[j] = j % ints[1]));
    else if ((name === 'sgdMomentum' || name === 'sgdNesterov') && b === 'hyper') a.set([0.1, 0.9, 0]);
    else if (name === 'adam' && b === 'hyper') a.set([0.01, 0.9, 0.999, 1e-8, 0, 0, 0.1, 0.001]);
    else if (['runningVar', 'invStd', 'v', 'norms'].includes(b)) a.forEach((_, j) => (a[j] = 0.5 + j / 8));
    else if (s.inputs.includes(b) || name === 'sgdMomentum') a.forEach((_, j) => (a[j] = ((j * 7 + i * 3) % 11) / 8 - 0.6));
    else a.fill(12345.5);
    return a;
  });
}

const NAMES = KERNELS.map((k) => k.name as KernelName);
const backends: [string, () => Backend][] = [
  ['js', () => createBackend('js')],
  ['native', () => createBackend('native')],
];

describe.each(backends)('kernel calls on the %s backend', (_backendName, make) => {
  let backend: Backend;
  beforeAll(() => {
    backend = make();
  });
  const call = (name: KernelName, buffers: unknown, ints: unknown, floats: unknown = floatsOf(name)): Err =>
    thrown(() => backend.runKernel(name, buffers as Float32Array[], ints as number[], floats as number[]));

  test.each(NAMES)('%s: the valid baseline call succeeds and writes finite outputs', (name) => {
    const buffers = validBuffers(name);
    backend.runKernel(name, buffers, VALID_INTS[name], floatsOf(name));
    for (const b of buffers) expect(b.every(Number.isFinite)).toBe(true);
  });

  describe('wrong shapes', () => {
    test.each(NAMES)('%s: each buffer one element short or long is a ShapeError naming it', (name) => {
      const s = spec(name);
      s.buffers.forEach((bufferName, i) => {
        for (const delta of [-1, 1]) {
          const buffers = validBuffers(name);
          buffers[i] = new Float32Array(buffers[i].length + delta);
          const err = call(name, buffers, VALID_INTS[name]);
          expectError(err, 'E_SHAPE', new RegExp(`^${name}: buffer '${bufferName}' must have ${buffers[i].length - delta} elements, got ${buffers[i].length}`));
        }
      });
    });

    test('a wrong buffer count is an ArgumentError naming the expected count', () => {
      expectError(call('relu', [new Float32Array(4)], [4]), 'E_ARG', /relu: expected 2 buffers/);
      expectError(call('relu', [new Float32Array(4), new Float32Array(4), new Float32Array(4)], [4]), 'E_ARG', /relu: expected 2 buffers/);
    });
  });

  describe('wrong dtypes', () => {
    const wrong: [string, (n: number) => unknown][] = [
      ['Float64Array', (n) => new Float64Array(n)],
      ['plain array', (n) => new Array(n).fill(0)],
      ['Int32Array', (n) => new Int32Array(n)],
      ['Uint8Array', (n) => new Uint8Array(n)],
      ['null', () => null],
      ['undefined', () => undefined],
    ];
    test.each(NAMES)('%s: a non-Float32Array buffer is an ArgumentError naming it', (name) => {
      const s = spec(name);
      for (const [, makeWrong] of wrong) {
        s.buffers.forEach((bufferName, i) => {
          const buffers: unknown[] = validBuffers(name);
          buffers[i] = makeWrong((buffers[i] as Float32Array).length);
          expectError(call(name, buffers, VALID_INTS[name]), 'E_ARG', new RegExp(`${name}: buffer '${bufferName}' must be a Float32Array`));
        });
      }
    });

    test('buffers that are not an array is an ArgumentError naming buffers', () => {
      expectError(call('relu', new Float32Array(8), [4]), 'E_ARG', /relu: buffers must be an array/);
      expectError(call('relu', 'x', [4]), 'E_ARG', /relu: buffers must be an array/);
    });

    test('an unknown kernel name is an ArgumentError naming it', () => {
      expectError(call('bogus' as KernelName, [], []), 'E_ARG', /unknown kernel 'bogus'/);
    });
  });

  describe('non-finite inputs', () => {
    test.each(NAMES)('%s: NaN or +-Infinity in an input buffer is a ValueError naming the buffer and index', (name) => {
      const s = spec(name);
      for (const bad of [NaN, Infinity, -Infinity]) {
        for (const bufferName of s.inputs) {
          const i = s.buffers.indexOf(bufferName);
          const buffers = validBuffers(name);
          const before = buffers.map((b) => b.slice());
          buffers[i][1] = bad;
          expectError(call(name, buffers, VALID_INTS[name]), 'E_VALUE', new RegExp(`^${name}: buffer '${bufferName}' holds a non-finite value .* at index 1$`));
          // Rejected before any output was touched, except where the native backend checks
          // this input while the kernel reads it (KernelSpec.checkedWhileRunning).
          if (backend.name === 'native' && s.checkedWhileRunning?.includes(bufferName)) continue;
          s.buffers.forEach((b, k) => {
            if (!s.inputs.includes(b)) expect(buffers[k]).toEqual(before[k]);
          });
        }
      }
    });

    // Shapes large enough for the paths that check their inputs image by image as they read
    // them (native: implicit, planar, filter16), and GEMMs split over threads, with the bad
    // value first, inside a later image or block, and last: the same error and index.
    const SAME3 = (n: number, hw: number, c: number, oc: number): number[] => [n, hw, hw, c, oc, 3, 3, 1, 1, 1, 1, 1, 1, hw, hw, 1];
    const CHECKED_CALLS: [KernelName, number[]][] = [
      ['conv2d', SAME3(3, 8, 8, 16)],
      ['conv2d', SAME3(3, 8, 32, 32)],
      ['conv2dBackwardInput', SAME3(3, 8, 16, 16)],
      ['conv2dBackwardFilter', SAME3(3, 8, 16, 16)],
      ['conv2dBackwardFilter', SAME3(3, 8, 8, 32)],
      ['conv2d', [3, 28, 28, 1, 6, 5, 5, 1, 1, 1, 1, 2, 2, 28, 28, 1]], // LeNet's layers (planar on AVX-512)
      ['conv2dBackwardInput', [3, 28, 28, 1, 6, 5, 5, 1, 1, 1, 1, 2, 2, 28, 28, 1]],
      ['conv2dBackwardFilter', [3, 14, 14, 6, 16, 5, 5, 1, 1, 1, 1, 0, 0, 10, 10, 1]],
      ['matmul', [70, 64, 80, 0, 0]],
      ['matmul', [70, 64, 80, 1, 1]],
      ['matmul', [33, 5, 700, 0, 1]],
    ];
    test.each(CHECKED_CALLS)('%s %j: a bad value anywhere in an input is found at its index', (name, ints) => {
      const s = spec(name);
      const lengths = s.lengths(namedInts(s, ints));
      for (const bufferName of s.inputs) {
        const i = s.buffers.indexOf(bufferName);
        for (const at of [0, Math.floor(lengths[i] * 0.7) + 3, lengths[i] - 1]) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            const buffers = lengths.map((n, k) => Float32Array.from({ length: n }, (_, j) => ((j * 7 + k) % 11) / 11 - 0.5));
            buffers[i][at] = bad;
            if (at > 0) buffers[i][lengths[i] - 1 - ((at * 5) % Math.max(1, lengths[i] - 1 - at))] = bad; // and a later one
            expectError(call(name, buffers, ints), 'E_VALUE', new RegExp(`^${name}: buffer '${bufferName}' holds a non-finite value .* at index ${at}$`));
          }
        }
      }
      // The same call with finite inputs then succeeds and writes finite outputs.
      const buffers = lengths.map((n, k) => Float32Array.from({ length: n }, (_, j) => ((j * 7 + k) % 11) / 11 - 0.5));
      backend.runKernel(name, buffers, ints, []);
      s.buffers.forEach((b, k) => {
        if (!s.inputs.includes(b)) expect(buffers[k].every(Number.isFinite)).toBe(true);
      });
    });

    test.each(NAMES.filter((n) => n !== 'sgdMomentum'))('%s: NaN in a write-only buffer is fine: it is overwritten', (name) => {
      const s = spec(name);
      const buffers = validBuffers(name);
      s.buffers.forEach((b, i) => {
        if (!s.inputs.includes(b)) buffers[i].fill(NaN);
      });
      backend.runKernel(name, buffers, VALID_INTS[name], floatsOf(name));
      for (const b of buffers) expect(b.every(Number.isFinite)).toBe(true);
    });
  });

  describe('empty arrays', () => {
    test('zero-length buffers: with size 0 an ArgumentError naming size, with size 4 a ShapeError naming the buffer', () => {
      expectError(call('relu', [new Float32Array(0), new Float32Array(0)], [0]), 'E_ARG', /relu: size must be a positive integer, got 0/);
      expectError(call('add', [new Float32Array(0), new Float32Array(0), new Float32Array(0)], [0]), 'E_ARG', /add: size must be/);
      expectError(call('relu', [new Float32Array(0), new Float32Array(0)], [4]), 'E_SHAPE', /relu: buffer 'x' must have 4 elements, got 0/);
      expectError(call('relu', [new Float32Array(4), new Float32Array(0)], [4]), 'E_SHAPE', /relu: buffer 'y' must have 4 elements, got 0/);
    });

    test('n = 0 (or any zero dim) is an ArgumentError naming the dim', () => {
      const conv = [...CONV_INTS];
      conv[0] = 0;
      expectError(call('conv2d', [new Float32Array(0), new Float32Array(36), new Float32Array(0)], conv), 'E_ARG', /conv2d: n must be a positive integer, got 0/);
      const pool = [...POOL_INTS];
      pool[3] = 0;
      expectError(call('maxPool2d', [new Float32Array(0), new Float32Array(0)], pool), 'E_ARG', /maxPool2d: c must be a positive integer, got 0/);
      expectError(call('matmul', [new Float32Array(0), new Float32Array(12), new Float32Array(0)], [0, 3, 4, 0, 0]), 'E_ARG', /matmul: m must be a positive integer, got 0/);
      expectError(call('softmaxCrossEntropy', [new Float32Array(0), new Float32Array(0), new Float32Array(1), new Float32Array(0)], [0, 3]), 'E_ARG', /softmaxCrossEntropy: rows must be/);
    });

    test('no buffers or no ints is an ArgumentError giving the expected count', () => {
      expectError(call('relu', [], [4]), 'E_ARG', /relu: expected 2 buffers/);
      expectError(call('relu', [new Float32Array(4), new Float32Array(4)], []), 'E_ARG', /relu: expected 1 integer parameters/);
    });
  });

  describe('bad integer parameters', () => {
    const conv = (index: number, value: number): number[] => {
      const ints = [...CONV_INTS];
      ints[index] = value;
      return ints;
    };
    const convBuffers = (): Float32Array[] => validBuffers('conv2d');

    test('the wrong number of ints is an ArgumentError', () => {
      const relu = [new Float32Array(4), new Float32Array(4)];
      expectError(call('relu', relu, [4, 4]), 'E_ARG', /relu: expected 1 integer parameters/);
      expectError(call('conv2d', convBuffers(), CONV_INTS.slice(0, 15)), 'E_ARG', /conv2d: expected 16 integer parameters/);
      // The addon caps the array at 16 entries before counting.
      expectError(call('conv2d', convBuffers(), [...CONV_INTS, 1]), 'E_ARG', /conv2d: (expected 16 integer parameters|ints has too many elements)/);
      expectError(call('matmul', validBuffers('matmul'), new Array(40).fill(1)), 'E_ARG', /matmul: (expected 5 integer parameters|ints has too many elements)/);
    });

    test('non-integer, NaN or non-number ints are ArgumentErrors naming the parameter', () => {
      const relu = () => [new Float32Array(4), new Float32Array(4)];
      // js names the parameter (size), the addon its position (ints[0]) when the value is no int32.
      expectError(call('relu', relu(), [1.5]), 'E_ARG', /relu: (size must be a positive integer|(size|ints\[0\]) must be a 32-bit integer)/);
      expectError(call('relu', relu(), [NaN]), 'E_ARG', /relu: (size must be a positive integer|(size|ints\[0\]) must be a 32-bit integer)/);
      expectError(call('relu', relu(), ['4']), 'E_ARG', /relu: (size must be a 32-bit integer|ints\[0\] must be a number)/);
      expectError(call('conv2d', convBuffers(), conv(7, 1.5)), 'E_ARG', /conv2d: (strideH must be a positive integer|(strideH|ints\[7\]) must be a 32-bit integer)/);
      expectError(call('matmul', validBuffers('matmul'), [2, 3, 4, 0.5, 0]), 'E_ARG', /matmul: (transA must be 0 or 1|(transA|ints\[3\]) must be a 32-bit integer)/);
    });

    test('negative padding is an ArgumentError naming it', () => {
      expectError(call('conv2d', convBuffers(), conv(11, -1)), 'E_ARG', /conv2d: padTop must be (a )?non-negative.*-1/);
      expectError(call('conv2dBackwardInput', validBuffers('conv2dBackwardInput'), conv(12, -2)), 'E_ARG', /conv2dBackwardInput: padLeft must be (a )?non-negative.*-2/);
      const pool = [...POOL_INTS];
      pool[8] = -1;
      expectError(call('avgPool2d', validBuffers('avgPool2d'), pool), 'E_ARG', /avgPool2d: padTop must be (a )?non-negative/);
    });

    test('zero strides, dilations and window sizes are ArgumentErrors naming them', () => {
      expectError(call('conv2d', convBuffers(), conv(8, 0)), 'E_ARG', /conv2d: strideW must be a positive integer, got 0/);
      expectError(call('conv2dBackwardFilter', validBuffers('conv2dBackwardFilter'), conv(9, 0)), 'E_ARG', /conv2dBackwardFilter: dilationH must be a positive integer/);
      const pool = [...POOL_INTS];
      pool[4] = -3;
      expectError(call('maxPool2dBackward', validBuffers('maxPool2dBackward'), pool), 'E_ARG', /maxPool2dBackward: ph must be a positive integer, got -3/);
    });

    test('groups that do not divide the channels, or groups 0, are ArgumentErrors naming groups', () => {
      // c = 2, oc = 2, groups = 3: w would be kh*kw*(c/groups)*oc, not an integer.
      expectError(call('conv2d', convBuffers(), conv(15, 3)), 'E_ARG', /conv2d: channels in \(2\) and out \(2\) must both be divisible by groups \(3\)/);
      // c = 3, oc = 2, groups = 2.
      const ints = conv(3, 3);
      ints[15] = 2;
      expectError(call('conv2d', [new Float32Array(48), new Float32Array(27), new Float32Array(8)], ints), 'E_ARG', /divisible by groups \(2\)/);
      expectError(call('conv2d', convBuffers(), conv(15, 0)), 'E_ARG', /conv2d: groups must be a positive integer, got 0/);
    });

    test('transA/transB other than 0 or 1 are ArgumentErrors naming them', () => {
      expectError(call('matmul', validBuffers('matmul'), [2, 3, 4, 2, 0]), 'E_ARG', /matmul: transA must be 0 or 1, got 2/);
      expectError(call('matmul', validBuffers('matmul'), [2, 3, 4, 0, -1]), 'E_ARG', /matmul: transB must be 0 or 1, got -1/);
    });
  });

  describe('absurd sizes', () => {
    test('ints implying more than 2^40 elements, with tiny buffers, are typed errors and return at once', () => {
      const start = Date.now();
      const tiny = (k: number) => Array.from({ length: k }, () => new Float32Array(1));
      const big = 1 << 20;
      expectError(call('conv2d', tiny(3), [big, big, big, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1]), 'E_SHAPE', /^conv2d: /);
      expectError(call('conv2dBackwardFilter', tiny(3), [1, 1, 1, big, big, big, big, 1, 1, 1, 1, 0, 0, 1, 1, 1]), 'E_SHAPE', /^conv2dBackwardFilter: /);
      expectError(call('matmul', tiny(3), [2 ** 30, 2 ** 30, 2 ** 30, 0, 0]), 'E_SHAPE', /^matmul: /);
      expectError(call('maxPool2d', tiny(2), [big, big, big, big, 1, 1, 1, 1, 0, 0, 1, 1]), 'E_SHAPE', /^maxPool2d: /);
      expectError(call('softmaxCrossEntropy', tiny(4), [2 ** 31 - 1, 2 ** 31 - 1]), 'E_SHAPE', /^softmaxCrossEntropy: /);
      expectError(call('biasAdd', tiny(3), [2 ** 31 - 1, 2 ** 31 - 1]), 'E_SHAPE', /^biasAdd: /);
      expect(Date.now() - start).toBeLessThan(2000);
    });

    test('a huge n with tiny buffers is a ShapeError naming the buffer', () => {
      expectError(call('relu', [new Float32Array(4), new Float32Array(4)], [2 ** 31 - 1]), 'E_SHAPE', /relu: buffer 'x' must have 2147483647 elements, got 4/);
      expectError(call('add', [new Float32Array(4), new Float32Array(4), new Float32Array(4)], [2 ** 31 - 1]), 'E_SHAPE', /add: buffer 'a' must have/);
      const conv = [...CONV_INTS];
      conv[0] = 2 ** 31 - 1;
      expectError(call('conv2d', validBuffers('conv2d'), conv), 'E_SHAPE', /conv2d: (buffer 'x' must have|the parameters imply a buffer of over 2\^40)/);
    });

    test('ints beyond 32 bits are ArgumentErrors on both backends', () => {
      const relu = [new Float32Array(4), new Float32Array(4)];
      expectError(call('relu', relu, [2 ** 41]), 'E_ARG', /relu: (size|ints\[0\]) must be a 32-bit integer/);
      expectError(call('relu', relu, [Number.MAX_VALUE]), 'E_ARG', /relu: (size|ints\[0\]) must be a 32-bit integer/);
      expectError(call('relu', relu, [Infinity]), 'E_ARG', /relu: (size must be a positive integer|(size|ints\[0\]) must be a 32-bit integer)/);
    });
  });
});

test('native errors are ConvkitError subclasses in a plain Node process', () => {
  const script = `
    const { createBackend } = require('./lib/backend');
    const { encodeProgram } = require('./lib/backend/program');
    const errors = require('./lib/errors');
    const b = createBackend('native');
    const out = [];
    const grab = (f) => { try { f(); out.push(null); } catch (e) { out.push([e.constructor.name, e instanceof errors.ConvkitError, e.code]); } };
    const f = (n) => new Float32Array(n);
    grab(() => b.runKernel('relu', [f(3), f(4)], [4]));
    grab(() => b.runKernel('relu', [new Float64Array(4), f(4)], [4]));
    grab(() => b.runKernel('relu', [Float32Array.from([0, NaN, 0, 0]), f(4)], [4]));
    grab(() => b.createPlan(f(1), f(4), Int32Array.from([1, 0, 0])));
    const plan = b.createPlan(f(1), f(4), encodeProgram([{ space: 1, offset: 0, length: 4 }], [{ kernel: 'relu', buffers: [0, 0], ints: [4], floats: [] }]));
    grab(() => plan.runSync(0, 2));
    process.stdout.write(JSON.stringify(out));
  `;
  const root = path.join(__dirname, '..');
  const child = spawnSync(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, TS_NODE_PROJECT: path.join(root, 'tsconfig.json') },
    timeout: 60000,
  });
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  expect(JSON.parse(child.stdout)).toEqual([
    ['ShapeError', true, 'E_SHAPE'],
    ['ArgumentError', true, 'E_ARG'],
    ['ValueError', true, 'E_VALUE'],
    ['FormatError', true, 'E_FORMAT'],
    ['ArgumentError', true, 'E_ARG'],
  ]);
});

// ---------------------------------------------------------------------------------------
// the Model API, on the default backend of this run

describe('Model API on the default backend', () => {
  const rows = 6;
  const xData = () => Float32Array.from({ length: rows * 36 }, (_, i) => Math.sin(i * 0.37));
  const x = () => new Tensor([rows, 6, 6, 1], xData());
  const y = [0, 1, 2, 0, 1, 2];

  let uid = 0;
  function tiny(): Model {
    uid++;
    return sequential([conv2d({ filters: 4, kernelSize: 3, name: `conv_${uid}` }), flatten(), dense({ units: 3, name: `dense_${uid}` })], {
      inputShape: [6, 6, 1],
      seed: 7,
      name: `tiny_${uid}`,
    });
  }
  function compiled(): Model {
    return tiny().compile();
  }
  const sameWeights = (a: Tensor[], b: Tensor[]) => a.forEach((t, i) => expect(Array.from(t.data)).toEqual(Array.from(b[i].data)));

  test('it runs on the backend of this run', () => {
    const m = compiled();
    expect(m.backend.name).toBe(getBackend().name);
    expect(m.backend.name).toBe(process.env.CONVKIT_BACKEND ?? 'native');
  });

  test('fit/evaluate before compile is a StateError; predict works without compile', async () => {
    const m = tiny();
    expectError(await rejected(m.fit(x(), y)), 'E_STATE', /call compile\(\) before fit\(\)/);
    expectError(await rejected(m.evaluate(x(), y)), 'E_STATE', /call compile\(\) before evaluate\(\)/);
    const out = await m.predict(x());
    expect(out.shape).toEqual([rows, 3]);
  });

  test('x of the wrong shape is a ShapeError naming x, for fit, evaluate and predict', async () => {
    const m = compiled();
    const bad = [
      { shape: [rows, 6, 6, 2], data: new Float32Array(rows * 72) },
      { shape: [rows, 6, 6], data: new Float32Array(rows * 36) },
      { shape: [rows * 36], data: new Float32Array(rows * 36) },
      { shape: [rows, 6, 5, 1], data: new Float32Array(rows * 30) },
    ];
    for (const t of bad) {
      expectError(await rejected(m.fit(t, y)), 'E_SHAPE', /^x must have shape \[batch, 6, 6, 1\], got/);
      expectError(await rejected(m.evaluate(t, y)), 'E_SHAPE', /^x must have shape \[batch, 6, 6, 1\]/);
      expectError(await rejected(m.predict(t)), 'E_SHAPE', /^x must have shape \[batch, 6, 6, 1\]/);
    }
    // Zero rows, and data that does not match the shape.
    expectError(await rejected(m.predict({ shape: [0, 6, 6, 1], data: new Float32Array(0) })), 'E_SHAPE', /^x must hold at least one example/);
    expectError(await rejected(m.predict({ shape: [rows, 6, 6, 1], data: new Float32Array(rows * 36 - 1) })), 'E_SHAPE', /^x\.data has 215 elements/);
    expectError(await rejected(m.fit(x(), y, { validationData: [{ shape: [2, 6, 6, 3], data: new Float32Array(216) }, [0, 1]] })), 'E_SHAPE', /^validationData\[0\] must have shape/);
  });

  test('x.data that is not a Float32Array, or x not a tensor, is an ArgumentError naming x', async () => {
    const m = compiled();
    const f64 = { shape: [rows, 6, 6, 1], data: Float64Array.from(xData()) as unknown as Float32Array };
    expectError(await rejected(m.fit(f64, y)), 'E_ARG', /^x\.data must be a Float32Array, got Float64Array/);
    expectError(await rejected(m.predict(f64)), 'E_ARG', /^x\.data must be a Float32Array, got Float64Array/);
    const arr = { shape: [rows, 6, 6, 1], data: Array.from(xData()) as unknown as Float32Array };
    expectError(await rejected(m.evaluate(arr, y)), 'E_ARG', /^x\.data must be a Float32Array, got Array/);
    expectError(await rejected(m.predict(null as unknown as Tensor)), 'E_ARG', /^x must be a tensor/);
    expectError(await rejected(m.predict(xData() as unknown as Tensor)), 'E_ARG', /^x must be a tensor/);
  });

  test('non-finite x is a ValueError naming x and the index', async () => {
    const m = compiled();
    const before = m.getWeights();
    for (const bad of [NaN, Infinity, -Infinity]) {
      const t = x();
      t.data[40] = bad;
      expectError(await rejected(m.fit(t, y)), 'E_VALUE', /^x holds a non-finite value .* at index 40$/);
      expectError(await rejected(m.evaluate(t, y)), 'E_VALUE', /^x holds a non-finite value .* at index 40$/);
      expectError(await rejected(m.predict(t)), 'E_VALUE', /^x holds a non-finite value .* at index 40$/);
    }
    sameWeights(m.getWeights(), before);
  });

  test('bad labels are ValueErrors or ShapeErrors naming y', async () => {
    const m = compiled();
    const cases: [unknown, ErrorCode, RegExp][] = [
      [[0, 1, 2, 0, 1, 3], 'E_VALUE', /^y\[5\] must be an integer class index in \[0, 3\), got 3$/],
      [[0, 1, -1, 0, 1, 2], 'E_VALUE', /^y\[2\] must be an integer class index in \[0, 3\), got -1$/],
      [[0, 1.5, 2, 0, 1, 2], 'E_VALUE', /^y\[1\] .* got 1\.5$/],
      [[0, NaN, 2, 0, 1, 2], 'E_VALUE', /^y\[1\] .* got NaN$/],
      [Float32Array.from([0, 1, 2, 0, 1, 2.25]), 'E_VALUE', /^y\[5\] .* got 2\.25$/],
      [['0', 1, 2, 0, 1, 2], 'E_VALUE', /^y\[0\] must be an integer class index/],
      [[0, 1, 2], 'E_SHAPE', /^y has 3 labels but the inputs hold 6 examples$/],
      [new Uint8Array(7), 'E_SHAPE', /^y has 7 labels but the inputs hold 6 examples$/],
      [[], 'E_SHAPE', /^y has 0 labels/],
      ['012012', 'E_ARG', /^y must be an array or typed array/],
      [null, 'E_ARG', /^y must be an array or typed array/],
    ];
    for (const [labels, code, pattern] of cases) {
      expectError(await rejected(m.fit(x(), labels as number[])), code, pattern);
      expectError(await rejected(m.evaluate(x(), labels as number[])), code, pattern);
    }
    expectError(await rejected(m.fit(x(), y, { validationData: [x(), [0, 1, 2, 0, 1, 9]] })), 'E_VALUE', /^validationData\[1\]\[5\] must be an integer class index/);
  });

  test('bad options are ArgumentErrors naming the option', async () => {
    const m = compiled();
    const before = m.getWeights();
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ batchSize: 0 }, /^fit: batchSize must be an integer in \[1, 1048576\], got 0$/],
      [{ batchSize: -4 }, /^fit: batchSize .* got -4$/],
      [{ batchSize: 2.5 }, /^fit: batchSize .* got 2\.5$/],
      [{ batchSize: '8' }, /^fit: batchSize .* got 8$/],
      [{ batchSize: 2 ** 30 }, /^fit: batchSize/],
      [{ epochs: -1 }, /^fit: epochs must be a positive integer, got -1$/],
      [{ epochs: 0 }, /^fit: epochs must be a positive integer, got 0$/],
      [{ epochs: 1.5 }, /^fit: epochs .* got 1\.5$/],
      [{ validationSplit: 1.5 }, /^fit: validationSplit must be in \(0, 1\), got 1\.5$/],
      [{ validationSplit: 0 }, /^fit: validationSplit must be in \(0, 1\), got 0$/],
      [{ validationSplit: 1 }, /^fit: validationSplit must be in \(0, 1\), got 1$/],
      [{ validationSplit: NaN }, /^fit: validationSplit must be in \(0, 1\), got NaN$/],
      [{ validationSplit: 0.01 }, /^fit: validationSplit 0\.01 leaves no rows/],
      [{ validationData: [x()] }, /^fit: validationData must be \[x, y\]$/],
      [{ seed: NaN }, /^fit: seed must be a finite number/],
      [{ signal: { aborted: true } }, /^fit: signal must be an AbortSignal$/],
    ];
    for (const [options, pattern] of cases) expectError(await rejected(m.fit(x(), y, options)), 'E_ARG', pattern);
    expectError(await rejected(m.fit(x(), y, null as unknown as object)), 'E_ARG', /^fit: options must be an object$/);
    expectError(await rejected(m.evaluate(x(), y, { batchSize: 0 })), 'E_ARG', /^evaluate: batchSize must be an integer/);
    expectError(await rejected(m.predict(x(), { batchSize: -1 })), 'E_ARG', /^predict: batchSize must be an integer/);
    expectError(thrown(() => tiny().compile({ loss: 'hinge' })), 'E_ARG', /^compile: loss must be one of .* got "hinge"$/);
    expectError(thrown(() => tiny().compile({ metrics: ['auc'] })), 'E_ARG', /^compile: unknown metric 'auc'/);
    expectError(thrown(() => tiny().compile({ backend: 'gpu' as 'js' })), 'E_ARG', /^backend must be 'native' or 'js', got 'gpu'$/);
    // Nothing trained, and the model still works.
    sameWeights(m.getWeights(), before);
    const h = await m.fit(x(), y, { batchSize: 4, epochs: 1, seed: 1 });
    expect(h.epochs).toHaveLength(1);
  });

  test('a second fit (or evaluate/predict/setWeights/dispose) while one runs is a StateError; the first finishes', async () => {
    const m = compiled();
    const first = m.fit(x(), y, { batchSize: 2, epochs: 2, seed: 3 });
    const busy = /^tiny_\d+: a fit, evaluate or predict call is still running on this model; await it first$/;
    expectError(await rejected(m.fit(x(), y)), 'E_STATE', busy);
    expectError(await rejected(m.evaluate(x(), y)), 'E_STATE', busy);
    expectError(await rejected(m.predict(x())), 'E_STATE', busy);
    expectError(thrown(() => m.setWeights(m.getWeights())), 'E_STATE', busy);
    expectError(thrown(() => m.dispose()), 'E_STATE', busy);
    const history = await first;
    expect(history.epochs).toHaveLength(2);
    expect(history.epochs.every((e) => Number.isFinite(e.loss))).toBe(true);
    // Idle again.
    const again = await m.fit(x(), y, { batchSize: 3, epochs: 1, seed: 3 });
    expect(again.epochs).toHaveLength(1);
  });

  test('calls after dispose are StateErrors', async () => {
    const m = compiled();
    await m.predict(x());
    m.dispose();
    const disposed = /^tiny_\d+: the model has been disposed$/;
    expectError(await rejected(m.predict(x())), 'E_STATE', disposed);
    expectError(await rejected(m.fit(x(), y)), 'E_STATE', disposed);
    expectError(await rejected(m.evaluate(x(), y)), 'E_STATE', disposed);
    expectError(thrown(() => m.compile()), 'E_STATE', disposed);
    expectError(thrown(() => m.getWeights()), 'E_STATE', disposed);
    expectError(thrown(() => m.dispose()), 'E_STATE', disposed);
  });

  test('an already-aborted AbortSignal is an AbortError; nothing trains and the model stays usable', async () => {
    const m = compiled();
    const before = m.getWeights();
    const predBefore = await m.predict(x());
    const controller = new AbortController();
    controller.abort();
    const err = await rejected(m.fit(x(), y, { signal: controller.signal, batchSize: 2 }));
    expectError(err, 'E_ABORT', /^fit was aborted$/);
    expect(err).toBeInstanceOf(AbortError);
    sameWeights(m.getWeights(), before);
    const predAfter = await m.predict(x());
    expect(Array.from(predAfter.data)).toEqual(Array.from(predBefore.data));
    // Aborting mid-fit also leaves it usable.
    const mid = new AbortController();
    let batches = 0;
    const err2 = await rejected(
      m.fit(x(), y, {
        batchSize: 1,
        epochs: 3,
        signal: mid.signal,
        onBatchEnd: () => {
          if (++batches === 2) mid.abort();
        },
      }),
    );
    expectError(err2, 'E_ABORT', /aborted/);
    expect(batches).toBe(2);
    const out = await m.predict(x());
    expect(out.shape).toEqual([rows, 3]);
    expect(out.data.every(Number.isFinite)).toBe(true);
    expect((await m.fit(x(), y, { batchSize: 6 })).epochs).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------
// layer configs

describe('layer configs that cannot work fail naming the layer', () => {
  test('conv2d with a kernel larger than the input under valid padding is a ShapeError', () => {
    const x = input({ shape: [6, 6, 1] });
    expectError(
      thrown(() => conv2d({ filters: 2, kernelSize: 7, name: 'bigconv' }).apply(x)),
      'E_SHAPE',
      /^bigconv: the window along height spans 7 \(kernel 7, dilation 1\) but the padded input has only 6 with 'valid' padding$/,
    );
    expectError(
      thrown(() => conv2d({ filters: 2, kernelSize: [3, 3], dilation: [1, 3], name: 'dilated' }).apply(x)),
      'E_SHAPE',
      /^dilated: the window along width spans 7 \(kernel 3, dilation 3\)/,
    );
    expectError(
      thrown(() => sequential([conv2d({ filters: 2, kernelSize: 7, name: 'seqconv' })], { inputShape: [6, 6, 1] })),
      'E_SHAPE',
      /^seqconv: the window along height/,
    );
    // The same kernel with 'same' padding is fine.
    expect(conv2d({ filters: 2, kernelSize: 7, padding: 'same' }).apply(x).shape).toEqual([6, 6, 2]);
  });

  test('bad conv2d options are ArgumentErrors naming the layer and option', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ filters: 0, kernelSize: 3 }, /^c1: filters must be a positive integer, got 0$/],
      [{ filters: 2.5, kernelSize: 3 }, /^c1: filters must be a positive integer, got 2\.5$/],
      [{ filters: 2, kernelSize: 0 }, /^c1: kernelSize must be an integer >= 1, got 0$/],
      [{ filters: 2, kernelSize: [3, 0] }, /^c1: kernelSize\[1\] must be an integer >= 1, got 0$/],
      [{ filters: 2, kernelSize: [3, 3, 3] }, /^c1: kernelSize must be an integer or 2 of them/],
      [{ filters: 2, kernelSize: 3, strides: 0 }, /^c1: strides must be an integer >= 1, got 0$/],
      [{ filters: 2, kernelSize: 3, strides: [1, -1] }, /^c1: strides\[1\] must be an integer >= 1, got -1$/],
      [{ filters: 2, kernelSize: 3, dilation: 0 }, /^c1: dilation must be an integer >= 1, got 0$/],
      [{ filters: 2, kernelSize: 3, padding: 'full' }, /^c1: padding must be 'valid', 'same', a non-negative integer, or 2 \[before, after\] pairs, got "full"$/],
    ];
    for (const [options, pattern] of cases) {
      expectError(thrown(() => conv2d({ ...options, name: 'c1' } as never)), 'E_ARG', pattern);
    }
    expectError(thrown(() => dense({ units: 0, name: 'd1' })), 'E_ARG', /^d1: units must be a positive integer, got 0$/);
    expectError(thrown(() => conv2d({ filters: 2, kernelSize: 3, name: '' })), 'E_ARG', /^conv2d: name must be a non-empty string$/);
  });

  test('conv2d on an input that is not rank 3, or reused for another shape, is a ShapeError naming the layer', () => {
    expectError(
      thrown(() => conv2d({ filters: 2, kernelSize: 3, name: 'flatconv' }).apply(input({ shape: [36] }))),
      'E_SHAPE',
      /^flatconv: expects height, width, channels input of rank 3 \(without the batch\), got shape \[36\]$/,
    );
    const layer = conv2d({ filters: 2, kernelSize: 3, name: 'reused' });
    layer.apply(input({ shape: [6, 6, 1] }));
    expectError(thrown(() => layer.apply(input({ shape: [8, 8, 1] }))), 'E_SHAPE', /^reused: already built for input shape \[6, 6, 1\], cannot apply it to \[8, 8, 1\]$/);
  });

  test('dense applied to a rank-3 input works over the last axis', async () => {
    // As in Keras: [4, 4, 3] -> [4, 4, 5], kernel [3, 5], the same weights at every position.
    const x = input({ shape: [4, 4, 3] });
    const layer = dense({ units: 5, name: 'dense3d' });
    const y = layer.apply(x);
    expect(y.shape).toEqual([4, 4, 5]);
    expect(layer.params.map((p) => p.shape)).toEqual([
      [3, 5],
      [5],
    ]);
    const m = model({ inputs: x, outputs: y, seed: 5 });
    const [kernel] = m.getWeights();
    const bias = new Tensor([5], Float32Array.from([0.5, -0.25, 0.125, 1, -1]));
    m.setWeights([kernel, bias]);
    const batch = 2;
    const data = Float32Array.from({ length: batch * 48 }, (_, i) => Math.cos(i * 0.3));
    const out = await m.predict(new Tensor([batch, 4, 4, 3], data));
    expect(out.shape).toEqual([batch, 4, 4, 5]);
    for (let r = 0; r < batch * 16; r++) {
      for (let u = 0; u < 5; u++) {
        let want = bias.data[u];
        for (let f = 0; f < 3; f++) want += data[r * 3 + f] * kernel.data[f * 5 + u];
        expect(Math.abs(out.data[r * 5 + u] - want)).toBeLessThan(1e-5);
      }
    }
    // It cannot be a classifier without a flatten: the loss names the output shape.
    expectError(thrown(() => m.compile()), 'E_SHAPE', /^softmaxCrossEntropy: the model output must be \[classes\] logits with classes >= 2, got \[4, 4, 5\]$/);
  });
});

// ---------------------------------------------------------------------------------------
// data files

describe('truncated IDX files are FormatErrors naming the file', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'convkit-errors-'));
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  function idx(dims: number[], data: number[]): Buffer {
    const header = Buffer.alloc(4 + 4 * dims.length);
    header[2] = 0x08;
    header[3] = dims.length;
    dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
    return Buffer.concat([header, Buffer.from(data)]);
  }

  test('loadIdxDataset with a truncated raw images file', () => {
    const split = fs.mkdtempSync(path.join(dir, 'raw-'));
    const images = path.join(split, 'train-images-idx3-ubyte');
    fs.writeFileSync(images, idx([2, 2, 2], [1, 2, 3, 4, 5])); // 8 pixels declared, 5 present
    fs.writeFileSync(path.join(split, 'train-labels-idx1-ubyte'), idx([2], [3, 7]));
    const err = thrown(() => loadIdxDataset(split, 'train'));
    expectError(err, 'E_FORMAT', /truncated IDX file: dims \[2, 2, 2\] need 24 bytes \(16 header \+ 8 data\), got 21 bytes$/);
    expect(err.message.startsWith(`${images}: `)).toBe(true);
  });

  test('loadIdxDataset with a truncated header and with a truncated gzip stream', () => {
    const split = fs.mkdtempSync(path.join(dir, 'hdr-'));
    const images = path.join(split, 't10k-images-idx3-ubyte');
    fs.writeFileSync(images, idx([2, 2, 2], []).subarray(0, 10));
    fs.writeFileSync(path.join(split, 't10k-labels-idx1-ubyte'), idx([2], [3, 7]));
    const err = thrown(() => loadIdxDataset(split, 't10k'));
    expectError(err, 'E_FORMAT', /truncated IDX header: expected 16 bytes for 3 dims, got 10 bytes$/);
    expect(err.message.startsWith(`${images}: `)).toBe(true);

    const gzSplit = fs.mkdtempSync(path.join(dir, 'gz-'));
    const gz = path.join(gzSplit, 'train-images-idx3-ubyte.gz');
    const full = zlib.gzipSync(idx([2, 2, 2], [1, 2, 3, 4, 5, 6, 7, 8]));
    fs.writeFileSync(gz, full.subarray(0, full.length - 10));
    fs.writeFileSync(path.join(gzSplit, 'train-labels-idx1-ubyte'), idx([2], [3, 7]));
    const gzErr = thrown(() => loadIdxDataset(gzSplit, 'train'));
    expectError(gzErr, 'E_FORMAT', /corrupt or truncated gzip stream/);
    expect(gzErr.message.startsWith(`${gz}: `)).toBe(true);
  });

  test('readIdxFile on a truncated labels file', () => {
    const file = path.join(dir, 'labels-truncated');
    fs.writeFileSync(file, idx([5], [1, 2, 3]));
    const err = thrown(() => readIdxFile(file));
    expectError(err, 'E_FORMAT', /truncated IDX file/);
    expect(err.message.startsWith(`${file}: `)).toBe(true);
  });
});
