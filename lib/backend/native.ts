/**
 * Loads the native addon once and remembers why it failed, so the fallback warning and
 * backendInfo() can say what happened and how to fix it.
 */
import * as path from 'path';
import type { Backend, BackendInfo, PlanHandle } from './backend';
import { KERNELS, KernelName, kernelId } from './kernels';
import { fromNativeError } from '../errors';

interface NativePlanObject {
  run(begin: number, end: number): Promise<void>;
  runSync(begin: number, end: number): void;
  readonly size: number;
}

export interface NativeAddon {
  kernelNames(): string[];
  info(): { isa: string; threads: number };
  runKernel(id: number, buffers: Float32Array[], ints: readonly number[], floats?: readonly number[]): void;
  findNonFinite(data: Float32Array): number;
  createPlan(state: Float32Array, work: Float32Array, program: Int32Array): NativePlanObject;
}

export type AddonLoadResult = { addon: NativeAddon } | { error: string };

let loaded: AddonLoadResult | undefined;

/** The package root: lib/backend or dist/backend, two levels down. */
const PACKAGE_ROOT = path.join(__dirname, '..', '..');

export function loadAddon(): AddonLoadResult {
  if (loaded) return loaded;
  const candidates = [
    process.env.CONVKIT_ADDON_PATH,
    path.join(PACKAGE_ROOT, 'build', 'Release', 'convkit.node'),
    path.join(PACKAGE_ROOT, 'build-cmake', 'Release', 'convkit.node'),
    path.join(PACKAGE_ROOT, 'build-cmake', 'convkit.node'),
  ].filter((p): p is string => !!p);
  const reasons: string[] = [];
  for (const file of candidates) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      const addon = require(file) as NativeAddon;
      const names = addon.kernelNames();
      const expected = KERNELS.map((k) => k.name);
      // An addon built from other sources would run the wrong kernel for an id: refuse it.
      if (names.length !== expected.length || names.some((n, i) => n !== expected[i])) {
        reasons.push(`${file} was built from other sources (its kernels: ${names.join(', ')}); rebuild it`);
        continue;
      }
      loaded = { addon };
      return loaded;
    } catch (err) {
      const message = (err as Error).message.split('\n')[0];
      reasons.push((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? `${file} not found` : `${file}: ${message}`);
    }
  }
  loaded = { error: `the native addon is not built (${reasons.join('; ')})` };
  return loaded;
}

class NativePlanHandle implements PlanHandle {
  constructor(private readonly plan: NativePlanObject) {}
  async run(begin: number, end: number): Promise<void> {
    try {
      await this.plan.run(begin, end);
    } catch (err) {
      throw fromNativeError(err);
    }
  }
  runSync(begin: number, end: number): void {
    try {
      this.plan.runSync(begin, end);
    } catch (err) {
      throw fromNativeError(err);
    }
  }
}

export class NativeBackend implements Backend {
  readonly name = 'native' as const;
  constructor(private readonly addon: NativeAddon) {}

  info(): BackendInfo {
    const { isa, threads } = this.addon.info();
    return { backend: 'native', isa, threads };
  }

  runKernel(name: KernelName, buffers: Float32Array[], ints: readonly number[], floats: readonly number[] = []): void {
    try {
      this.addon.runKernel(kernelId(name), buffers, ints, floats);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  findNonFinite(data: Float32Array): number {
    try {
      return this.addon.findNonFinite(data);
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  createPlan(state: Float32Array, work: Float32Array, program: Int32Array): PlanHandle {
    try {
      return new NativePlanHandle(this.addon.createPlan(state, work, program));
    } catch (err) {
      throw fromNativeError(err);
    }
  }
}
