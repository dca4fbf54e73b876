/**
 * Layer registry for saved models: every layer kind in lib/layers, mapped to a factory that
 * rebuilds the layer from its { kind, name, config } (as Layer.config() writes it), plus the
 * output shape and the parameter shapes the layer will create for given input shapes.
 *
 * Everything here checks its input field by field and allocates no tensor: the loader uses
 * it to validate a whole file (sizes included) before it builds anything. Problems are
 * FormatErrors that name the source, the field, what was expected and what was found.
 */
import {
  ActivationLayer,
  Add,
  BatchNorm,
  Concatenate,
  Conv,
  Conv2dTranspose,
  Dense,
  Dropout,
  Flatten,
  GlobalPool,
  InputLayer,
  Layer,
  Pool,
  Reshape,
  Shape,
  TimeDistributed,
} from '../layers';
import { ACTIVATIONS, ActivationName, FUSED_ACTIVATIONS, FusedActivation } from '../layers/activation';
import type { Padding } from '../geometry';
import { ConvkitError, FormatError } from '../errors';

/** Largest single number (a size, a kernel extent, a filter count) a saved config may hold. */
export const MAX_DIM = 2 ** 24;
/** Largest rank of a shape (without the batch). */
export const MAX_RANK = 8;
/** How deep timeDistributed wrappers may nest. */
export const MAX_NESTING = 4;

export interface LayerSpec {
  kind: string;
  name: string;
  config: Record<string, unknown>;
}

/** A parameter a layer will create, predicted without creating it. */
export interface PredictedParam {
  name: string;
  shape: number[];
  trainable: boolean;
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    text = undefined;
  }
  if (text === undefined) text = typeof value;
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Field checks that throw FormatErrors naming `source` and the field's path. */
export class Fields {
  constructor(readonly source: string) {}

  /** `actual` is a value from the input, written as JSON. */
  fail(path: string, expected: string, actual: unknown): never {
    return this.failText(path, expected, describe(actual));
  }

  /** `actual` is a description written as is. */
  failText(path: string, expected: string, actual: string): never {
    throw new FormatError(`${this.source}: ${path}: expected ${expected}, got ${actual}`);
  }

  problem(path: string, message: string): never {
    throw new FormatError(`${this.source}: ${path}: ${message}`);
  }

  object(path: string, value: unknown, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) this.fail(path, 'an object', value);
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!required.includes(key) && !optional.includes(key)) {
        this.problem(path, `unexpected key ${JSON.stringify(key)} (allowed: ${[...required, ...optional].join(', ') || 'none'})`);
      }
    }
    for (const key of required) {
      if (record[key] === undefined) this.fail(`${path}.${key}`, 'a value (the field is required)', undefined);
    }
    return record;
  }

  string(path: string, value: unknown, maxLength = 256): string {
    if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
      this.fail(path, `a non-empty string of at most ${maxLength} characters`, value);
    }
    return value;
  }

  int(path: string, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      this.fail(path, `an integer in [${min}, ${max}]`, value);
    }
    return value;
  }

  number(path: string, value: unknown, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
      this.fail(path, `a finite number in [${min}, ${max}]`, value);
    }
    return value;
  }

  boolean(path: string, value: unknown): boolean {
    if (typeof value !== 'boolean') this.fail(path, 'true or false', value);
    return value;
  }

  array(path: string, value: unknown, minLength: number, maxLength: number): unknown[] {
    if (!Array.isArray(value) || value.length < minLength || value.length > maxLength) {
      if (Array.isArray(value)) this.failText(path, `an array of ${minLength} to ${maxLength} entries`, `${value.length} entries`);
      this.fail(path, `an array of ${minLength} to ${maxLength} entries`, value);
    }
    return value;
  }

  oneOf<T extends string>(path: string, value: unknown, values: readonly T[]): T {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) this.fail(path, `one of ${values.join(', ')}`, value);
    return value as T;
  }

  /** A shape without the batch: 1..MAX_RANK positive integers, each at most `maxDim`. */
  shape(path: string, value: unknown, maxDim = MAX_DIM): number[] {
    const dims = this.array(path, value, 1, MAX_RANK);
    return dims.map((d, i) => this.int(`${path}[${i}]`, d, 1, maxDim));
  }
}

/** Reads one layer's config fields; `undefined` stays undefined so the layer applies its default. */
class ConfigReader {
  constructor(
    private readonly f: Fields,
    private readonly path: string,
    readonly config: Record<string, unknown>,
  ) {}
  private at(key: string): string {
    return `${this.path}.${key}`;
  }
  int(key: string, min = 1, max = MAX_DIM): number | undefined {
    const v = this.config[key];
    return v === undefined ? undefined : this.f.int(this.at(key), v, min, max);
  }
  number(key: string, min: number, max: number): number | undefined {
    const v = this.config[key];
    return v === undefined ? undefined : this.f.number(this.at(key), v, min, max);
  }
  boolean(key: string): boolean | undefined {
    const v = this.config[key];
    return v === undefined ? undefined : this.f.boolean(this.at(key), v);
  }
  /** An integer or `rank` of them, as kernelSize: 3 or [3, 3]. */
  tuple(key: string, rank: number, min = 1): number | number[] | undefined {
    const v = this.config[key];
    if (v === undefined) return undefined;
    if (typeof v === 'number') return this.f.int(this.at(key), v, min, MAX_DIM);
    if (!Array.isArray(v) || v.length !== rank) this.f.fail(this.at(key), `an integer or an array of ${rank} integers`, v);
    return v.map((d, i) => this.f.int(`${this.at(key)}[${i}]`, d, min, MAX_DIM));
  }
  padding(key: string, rank: number): Padding | undefined {
    const v = this.config[key];
    if (v === undefined || v === 'valid' || v === 'same') return v;
    if (typeof v === 'number') return this.f.int(this.at(key), v, 0, MAX_DIM);
    if (!Array.isArray(v) || v.length !== rank) this.f.fail(this.at(key), `'valid', 'same', an integer or ${rank} [before, after] pairs`, v);
    return v.map((pair, i) => {
      const p = this.f.array(`${this.at(key)}[${i}]`, pair, 2, 2);
      return [this.f.int(`${this.at(key)}[${i}][0]`, p[0], 0, MAX_DIM), this.f.int(`${this.at(key)}[${i}][1]`, p[1], 0, MAX_DIM)] as const;
    });
  }
  activation(key: string): ActivationName | undefined {
    const v = this.config[key];
    return v === undefined ? undefined : this.f.oneOf(this.at(key), v, ACTIVATIONS);
  }
  /** The activations batch norm and add apply in their own kernels. */
  fusedActivation(key: string): FusedActivation | undefined {
    const v = this.config[key];
    return v === undefined ? undefined : this.f.oneOf(this.at(key), v, FUSED_ACTIVATIONS);
  }
}

interface Entry {
  required: readonly string[];
  optional: readonly string[];
  create(read: ConfigReader, name: string, f: Fields, path: string, depth: number): Layer;
  /** Defaults to layer.computeOutputShape (which allocates nothing for every layer but the wrapper). */
  outputShape?(layer: Layer, inputShapes: readonly Shape[], f: Fields, path: string): Shape;
  /** Mirrors the layer's createParams; defaults to none. */
  params?(layer: Layer, inputShapes: readonly Shape[]): PredictedParam[];
}

const withBias = (name: string, kernel: number[], bias: number, useBias: boolean): PredictedParam[] => [
  { name: `${name}/kernel`, shape: kernel, trainable: true },
  ...(useBias ? [{ name: `${name}/bias`, shape: [bias], trainable: true }] : []),
];

function convEntry(rank: 1 | 2 | 3): Entry {
  return {
    required: ['filters', 'kernelSize'],
    optional: ['strides', 'dilation', 'padding', 'groups', 'activation', 'useBias'],
    create: (r, name) =>
      new Conv(rank, {
        name,
        filters: r.int('filters')!,
        kernelSize: r.tuple('kernelSize', rank)!,
        strides: r.tuple('strides', rank),
        dilation: r.tuple('dilation', rank),
        padding: r.padding('padding', rank),
        groups: r.int('groups'),
        activation: r.activation('activation'),
        useBias: r.boolean('useBias'),
      }),
    params: (layer, [s]) => {
      const l = layer as Conv;
      return withBias(l.name, [...l.kernelSize, s[rank] / l.groups, l.filters], l.filters, l.useBias);
    },
  };
}

function poolEntry(mode: 'max' | 'avg' | 'l2', rank: 1 | 2 | 3): Entry {
  return {
    required: [],
    optional: ['poolSize', 'strides', 'padding'],
    create: (r, name) => new Pool(mode, rank, { name, poolSize: r.tuple('poolSize', rank), strides: r.tuple('strides', rank), padding: r.padding('padding', rank) }),
  };
}

const REGISTRY = new Map<string, Entry>([
  [
    'input',
    {
      required: ['shape'],
      optional: [],
      create: (r, name, f, path) => new InputLayer(f.shape(`${path}.shape`, r.config.shape), name),
      outputShape: (layer) => (layer as InputLayer).shape,
    },
  ],
  ['conv1d', convEntry(1)],
  ['conv2d', convEntry(2)],
  ['conv3d', convEntry(3)],
  [
    'conv2dTranspose',
    {
      required: ['filters', 'kernelSize'],
      optional: ['strides', 'padding', 'outputPadding', 'activation', 'useBias'],
      create: (r, name, f, path) => {
        const padding = r.config.padding;
        if (padding !== undefined && padding !== 'valid' && padding !== 'same') f.fail(`${path}.padding`, "'valid' or 'same'", padding);
        return new Conv2dTranspose({
          name,
          filters: r.int('filters')!,
          kernelSize: r.tuple('kernelSize', 2)!,
          strides: r.tuple('strides', 2),
          padding: padding as 'valid' | 'same' | undefined,
          outputPadding: r.tuple('outputPadding', 2, 0),
          activation: r.activation('activation'),
          useBias: r.boolean('useBias'),
        });
      },
      params: (layer, [s]) => {
        const l = layer as Conv2dTranspose;
        return withBias(l.name, [l.kernelSize[0], l.kernelSize[1], l.filters, s[2]], l.filters, l.useBias);
      },
    },
  ],
  [
    'dense',
    {
      required: ['units'],
      optional: ['activation', 'useBias'],
      create: (r, name) => new Dense({ name, units: r.int('units')!, activation: r.activation('activation'), useBias: r.boolean('useBias') }),
      params: (layer, [s]) => {
        const l = layer as Dense;
        return withBias(l.name, [s[s.length - 1], l.units], l.units, l.useBias);
      },
    },
  ],
  ...(['max', 'avg', 'l2'] as const).flatMap((mode) => ([1, 2, 3] as const).map((rank): [string, Entry] => [`${mode}Pool${rank}d`, poolEntry(mode, rank)])),
  ['globalAvgPool', { required: [], optional: [], create: (_r, name) => new GlobalPool('avg', { name }) }],
  ['globalMaxPool', { required: [], optional: [], create: (_r, name) => new GlobalPool('max', { name }) }],
  ['flatten', { required: [], optional: [], create: (_r, name) => new Flatten({ name }) }],
  [
    'reshape',
    {
      required: ['targetShape'],
      optional: [],
      create: (r, name, f, path) => {
        const dims = f.array(`${path}.targetShape`, r.config.targetShape, 1, MAX_RANK);
        const targetShape = dims.map((d, i) => (d === -1 ? -1 : f.int(`${path}.targetShape[${i}]`, d, 1, MAX_DIM)));
        return new Reshape({ name, targetShape });
      },
    },
  ],
  [
    'batchNorm',
    {
      required: [],
      optional: ['momentum', 'eps', 'activation'],
      create: (r, name) =>
        new BatchNorm({ name, momentum: r.number('momentum', 0, 1), eps: r.number('eps', Number.MIN_VALUE, Number.MAX_VALUE), activation: r.fusedActivation('activation') }),
      params: (layer, [s]) => {
        const c = s[s.length - 1];
        return [
          { name: `${layer.name}/gamma`, shape: [c], trainable: true },
          { name: `${layer.name}/beta`, shape: [c], trainable: true },
          { name: `${layer.name}/runningMean`, shape: [c], trainable: false },
          { name: `${layer.name}/runningVar`, shape: [c], trainable: false },
        ];
      },
    },
  ],
  ['dropout', { required: ['rate'], optional: [], create: (r, name) => new Dropout({ name, rate: r.number('rate', 0, 1)! }) }],
  ['add', { required: [], optional: ['activation'], create: (r, name) => new Add({ name, activation: r.fusedActivation('activation') }) }],
  ['concatenate', { required: [], optional: ['axis'], create: (r, name) => new Concatenate({ name, axis: r.int('axis', -MAX_RANK - 1, MAX_RANK) }) }],
  [
    'activation',
    {
      required: ['activation'],
      optional: ['alpha'],
      create: (r, name) => new ActivationLayer(r.activation('activation')!, { name, alpha: r.number('alpha', -Number.MAX_VALUE, Number.MAX_VALUE) }),
    },
  ],
  [
    'timeDistributed',
    {
      required: ['layer'],
      optional: [],
      create: (r, name, f, path, depth) => {
        if (depth >= MAX_NESTING) f.problem(`${path}.layer`, `timeDistributed wrappers nest more than ${MAX_NESTING} deep`);
        return new TimeDistributed(createLayer(f, `${path}.layer`, r.config.layer, depth + 1), { name });
      },
      outputShape: (layer, [s], f, path) => {
        if (s.length < 2) f.problem(path, `${layer.name} expects an input of shape [time, ...], got [${s.join(', ')}]`);
        return [s[0], ...outputShapeOf((layer as TimeDistributed).layer, [s.slice(1)], f, path)];
      },
      params: (layer, [s]) => paramsOf((layer as TimeDistributed).layer, [s.slice(1)]),
    },
  ],
]);

/** Every layer kind a saved model may hold. */
export function layerKinds(): string[] {
  return [...REGISTRY.keys()];
}

function entryOf(layer: Layer): Entry {
  const entry = REGISTRY.get(layer.kind);
  if (!entry) throw new FormatError(`layer ${layer.name}: kind '${layer.kind}' has no entry in the saved-model registry`);
  return entry;
}

/** Runs `fn`, turning a ConvkitError from a layer's own checks into a FormatError at `path`. */
function guarded<T>(f: Fields, path: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof FormatError) throw err;
    if (err instanceof ConvkitError) f.problem(path, err.message);
    throw err;
  }
}

/** Rebuilds a layer (without parameters) from { kind, name, config }, checking every field. */
export function createLayer(f: Fields, path: string, spec: unknown, depth = 0): Layer {
  const s = f.object(path, spec, ['kind', 'name', 'config']);
  const kind = s.kind;
  const entry = typeof kind === 'string' ? REGISTRY.get(kind) : undefined;
  if (!entry) f.fail(`${path}.kind`, `a known layer kind (${layerKinds().join(', ')})`, kind);
  const name = f.string(`${path}.name`, s.name);
  const config = f.object(`${path}.config`, s.config, entry.required, entry.optional);
  const layer = guarded(f, path, () => entry.create(new ConfigReader(f, `${path}.config`, config), name, f, `${path}.config`, depth));
  if (layer.kind !== kind) f.problem(path, `rebuilt a ${layer.kind} layer for kind ${kind}`);
  return layer;
}

/** The layer's output shape for these input shapes, computed without building the layer. */
export function outputShapeOf(layer: Layer, inputShapes: readonly Shape[], f: Fields, path: string): Shape {
  const entry = entryOf(layer);
  return guarded(f, path, () => (entry.outputShape ? entry.outputShape(layer, inputShapes, f, path) : layer.computeOutputShape(inputShapes)));
}

/** The parameters the layer will create for these input shapes (call after outputShapeOf succeeded). */
export function paramsOf(layer: Layer, inputShapes: readonly Shape[]): PredictedParam[] {
  return entryOf(layer).params?.(layer, inputShapes) ?? [];
}

/** { kind, name, config } of a layer, as plain JSON values (undefined fields dropped). */
export function layerSpec(layer: Layer): LayerSpec {
  entryOf(layer);
  const config = JSON.parse(JSON.stringify(layer.config())) as Record<string, unknown>;
  return { kind: layer.kind, name: layer.name, config };
}
