/**
 * Weight initializers. Each fills a parameter from the model's seeded generator, so the
 * same seed gives the same starting weights on both backends.
 */
import type { Random } from '../random';
import type { TensorLike } from '../tensor';
import { ArgumentError, ShapeError, ValueError } from '../errors';

export type NamedInitializer = 'glorotUniform' | 'glorotNormal' | 'heUniform' | 'heNormal' | 'zeros' | 'ones';
/** A named scheme, a constant ({ constant: 0.1 }), or the values themselves (a tensor or Float32Array). */
export type Initializer = NamedInitializer | { constant: number } | TensorLike | Float32Array;

export const INITIALIZERS: readonly NamedInitializer[] = ['glorotUniform', 'glorotNormal', 'heUniform', 'heNormal', 'zeros', 'ones'];

export function checkInitializer(layer: string, option: string, value: unknown): Initializer {
  if (typeof value === 'string' && (INITIALIZERS as readonly string[]).includes(value)) return value as Initializer;
  if (value instanceof Float32Array) return value;
  if (value && typeof value === 'object') {
    const v = value as { constant?: unknown; data?: unknown };
    if (typeof v.constant === 'number' && Number.isFinite(v.constant)) return { constant: v.constant };
    if (v.data instanceof Float32Array) return value as TensorLike;
  }
  throw new ArgumentError(
    `${layer}: ${option} must be one of ${INITIALIZERS.join(', ')}, { constant: number }, or a tensor / Float32Array of values, got ${JSON.stringify(value)}`,
  );
}

export function initialize(out: Float32Array, init: Initializer, fans: { fanIn: number; fanOut: number }, rng: Random, name = 'parameter'): void {
  if (typeof init !== 'string') {
    if ('constant' in init) {
      out.fill(init.constant);
      return;
    }
    const values = init instanceof Float32Array ? init : init.data;
    if (values.length !== out.length) throw new ShapeError(`${name}: the initial values have ${values.length} elements, the parameter needs ${out.length}`);
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) throw new ValueError(`${name}: the initial values hold a non-finite value at index ${i}`);
    }
    out.set(values);
    return;
  }
  switch (init) {
    case 'zeros':
      out.fill(0);
      return;
    case 'ones':
      out.fill(1);
      return;
    case 'glorotUniform':
      return fillUniform(out, Math.sqrt(6 / (fans.fanIn + fans.fanOut)), rng);
    case 'heUniform':
      return fillUniform(out, Math.sqrt(6 / fans.fanIn), rng);
    case 'glorotNormal':
      return fillTruncatedNormal(out, Math.sqrt(2 / (fans.fanIn + fans.fanOut)), rng);
    case 'heNormal':
      return fillTruncatedNormal(out, Math.sqrt(2 / fans.fanIn), rng);
  }
}

function fillUniform(out: Float32Array, limit: number, rng: Random): void {
  for (let i = 0; i < out.length; i++) out[i] = rng.uniformRange(-limit, limit);
}

/** Normal cut at two standard deviations, rescaled to keep the variance (as Keras does). */
function fillTruncatedNormal(out: Float32Array, std: number, rng: Random): void {
  const scale = std / 0.87962566103423978;
  for (let i = 0; i < out.length; i++) {
    let v: number;
    do v = rng.normal();
    while (v < -2 || v > 2);
    out[i] = v * scale;
  }
}
