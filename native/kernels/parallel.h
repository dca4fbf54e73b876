// What kernels see of the thread pool (native/runtime/thread_pool.cc): a static split of
// a range over the pool's threads, or blocks claimed in turn. The static split depends
// only on `count` and thread_count(), and a dynamic block only on `count` and `grain`, so
// a kernel that keeps its reduction order inside them gives the same bits every run.
#pragma once

#include <cstdint>

namespace convkit {

// Processes items [begin, end); `context` carries the kernel's arguments.
using ParallelTask = void (*)(void* context, int64_t begin, int64_t end);

// Runs task over chunk t = [count*t/T, count*(t+1)/T) for t < T = thread_count(), the
// caller taking chunk 0, and returns when all are done. Empty chunks are not run. When
// another region holds the pool (a second addon instance, or a nested call), the caller
// runs the same chunks itself, in order.
void parallel_for(int64_t count, ParallelTask task, void* context);

// Runs task over the blocks [b, min(b + grain, count)), b = 0, grain, 2*grain, ..., each
// block on whichever thread claims it next, the caller included. For work whose blocks
// are independent (or whose reductions are keyed by the block, never by the thread), so
// the result does not depend on which thread ran what: threads that run at different
// speeds (a host taking time from one vCPU) share the work by speed instead of the whole
// region waiting for the slowest fixed share. A busy pool runs the blocks inline, in order.
void parallel_for_dynamic(int64_t count, int64_t grain, ParallelTask task, void* context);

// Threads a parallel_for uses, the caller included (CONVKIT_NUM_THREADS, else the CPUs
// this process may run on).
int thread_count();

// The same with a callable body(begin, end); no allocation per call.
template <typename Body>
void parallel_for(int64_t count, const Body& body) {
  parallel_for(
      count, [](void* context, int64_t begin, int64_t end) { (*static_cast<const Body*>(context))(begin, end); },
      const_cast<void*>(static_cast<const void*>(&body)));
}

template <typename Body>
void parallel_for_dynamic(int64_t count, int64_t grain, const Body& body) {
  parallel_for_dynamic(
      count, grain,
      [](void* context, int64_t begin, int64_t end) { (*static_cast<const Body*>(context))(begin, end); },
      const_cast<void*>(static_cast<const void*>(&body)));
}

// Reductions that must give the same bits on any number of threads split their range into
// this many chunks (however many threads there are), sum each chunk on its own and add the
// chunk sums in chunk order.
constexpr int kFixedChunks = 8;

// Runs body(chunk, begin, end) for each chunk < chunks, chunk c covering
// [count*c/chunks, count*(c+1)/chunks), each chunk on whichever thread claims it next
// (the chunk, not the thread, decides what is summed where).
template <typename Body>
void for_fixed_chunks(int64_t count, int chunks, const Body& body) {
  parallel_for_dynamic(chunks, 1, [&](int64_t first, int64_t last) {
    for (int64_t chunk = first; chunk < last; ++chunk) body(chunk, count * chunk / chunks, count * (chunk + 1) / chunks);
  });
}

}  // namespace convkit
