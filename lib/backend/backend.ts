/**
 * The Backend contract: the kernels of ./kernels.ts, run one at a time (eager ops, tests)
 * or as a compiled plan (training and inference). Implemented by the TypeScript kernels
 * (./js) and by the native addon (./native.ts).
 */
import type { KernelName } from './kernels';

export interface BackendInfo {
  backend: 'native' | 'js';
  /** Instruction set of the kernels in use: 'scalar', 'avx2', 'avx512', 'neon', or 'js'. */
  isa: string;
  threads: number;
  /** Why the native backend is not in use, when it is not. */
  reason?: string;
}

/** A compiled plan bound to its buffers; see lib/plan/program.ts for the encoding. */
export interface PlanHandle {
  /** Runs instructions [begin, end) and resolves when done; never blocks the event loop for the whole run. */
  run(begin: number, end: number): Promise<void>;
  /** Runs instructions [begin, end) on the calling thread. */
  runSync(begin: number, end: number): void;
}

export interface Backend {
  readonly name: 'native' | 'js';
  info(): BackendInfo;
  /**
   * Runs one kernel on the calling thread. Checks the buffer count and lengths, the
   * integer parameters, and that input buffers hold no NaN or Infinity, and throws a
   * ConvkitError naming the argument before touching memory.
   */
  runKernel(name: KernelName, buffers: Float32Array[], ints: readonly number[], floats?: readonly number[]): void;
  /** The index of the first NaN or Infinity in `data`, or -1 when every value is finite. */
  findNonFinite(data: Float32Array): number;
  /**
   * Binds an encoded program to its two buffer spaces: `state` (parameters, gradients,
   * optimizer state; shared by every plan of a model) and `work` (activations, inputs).
   * The program is validated once, here.
   */
  createPlan(state: Float32Array, work: Float32Array, program: Int32Array): PlanHandle;
}
