/**
 * The wire format of a plan, shared by the TypeScript executor and native/runtime/plan.cc:
 *
 *   Int32Array [ MAGIC, numBuffers, numInstructions,
 *                numBuffers x (space, offset, length),
 *                numInstructions x (kernelId, nBuffers, nInts, nFloats,
 *                                   buffer ids..., ints..., floats as float32 bits...) ]
 *
 * space 0 is the state arena (parameters, gradients, optimizer state), space 1 the work
 * arena (inputs, activations, their gradients). Offsets and lengths count float32 elements.
 */
import { KERNELS, KernelName, kernelId } from './kernels';
import { FormatError } from '../errors';

export const PLAN_MAGIC = 0x434b5031;

export const enum Space {
  State = 0,
  Work = 1,
}

export interface BufferSlice {
  space: Space;
  offset: number;
  length: number;
}

export interface Instruction {
  kernel: KernelName;
  buffers: number[];
  ints: number[];
  floats: number[];
}

export function encodeProgram(buffers: readonly BufferSlice[], instructions: readonly Instruction[]): Int32Array {
  const words: number[] = [PLAN_MAGIC, buffers.length, instructions.length];
  for (const b of buffers) words.push(b.space, b.offset, b.length);
  const floatBits = new Int32Array(1);
  const floatView = new Float32Array(floatBits.buffer);
  for (const ins of instructions) {
    words.push(kernelId(ins.kernel), ins.buffers.length, ins.ints.length, ins.floats.length);
    words.push(...ins.buffers, ...ins.ints);
    for (const f of ins.floats) {
      floatView[0] = f;
      words.push(floatBits[0]);
    }
  }
  return Int32Array.from(words);
}

export interface DecodedInstruction {
  kernelId: number;
  buffers: number[];
  ints: Int32Array;
  floats: Float32Array;
}

export function decodeProgram(program: Int32Array): { buffers: BufferSlice[]; instructions: DecodedInstruction[] } {
  const fail = (why: string): never => {
    throw new FormatError(`plan program: ${why}`);
  };
  if (program.length < 3 || program[0] !== PLAN_MAGIC) fail('missing header or wrong magic');
  const numBuffers = program[1];
  const numInstructions = program[2];
  if (numBuffers < 0 || numInstructions < 0) fail('negative counts in header');
  let pos = 3;
  if (pos + numBuffers * 3 > program.length) fail('buffer table runs past the end');
  const buffers: BufferSlice[] = [];
  for (let i = 0; i < numBuffers; i++, pos += 3) {
    buffers.push({ space: program[pos] as Space, offset: program[pos + 1], length: program[pos + 2] });
  }
  if (numInstructions * 4 > program.length - pos) fail('more instructions than the program can hold');
  const instructions: DecodedInstruction[] = [];
  for (let i = 0; i < numInstructions; i++) {
    if (pos + 4 > program.length) fail(`instruction ${i} runs past the end`);
    const [id, nb, ni, nf] = [program[pos], program[pos + 1], program[pos + 2], program[pos + 3]];
    pos += 4;
    if (id < 0 || id >= KERNELS.length) fail(`instruction ${i} has unknown kernel id ${id}`);
    if (nb < 0 || ni < 0 || nf < 0 || pos + nb + ni + nf > program.length) fail(`instruction ${i} has bad argument counts`);
    const bufferIds = Array.from(program.subarray(pos, pos + nb));
    pos += nb;
    const ints = program.slice(pos, pos + ni);
    pos += ni;
    const floats = new Float32Array(program.slice(pos, pos + nf).buffer);
    pos += nf;
    instructions.push({ kernelId: id, buffers: bufferIds, ints, floats });
  }
  if (pos !== program.length) fail('trailing data after the last instruction');
  return { buffers, instructions };
}
