/**
 * Weight initializers. Each fills a parameter from the model's seeded generator, so the
 * same seed gives the same starting weights on both backends.
 */
import type { Random } from '../random';
import { ArgumentError } from '../errors';

export type Initializer = 'glorotUniform' | 'glorotNormal' | 'heUniform' | 'heNormal' | 'zeros' | 'ones';

export const INITIALIZERS: readonly Initializer[] = ['glorotUniform', 'glorotNormal', 'heUniform', 'heNormal', 'zeros', 'ones'];

export function checkInitializer(layer: string, option: string, value: unknown): Initializer {
  if (typeof value === 'string' && (INITIALIZERS as readonly string[]).includes(value)) return value as Initializer;
  throw new ArgumentError(`${layer}: ${option} must be one of ${INITIALIZERS.join(', ')}, got ${JSON.stringify(value)}`);
}

export function initialize(out: Float32Array, init: Initializer, fans: { fanIn: number; fanOut: number }, rng: Random): void {
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
