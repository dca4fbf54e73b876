/**
 * Builds a plan: a flat list of kernel calls over numbered buffers. Layers ask for work
 * buffers and emit calls; at the end, work buffers get offsets in one arena by liveness
 * (two buffers share memory only if no call uses both), so memory is planned once and a
 * step allocates nothing.
 */
import { KERNELS, KernelName, checkKernelLengths, kernelId } from '../backend/kernels';
import { BufferSlice, Instruction, Space, encodeProgram } from '../backend/program';
import { ArgumentError } from '../errors';

/** A buffer of a plan: a slice of the state arena, or a work buffer placed later. */
export interface BufferRef {
  readonly id: number;
  readonly length: number;
}

interface WorkBuffer {
  length: number;
  /** Pinned buffers live for the whole plan (inputs, labels, outputs read after a run). */
  pinned: boolean;
  first: number;
  last: number;
  offset: number;
}

export interface BuiltPlan {
  program: Int32Array;
  workLength: number;
  /** Offset and length in the work arena of each work buffer, by BufferRef id. */
  workSlice(ref: BufferRef): { offset: number; length: number };
  instructionCount: number;
}

export class PlanBuilder {
  private readonly slices: (BufferSlice | null)[] = [];
  private readonly work = new Map<number, WorkBuffer>();
  private readonly instructions: Instruction[] = [];

  /** A slice of the state arena (a parameter, a gradient, optimizer state). */
  stateBuffer(offset: number, length: number): BufferRef {
    const id = this.slices.length;
    this.slices.push({ space: Space.State, offset, length });
    return { id, length };
  }

  /** A work buffer; its offset is chosen by liveness when the plan is finished. */
  workBuffer(length: number, pinned = false): BufferRef {
    if (!Number.isInteger(length) || length < 1) throw new ArgumentError(`plan: work buffer length must be a positive integer, got ${length}`);
    const id = this.slices.length;
    this.slices.push(null);
    this.work.set(id, { length, pinned, first: Infinity, last: -Infinity, offset: -1 });
    return { id, length };
  }

  /** Keeps a work buffer alive for the whole plan (its contents are read after a run). */
  pin(ref: BufferRef): void {
    const w = this.work.get(ref.id);
    if (w) w.pinned = true;
  }

  get size(): number {
    return this.instructions.length;
  }

  /** Emits one kernel call; checks lengths and parameters now so a bad layer fails at build time. */
  emit(kernel: KernelName, buffers: readonly BufferRef[], params: readonly number[], floats: readonly number[] = []): void {
    const spec = KERNELS[kernelId(kernel)];
    checkKernelLengths(
      spec,
      buffers.map((b) => b.length),
      params,
      floats.length,
    );
    const index = this.instructions.length;
    for (const b of buffers) {
      const w = this.work.get(b.id);
      if (w) {
        w.first = Math.min(w.first, index);
        w.last = Math.max(w.last, index);
      }
    }
    this.instructions.push({ kernel, buffers: buffers.map((b) => b.id), ints: [...params], floats: [...floats] });
  }

  finish(): BuiltPlan {
    const workLength = this.placeWorkBuffers();
    const slices = this.slices.map((s, id): BufferSlice => {
      if (s) return s;
      const w = this.work.get(id)!;
      return { space: Space.Work, offset: w.offset, length: w.length };
    });
    const work = this.work;
    return {
      program: encodeProgram(slices, this.instructions),
      workLength,
      instructionCount: this.instructions.length,
      workSlice(ref: BufferRef) {
        const w = work.get(ref.id);
        if (!w) throw new ArgumentError(`plan: buffer ${ref.id} is not a work buffer`);
        return { offset: w.offset, length: w.length };
      },
    };
  }

  /**
   * First-fit placement of live intervals, largest first within equal starts. Returns
   * the arena length. Unused unpinned buffers still get a place (they are cheap) so that
   * every BufferRef stays valid.
   */
  private placeWorkBuffers(): number {
    const end = this.instructions.length;
    const buffers = [...this.work.values()];
    for (const w of buffers) {
      if (w.pinned || w.first === Infinity) {
        w.first = 0;
        w.last = end;
      }
    }
    buffers.sort((a, b) => a.first - b.first || b.length - a.length);
    const placed: WorkBuffer[] = [];
    let arenaLength = 0;
    for (const w of buffers) {
      const overlapping = placed
        .filter((p) => p.first <= w.last && w.first <= p.last)
        .sort((a, b) => a.offset - b.offset);
      let offset = 0;
      for (const p of overlapping) {
        if (offset + w.length <= p.offset) break;
        offset = Math.max(offset, p.offset + p.length);
      }
      w.offset = offset;
      placed.push(w);
      arenaLength = Math.max(arenaLength, offset + w.length);
    }
    return Math.max(arenaLength, 1);
  }
}
