/**
 * Backend choice: CONVKIT_BACKEND=native|js forces one; unset, native is used when the
 * addon loads, else js with one warning line saying why and how to build.
 */
import type { Backend, BackendInfo } from './backend';
import { JsBackend } from './jsBackend';
import { NativeBackend, loadAddon } from './native';
import { ArgumentError, BackendError } from '../errors';

export type { Backend, BackendInfo, PlanHandle } from './backend';
export { KERNELS } from './kernels';
export type { KernelName } from './kernels';

export type BackendName = 'native' | 'js';

const BUILD_HINT = 'run `npm rebuild convkit` (needs python3, make and a C++17 compiler) to build it';

let active: Backend | undefined;
let warned = false;

/** The native backend, or undefined with the reason it cannot load. */
export function nativeBackend(): { backend?: Backend; reason?: string } {
  const result = loadAddon();
  if ('addon' in result) return { backend: new NativeBackend(result.addon) };
  return { reason: result.error };
}

export function createBackend(name: BackendName): Backend {
  if (name === 'js') return new JsBackend();
  if (name === 'native') {
    const { backend, reason } = nativeBackend();
    if (!backend) throw new BackendError(`CONVKIT_BACKEND=native but ${reason}; ${BUILD_HINT}`);
    return backend;
  }
  throw new ArgumentError(`backend must be 'native' or 'js', got '${String(name)}'`);
}

/** The backend every model and op uses unless told otherwise. */
export function getBackend(): Backend {
  if (active) return active;
  const forced = process.env.CONVKIT_BACKEND;
  if (forced) {
    if (forced !== 'native' && forced !== 'js') {
      throw new ArgumentError(`CONVKIT_BACKEND must be 'native' or 'js', got '${forced}'`);
    }
    active = createBackend(forced);
    return active;
  }
  const { backend, reason } = nativeBackend();
  if (backend) {
    active = backend;
  } else {
    active = new JsBackend(reason);
    if (!warned) {
      warned = true;
      process.emitWarning(`convkit: using the TypeScript backend because ${reason}; ${BUILD_HINT}`);
    }
  }
  return active;
}

/** Overrides the default backend (for tests and the CLI's --backend flag). */
export function setBackend(name: BackendName): Backend {
  active = createBackend(name);
  return active;
}

export function backendInfo(): BackendInfo {
  return getBackend().info();
}
