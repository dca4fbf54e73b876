/**
 * Backend choice (CONVKIT_BACKEND, the native addon and the fallback), the addon's kernel
 * list, and plan programs: valid ones run on both backends, corrupt ones are rejected by
 * createPlan with a typed ConvkitError on both backends.
 */
import { KERNELS, backendInfo, createBackend, getBackend, nativeBackend } from '../lib/backend';
import type { Backend, PlanHandle } from '../lib/backend';
import { loadAddon } from '../lib/backend/native';
import { encodeProgram, PLAN_MAGIC } from '../lib/backend/program';
import { ArgumentError, ConvkitError, ErrorCode, FormatError, ShapeError } from '../lib/errors';

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the call to throw');
}

async function rejected(p: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: string };
  }
  throw new Error('expected the promise to reject');
}

/**
 * The error has `code` and a message matching `pattern`, and, when it was created in this
 * realm, is the ConvkitError subclass `cls`. Errors the addon throws come from Node's main
 * realm, not jest's sandbox, so lib/errors.ts fromNativeError (`instanceof Error`) leaves
 * them as plain Errors under jest; they are checked by `code` here, and test/errors.test.ts
 * checks their class in a plain Node process.
 */
function expectConvkit(err: Error & { code?: string }, code: ErrorCode, pattern: RegExp, cls: abstract new (...args: never[]) => ConvkitError = ConvkitError): void {
  expect(err.code).toBe(code);
  expect(err.message).toMatch(pattern);
  if (err instanceof Error) {
    expect(err).toBeInstanceOf(ConvkitError);
    expect(err).toBeInstanceOf(cls);
  }
}

describe('backend choice', () => {
  test('backendInfo() reports the backend of this run', () => {
    const info = backendInfo();
    const expected = process.env.CONVKIT_BACKEND ?? 'native';
    expect(info.backend).toBe(expected);
    expect(Object.keys(info).sort()).toEqual(['backend', 'isa', 'threads']);
    expect(Number.isInteger(info.threads) && info.threads >= 1).toBe(true);
    if (info.backend === 'js') expect(info.isa).toBe('js');
    else expect(['scalar', 'avx2', 'avx512', 'neon']).toContain(info.isa);
    expect(getBackend().name).toBe(expected);
    expect(getBackend()).toBe(getBackend()); // chosen once
  });

  test("the addon's kernel list equals KERNELS, in order", () => {
    const result = loadAddon();
    if (!('addon' in result)) throw new Error(`the native addon did not load: ${result.error}`);
    expect(result.addon.kernelNames()).toEqual(KERNELS.map((k) => k.name));
    expect(nativeBackend().backend?.name).toBe('native');
    expect(nativeBackend().reason).toBeUndefined();
  });

  test("createBackend('native') and createBackend('js') work; anything else is an ArgumentError", () => {
    const native = createBackend('native');
    expect(native.name).toBe('native');
    expect(native.info().backend).toBe('native');
    const js = createBackend('js');
    expect(js.name).toBe('js');
    expect(js.info()).toEqual({ backend: 'js', isa: 'js', threads: 1 });
    expectConvkit(thrown(() => createBackend('bogus' as 'js')), 'E_ARG', /'bogus'/, ArgumentError);
  });

  describe('when the addon cannot load (loadAddon mocked)', () => {
    const REASON = 'the native addon is not built (/nowhere/convkit.node not found)';
    const saved = process.env.CONVKIT_BACKEND;

    afterEach(() => {
      if (saved === undefined) delete process.env.CONVKIT_BACKEND;
      else process.env.CONVKIT_BACKEND = saved;
      jest.dontMock('../lib/backend/native');
      jest.restoreAllMocks();
    });

    /** Loads lib/backend and lib/errors afresh with loadAddon failing for REASON. */
    function withBrokenAddon(): { backend: typeof import('../lib/backend'); errors: typeof import('../lib/errors') } {
      let loaded: { backend: typeof import('../lib/backend'); errors: typeof import('../lib/errors') } | undefined;
      jest.isolateModules(() => {
        jest.doMock('../lib/backend/native', () => ({
          ...jest.requireActual('../lib/backend/native'),
          loadAddon: () => ({ error: REASON }),
        }));
        loaded = { backend: require('../lib/backend'), errors: require('../lib/errors') };
      });
      return loaded!;
    }

    test('CONVKIT_BACKEND=native: getBackend() throws a BackendError giving the reason', () => {
      process.env.CONVKIT_BACKEND = 'native';
      const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      const { backend, errors } = withBrokenAddon();
      const err = thrown(() => backend.getBackend());
      expect(err).toBeInstanceOf(errors.BackendError);
      expectConvkitLike(err, 'E_BACKEND');
      expect(err.message).toContain(REASON);
      expect(err.message).toContain('CONVKIT_BACKEND=native');
      expect(err.message).toContain('npm rebuild');
      // createBackend('native') says the same; backendInfo() does not silently fall back.
      expect(thrown(() => backend.createBackend('native')).message).toContain(REASON);
      expect(thrown(() => backend.backendInfo())).toBeInstanceOf(errors.BackendError);
      expect(warn).not.toHaveBeenCalled();
    });

    test('CONVKIT_BACKEND unset: falls back to js with one warning giving the reason and the fix', () => {
      delete process.env.CONVKIT_BACKEND;
      const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      const { backend } = withBrokenAddon();
      const b = backend.getBackend();
      expect(b.name).toBe('js');
      expect(backend.backendInfo()).toEqual({ backend: 'js', isa: 'js', threads: 1, reason: REASON });
      expect(warn).toHaveBeenCalledTimes(1);
      const text = String(warn.mock.calls[0][0]);
      expect(text).toContain(REASON);
      expect(text).toContain('npm rebuild');
      backend.getBackend();
      backend.backendInfo();
      expect(warn).toHaveBeenCalledTimes(1); // once per process, not per call
      expect(backend.nativeBackend()).toEqual({ reason: REASON });
    });

    test('CONVKIT_BACKEND=js: js without a warning; CONVKIT_BACKEND=bogus: ArgumentError naming it', () => {
      const warn = jest.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
      process.env.CONVKIT_BACKEND = 'js';
      const { backend } = withBrokenAddon();
      expect(backend.getBackend().name).toBe('js');
      expect(backend.backendInfo().reason).toBeUndefined();
      expect(warn).not.toHaveBeenCalled();

      process.env.CONVKIT_BACKEND = 'bogus';
      const again = withBrokenAddon();
      const err = thrown(() => again.backend.getBackend());
      expect(err).toBeInstanceOf(again.errors.ArgumentError);
      expectConvkitLike(err, 'E_ARG');
      expect(err.message).toContain("'bogus'");
      expect(err.message).toContain('CONVKIT_BACKEND');
    });
  });
});

/** For errors from an isolated module registry (a different ConvkitError class). */
function expectConvkitLike(err: Error & { code?: string }, code: ErrorCode): void {
  expect(err.code).toBe(code);
  expect(err.name).not.toBe('Error');
}

// ---------------------------------------------------------------------------------------
// plan programs

const RELU = KERNELS.findIndex((k) => k.name === 'relu');

/**
 * work = [x0..x3, y0..y3, sentinel]; one instruction: y = relu(x).
 * Word layout: 0 magic, 1 numBuffers, 2 numInstructions, 3-5 buffer 0, 6-8 buffer 1,
 * 9 kernel id, 10 nBuffers, 11 nInts, 12 nFloats, 13-14 buffer ids, 15 size.
 */
function reluProgram(size = 4): Int32Array {
  return encodeProgram(
    [
      { space: 1, offset: 0, length: 4 },
      { space: 1, offset: 4, length: 4 },
    ],
    [{ kernel: 'relu', buffers: [0, 1], ints: [size], floats: [] }],
  );
}

function reluWork(): Float32Array {
  return Float32Array.from([-1, 2, -3, 4, 7, 7, 7, 7, 99]);
}

function edited(program: Int32Array, edit: (words: number[]) => void): Int32Array {
  const words = Array.from(program);
  edit(words);
  return Int32Array.from(words);
}

const planBackends: [string, () => Backend][] = [
  ['js', () => createBackend('js')],
  ['native', () => createBackend('native')],
];

describe.each(planBackends)('plan programs on the %s backend', (_name, make) => {
  let backend: Backend;
  beforeAll(() => {
    backend = make();
  });

  test('the encoding has the documented layout', () => {
    const p = reluProgram();
    expect(Array.from(p)).toEqual([PLAN_MAGIC, 2, 1, 1, 0, 4, 1, 4, 4, RELU, 2, 1, 0, 0, 1, 4]);
  });

  test('a one-instruction program runs via runSync() and run()', async () => {
    const state = new Float32Array(1);
    const work = reluWork();
    const plan: PlanHandle = backend.createPlan(state, work, reluProgram());
    plan.runSync(0, 1);
    expect(Array.from(work)).toEqual([-1, 2, -3, 4, 0, 2, 0, 4, 99]);

    // The plan is bound to `work`: new inputs written there are what the next run reads.
    work.set([5, -6, 7, -8], 0);
    work.fill(42, 4, 8);
    const pending = plan.run(0, 1);
    expect(pending).toBeInstanceOf(Promise);
    await pending;
    expect(Array.from(work)).toEqual([5, -6, 7, -8, 5, 0, 7, 0, 99]);

    // An empty range is a no-op.
    work.fill(42, 4, 8);
    plan.runSync(0, 0);
    await plan.run(1, 1);
    expect(Array.from(work.subarray(4, 8))).toEqual([42, 42, 42, 42]);
    expect(state[0]).toBe(0);
  });

  test('an in-place instruction over the state space works too', () => {
    const state = Float32Array.from([-2, 3, 0]);
    const program = encodeProgram([{ space: 0, offset: 0, length: 2 }], [{ kernel: 'relu', buffers: [0, 0], ints: [2], floats: [] }]);
    backend.createPlan(state, new Float32Array(0), program).runSync(0, 1);
    expect(Array.from(state)).toEqual([0, 3, 0]);
  });

  test('a range outside [0, size] throws an ArgumentError (runSync) or rejects with one (run)', async () => {
    const work = reluWork();
    const plan = backend.createPlan(new Float32Array(1), work, reluProgram());
    for (const [begin, end] of [
      [0, 2],
      [-1, 1],
      [1, 0],
      [2, 2],
    ]) {
      expectConvkit(thrown(() => plan.runSync(begin, end)), 'E_ARG', /plan range/, ArgumentError);
      expectConvkit(await rejected(plan.run(begin, end)), 'E_ARG', /plan range/, ArgumentError);
    }
    expect(thrown(() => plan.runSync(0, 1.5)).code).toBe('E_ARG');
    // Nothing ran.
    expect(Array.from(work)).toEqual(Array.from(reluWork()));
  });

  const corrupt: [string, (p: Int32Array) => Int32Array, ErrorCode, RegExp, number?][] = [
    ['wrong magic', (p) => edited(p, (w) => (w[0] = PLAN_MAGIC + 1)), 'E_FORMAT', /magic/],
    ['an empty program', () => new Int32Array(0), 'E_FORMAT', /magic/],
    ['a hostile instruction count', () => Int32Array.from([PLAN_MAGIC, 0, 0x7fffffff]), 'E_FORMAT', /more instructions than the program can hold/],
    ['negative counts', (p) => edited(p, (w) => (w[1] = -1)), 'E_FORMAT', /negative/],
    ['a buffer table past the end', (p) => edited(p, (w) => (w[1] = 1000)), 'E_FORMAT', /buffer table/],
    ['a slice past the end of work', (p) => edited(p, (w) => (w[7] = 6)), 'E_FORMAT', /buffer 1 .*outside/],
    ['a slice past the end of state', (p) => edited(p, (w) => (w[6] = 0)), 'E_FORMAT', /buffer 1 .*outside/],
    ['a negative offset', (p) => edited(p, (w) => (w[4] = -1)), 'E_FORMAT', /buffer 0 .*outside/],
    ['an empty slice', (p) => edited(p, (w) => (w[5] = 0)), 'E_FORMAT', /buffer 0 .*outside/],
    ['an unknown space', (p) => edited(p, (w) => (w[3] = 2)), 'E_FORMAT', /buffer 0 names unknown space 2/],
    ['an unknown kernel id', (p) => edited(p, (w) => (w[9] = KERNELS.length)), 'E_FORMAT', new RegExp(`unknown kernel id ${KERNELS.length}`)],
    ['a negative kernel id', (p) => edited(p, (w) => (w[9] = -1)), 'E_FORMAT', /unknown kernel id -1/],
    ['an unknown buffer id', (p) => edited(p, (w) => (w[14] = 2)), 'E_FORMAT', /unknown buffer 2/],
    ['argument counts past the end', (p) => edited(p, (w) => (w[11] = 50)), 'E_FORMAT', /bad argument counts/],
    ['a missing instruction', (p) => edited(p, (w) => (w[2] = 2)), 'E_FORMAT', /(instruction 1 runs past the end|more instructions than the program can hold)/],
    ['trailing words', (p) => edited(p, (w) => w.push(0)), 'E_FORMAT', /trailing/],
    ['a truncated program', (p) => p.slice(0, p.length - 1), 'E_FORMAT', /instruction 0/],
    ['a wrong buffer length for the kernel', (p) => edited(p, (w) => (w[15] = 3)), 'E_SHAPE', /plan instruction 0: relu: buffer 'x' must have 3 elements, got 4/],
    ['a wrong buffer count for the kernel', (p) => edited(p, (w) => { w[10] = 1; w.splice(14, 1); }), 'E_ARG', /plan instruction 0: relu: expected 2 buffers/],
    ['a wrong int count for the kernel', (p) => edited(p, (w) => { w[11] = 2; w.push(4); }), 'E_ARG', /plan instruction 0: relu: expected 1 integer/],
    ['a zero size for the kernel', (p) => edited(p, (w) => (w[15] = 0)), 'E_ARG', /plan instruction 0: relu: size must be a positive integer/],
  ];

  test.each(corrupt)('createPlan rejects %s', (_what, corruptIt, code, pattern) => {
    const work = reluWork();
    const state = new Float32Array(1);
    const err = thrown(() => backend.createPlan(state, work, corruptIt(reluProgram())));
    const cls = { E_FORMAT: FormatError, E_SHAPE: ShapeError, E_ARG: ArgumentError }[code as 'E_FORMAT' | 'E_SHAPE' | 'E_ARG'];
    expectConvkit(err, code, pattern, cls);
    if (code === 'E_FORMAT') expect(err.message).toMatch(/^plan program: /);
    expect(Array.from(work)).toEqual(Array.from(reluWork()));
  });

  test('createPlan rejects state or work that is not a Float32Array', () => {
    const err = thrown(() => backend.createPlan(new Float64Array(1) as unknown as Float32Array, reluWork(), reluProgram()));
    expectConvkit(err, 'E_ARG', /state/, ArgumentError);
    const err2 = thrown(() => backend.createPlan(new Float32Array(1), Array.from(reluWork()) as unknown as Float32Array, reluProgram()));
    expectConvkit(err2, 'E_ARG', /work/, ArgumentError);
  });
});

describe.each(planBackends)('findNonFinite on the %s backend', (_name, make) => {
  let backend: Backend;
  beforeAll(() => {
    backend = make();
  });

  test('is -1 for finite data, including the extremes and an empty array', () => {
    expect(backend.findNonFinite(new Float32Array(0))).toBe(-1);
    expect(backend.findNonFinite(Float32Array.from([0, -0, 3.4028234663852886e38, -3.4028234663852886e38, 1e-45, -1e-45]))).toBe(-1);
  });

  test.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('finds the first %s, past block boundaries and in views', (_what, bad) => {
    const data = new Float32Array(10_000).fill(1.5);
    for (const at of [0, 1023, 1024, 4095, 4096, 9_999]) {
      data[at] = bad;
      expect(backend.findNonFinite(data)).toBe(at);
      data[9_999] = bad; // a later one does not hide the first
      expect(backend.findNonFinite(data)).toBe(at);
      data.fill(1.5);
    }
    data[5000] = bad;
    expect(backend.findNonFinite(data.subarray(4000, 6000))).toBe(1000);
    expect(backend.findNonFinite(data.subarray(5001))).toBe(-1);
  });

  test('rejects what is not a Float32Array', () => {
    expectConvkit(thrown(() => backend.findNonFinite([1, 2] as unknown as Float32Array)), 'E_ARG', /findNonFinite: data must be a Float32Array/, ArgumentError);
  });
});
