/**
 * Model: a graph of layers with its parameters in one state arena, compiled into plans
 * (one per mode and batch size) that a backend runs. fit/evaluate/predict feed batches
 * into a plan's input buffer and read its outputs; on the native backend each training
 * step is one call into C++, run off the main thread.
 */
import { Backend, getBackend, createBackend, BackendName, PlanHandle } from '../backend';
import { Layer, SymbolicTensor, InputLayer, initialize, input as inputTensor, Param } from '../layers';
import { Loss, resolveLoss } from '../losses';
import { Optimizer, resolveOptimizer } from '../optim';
import { Random } from '../random';
import { Tensor, TensorLike, shapeSize, shapeToString } from '../tensor';
import { AbortError, ArgumentError, ShapeError, StateError, ValueError } from '../errors';
import { Graph, GraphPlan, PlanMode, StateLayout, buildGraphPlan, layoutState } from './graph';
import { ModelJSON, ResumePoint, SaveOptions, WeightArray, applyCheckpoint, modelToJSON, readCheckpoint, saveModel, weightsAsArrays, writeCheckpoint } from './io';

export interface CompileOptions {
  optimizer?: Optimizer | 'sgd' | 'adam' | 'adamw';
  loss?: string | Loss;
  metrics?: string[];
  /** Scales all gradients together so their global L2 norm is at most this. */
  clipNorm?: number;
  /** Runs this model on a given backend instead of the process default. */
  backend?: BackendName;
}

export interface BatchLogs {
  epoch: number;
  batch: number;
  /** Rows in this batch. */
  size: number;
  loss: number;
  /** Present when the loss is a classification loss and 'accuracy' is a metric. */
  accuracy?: number;
}

export interface EpochLogs {
  epoch: number;
  loss: number;
  accuracy?: number;
  valLoss?: number;
  valAccuracy?: number;
}

export interface FitOptions {
  batchSize?: number;
  epochs?: number;
  shuffle?: boolean;
  validationSplit?: number;
  validationData?: [TensorLike, Targets];
  seed?: number;
  signal?: AbortSignal;
  onBatchEnd?: (logs: BatchLogs) => void | Promise<void>;
  onEpochEnd?: (logs: EpochLogs) => void | Promise<void>;
  /**
   * Saves the model, its optimizer state and the fit progress to `dir`/checkpoint.ckpt
   * (atomically) after every `everyEpochs` epochs (default 1).
   */
  checkpoint?: { dir: string; everyEpochs?: number };
  /**
   * A checkpoint written by fit({ checkpoint }): its weights and optimizer state are loaded
   * into this compiled model of the same topology, and training continues with the next
   * epoch, bit-identical to an uninterrupted run. seed, batchSize, epochs and shuffle default
   * to the checkpoint's; the history holds only the epochs run now.
   */
  resumeFrom?: string;
}

export interface History {
  epochs: EpochLogs[];
}

export type Labels = Uint8Array | Int32Array | Uint32Array | Float32Array | readonly number[];
/** Class indices for sparse softmax cross-entropy; a tensor of the output's shape per example for the other losses. */
export type Targets = Labels | TensorLike;

interface BoundPlan {
  graphPlan: GraphPlan;
  handle: PlanHandle;
  work: Float32Array;
  input: Float32Array;
  output: Float32Array;
  labels?: Float32Array;
  loss?: Float32Array;
}

interface Compiled {
  loss: Loss;
  optimizer: Optimizer;
  backend: Backend;
  metrics: string[];
  clipNorm?: number;
}

/** @internal What lib/model/io.ts reads and restores. */
export interface ModelInternals {
  graph: Graph;
  compiled?: { loss: Loss; optimizer: Optimizer; metrics: string[]; clipNorm?: number };
  /** A live view of optimizer slot `s` of a trainable parameter. */
  slot(p: Param, s: number): Float32Array;
}

/**
 * The generator of one fit epoch (its shuffle, then its dropout masks), a function of the
 * fit seed and the epoch alone: a run resumed at epoch k draws what an uninterrupted one does.
 */
function epochRandom(seed: number, epoch: number): Random {
  return new Random(new Random(seed).nextUint32() + epoch * 4294967296);
}

export interface ModelOptions {
  inputs: SymbolicTensor;
  outputs: SymbolicTensor;
  name?: string;
  /** Seeds weight initialisation; the same seed gives the same weights on every backend. */
  seed?: number;
}

const DEFAULT_BATCH = 32;
const PREDICT_BATCH = 256;

export class Model {
  readonly name: string;
  private readonly graph: Graph;
  private layout: StateLayout;
  private state: Float32Array;
  private compiled?: Compiled;
  private plans = new Map<string, BoundPlan>();
  private backendOverride?: Backend;
  private running = false;
  private disposed = false;

  constructor(options: ModelOptions) {
    if (!options || typeof options !== 'object') throw new ArgumentError('model: expects { inputs, outputs }');
    this.graph = new Graph(options.inputs, options.outputs);
    this.name = options.name ?? 'model';
    const seed = options.seed ?? Math.floor(Math.random() * 2 ** 32);
    if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new ArgumentError(`model: seed must be a finite number, got ${String(seed)}`);
    const rng = new Random(seed);
    for (const p of this.graph.params) initialize(p.data, p.initializer, p.fans, rng, p.name);
    this.layout = layoutState(this.graph.params);
    this.state = this.bindState(this.layout);
  }

  get layers(): readonly Layer[] {
    return this.graph.layers.filter((l) => !(l instanceof InputLayer));
  }

  get inputShape(): readonly number[] {
    return this.graph.input.shape;
  }

  get outputShape(): readonly number[] {
    return this.graph.output.shape;
  }

  get params(): readonly Param[] {
    return this.graph.params;
  }

  get backend(): Backend {
    return this.compiled?.backend ?? this.backendOverride ?? getBackend();
  }

  get optimizer(): Optimizer | undefined {
    return this.compiled?.optimizer;
  }

  /** Moves parameters into a new arena laid out for the optimizer (values kept). */
  private bindState(layout: StateLayout): Float32Array {
    const state = new Float32Array(layout.length);
    for (const p of this.graph.params) {
      const offset = layout.paramOffset(p);
      state.set(p.data, offset);
      p.offset = offset;
      p.data = state.subarray(offset, offset + p.size);
    }
    return state;
  }

  compile(options: CompileOptions = {}): this {
    this.checkUsable();
    const loss = resolveLoss(options.loss ?? 'softmaxCrossEntropy');
    loss.check(this.outputShape);
    const optimizer = resolveOptimizer(options.optimizer);
    const metrics = options.metrics ?? (loss.classification ? ['accuracy'] : []);
    if (!Array.isArray(metrics)) throw new ArgumentError('compile: metrics must be an array of metric names');
    for (const m of metrics) {
      if (m !== 'accuracy') throw new ArgumentError(`compile: unknown metric '${m}' (supported: accuracy)`);
      if (!loss.classification) throw new ArgumentError(`compile: 'accuracy' needs a classification loss, not ${loss.kind}`);
    }
    const clipNorm = options.clipNorm;
    if (clipNorm !== undefined && (typeof clipNorm !== 'number' || !(clipNorm > 0) || !Number.isFinite(clipNorm))) {
      throw new ArgumentError(`compile: clipNorm must be a positive number, got ${String(clipNorm)}`);
    }
    const backend = options.backend ? createBackend(options.backend) : this.backendOverride ?? getBackend();
    this.layout = layoutState(this.graph.params, optimizer);
    this.state = this.bindState(this.layout);
    this.plans.clear();
    this.compiled = { loss, optimizer, backend, metrics, clipNorm };
    return this;
  }

  /** Runs inference on a chosen backend (before compile, or to move a compiled model). */
  useBackend(name: BackendName): this {
    this.checkIdle();
    this.backendOverride = createBackend(name);
    if (this.compiled) this.compiled.backend = this.backendOverride;
    this.plans.clear();
    return this;
  }

  private plan(mode: PlanMode, batch: number): BoundPlan {
    const key = `${mode}:${batch}`;
    let bound = this.plans.get(key);
    if (bound) return bound;
    const graphPlan = buildGraphPlan(this.graph, this.layout, mode, batch, this.compiled?.loss, this.compiled?.optimizer, this.compiled?.clipNorm);
    const work = new Float32Array(graphPlan.workLength);
    const view = (ref: { id: number; length: number } | undefined): Float32Array | undefined => {
      if (!ref) return undefined;
      const { offset, length } = graphPlan.workSlice(ref);
      return work.subarray(offset, offset + length);
    };
    const handle = this.backend.createPlan(this.state, work, graphPlan.program);
    bound = {
      graphPlan,
      handle,
      work,
      input: view(graphPlan.input)!,
      output: view(graphPlan.output)!,
      labels: view(graphPlan.labels),
      loss: view(graphPlan.loss),
    };
    this.plans.set(key, bound);
    return bound;
  }

  private checkUsable(): void {
    if (this.disposed) throw new StateError(`${this.name}: the model has been disposed`);
  }

  private checkIdle(): void {
    this.checkUsable();
    if (this.running) throw new StateError(`${this.name}: a fit, evaluate or predict call is still running on this model; await it first`);
  }

  private requireCompiled(method: string): Compiled {
    if (!this.compiled) throw new StateError(`${this.name}: call compile() before ${method}()`);
    return this.compiled;
  }

  /** Checks x is a finite float32 batch of the model's input shape; returns the row count. */
  private checkInputs(x: TensorLike, name: string): number {
    if (!x || typeof x !== 'object' || !Array.isArray(x.shape)) {
      throw new ArgumentError(`${name} must be a tensor { shape, data: Float32Array }, got ${x === null ? 'null' : typeof x}`);
    }
    if (!(x.data instanceof Float32Array)) {
      throw new ArgumentError(`${name}.data must be a Float32Array, got ${(x.data as object)?.constructor?.name ?? typeof x.data}`);
    }
    const expected = this.inputShape;
    const rows = x.shape[0];
    if (x.shape.length !== expected.length + 1 || !expected.every((d, i) => x.shape[i + 1] === d)) {
      throw new ShapeError(`${name} must have shape [batch, ${expected.join(', ')}], got ${shapeToString(x.shape)}`);
    }
    if (!Number.isInteger(rows) || rows < 1) throw new ShapeError(`${name} must hold at least one example, got shape ${shapeToString(x.shape)}`);
    if (x.data.length !== shapeSize(x.shape)) {
      throw new ShapeError(`${name}.data has ${x.data.length} elements but its shape ${shapeToString(x.shape)} needs ${shapeSize(x.shape)}`);
    }
    return rows;
  }

  /**
   * Scans x for NaN and Infinity in slices, yielding to the event loop between them, so
   * checking a large training set never stalls a service for more than a few ms.
   */
  private async checkFinite(x: TensorLike, name: string): Promise<void> {
    const data = x.data;
    const backend = this.backend;
    // Values between yields: a slice takes under a millisecond either way (native ~10 GB/s;
    // the TypeScript scan is slower, and its first slices run before V8 has optimised it:
    // a 1M-value slice then blocked the event loop for ~50 ms at the start of fit).
    const slice = backend.name === 'native' ? 1 << 20 : 1 << 16;
    for (let start = 0; start < data.length; start += slice) {
      const end = Math.min(data.length, start + slice);
      const at = backend.findNonFinite(data.subarray(start, end));
      if (at >= 0) throw new ValueError(`${name} holds a non-finite value (${data[start + at]}) at index ${start + at}`);
      if (end < data.length) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Checks targets against the loss: class indices, or a finite tensor of the output's shape per example. */
  private checkTargets(y: Targets, rows: number, name: string): Float32Array {
    const loss = this.compiled!.loss;
    if (loss.targets === 'dense') {
      const t = y as TensorLike;
      const expected = [rows, ...this.outputShape];
      if (!t || typeof t !== 'object' || !Array.isArray(t.shape) || !(t.data instanceof Float32Array)) {
        throw new ArgumentError(`${name} must be a tensor { shape, data: Float32Array } of shape ${shapeToString(expected)} for ${loss.kind}`);
      }
      if (shapeToString(t.shape) !== shapeToString(expected) || t.data.length !== shapeSize(expected)) {
        throw new ShapeError(`${name} must have shape ${shapeToString(expected)} for ${loss.kind}, got ${shapeToString(t.shape)}`);
      }
      for (let i = 0; i < t.data.length; i++) {
        if (!Number.isFinite(t.data[i])) throw new ValueError(`${name} holds a non-finite value (${t.data[i]}) at index ${i}`);
      }
      return t.data;
    }
    const classes = this.outputShape[0];
    if (!(ArrayBuffer.isView(y) || Array.isArray(y))) {
      throw new ArgumentError(`${name} must be an array or typed array of class indices, got ${y === null ? 'null' : typeof y}`);
    }
    const labels = y as ArrayLike<number>;
    if (labels.length !== rows) throw new ShapeError(`${name} has ${labels.length} labels but the inputs hold ${rows} examples`);
    const out = new Float32Array(rows);
    for (let i = 0; i < rows; i++) {
      const v = labels[i];
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= classes) {
        throw new ValueError(`${name}[${i}] must be an integer class index in [0, ${classes}), got ${String(v)}`);
      }
      out[i] = v;
    }
    return out;
  }

  /** Copies rows `indices[start..start+count)` of x (and targets) into a plan's inputs. */
  private loadBatch(plan: BoundPlan, x: Float32Array, targets: Float32Array | undefined, indices: ArrayLike<number> | null, start: number, count: number): void {
    const copyRows = (from: Float32Array, to: Float32Array): void => {
      const width = to.length / count;
      if (!indices) {
        to.set(from.subarray(start * width, (start + count) * width)); // one memcpy
        return;
      }
      for (let i = 0; i < count; i++) {
        const src = indices[start + i] * width;
        const dst = i * width;
        // A view per row costs an allocation; it pays for itself (memcpy) on wide rows.
        if (width >= 64) to.set(from.subarray(src, src + width), dst);
        else for (let j = 0; j < width; j++) to[dst + j] = from[src + j];
      }
    };
    copyRows(x, plan.input);
    if (targets && plan.labels) copyRows(targets, plan.labels);
  }

  /** Correct predictions in the batch the plan just ran, when accuracy is a metric. */
  private hits(plan: BoundPlan, rows: number): number | undefined {
    const compiled = this.compiled!;
    if (!compiled.metrics.includes('accuracy') || !compiled.loss.hits) return undefined;
    return compiled.loss.hits(plan.output, plan.labels!, rows);
  }

  /** Fills a training plan's host buffers (dropout masks) for the next step. */
  private static fillHostBuffers(plan: BoundPlan, rng: Random): void {
    for (const host of plan.graphPlan.hostBuffers) {
      const { offset, length } = plan.graphPlan.workSlice(host.ref);
      host.fill(plan.work.subarray(offset, offset + length), rng);
    }
  }

  private static checkCheckpoint(value: unknown): { dir: string; everyEpochs: number } | undefined {
    if (value === undefined) return undefined;
    if (value === null || typeof value !== 'object') throw new ArgumentError('fit: checkpoint must be { dir, everyEpochs? }');
    const { dir, everyEpochs = 1 } = value as { dir?: unknown; everyEpochs?: unknown };
    if (typeof dir !== 'string' || dir === '') throw new ArgumentError(`fit: checkpoint.dir must be a non-empty string, got ${JSON.stringify(dir)}`);
    if (typeof everyEpochs !== 'number' || !Number.isInteger(everyEpochs) || everyEpochs < 1) {
      throw new ArgumentError(`fit: checkpoint.everyEpochs must be a positive integer, got ${String(everyEpochs)}`);
    }
    return { dir, everyEpochs };
  }

  private static checkBatchSize(value: unknown, fallback: number, method: string): number {
    const v = value ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 1 << 20) {
      throw new ArgumentError(`${method}: batchSize must be an integer in [1, 1048576], got ${String(value)}`);
    }
    return v;
  }

  async fit(x: TensorLike, y: Targets, options: FitOptions = {}): Promise<History> {
    this.checkIdle();
    const compiled = this.requireCompiled('fit');
    if (options === null || typeof options !== 'object') throw new ArgumentError('fit: options must be an object');
    const checkpoint = Model.checkCheckpoint(options.checkpoint);
    if (checkpoint) modelToJSON(this); // a model that cannot be saved fails now, not after an epoch
    let resume: ResumePoint | undefined;
    if (options.resumeFrom !== undefined) {
      this.running = true; // hold the model while the checkpoint is read and checked
      try {
        resume = await readCheckpoint(this, options.resumeFrom);
      } finally {
        this.running = false;
      }
    }
    const progress = resume?.progress;
    const rows = this.checkInputs(x, 'x');
    const labels = this.checkTargets(y, rows, 'y');
    const batchSize = Model.checkBatchSize(options.batchSize ?? progress?.batchSize, DEFAULT_BATCH, 'fit');
    const epochs = options.epochs ?? progress?.epochs ?? 1;
    if (!Number.isInteger(epochs) || epochs < 1) throw new ArgumentError(`fit: epochs must be a positive integer, got ${String(options.epochs)}`);
    const shuffle = options.shuffle ?? progress?.shuffle ?? true;
    const seed = options.seed ?? progress?.seed ?? Math.floor(Math.random() * 2 ** 32);
    if (typeof seed !== 'number' || !Number.isFinite(seed)) throw new ArgumentError(`fit: seed must be a finite number, got ${String(seed)}`);
    if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new ArgumentError('fit: signal must be an AbortSignal');

    // Validation: explicit data, or the last fraction of the rows (as Keras does, before shuffling).
    let trainRows = rows;
    let validation: { x: TensorLike; labels: Float32Array } | undefined;
    if (options.validationData !== undefined) {
      if (!Array.isArray(options.validationData) || options.validationData.length !== 2) {
        throw new ArgumentError('fit: validationData must be [x, y]');
      }
      const [vx, vy] = options.validationData;
      const vRows = this.checkInputs(vx, 'validationData[0]');
      validation = { x: vx, labels: this.checkTargets(vy, vRows, 'validationData[1]') };
    } else if (options.validationSplit !== undefined) {
      const split = options.validationSplit;
      if (typeof split !== 'number' || !(split > 0 && split < 1)) throw new ArgumentError(`fit: validationSplit must be in (0, 1), got ${String(split)}`);
      const vRows = Math.floor(rows * split);
      trainRows = rows - vRows;
      if (vRows < 1 || trainRows < 1) throw new ArgumentError(`fit: validationSplit ${split} leaves no rows for training or validation (${rows} rows)`);
      const rowSize = shapeSize(this.inputShape);
      validation = {
        x: new Tensor([vRows, ...this.inputShape], x.data.subarray(trainRows * rowSize)),
        labels: labels.subarray((trainRows * labels.length) / rows),
      };
    }

    const history: History = { epochs: [] };
    const hyperStart = this.layout.hyperOffset;
    const hyper = this.state.subarray(hyperStart, hyperStart + this.layout.hyperLength);
    this.running = true;
    try {
      await this.checkFinite(x, 'x');
      if (options.validationData) await this.checkFinite(options.validationData[0], 'validationData[0]');
      if (resume) applyCheckpoint(this, resume);
      for (let epoch = progress?.epochsCompleted ?? 0; epoch < epochs; epoch++) {
        const rng = epochRandom(seed, epoch);
        const maskRng = rng.fork();
        const order = shuffle === false ? null : rng.permutation(trainRows);
        let lossSum = 0;
        let hits = 0;
        let batchIndex = 0;
        for (let start = 0; start < trainRows; start += batchSize, batchIndex++) {
          if (options.signal?.aborted) throw new AbortError('fit was aborted');
          const count = Math.min(batchSize, trainRows - start);
          const plan = this.plan('train', count);
          this.loadBatch(plan, x.data, labels, order, start, count);
          Model.fillHostBuffers(plan, maskRng);
          compiled.optimizer.writeHyper(hyper);
          await plan.handle.run(0, plan.graphPlan.instructionCount);
          const loss = plan.loss![0];
          const batchHits = this.hits(plan, count);
          lossSum += loss * count;
          hits += batchHits ?? 0;
          if (!Number.isFinite(loss)) {
            throw new ValueError(`fit: the loss became ${loss} at epoch ${epoch + 1}, batch ${batchIndex + 1}; lower the learning rate`);
          }
          const batchLogs: BatchLogs = { epoch, batch: batchIndex, size: count, loss };
          if (batchHits !== undefined) batchLogs.accuracy = batchHits / count;
          if (options.onBatchEnd) await options.onBatchEnd(batchLogs);
        }
        const logs: EpochLogs = { epoch, loss: lossSum / trainRows };
        if (compiled.metrics.includes('accuracy')) logs.accuracy = hits / trainRows;
        if (validation) {
          const v = await this.evaluateChecked(validation.x, validation.labels, batchSize, options.signal);
          logs.valLoss = v.loss;
          if (v.accuracy !== undefined) logs.valAccuracy = v.accuracy;
        }
        history.epochs.push(logs);
        if (checkpoint && (epoch + 1) % checkpoint.everyEpochs === 0) {
          await writeCheckpoint(this, checkpoint.dir, { epochsCompleted: epoch + 1, epochs, seed, batchSize, shuffle: shuffle !== false });
        }
        if (options.onEpochEnd) await options.onEpochEnd(logs);
      }
    } finally {
      this.running = false;
    }
    return history;
  }

  async evaluate(x: TensorLike, y: Targets, options: { batchSize?: number; signal?: AbortSignal } = {}): Promise<{ loss: number; accuracy?: number }> {
    this.checkIdle();
    this.requireCompiled('evaluate');
    const rows = this.checkInputs(x, 'x');
    const labels = this.checkTargets(y, rows, 'y');
    const batchSize = Model.checkBatchSize(options?.batchSize, PREDICT_BATCH, 'evaluate');
    if (options?.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new ArgumentError('evaluate: signal must be an AbortSignal');
    this.running = true;
    try {
      await this.checkFinite(x, 'x');
      return await this.evaluateChecked(x, labels, batchSize, options?.signal);
    } finally {
      this.running = false;
    }
  }

  private async evaluateChecked(x: TensorLike, labels: Float32Array, batchSize: number, signal?: AbortSignal): Promise<{ loss: number; accuracy?: number }> {
    const rows = x.shape[0];
    let lossSum = 0;
    let hits: number | undefined;
    for (let start = 0; start < rows; start += batchSize) {
      if (signal?.aborted) throw new AbortError('evaluate was aborted');
      const count = Math.min(batchSize, rows - start);
      const plan = this.plan('eval', count);
      this.loadBatch(plan, x.data, labels, null, start, count);
      await plan.handle.run(0, plan.graphPlan.instructionCount);
      lossSum += plan.loss![0] * count;
      const batchHits = this.hits(plan, count);
      if (batchHits !== undefined) hits = (hits ?? 0) + batchHits;
    }
    const result: { loss: number; accuracy?: number } = { loss: lossSum / rows };
    if (hits !== undefined) result.accuracy = hits / rows;
    return result;
  }

  /** The model's outputs (logits for a classifier) for a batch of inputs. */
  /** The model's outputs for a batch of inputs; an AbortSignal stops it between batches of batchSize. */
  async predict(x: TensorLike, options: { batchSize?: number; signal?: AbortSignal } = {}): Promise<Tensor> {
    this.checkIdle();
    const rows = this.checkInputs(x, 'x');
    const batchSize = Model.checkBatchSize(options?.batchSize, PREDICT_BATCH, 'predict');
    if (options?.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new ArgumentError('predict: signal must be an AbortSignal');
    const outSize = shapeSize(this.outputShape);
    const out = new Float32Array(rows * outSize);
    this.running = true;
    try {
      await this.checkFinite(x, 'x');
      for (let start = 0; start < rows; start += batchSize) {
        if (options.signal?.aborted) throw new AbortError('predict was aborted');
        const count = Math.min(batchSize, rows - start);
        const plan = this.plan('infer', count);
        this.loadBatch(plan, x.data, undefined, null, start, count);
        await plan.handle.run(0, plan.graphPlan.instructionCount);
        out.set(plan.output, start * outSize);
      }
    } finally {
      this.running = false;
    }
    return new Tensor([rows, ...this.outputShape], out);
  }

  /** Copies of the parameters, in layer order. */
  getWeights(): Tensor[] {
    this.checkUsable();
    return this.graph.params.map((p) => new Tensor(p.shape, p.data.slice()));
  }

  /** Copies of the gradients left by the last training step, for the trainable weights in the order of getWeights(). */
  getGradients(): Tensor[] {
    this.checkUsable();
    this.requireCompiled('getGradients');
    return this.graph.params.filter((p) => p.trainable).map((p) => {
      const offset = this.layout.gradOffset(p);
      return new Tensor(p.shape, this.state.slice(offset, offset + p.size));
    });
  }

  setWeights(weights: readonly TensorLike[]): void {
    this.checkIdle();
    const params = this.graph.params;
    if (!Array.isArray(weights) || weights.length !== params.length) {
      throw new ArgumentError(`setWeights: expects ${params.length} tensors, got ${Array.isArray(weights) ? weights.length : typeof weights}`);
    }
    weights.forEach((w, i) => {
      const p = params[i];
      if (!(w?.data instanceof Float32Array) || w.data.length !== p.size) {
        throw new ShapeError(`setWeights: weights[${i}] (${p.name}) must be ${shapeToString(p.shape)} float32`);
      }
      for (let j = 0; j < w.data.length; j++) {
        if (!Number.isFinite(w.data[j])) throw new ValueError(`setWeights: weights[${i}] (${p.name}) holds a non-finite value at index ${j}`);
      }
    });
    weights.forEach((w, i) => params[i].data.set(w.data));
  }

  /**
   * Writes the model to `path` (see README, "Saved models"): topology, weights, training
   * config and, with includeOptimizer, the optimizer state. Atomic: a temporary file is
   * fsynced and renamed over `path`. The weights are copied when the call is made.
   */
  async save(path: string, options: SaveOptions = {}): Promise<void> {
    this.checkUsable();
    await saveModel(this, path, options);
  }

  /** The saved-model header (topology, parameter names and shapes, training config), without weights. */
  toJSON(): ModelJSON {
    this.checkUsable();
    return modelToJSON(this);
  }

  /** Copies of the parameters as plain arrays, in the order of getWeights(), for modelFromJSON. */
  getWeightsAsArrays(): WeightArray[] {
    this.checkUsable();
    return weightsAsArrays(this);
  }

  /** @internal For lib/model/io.ts. */
  _persistence(): ModelInternals {
    return {
      graph: this.graph,
      compiled: this.compiled,
      slot: (p, s) => {
        const offset = this.layout.slotOffsets(p)[s];
        if (offset === undefined) throw new StateError(`${this.name}: ${p.name} has no optimizer slot ${s}`);
        return this.state.subarray(offset, offset + p.size);
      },
    };
  }

  /** Layer names, output shapes and parameter counts, as a printable table. */
  summary(print: (line: string) => void = console.log): string {
    const rows: [string, string, string][] = [['Layer (type)', 'Output shape', 'Params']];
    let total = 0;
    for (const node of this.graph.nodes) {
      const count = node.layer instanceof InputLayer ? 0 : node.layer.params.reduce((s, p) => s + p.size, 0);
      total += count;
      rows.push([`${node.layer.name} (${node.layer.kind})`, shapeToString([-1, ...node.shape]).replace('-1', 'batch'), String(count)]);
    }
    const widths = [0, 1, 2].map((c) => Math.max(...rows.map((r) => r[c].length)));
    const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ');
    const text = [line(rows[0]), '-'.repeat(widths[0] + widths[1] + widths[2] + 4), ...rows.slice(1).map(line), `Total params: ${total}`].join('\n');
    print(text);
    return text;
  }

  /** Releases the plans and buffers; later calls throw a StateError. */
  dispose(): void {
    this.checkIdle();
    this.plans.clear();
    this.disposed = true;
  }
}

export function model(options: ModelOptions): Model {
  return new Model(options);
}

export interface SequentialOptions {
  inputShape: number[];
  name?: string;
  seed?: number;
}

/** A stack of layers, each applied to the previous one's output. */
export function sequential(layers: Layer[], options: SequentialOptions): Model {
  if (!Array.isArray(layers) || layers.length === 0) throw new ArgumentError('sequential: expects a non-empty array of layers');
  if (!options || !Array.isArray(options.inputShape)) throw new ArgumentError('sequential: options.inputShape is required, e.g. { inputShape: [28, 28, 1] }');
  const x = inputTensor({ shape: options.inputShape });
  let y = x;
  layers.forEach((layer, i) => {
    if (!(layer instanceof Layer)) throw new ArgumentError(`sequential: layers[${i}] is not a layer`);
    y = layer.apply(y);
  });
  return new Model({ inputs: x, outputs: y, name: options.name, seed: options.seed });
}
