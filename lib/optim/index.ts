/** Optimizers, as kernel calls in the plan; hyperparameters live in a small state buffer so they can change between steps. */
import type { BufferRef, PlanBuilder } from '../plan/builder';
import { ArgumentError } from '../errors';

export interface Optimizer {
  readonly kind: string;
  /** Extra state arrays per parameter, each the size of the parameter (e.g. velocity). */
  readonly slotsPerParam: number;
  /** Length of the hyperparameter buffer the update kernels read. */
  readonly hyperLength: number;
  /** Writes this step's hyperparameters (learning rate may change between steps). */
  writeHyper(hyper: Float32Array): void;
  emitUpdate(builder: PlanBuilder, param: BufferRef, grad: BufferRef, slots: readonly BufferRef[], hyper: BufferRef): void;
  config(): Record<string, number | string>;
}

export interface SgdOptions {
  lr?: number;
  momentum?: number;
  weightDecay?: number;
}

function checkNumber(option: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new ArgumentError(`sgd: ${option} must be a number in [${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

/** SGD with (PyTorch-style) momentum and L2 weight decay. */
export class Sgd implements Optimizer {
  readonly kind = 'sgd';
  readonly slotsPerParam = 1;
  readonly hyperLength = 3;
  private _lr: number;
  readonly momentum: number;
  readonly weightDecay: number;

  constructor(options: SgdOptions = {}) {
    this._lr = checkNumber('lr', options.lr ?? 0.01, 0, Infinity);
    this.momentum = checkNumber('momentum', options.momentum ?? 0, 0, 1);
    this.weightDecay = checkNumber('weightDecay', options.weightDecay ?? 0, 0, Infinity);
  }

  get lr(): number {
    return this._lr;
  }
  /** The learning rate can be changed between steps (e.g. from a callback). */
  set lr(value: number) {
    this._lr = checkNumber('lr', value, 0, Infinity);
  }

  writeHyper(hyper: Float32Array): void {
    hyper[0] = this._lr;
    hyper[1] = this.momentum;
    hyper[2] = this.weightDecay;
  }

  emitUpdate(builder: PlanBuilder, param: BufferRef, grad: BufferRef, slots: readonly BufferRef[], hyper: BufferRef): void {
    builder.emit('sgdMomentum', [param, grad, slots[0], hyper], [param.length]);
  }

  config(): Record<string, number | string> {
    return { kind: this.kind, lr: this._lr, momentum: this.momentum, weightDecay: this.weightDecay };
  }
}

export const sgd = (options: SgdOptions = {}): Sgd => new Sgd(options);

export function resolveOptimizer(value: unknown): Optimizer {
  if (value === undefined || value === 'sgd') return new Sgd();
  if (value instanceof Sgd) return value;
  throw new ArgumentError(`compile: optimizer must be 'sgd' or an optimizer from convkit.optimizers, got ${JSON.stringify(value)}`);
}
