/**
 * Saved models and checkpoints.
 *
 * File format, version 1 (every integer and float little-endian):
 *
 *   offset  size      field
 *   0       8         magic bytes "CONVKIT\0"
 *   8       4         uint32 format version (1)
 *   12      4         uint32 header length H, in bytes
 *   16      H         header: UTF-8 JSON (ModelJSON below)
 *   16+H    0..3      zero bytes, so the data starts at a multiple of 4
 *   D       4*N       float32 data: every parameter in model order (the order of getWeights(),
 *                     batch-norm running statistics included); then, when saved, the optimizer
 *                     state: slot 0 of every trainable parameter (model order), then slot 1, ...
 *   D+4N    32        SHA-256 of every byte before it
 *
 * The header holds: format ("convkit-model"), version, the model name; the topology (every
 * layer once as { kind, name, config }, every node as { layer, inputs: [node indices] } with
 * inputs listed before the nodes that use them, the input node and the output node); the
 * parameters [{ name, shape, trainable }]; the training config or null (loss, metrics,
 * clipNorm, optimizer config with its kind, lr or schedule config, hyperparameters and
 * iterations); the optimizer state layout or null ({ slotsPerParam, order: "slot-major",
 * params: indices of the trainable parameters }); floats: { params, optimizer }, the float
 * counts of the two data sections; and, in checkpoints written by fit, the fit progress.
 *
 * Loading checks, in order and before it allocates any tensor: the size, the magic, the
 * version, that the header fits in the file, the SHA-256, the JSON (keys __proto__,
 * constructor and prototype are refused), then every header field: known layer kinds and
 * config fields only, shapes of positive integers with bounded products, node inputs in
 * range and acyclic, parameters equal to what rebuilding the graph creates, float counts
 * equal to the data length. Every problem is a FormatError (E_FORMAT) that names the
 * source, the field, what was expected and what was found.
 *
 * Saving writes a temporary file next to the target, fsyncs it, renames it over the target
 * and fsyncs the directory: after a crash the path holds the old file or the new one, whole.
 */
import { createHash, randomBytes } from 'crypto';
import * as fs from 'fs';
import * as nodePath from 'path';
import type { BackendName } from '../backend';
import { InputLayer, Layer, Shape, SymbolicTensor } from '../layers';
import { Loss, resolveLoss, smoothL1 } from '../losses';
import { Adam, LearningRateSchedule, Optimizer, Sgd, cosineDecay, stepDecay } from '../optim';
import { shapeSize } from '../tensor';
import { ArgumentError, ConvkitError, FormatError, StateError } from '../errors';
import { Fields, LayerSpec, MAX_RANK, PredictedParam, createLayer, layerSpec, outputShapeOf, paramsOf } from './registry';
import { Model } from './model';

export const MODEL_FORMAT = 'convkit-model';
export const MODEL_FORMAT_VERSION = 1;
/** The file fit({ checkpoint: { dir } }) writes in `dir`. */
export const CHECKPOINT_FILE = 'checkpoint.ckpt';

const MAGIC = Buffer.from('CONVKIT\0', 'latin1');
const PREFIX_BYTES = 16;
const DIGEST_BYTES = 32;
/** Magic, version, header length, the smallest header ("{}") and the digest. */
const MIN_FILE_BYTES = PREFIX_BYTES + 2 + DIGEST_BYTES;

/** Every parameter has fewer elements than this. */
export const MAX_PARAM_ELEMENTS = 2 ** 28;
/** All parameters together have fewer elements than this. */
export const MAX_TOTAL_ELEMENTS = 2 ** 30;
/** Every node's output has fewer elements than this per example. */
export const MAX_ACTIVATION_ELEMENTS = 2 ** 28;
const MAX_LAYERS = 10000;
const MAX_NODES = 10000;
const MAX_NAME = 1024;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface NodeJSON {
  layer: number;
  inputs: number[];
}

export interface TopologyJSON {
  layers: LayerSpec[];
  nodes: NodeJSON[];
  input: number;
  output: number;
}

export interface ParamJSON {
  name: string;
  shape: number[];
  trainable: boolean;
}

export interface TrainingJSON {
  loss: { kind: string; beta?: number };
  metrics: string[];
  clipNorm: number | null;
  /** optimizer.config() (kind, lr or schedule config, hyperparameters) plus iterations. */
  optimizer: Record<string, unknown> & { kind: string; iterations: number };
}

export interface OptimizerStateJSON {
  slotsPerParam: number;
  order: 'slot-major';
  /** Indices (into params) of the trainable parameters, whose slots the data holds. */
  params: number[];
}

/** Fit progress stored in a checkpoint. */
export interface CheckpointJSON {
  epochsCompleted: number;
  epochs: number;
  seed: number;
  batchSize: number;
  shuffle: boolean;
}

/** The header of a saved model; model.toJSON() returns it (with no optimizer state). */
export interface ModelJSON {
  format: string;
  version: number;
  name: string;
  topology: TopologyJSON;
  params: ParamJSON[];
  training: TrainingJSON | null;
  optimizerState: OptimizerStateJSON | null;
  floats: { params: number; optimizer: number };
  checkpoint?: CheckpointJSON;
}

export interface WeightArray {
  name: string;
  shape: number[];
  values: number[];
}

export interface SaveOptions {
  /** Also store the optimizer state (slots and iteration count) so training can continue exactly. Default false. */
  includeOptimizer?: boolean;
}

export interface LoadOptions {
  /** Backend for the loaded model (default: the process default). */
  backend?: BackendName;
}

// ---------------------------------------------------------------------------------------
// Header: building

function lossToJSON(loss: Loss): TrainingJSON['loss'] {
  if (loss.kind === 'smoothL1') return { kind: 'smoothL1', beta: (loss as Loss & { beta?: number }).beta ?? 1 };
  return { kind: loss.kind };
}

function headerOf(model: Model, options: { includeOptimizer: boolean; checkpoint?: CheckpointJSON }): ModelJSON {
  const { graph, compiled } = model._persistence();
  const layerIndex = new Map<Layer, number>(graph.layers.map((l, i) => [l, i]));
  const nodeIndex = new Map<number, number>(graph.nodes.map((n, i) => [n.id, i]));
  const layers = graph.layers.map((l) => {
    try {
      return layerSpec(l);
    } catch {
      throw new ArgumentError(`save: ${model.name}: layer ${l.name} (${l.kind}) is not a kind convkit can save`);
    }
  });
  const params = graph.params.map((p) => ({ name: p.name, shape: [...p.shape], trainable: p.trainable }));
  const paramFloats = graph.params.reduce((s, p) => s + p.size, 0);
  let training: TrainingJSON | null = null;
  if (compiled) {
    training = JSON.parse(
      JSON.stringify({
        loss: lossToJSON(compiled.loss),
        metrics: [...compiled.metrics],
        clipNorm: compiled.clipNorm ?? null,
        optimizer: { ...compiled.optimizer.config(), iterations: compiled.optimizer.iterations },
      }),
    ) as TrainingJSON;
  }
  let optimizerState: OptimizerStateJSON | null = null;
  let optimizerFloats = 0;
  if (options.includeOptimizer) {
    if (!compiled) throw new StateError(`${model.name}: saving the optimizer state needs a compiled model; call compile() first`);
    const trainable = graph.params.flatMap((p, i) => (p.trainable ? [i] : []));
    optimizerState = { slotsPerParam: compiled.optimizer.slotsPerParam, order: 'slot-major', params: trainable };
    optimizerFloats = compiled.optimizer.slotsPerParam * trainable.reduce((s, i) => s + graph.params[i].size, 0);
  }
  const header: ModelJSON = {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    name: model.name,
    topology: {
      layers,
      nodes: graph.nodes.map((n) => ({ layer: layerIndex.get(n.layer)!, inputs: n.inputs.map((t) => nodeIndex.get(t.id)!) })),
      input: nodeIndex.get(graph.input.id)!,
      output: nodeIndex.get(graph.output.id)!,
    },
    params,
    training,
    optimizerState,
    floats: { params: paramFloats, optimizer: optimizerFloats },
  };
  if (options.checkpoint) header.checkpoint = { ...options.checkpoint };
  // What we write must load back: check it with the loader's own validator.
  try {
    validateHeader(new Fields(`save ${model.name}`), JSON.parse(JSON.stringify(header)));
  } catch (err) {
    if (err instanceof FormatError) throw new ArgumentError(`${err.message} (this model cannot be saved in a form that loads back)`);
    throw err;
  }
  return header;
}

export function modelToJSON(model: Model): ModelJSON {
  return headerOf(model, { includeOptimizer: false });
}

export function weightsAsArrays(model: Model): WeightArray[] {
  return model.params.map((p) => ({ name: p.name, shape: [...p.shape], values: Array.from(p.data) }));
}

// ---------------------------------------------------------------------------------------
// Header: validation

function guarded<T>(f: Fields, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof FormatError) throw err;
    if (err instanceof ConvkitError) f.problem(path, err.message);
    throw err;
  }
}

interface TrainingSpec {
  loss: Loss;
  optimizer: Optimizer;
  metrics: string[];
  clipNorm?: number;
  iterations: number;
}

interface Validated {
  header: ModelJSON;
  name: string;
  layers: Layer[];
  nodes: NodeJSON[];
  input: number;
  output: number;
  params: ParamJSON[];
  paramFloats: number;
  training?: TrainingSpec;
  /** Trainable parameter indices and slot count, when the optimizer state was saved. */
  optimizerState?: { slotsPerParam: number; trainable: number[] };
  optimizerFloats: number;
  checkpoint?: CheckpointJSON;
}

function validateParams(f: Fields, raw: unknown): { params: ParamJSON[]; total: number } {
  const list = f.array('params', raw, 0, MAX_LAYERS * 4);
  let total = 0;
  const params = list.map((entry, i) => {
    const path = `params[${i}]`;
    const o = f.object(path, entry, ['name', 'shape', 'trainable']);
    const name = f.string(`${path}.name`, o.name, MAX_NAME + 32);
    const shape = f.shape(`${path}.shape`, o.shape, MAX_PARAM_ELEMENTS - 1);
    const size = shapeSize(shape);
    if (size >= MAX_PARAM_ELEMENTS) f.failText(`${path}.shape`, `fewer than ${MAX_PARAM_ELEMENTS} elements`, `[${shape.join(', ')}] (${size} elements)`);
    total += size;
    if (total >= MAX_TOTAL_ELEMENTS) f.failText('params', `fewer than ${MAX_TOTAL_ELEMENTS} elements in all`, `at least ${total} by params[${i}]`);
    return { name, shape, trainable: f.boolean(`${path}.trainable`, o.trainable) };
  });
  return { params, total };
}

function validateTopology(f: Fields, raw: unknown, params: ParamJSON[]): { layers: Layer[]; nodes: NodeJSON[]; input: number; output: number; outputShape: Shape } {
  const t = f.object('topology', raw, ['layers', 'nodes', 'input', 'output']);
  const layers = f.array('topology.layers', t.layers, 1, MAX_LAYERS).map((spec, i) => createLayer(f, `topology.layers[${i}]`, spec));
  const rawNodes = f.array('topology.nodes', t.nodes, 1, MAX_NODES);
  const nodes = rawNodes.map((entry, i): NodeJSON => {
    const path = `topology.nodes[${i}]`;
    const o = f.object(path, entry, ['layer', 'inputs']);
    const layer = f.int(`${path}.layer`, o.layer, 0, layers.length - 1);
    const inputs = f.array(`${path}.inputs`, o.inputs, 0, MAX_NODES).map((j, k) => {
      const index = f.int(`${path}.inputs[${k}]`, j, 0, rawNodes.length - 1);
      if (index >= i) f.problem(`${path}.inputs[${k}]`, `node ${index} does not come before node ${i}: nodes are listed inputs first, so the graph is acyclic`);
      return index;
    });
    return { layer, inputs };
  });
  const input = f.int('topology.input', t.input, 0, nodes.length - 1);
  const output = f.int('topology.output', t.output, 0, nodes.length - 1);

  const uses = new Array<number>(layers.length).fill(0);
  nodes.forEach((n, i) => {
    const layer = layers[n.layer];
    const path = `topology.nodes[${i}]`;
    uses[n.layer]++;
    const isInput = layer instanceof InputLayer;
    if (isInput && i !== input) f.problem(path, `applies input layer ${layer.name}, but topology.input is node ${input} (a model has one input)`);
    if (!isInput && i === input) f.failText(`${path}.layer`, 'an input layer (topology.input names this node)', `${layer.kind} layer ${layer.name}`);
    const arity = layer.arity;
    if (arity >= 0 ? n.inputs.length !== arity : n.inputs.length < -arity) {
      f.fail(`${path}.inputs`, `${arity >= 0 ? arity : `at least ${-arity}`} input node(s) for ${layer.kind} layer ${layer.name}`, n.inputs);
    }
  });
  uses.forEach((count, i) => {
    if (count === 0) f.problem(`topology.layers[${i}]`, `no node applies layer ${layers[i].name}`);
  });
  const reached = new Uint8Array(nodes.length);
  reached[output] = 1;
  for (let i = nodes.length - 1; i >= 0; i--) if (reached[i]) for (const j of nodes[i].inputs) reached[j] = 1;
  reached.forEach((r, i) => {
    if (!r) f.problem(`topology.nodes[${i}]`, `is not on a path to the output node ${output}`);
  });

  // Shapes and parameters, computed without building a layer.
  const shapes: Shape[] = [];
  const builtFor = new Map<number, string>();
  const predicted: PredictedParam[] = [];
  nodes.forEach((n, i) => {
    const layer = layers[n.layer];
    const path = `topology.nodes[${i}] (${layer.kind} ${layer.name})`;
    const inputShapes = n.inputs.map((j) => shapes[j]);
    const shape = outputShapeOf(layer, inputShapes, f, path);
    const size = shapeSize(shape);
    if (shape.length < 1 || shape.length > MAX_RANK || !shape.every((d) => Number.isInteger(d) && d >= 1) || !(size < MAX_ACTIVATION_ELEMENTS)) {
      f.fail(path, `an output shape of 1 to ${MAX_RANK} positive integers with fewer than ${MAX_ACTIVATION_ELEMENTS} elements`, shape);
    }
    const key = inputShapes.map((s) => `[${s.join(', ')}]`).join(' ');
    const previous = builtFor.get(n.layer);
    if (previous === undefined) {
      builtFor.set(n.layer, key);
      predicted.push(...paramsOf(layer, inputShapes));
    } else if (previous !== key) {
      f.problem(path, `layer ${layer.name} is applied to inputs ${previous} and ${key}; a layer is built for one input shape`);
    }
    shapes.push(shape);
  });
  if (predicted.length !== params.length) {
    f.failText('params', `${predicted.length} entries (the parameters the topology creates)`, `${params.length} entries`);
  }
  predicted.forEach((p, i) => {
    const q = params[i];
    if (p.name !== q.name) f.fail(`params[${i}].name`, `${JSON.stringify(p.name)} (from the topology)`, q.name);
    if (p.shape.length !== q.shape.length || p.shape.some((d, k) => d !== q.shape[k])) f.fail(`params[${i}].shape`, `[${p.shape.join(', ')}] (from the topology)`, q.shape);
    if (p.trainable !== q.trainable) f.fail(`params[${i}].trainable`, `${p.trainable} (from the topology)`, q.trainable);
  });
  return { layers, nodes, input, output, outputShape: shapes[output] };
}

const LOSS_KINDS = ['softmaxCrossEntropy', 'categoricalCrossEntropy', 'binaryCrossEntropy', 'meanSquaredError', 'smoothL1'] as const;
const BIG = Number.MAX_VALUE;

function scheduleFromJSON(f: Fields, path: string, raw: unknown): LearningRateSchedule {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) f.fail(path, 'a number or a schedule config', raw);
  const kind = f.oneOf(`${path}.kind`, (raw as Record<string, unknown>).kind, ['stepDecay', 'cosineDecay'] as const);
  if (kind === 'stepDecay') {
    const o = f.object(path, raw, ['kind', 'initial', 'stepSize'], ['gamma']);
    const gamma = o.gamma === undefined ? undefined : f.number(`${path}.gamma`, o.gamma, 0, BIG);
    return guarded(f, path, () => stepDecay({ initial: f.number(`${path}.initial`, o.initial, 0, BIG), stepSize: f.number(`${path}.stepSize`, o.stepSize, 1, BIG), gamma }));
  }
  const o = f.object(path, raw, ['kind', 'initial', 'decaySteps'], ['alpha']);
  const alpha = o.alpha === undefined ? undefined : f.number(`${path}.alpha`, o.alpha, 0, 1);
  return guarded(f, path, () => cosineDecay({ initial: f.number(`${path}.initial`, o.initial, 0, BIG), decaySteps: f.number(`${path}.decaySteps`, o.decaySteps, 1, BIG), alpha }));
}

function optimizerFromJSON(f: Fields, path: string, raw: unknown): { optimizer: Optimizer; iterations: number } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) f.fail(path, 'an optimizer config', raw);
  const kind = f.oneOf(`${path}.kind`, (raw as Record<string, unknown>).kind, ['sgd', 'adam', 'adamw'] as const);
  const keys = kind === 'sgd' ? ['lr', 'momentum', 'nesterov', 'weightDecay', 'iterations'] : ['lr', 'beta1', 'beta2', 'eps', 'weightDecay', 'iterations'];
  const o = f.object(path, raw, ['kind'], keys);
  const num = (key: string): number | undefined => (o[key] === undefined ? undefined : f.number(`${path}.${key}`, o[key], -BIG, BIG));
  const lr = o.lr === undefined ? undefined : typeof o.lr === 'number' ? f.number(`${path}.lr`, o.lr, 0, BIG) : scheduleFromJSON(f, `${path}.lr`, o.lr);
  const iterations = o.iterations === undefined ? 0 : f.int(`${path}.iterations`, o.iterations, 0, Number.MAX_SAFE_INTEGER);
  const optimizer = guarded(f, path, (): Optimizer => {
    if (kind === 'sgd') {
      const nesterov = o.nesterov === undefined ? undefined : f.boolean(`${path}.nesterov`, o.nesterov);
      return new Sgd({ lr, momentum: num('momentum'), nesterov, weightDecay: num('weightDecay') });
    }
    return new Adam(kind, { lr, beta1: num('beta1'), beta2: num('beta2'), eps: num('eps'), weightDecay: num('weightDecay') });
  });
  return { optimizer, iterations };
}

function validateTraining(f: Fields, raw: unknown, outputShape: Shape): TrainingSpec {
  const t = f.object('training', raw, ['loss', 'metrics', 'optimizer'], ['clipNorm']);
  const l = f.object('training.loss', t.loss, ['kind'], ['beta']);
  const kind = f.oneOf('training.loss.kind', l.kind, LOSS_KINDS);
  if (l.beta !== undefined && kind !== 'smoothL1') f.problem('training.loss.beta', `only smoothL1 takes beta, not ${kind}`);
  const loss = guarded(f, 'training.loss', () => (kind === 'smoothL1' ? smoothL1({ beta: l.beta === undefined ? undefined : f.number('training.loss.beta', l.beta, 0, BIG) }) : resolveLoss(kind)));
  guarded(f, 'training.loss', () => loss.check(outputShape));
  const metrics = f.array('training.metrics', t.metrics, 0, 8).map((m, i) => f.oneOf(`training.metrics[${i}]`, m, ['accuracy'] as const));
  if (metrics.length > 0 && !loss.classification) f.problem('training.metrics', `'accuracy' needs a classification loss, not ${loss.kind}`);
  const clipNorm = t.clipNorm === undefined || t.clipNorm === null ? undefined : f.number('training.clipNorm', t.clipNorm, Number.MIN_VALUE, BIG);
  const { optimizer, iterations } = optimizerFromJSON(f, 'training.optimizer', t.optimizer);
  return { loss, optimizer, metrics, clipNorm, iterations };
}

function validateHeader(f: Fields, raw: unknown): Validated {
  const h = f.object('header', raw, ['format', 'version', 'name', 'topology', 'params', 'floats'], ['training', 'optimizerState', 'checkpoint']);
  if (h.format !== MODEL_FORMAT) f.fail('format', JSON.stringify(MODEL_FORMAT), h.format);
  if (h.version !== MODEL_FORMAT_VERSION) f.fail('version', String(MODEL_FORMAT_VERSION), h.version);
  const name = f.string('name', h.name, MAX_NAME);
  const { params, total: paramFloats } = validateParams(f, h.params);
  const topology = validateTopology(f, h.topology, params);
  const training = h.training === undefined || h.training === null ? undefined : validateTraining(f, h.training, topology.outputShape);

  let optimizerState: Validated['optimizerState'];
  let optimizerFloats = 0;
  if (h.optimizerState !== undefined && h.optimizerState !== null) {
    const s = f.object('optimizerState', h.optimizerState, ['slotsPerParam', 'order', 'params']);
    if (!training) f.problem('optimizerState', 'present, but the training config is null: optimizer state needs the optimizer it belongs to');
    const slots = training.optimizer.slotsPerParam;
    if (s.slotsPerParam !== slots) f.fail('optimizerState.slotsPerParam', `${slots} (${training.optimizer.kind})`, s.slotsPerParam);
    f.oneOf('optimizerState.order', s.order, ['slot-major'] as const);
    const trainable = params.flatMap((p, i) => (p.trainable ? [i] : []));
    const listed = f.array('optimizerState.params', s.params, trainable.length, trainable.length);
    listed.forEach((v, i) => {
      if (v !== trainable[i]) f.fail(`optimizerState.params[${i}]`, `${trainable[i]} (the index of trainable parameter ${params[trainable[i]].name})`, v);
    });
    optimizerState = { slotsPerParam: slots, trainable };
    optimizerFloats = slots * trainable.reduce((sum, i) => sum + shapeSize(params[i].shape), 0);
  }

  const fl = f.object('floats', h.floats, ['params', 'optimizer']);
  if (fl.params !== paramFloats) f.fail('floats.params', `${paramFloats} (the sum of the parameter sizes)`, fl.params);
  if (fl.optimizer !== optimizerFloats) {
    f.fail('floats.optimizer', optimizerState ? `${optimizerFloats} (${optimizerState.slotsPerParam} slot(s) per trainable float)` : '0 (no optimizer state)', fl.optimizer);
  }

  let checkpoint: CheckpointJSON | undefined;
  if (h.checkpoint !== undefined) {
    const c = f.object('checkpoint', h.checkpoint, ['epochsCompleted', 'epochs', 'seed', 'batchSize', 'shuffle']);
    if (!optimizerState) f.problem('checkpoint', 'present, but the file holds no optimizer state');
    checkpoint = {
      epochsCompleted: f.int('checkpoint.epochsCompleted', c.epochsCompleted, 0, 2 ** 31),
      epochs: f.int('checkpoint.epochs', c.epochs, 1, 2 ** 31),
      seed: f.number('checkpoint.seed', c.seed, -BIG, BIG),
      batchSize: f.int('checkpoint.batchSize', c.batchSize, 1, 1 << 20),
      shuffle: f.boolean('checkpoint.shuffle', c.shuffle),
    };
  }
  return {
    header: h as unknown as ModelJSON,
    name,
    ...topology,
    params,
    paramFloats,
    training,
    optimizerState,
    optimizerFloats,
    checkpoint,
  };
}

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function parseHeader(f: Fields, text: string): unknown {
  try {
    return JSON.parse(text, (key, value: unknown) => {
      if (FORBIDDEN_KEYS.has(key)) f.problem('header', `forbidden key ${JSON.stringify(key)}`);
      return value;
    });
  } catch (err) {
    if (err instanceof FormatError) throw err;
    return f.problem('header', `expected JSON, got text that does not parse (${(err as Error).message})`);
  }
}

// ---------------------------------------------------------------------------------------
// Binary container

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Copies floats into a new little-endian buffer. */
function floatBytes(values: Float32Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const out = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeFloatLE(values[i], i * 4);
  return out;
}

function readFloats(bytes: Uint8Array, offset: number, count: number): Float32Array {
  const out = new Float32Array(count);
  if (LITTLE_ENDIAN) {
    new Uint8Array(out.buffer).set(bytes.subarray(offset, offset + count * 4));
  } else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, count * 4);
    for (let i = 0; i < count; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}

/** The whole file as chunks (the last one the digest), from a synchronous snapshot of the model. */
function encode(model: Model, options: { includeOptimizer: boolean; checkpoint?: CheckpointJSON }): Buffer[] {
  const header = headerOf(model, options);
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (4 - (json.length % 4)) % 4;
  const head = Buffer.alloc(PREFIX_BYTES + json.length + pad);
  MAGIC.copy(head, 0);
  head.writeUInt32LE(MODEL_FORMAT_VERSION, 8);
  head.writeUInt32LE(json.length, 12);
  json.copy(head, PREFIX_BYTES);
  const { graph, slot } = model._persistence();
  const chunks = [head, ...graph.params.map((p) => floatBytes(p.data))];
  if (header.optimizerState) {
    for (let s = 0; s < header.optimizerState.slotsPerParam; s++) {
      for (const i of header.optimizerState.params) chunks.push(floatBytes(slot(graph.params[i], s)));
    }
  }
  const hash = createHash('sha256');
  for (const c of chunks) hash.update(c);
  chunks.push(hash.digest());
  return chunks;
}

/** The saved-model bytes of `model`, as save() would write them. */
export function modelToBuffer(model: Model, options: SaveOptions = {}): Buffer {
  return Buffer.concat(encode(model, { includeOptimizer: options.includeOptimizer === true }));
}

interface Decoded {
  v: Validated;
  params: Float32Array;
  slots?: Float32Array;
}

function decode(f: Fields, input: Uint8Array | ArrayBuffer): Decoded {
  const bytes = input instanceof Uint8Array ? input : input instanceof ArrayBuffer ? new Uint8Array(input) : undefined;
  if (!bytes) throw new ArgumentError(`${f.source}: expected the file's bytes as a Uint8Array, Buffer or ArrayBuffer, got ${input === null ? 'null' : typeof input}`);
  const size = bytes.length;
  if (size < MIN_FILE_BYTES) {
    f.failText('file size', `at least ${MIN_FILE_BYTES} bytes (magic, version, header length, header, SHA-256)`, `${size} bytes; the file is truncated or not a convkit model`);
  }
  const magic = bytes.subarray(0, 8);
  if (!MAGIC.equals(magic)) f.failText('magic bytes', `${hex(MAGIC)} ("CONVKIT\\0")`, `${hex(magic)}; not a convkit model file`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, size);
  const version = view.getUint32(8, true);
  if (version !== MODEL_FORMAT_VERSION) {
    f.failText('format version', `${MODEL_FORMAT_VERSION}`, version > MODEL_FORMAT_VERSION ? `${version} (written by a newer convkit; upgrade to read it)` : `${version}`);
  }
  const headerBytes = view.getUint32(12, true);
  const pad = (4 - (headerBytes % 4)) % 4;
  const room = size - PREFIX_BYTES - DIGEST_BYTES;
  if (headerBytes < 2 || headerBytes + pad > room) {
    f.failText('header length', `2 to ${room} bytes (a ${size}-byte file)`, `${headerBytes}; the header runs past the end of the file`);
  }
  const dataOffset = PREFIX_BYTES + headerBytes + pad;
  const body = bytes.subarray(0, size - DIGEST_BYTES);
  const stored = bytes.subarray(size - DIGEST_BYTES);
  const computed = createHash('sha256').update(body).digest();
  if (!computed.equals(stored)) {
    let hint = '';
    try {
      const floats = (JSON.parse(Buffer.from(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes)).toString('utf8')) as ModelJSON).floats;
      const expected = dataOffset + 4 * (floats.params + floats.optimizer) + DIGEST_BYTES;
      if (Number.isFinite(expected) && expected !== size) hint = `; its header describes a ${expected}-byte file but it has ${size} bytes (truncated?)`;
    } catch {
      // The header is damaged too; the checksum says enough.
    }
    f.failText('SHA-256', `${hex(stored)} (the stored checksum)`, `${hex(computed)}: the file is corrupt or truncated${hint}`);
  }
  for (let i = PREFIX_BYTES + headerBytes; i < dataOffset; i++) {
    if (bytes[i] !== 0) f.failText('header padding', 'zero bytes', hex(bytes.subarray(PREFIX_BYTES + headerBytes, dataOffset)));
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerBytes));
  } catch {
    return f.failText('header', 'UTF-8 text', 'bytes that are not UTF-8');
  }
  const v = validateHeader(f, parseHeader(f, text));
  const dataBytes = size - DIGEST_BYTES - dataOffset;
  const expected = 4 * (v.paramFloats + v.optimizerFloats);
  if (dataBytes !== expected) {
    f.failText('data length', `${expected} bytes (${v.paramFloats} parameter floats + ${v.optimizerFloats} optimizer floats, as the header counts)`, `${dataBytes} bytes`);
  }
  const params = readFloats(bytes, dataOffset, v.paramFloats);
  checkFinite(f, params, v.params, 'params');
  let slots: Float32Array | undefined;
  if (v.optimizerState) {
    slots = readFloats(bytes, dataOffset + 4 * v.paramFloats, v.optimizerFloats);
    checkFinite(f, slots, undefined, 'optimizer state');
  }
  return { v, params, slots };
}

function checkFinite(f: Fields, data: Float32Array, params: ParamJSON[] | undefined, what: string): void {
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      let where = `index ${i}`;
      if (params) {
        let offset = 0;
        for (const p of params) {
          const size = shapeSize(p.shape);
          if (i < offset + size) {
            where = `${p.name}[${i - offset}]`;
            break;
          }
          offset += size;
        }
      }
      f.failText(`data (${what})`, 'finite float32 values', `${data[i]} at ${where}`);
    }
  }
}

// ---------------------------------------------------------------------------------------
// Building a model

function buildModel(f: Fields, v: Validated, params: Float32Array | undefined, slots: Float32Array | undefined, options: LoadOptions): Model {
  const tensors: SymbolicTensor[] = [];
  v.nodes.forEach((n, i) => {
    const layer = v.layers[n.layer];
    tensors.push(guarded(f, `topology.nodes[${i}]`, () => layer.apply(...n.inputs.map((j) => tensors[j]))));
  });
  const model = guarded(f, 'topology', () => new Model({ inputs: tensors[v.input], outputs: tensors[v.output], name: v.name, seed: 0 }));
  const built = model.params;
  built.forEach((p, i) => {
    const q = v.params[i];
    if (!q || p.name !== q.name || p.trainable !== q.trainable || p.shape.join(',') !== q.shape.join(',')) {
      f.problem(`params[${i}]`, `the rebuilt model has ${p.name} [${p.shape.join(', ')}] here`);
    }
  });
  if (built.length !== v.params.length) f.failText('params', `${built.length} entries (the rebuilt model)`, `${v.params.length} entries`);
  if (params) {
    let offset = 0;
    for (const p of built) {
      p.data.set(params.subarray(offset, offset + p.size));
      offset += p.size;
    }
  }
  if (v.training) {
    const t = v.training;
    model.compile({ loss: t.loss, optimizer: t.optimizer as Sgd | Adam, metrics: t.metrics, clipNorm: t.clipNorm, backend: options.backend });
    if (slots && v.optimizerState) {
      restoreSlots(model, v.optimizerState, slots);
      t.optimizer.iterations = t.iterations;
    }
  } else if (options.backend) {
    model.useBackend(options.backend);
  }
  return model;
}

function restoreSlots(model: Model, state: { slotsPerParam: number; trainable: number[] }, data: Float32Array): void {
  const { graph, slot } = model._persistence();
  let offset = 0;
  for (let s = 0; s < state.slotsPerParam; s++) {
    for (const i of state.trainable) {
      const p = graph.params[i];
      slot(p, s).set(data.subarray(offset, offset + p.size));
      offset += p.size;
    }
  }
}

function checkLoadOptions(options: unknown): LoadOptions {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw new ArgumentError('load: options must be an object');
  const backend = (options as LoadOptions).backend;
  if (backend !== undefined && backend !== 'native' && backend !== 'js') throw new ArgumentError(`load: backend must be 'native' or 'js', got ${JSON.stringify(backend)}`);
  return { backend };
}

/** Rebuilds a model from saved-model bytes (checked as loadModel does); `source` names it in errors. */
export function modelFromBuffer(bytes: Uint8Array | ArrayBuffer, options: LoadOptions & { source?: string } = {}): Model {
  const load = checkLoadOptions(options);
  const f = new Fields(options?.source ?? 'model buffer');
  const { v, params, slots } = decode(f, bytes);
  return buildModel(f, v, params, slots, load);
}

/** Reads and rebuilds a model saved by model.save(path); compiled again when it was saved compiled. */
export async function loadModel(path: string, options: LoadOptions = {}): Promise<Model> {
  if (typeof path !== 'string' || path === '') throw new ArgumentError(`loadModel: path must be a non-empty string, got ${JSON.stringify(path)}`);
  checkLoadOptions(options);
  const bytes = await fs.promises.readFile(path);
  return modelFromBuffer(bytes, { ...options, source: path });
}

/**
 * Rebuilds a model from model.toJSON() (an object or its JSON text) and, optionally, the
 * weights from model.getWeightsAsArrays(); without weights the parameters are freshly
 * initialised. Checked as loadModel checks a file.
 */
export function modelFromJSON(json: ModelJSON | string, weights?: readonly WeightArray[], options: LoadOptions = {}): Model {
  const load = checkLoadOptions(options);
  const f = new Fields('model JSON');
  let text: string;
  if (typeof json === 'string') {
    text = json;
  } else {
    try {
      text = JSON.stringify(json);
    } catch (err) {
      return f.problem('header', `cannot be written as JSON (${(err as Error).message})`);
    }
    if (typeof text !== 'string') f.fail('header', 'an object', json);
  }
  const v = validateHeader(f, parseHeader(f, text));
  const params = weights === undefined ? undefined : weightsFromArrays(f, weights, v);
  return buildModel(f, v, params, undefined, load);
}

function weightsFromArrays(f: Fields, raw: unknown, v: Validated): Float32Array {
  const list = f.array('weights', raw, v.params.length, v.params.length);
  const out = new Float32Array(v.paramFloats);
  let offset = 0;
  list.forEach((entry, i) => {
    const path = `weights[${i}]`;
    const p = v.params[i];
    const size = shapeSize(p.shape);
    const o = f.object(path, entry, ['name', 'shape', 'values']);
    if (o.name !== p.name) f.fail(`${path}.name`, JSON.stringify(p.name), o.name);
    if (!Array.isArray(o.shape) || o.shape.length !== p.shape.length || p.shape.some((d, k) => (o.shape as unknown[])[k] !== d)) {
      f.fail(`${path}.shape`, `[${p.shape.join(', ')}]`, o.shape);
    }
    const values = o.values;
    if (!(Array.isArray(values) || values instanceof Float32Array) || values.length !== size) {
      if (Array.isArray(values) || values instanceof Float32Array) f.failText(`${path}.values`, `${size} numbers`, `${values.length} values`);
      f.fail(`${path}.values`, `${size} numbers`, values);
    }
    const vals = values as ArrayLike<unknown>;
    for (let k = 0; k < size; k++) {
      const x = vals[k];
      if (typeof x !== 'number' || !Number.isFinite(x)) f.fail(`${path}.values[${k}]`, 'a finite number', x);
      out[offset + k] = x;
    }
    offset += size;
  });
  return out;
}

// ---------------------------------------------------------------------------------------
// Atomic writes

const IGNORED_DIR_SYNC_ERRORS = new Set(['EISDIR', 'EPERM', 'EINVAL', 'EBADF', 'ENOTSUP', 'EACCES']);

/**
 * Writes `chunks` to `path` so that `path` always holds either its old content or all of
 * the new: a temporary file in the same directory, fsync, rename over `path`, fsync of the
 * directory. On failure the temporary file is removed and `path` is untouched.
 */
export async function writeFileAtomic(path: string, chunks: readonly Uint8Array[]): Promise<void> {
  const target = nodePath.resolve(path);
  const dir = nodePath.dirname(target);
  const temp = nodePath.join(dir, `.${nodePath.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.promises.FileHandle | undefined;
  let created = false;
  try {
    handle = await fs.promises.open(temp, 'wx', 0o666);
    created = true;
    const previous = await fs.promises.stat(target).catch(() => undefined);
    if (previous?.isFile()) await handle.chmod(previous.mode & 0o777);
    for (const chunk of chunks) {
      let written = 0;
      while (written < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, written, chunk.length - written);
        if (bytesWritten <= 0) throw new Error(`${temp}: write made no progress`);
        written += bytesWritten;
      }
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.promises.rename(temp, target);
    created = false;
  } catch (err) {
    if (handle) await handle.close().catch(() => undefined);
    if (created) await fs.promises.unlink(temp).catch(() => undefined);
    throw err;
  }
  // Make the rename itself durable. Some platforms cannot fsync a directory; that is fine.
  let dirHandle: fs.promises.FileHandle | undefined;
  try {
    dirHandle = await fs.promises.open(dir, 'r');
    await dirHandle.sync();
  } catch (err) {
    if (!IGNORED_DIR_SYNC_ERRORS.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
  } finally {
    await dirHandle?.close().catch(() => undefined);
  }
}

export async function saveModel(model: Model, path: string, options: SaveOptions = {}): Promise<void> {
  if (typeof path !== 'string' || path === '') throw new ArgumentError(`save: path must be a non-empty string, got ${JSON.stringify(path)}`);
  if (options === null || typeof options !== 'object') throw new ArgumentError('save: options must be an object');
  const include = options.includeOptimizer ?? false;
  if (typeof include !== 'boolean') throw new ArgumentError(`save: includeOptimizer must be a boolean, got ${JSON.stringify(include)}`);
  // Encoded (copied) before the first await, so later training cannot tear the snapshot.
  const chunks = encode(model, { includeOptimizer: include });
  await writeFileAtomic(path, chunks);
}

// ---------------------------------------------------------------------------------------
// Checkpoints

export interface ResumePoint {
  source: string;
  progress: CheckpointJSON;
  params: Float32Array;
  slots: Float32Array;
  iterations: number;
}

/** Writes model, optimizer state and fit progress to `dir`/checkpoint.ckpt, atomically. */
export async function writeCheckpoint(model: Model, dir: string, progress: CheckpointJSON): Promise<void> {
  const chunks = encode(model, { includeOptimizer: true, checkpoint: progress });
  await fs.promises.mkdir(dir, { recursive: true });
  await writeFileAtomic(nodePath.join(dir, CHECKPOINT_FILE), chunks);
}

/** The header's structure without names (auto-generated names differ between processes). */
function structure(h: ModelJSON): unknown {
  const strip = (spec: LayerSpec): unknown => ({
    kind: spec.kind,
    config: spec.kind === 'timeDistributed' ? { ...spec.config, layer: strip(spec.config.layer as LayerSpec) } : spec.config,
  });
  return {
    topology: { layers: h.topology.layers.map(strip), nodes: h.topology.nodes, input: h.topology.input, output: h.topology.output },
    params: h.params.map((p) => ({ shape: p.shape, trainable: p.trainable })),
  };
}

function firstDifference(expected: unknown, actual: unknown, path: string): string | undefined {
  if (expected === actual) return undefined;
  const isObj = (x: unknown): x is Record<string, unknown> => x !== null && typeof x === 'object';
  if (isObj(expected) && isObj(actual) && Array.isArray(expected) === Array.isArray(actual)) {
    if (Array.isArray(expected) && Array.isArray(actual) && expected.length !== actual.length) {
      return `${path}: this model has ${expected.length} entries, the checkpoint ${actual.length}`;
    }
    for (const key of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
      const d = firstDifference(expected[key], actual[key], Array.isArray(expected) ? `${path}[${key}]` : path ? `${path}.${key}` : key);
      if (d) return d;
    }
    return undefined;
  }
  return `${path}: this model has ${JSON.stringify(expected)}, the checkpoint ${JSON.stringify(actual)}`;
}

/** Reads a checkpoint for `model` (compiled, same topology) and checks it fits; changes nothing. */
export async function readCheckpoint(model: Model, path: string): Promise<ResumePoint> {
  if (typeof path !== 'string' || path === '') throw new ArgumentError(`fit: resumeFrom must be a checkpoint path, got ${JSON.stringify(path)}`);
  const f = new Fields(path);
  const { v, params, slots } = decode(f, await fs.promises.readFile(path));
  if (!v.checkpoint || !slots || !v.training) {
    return f.problem('checkpoint', 'missing: this is a saved model, not a checkpoint written by fit({ checkpoint })');
  }
  const difference = firstDifference(structure(modelToJSON(model)), structure(v.header), '');
  if (difference) throw new FormatError(`${path}: the checkpoint is for a different model: ${difference}`);
  const compiled = model._persistence().compiled;
  if (!compiled) throw new StateError(`${model.name}: call compile() before fit()`);
  if (compiled.optimizer.kind !== v.training.optimizer.kind) {
    throw new FormatError(`${path}: training.optimizer.kind: expected ${compiled.optimizer.kind} (this model's optimizer), got ${v.training.optimizer.kind}`);
  }
  return { source: path, progress: v.checkpoint, params, slots, iterations: v.training.iterations };
}

/** Writes a checkpoint's weights, optimizer slots and step count into `model`. */
export function applyCheckpoint(model: Model, point: ResumePoint): void {
  const { graph, compiled } = model._persistence();
  let offset = 0;
  for (const p of graph.params) {
    p.data.set(point.params.subarray(offset, offset + p.size));
    offset += p.size;
  }
  const trainable = graph.params.flatMap((p, i) => (p.trainable ? [i] : []));
  restoreSlots(model, { slotsPerParam: compiled!.optimizer.slotsPerParam, trainable }, point.slots);
  compiled!.optimizer.iterations = point.iterations;
}

/**
 * Copies the weights (and, when the bytes hold them, the optimizer slots and step count)
 * of a saved model of the same topology into `model`: how a model trained elsewhere (a
 * worker thread) hands its state back.
 */
export function loadStateInto(model: Model, bytes: Uint8Array | ArrayBuffer, source = 'model state'): void {
  const f = new Fields(source);
  const { v, params, slots } = decode(f, bytes);
  const difference = firstDifference(structure(modelToJSON(model)), structure(v.header), '');
  if (difference) throw new FormatError(`${source}: the state is for a different model: ${difference}`);
  const { graph, compiled } = model._persistence();
  if (slots && compiled) {
    applyCheckpoint(model, { source, progress: v.checkpoint!, params, slots, iterations: v.training?.iterations ?? 0 });
    return;
  }
  let offset = 0;
  for (const p of graph.params) {
    p.data.set(params.subarray(offset, offset + p.size));
    offset += p.size;
  }
}
