// find_non_finite (kernels.h): the NaN/infinity check on eager kernels' inputs and on model
// inputs; FiniteCheck::check, the same test on the slices a kernel is about to read. Blocks
// of the array are checked for an all-ones exponent (AVX2 where the active ISA has it, else
// a loop the compiler vectorises), split over the pool for large arrays, and the exact
// index is looked for only inside a block that has one.
#include <atomic>
#include <cmath>
#include <cstring>

#include "cpu.h"
#include "kernels.h"
#include "parallel.h"

namespace convkit {

#if defined(__x86_64__) || defined(_M_X64)
// native/kernels/avx2/scan.cc
bool any_non_finite__avx2(const float* data, int64_t length);
#endif

namespace {

// Floats per block: 64 KiB, so a thread's share is whole blocks and a block with a bad
// value is searched value by value at little cost.
constexpr int64_t kBlock = 16384;
// Below this many floats (1 MiB) one thread scans faster than waking the pool.
constexpr int64_t kMinParallel = int64_t{1} << 18;

bool any_non_finite_portable(const float* data, int64_t length) {
  constexpr uint32_t kExponent = 0x7f800000u;  // all ones: infinity or NaN
  uint32_t any = 0;
  for (int64_t i = 0; i < length; ++i) {
    uint32_t bits;
    std::memcpy(&bits, data + i, sizeof bits);
    any |= static_cast<uint32_t>((bits & kExponent) == kExponent);
  }
  return any != 0;
}

bool any_non_finite(const float* data, int64_t length) {
#if defined(__x86_64__) || defined(_M_X64)
  static const bool avx2 = active_isa() == Isa::kAvx2 || active_isa() == Isa::kAvx512;
  if (avx2) return any_non_finite__avx2(data, length);
#endif
  return any_non_finite_portable(data, length);
}

// The first bad index in blocks [first, last), or -1.
int64_t first_in_blocks(const float* data, int64_t length, int64_t first, int64_t last) {
  for (int64_t block = first; block < last; ++block) {
    const int64_t begin = block * kBlock;
    const int64_t count = length - begin < kBlock ? length - begin : kBlock;
    if (!any_non_finite(data + begin, count)) continue;
    for (int64_t i = 0; i < count; ++i) {
      if (!std::isfinite(data[begin + i])) return begin + i;
    }
  }
  return -1;
}

}  // namespace

void FiniteCheck::check(const float* data, int64_t length) {
  if (any_non_finite(data, length)) non_finite.store(true, std::memory_order_relaxed);
}

int64_t find_non_finite(const float* data, int64_t length) {
  const int64_t blocks = (length + kBlock - 1) / kBlock;
  if (length < kMinParallel || thread_count() == 1) return first_in_blocks(data, length, 0, blocks);
  // Each thread scans its blocks in order and stops at its first bad one; the smallest
  // index found is the first overall (a thread's range precedes the next one's).
  std::atomic<int64_t> first_bad{length};
  parallel_for(blocks, [&](int64_t first, int64_t last) {
    const int64_t at = first_in_blocks(data, length, first, last);
    if (at < 0) return;
    int64_t seen = first_bad.load(std::memory_order_relaxed);
    while (at < seen && !first_bad.compare_exchange_weak(seen, at, std::memory_order_relaxed)) {
    }
  });
  const int64_t at = first_bad.load();
  return at < length ? at : -1;
}

}  // namespace convkit
