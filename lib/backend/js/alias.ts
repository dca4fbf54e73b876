/**
 * Int32Array aliases of float32 buffers, for kernels that work on the bits of a float (relu's
 * sign test, max pooling's branch-free comparisons). One alias per ArrayBuffer, cached weakly,
 * so a plan (whose buffers all live in two arenas) creates each once and a dropped buffer takes
 * its alias with it.
 */

const aliases = new WeakMap<ArrayBufferLike, Int32Array>();

/** An Int32Array over the whole ArrayBuffer of `a`; a[i] is alias[(a.byteOffset >> 2) + i]. */
export function int32Alias(a: Float32Array): Int32Array {
  const buffer = a.buffer;
  let view = aliases.get(buffer);
  if (view === undefined || view.length !== buffer.byteLength >> 2) {
    view = new Int32Array(buffer, 0, buffer.byteLength >> 2);
    aliases.set(buffer, view);
  }
  return view;
}
