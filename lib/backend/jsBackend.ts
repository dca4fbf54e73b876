/**
 * The TypeScript backend: the kernels of ./js run one by one, and a plan executor that is
 * the same loop as native/runtime/plan.cc. Plans run synchronously; `run` yields to the
 * event loop after each call so a training loop that awaits every step never starves it.
 */
import type { Backend, BackendInfo, PlanHandle } from './backend';
import { KERNELS, KernelName, checkKernelCall, kernelId } from './kernels';
import { JS_KERNELS, JsKernel } from './js';
import { decodeProgram, Space } from './program';
import { ArgumentError, FormatError, StateError, ValueError } from '../errors';

const NO_FLOATS = new Float32Array(0);

/**
 * The index of the first NaN or Infinity in data, or -1. The float's bits: an all-ones
 * exponent (0x7f800000) is NaN or Infinity, and adding 0x00800000 to the exponent field
 * carries into the sign bit exactly then. Integer ops over blocks, and Number.isFinite
 * only in a block that has one.
 */
export function firstNonFinite(data: Float32Array): number {
  const bits = new Int32Array(data.buffer, data.byteOffset, data.length);
  const block = 4096;
  for (let start = 0; start < data.length; start += block) {
    const end = Math.min(data.length, start + block);
    let carry = 0;
    for (let i = start; i < end; i++) carry |= (bits[i] & 0x7f800000) + 0x00800000;
    if (carry >= 0) continue;
    for (let i = start; i < end; i++) if (!Number.isFinite(data[i])) return i;
  }
  return -1;
}

export function checkFiniteInputs(name: KernelName, buffers: readonly Float32Array[]): void {
  const spec = KERNELS[kernelId(name)];
  spec.buffers.forEach((bufferName, i) => {
    if (!spec.inputs.includes(bufferName)) return;
    const data = buffers[i];
    const j = firstNonFinite(data);
    if (j >= 0) throw new ValueError(`${name}: buffer '${bufferName}' holds a non-finite value (${data[j]}) at index ${j}`);
  });
}

interface BoundCall {
  kernel: JsKernel;
  buffers: Float32Array[];
  ints: Int32Array;
  floats: Float32Array;
}

class JsPlan implements PlanHandle {
  private busy = false;
  constructor(private readonly calls: BoundCall[]) {}

  runSync(begin: number, end: number): void {
    if (!(Number.isInteger(begin) && Number.isInteger(end) && begin >= 0 && begin <= end && end <= this.calls.length)) {
      throw new ArgumentError(`plan range [${begin}, ${end}) is outside [0, ${this.calls.length})`);
    }
    if (this.busy) throw new StateError('the plan is already running; wait for its promise');
    for (let i = begin; i < end; i++) {
      const call = this.calls[i];
      call.kernel(call.buffers, call.ints, call.floats);
    }
  }

  async run(begin: number, end: number): Promise<void> {
    this.runSync(begin, end);
    this.busy = true;
    try {
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      this.busy = false;
    }
  }
}

export class JsBackend implements Backend {
  readonly name = 'js' as const;

  constructor(private readonly reason?: string) {}

  info(): BackendInfo {
    const info: BackendInfo = { backend: 'js', isa: 'js', threads: 1 };
    if (this.reason) info.reason = this.reason;
    return info;
  }

  runKernel(name: KernelName, buffers: Float32Array[], ints: readonly number[], floats: readonly number[] = []): void {
    const spec = KERNELS[kernelId(name)];
    if (!Array.isArray(floats)) throw new ArgumentError(`${name}: floats must be an array of numbers`);
    checkKernelCall(spec, buffers, ints, floats.length);
    checkFiniteInputs(name, buffers);
    JS_KERNELS[name](buffers, ints, floats.length ? Float32Array.from(floats) : NO_FLOATS);
  }

  findNonFinite(data: Float32Array): number {
    if (!(data instanceof Float32Array)) throw new ArgumentError('findNonFinite: data must be a Float32Array');
    return firstNonFinite(data);
  }

  createPlan(state: Float32Array, work: Float32Array, program: Int32Array): PlanHandle {
    if (!(state instanceof Float32Array) || !(work instanceof Float32Array)) throw new ArgumentError('plan state and work must be Float32Arrays');
    if (!(program instanceof Int32Array)) throw new ArgumentError('plan program must be an Int32Array');
    const { buffers, instructions } = decodeProgram(program);
    const views = buffers.map((b, i) => {
      const space = b.space === Space.State ? state : b.space === Space.Work ? work : undefined;
      if (!space) throw new FormatError(`plan program: buffer ${i} names unknown space ${b.space}`);
      if (b.offset < 0 || b.length < 1 || b.offset + b.length > space.length) {
        throw new FormatError(`plan program: buffer ${i} [${b.offset}, +${b.length}) lies outside its space of ${space.length} elements`);
      }
      return space.subarray(b.offset, b.offset + b.length);
    });
    const calls = instructions.map((ins, i): BoundCall => {
      const spec = KERNELS[ins.kernelId];
      const bound = ins.buffers.map((id) => {
        if (id < 0 || id >= views.length) throw new FormatError(`plan program: instruction ${i} names unknown buffer ${id}`);
        return views[id];
      });
      try {
        checkKernelCall(spec, bound, ins.ints, ins.floats.length);
      } catch (err) {
        (err as Error).message = `plan instruction ${i}: ${(err as Error).message}`;
        throw err;
      }
      return { kernel: JS_KERNELS[spec.name as KernelName], buffers: bound, ints: ins.ints, floats: ins.floats };
    });
    return new JsPlan(calls);
  }
}
