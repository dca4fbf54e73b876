/**
 * Optimizers, as kernel calls in the plan. Hyperparameters live in a small state buffer
 * that the model rewrites before every step, so the learning rate can follow a schedule
 * and Adam's bias corrections can count steps without rebuilding the plan.
 */
import type { BufferRef, PlanBuilder } from '../plan/builder';
import { ArgumentError } from '../errors';

/** Learning rate as a function of the number of steps already taken. */
export interface LearningRateSchedule {
  readonly kind: string;
  at(step: number): number;
  config(): Record<string, number | string>;
}

export interface Optimizer {
  readonly kind: string;
  /** Extra state arrays per parameter, each the size of the parameter (velocity, moments). */
  readonly slotsPerParam: number;
  /** Length of the hyperparameter buffer the update kernels read. */
  readonly hyperLength: number;
  /** Steps taken so far (Adam's bias correction and schedules count them). */
  iterations: number;
  /** The learning rate the next step will use. */
  readonly currentLr: number;
  /** Writes the next step's hyperparameters and counts the step. */
  writeHyper(hyper: Float32Array): void;
  emitUpdate(builder: PlanBuilder, param: BufferRef, grad: BufferRef, slots: readonly BufferRef[], hyper: BufferRef): void;
  config(): Record<string, unknown>;
}

function checkNumber(owner: string, option: string, value: unknown, min: number, max: number, openMin = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (openMin && value === min) || value > max) {
    throw new ArgumentError(`${owner}: ${option} must be a number in ${openMin ? '(' : '['}${min}, ${max}], got ${String(value)}`);
  }
  return value;
}

type Lr = number | LearningRateSchedule;

function checkLr(owner: string, lr: unknown): Lr {
  if (lr !== null && typeof lr === 'object' && typeof (lr as LearningRateSchedule).at === 'function') return lr as LearningRateSchedule;
  return checkNumber(owner, 'lr', lr, 0, Infinity);
}

abstract class BaseOptimizer implements Optimizer {
  abstract readonly kind: string;
  abstract readonly slotsPerParam: number;
  abstract readonly hyperLength: number;
  iterations = 0;
  protected _lr: Lr;

  constructor(owner: string, lr: unknown) {
    this._lr = checkLr(owner, lr);
  }

  /** The learning rate: a number, or a schedule of the step count. Settable between steps. */
  get lr(): Lr {
    return this._lr;
  }
  set lr(value: Lr) {
    this._lr = checkLr(this.kind, value);
  }

  get currentLr(): number {
    return typeof this._lr === 'number' ? this._lr : this._lr.at(this.iterations);
  }

  protected lrConfig(): number | Record<string, number | string> {
    return typeof this._lr === 'number' ? this._lr : this._lr.config();
  }

  abstract writeHyper(hyper: Float32Array): void;
  abstract emitUpdate(builder: PlanBuilder, param: BufferRef, grad: BufferRef, slots: readonly BufferRef[], hyper: BufferRef): void;
  abstract config(): Record<string, unknown>;
}

export interface SgdOptions {
  lr?: Lr;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** SGD with PyTorch-style momentum (optionally Nesterov) and L2 weight decay. */
export class Sgd extends BaseOptimizer {
  readonly kind = 'sgd';
  readonly slotsPerParam = 1;
  readonly hyperLength = 3;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;

  constructor(options: SgdOptions = {}) {
    super('sgd', options.lr ?? 0.01);
    this.momentum = checkNumber('sgd', 'momentum', options.momentum ?? 0, 0, 1);
    this.nesterov = options.nesterov ?? false;
    if (typeof this.nesterov !== 'boolean') throw new ArgumentError(`sgd: nesterov must be a boolean, got ${String(options.nesterov)}`);
    if (this.nesterov && this.momentum === 0) throw new ArgumentError('sgd: nesterov needs a momentum above 0');
    this.weightDecay = checkNumber('sgd', 'weightDecay', options.weightDecay ?? 0, 0, Infinity);
  }

  writeHyper(hyper: Float32Array): void {
    hyper[0] = this.currentLr;
    hyper[1] = this.momentum;
    hyper[2] = this.weightDecay;
    this.iterations++;
  }

  emitUpdate(builder: PlanBuilder, param: BufferRef, grad: BufferRef, slots: readonly BufferRef[], hyper: BufferRef): void {
    builder.emit(this.nesterov ? 'sgdNesterov' : 'sgdMomentum', [param, grad, slots[0], hyper], [param.length]);
  }

  config(): Record<string, unknown> {
    return { kind: this.kind, lr: this.lrConfig(), momentum: this.momentum, nesterov: this.nesterov, weightDecay: this.weightDecay };
  }
}

export interface AdamOptions {
  lr?: Lr;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

/**
 * Adam (L2 weight decay added to the gradient) and AdamW (decoupled weight decay), PyTorch
 * semantics: eps is added after the bias correction.
 */
export class Adam extends BaseOptimizer {
  readonly slotsPerParam = 2;
  readonly hyperLength = 8;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;

  constructor(
    readonly kind: 'adam' | 'adamw',
    options: AdamOptions = {},
  ) {
    super(kind, options.lr ?? 0.001);
    this.beta1 = checkNumber(kind, 'beta1', options.beta1 ?? 0.9, 0, 1);
    this.beta2 = checkNumber(kind, 'beta2', options.beta2 ?? 0.999, 0, 1);
    if (this.beta1 === 1 || this.beta2 === 1) throw new ArgumentError(`${kind}: beta1 and beta2 must be below 1`);
    this.eps = checkNumber(kind, 'eps', options.eps ?? 1e-8, 0, Infinity, true);
    this.weightDecay = checkNumber(kind, 'weightDecay', options.weightDecay ?? (kind === 'adamw' ? 0.01 : 0), 0, Infinity);
  }

  writeHyper(hyper: Float32Array): void {
    const step = this.iterations + 1;
    hyper[0] = this.currentLr;
    hyper[1] = this.beta1;
    hyper[2] = this.beta2;
    hyper[3] = this.eps;
    hyper[4] = this.weightDecay;
    hyper[5] = this.kind === 'adamw' ? 1 : 0;
    hyper[6] = 1 - Math.pow(this.beta1, step);
    hyper[7] = 1 - Math.pow(this.beta2, step);
    this.iterations = step;
  }

  emitUpdate(builder: PlanBuilder, param: BufferRef, grad: BufferRef, slots: readonly BufferRef[], hyper: BufferRef): void {
    builder.emit('adam', [param, grad, slots[0], slots[1], hyper], [param.length]);
  }

  config(): Record<string, unknown> {
    return { kind: this.kind, lr: this.lrConfig(), beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay: this.weightDecay };
  }
}

export const sgd = (options: SgdOptions = {}): Sgd => new Sgd(options);
export const adam = (options: AdamOptions = {}): Adam => new Adam('adam', options);
export const adamw = (options: AdamOptions = {}): Adam => new Adam('adamw', options);

/** lr = initial * gamma^floor(step / stepSize). */
export function stepDecay(options: { initial: number; stepSize: number; gamma?: number }): LearningRateSchedule {
  const initial = checkNumber('stepDecay', 'initial', options?.initial, 0, Infinity);
  const stepSize = checkNumber('stepDecay', 'stepSize', options?.stepSize, 1, Infinity);
  const gamma = checkNumber('stepDecay', 'gamma', options?.gamma ?? 0.1, 0, Infinity);
  return {
    kind: 'stepDecay',
    at: (step) => initial * Math.pow(gamma, Math.floor(step / stepSize)),
    config: () => ({ kind: 'stepDecay', initial, stepSize, gamma }),
  };
}

/** Cosine decay from initial to initial * alpha over decaySteps, then constant. */
export function cosineDecay(options: { initial: number; decaySteps: number; alpha?: number }): LearningRateSchedule {
  const initial = checkNumber('cosineDecay', 'initial', options?.initial, 0, Infinity);
  const decaySteps = checkNumber('cosineDecay', 'decaySteps', options?.decaySteps, 1, Infinity);
  const alpha = checkNumber('cosineDecay', 'alpha', options?.alpha ?? 0, 0, 1);
  return {
    kind: 'cosineDecay',
    at: (step) => {
      const t = Math.min(step, decaySteps) / decaySteps;
      return initial * (alpha + (1 - alpha) * 0.5 * (1 + Math.cos(Math.PI * t)));
    },
    config: () => ({ kind: 'cosineDecay', initial, decaySteps, alpha }),
  };
}

export function resolveOptimizer(value: unknown): Optimizer {
  if (value === undefined || value === 'sgd') return new Sgd();
  if (value === 'adam') return adam();
  if (value === 'adamw') return adamw();
  if (value instanceof Sgd || value instanceof Adam) return value;
  throw new ArgumentError(`compile: optimizer must be 'sgd', 'adam', 'adamw' or an optimizer object, got ${JSON.stringify(value)}`);
}
