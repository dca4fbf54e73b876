// Single-precision GEMM after BLIS/Goto: cache blocks of B are packed into micro-panels,
// A is read in place or packed without transposing, and a register-blocked micro-kernel,
// chosen once per process for the active ISA (cpu.h), computes each tile of C.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu.h"

namespace convkit {

// Computes one mr x nr tile: sum over p < k of a(i, p) * b_panel[p*nr + j], where
// a(i, p) = a[i*a_row_stride + p*a_k_stride], into c[i*ldc + j] (accumulate false) or
// added to it (accumulate true). The strides let one kernel read A in place as rows
// (a_k_stride 1) or as a packed k-major panel (a_row_stride 1), so A never needs a
// transposing copy. The sum starts from zero and is added to c once at the end, so a tile
// gives the same bits whether it goes straight to C or through a scratch tile at an edge.
// k >= 1; b_panel is 64-byte aligned when nr is a multiple of 16. Pure: no allocation,
// no checks, no threads.
using SgemmMicroKernel = void (*)(int64_t k, const float* a, int64_t a_row_stride, int64_t a_k_stride,
                                  const float* b_panel, float* c, int64_t ldc, bool accumulate);

// The same tile summed over `segments` runs of k steps each: run s reads A at
// a + s*segment_stride (rows a_row_stride apart, k stride 1) and the next k*nr floats
// of b_panel, so the runs' B panels lie end to end. The implicit convolution's kernel
// rows are such runs: one call per tile instead of one per kernel row, with the tile
// held in registers throughout. Same rules as SgemmMicroKernel otherwise (k >= 1,
// segments >= 1).
using SgemmSegmentsKernel = void (*)(int64_t k, int64_t segments, int64_t segment_stride, const float* a,
                                     int64_t a_row_stride, const float* b_panel, float* c, int64_t ldc,
                                     bool accumulate);

#define CONVKIT_SGEMM_KERNEL(name, isa, mr, nr, function, segments)                                         \
  void function(int64_t k, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b_panel, \
                float* c, int64_t ldc, bool accumulate);
#include "list.inc"
#undef CONVKIT_SGEMM_KERNEL
#if defined(__x86_64__) || defined(_M_X64)
void sgemm_14x32_segments__avx512(int64_t k, int64_t segments, int64_t segment_stride, const float* a,
                                  int64_t a_row_stride, const float* b_panel, float* c, int64_t ldc, bool accumulate);
#endif

struct SgemmKernel {
  const char* name;  // "avx512_14x32"
  Isa isa;
  int mr, nr;  // tile rows (broadcast from A) and columns (vector loads from B)
  SgemmMicroKernel function;
  SgemmSegmentsKernel segments;  // nullptr: callers loop over `function` instead
};

// A kernel plus its cache blocking: an mr x kc sliver of A stays in L1, a kc x nc block of
// packed B in L2, an mc x kc block of A in L3. mc is a multiple of mr, nc of nr.
struct SgemmConfig {
  SgemmKernel kernel;
  int mc, kc, nc;
};

// Every micro-kernel of this build (list.inc), supported by this CPU or not.
int sgemm_kernel_count();
const SgemmKernel& sgemm_kernel(int index);

// The blocking tuned for `kernel`.
SgemmConfig sgemm_config_for(const SgemmKernel& kernel);

// The config of the active ISA (CONVKIT_ISA or the best supported), chosen once.
const SgemmConfig& active_sgemm_config();

// c[m,n] = op(a) op(b), or c += op(a) op(b) when accumulate. op(a) is m x k: a[i*lda + p],
// or a[p*lda + i] when trans_a; op(b) is k x n: b[p*ldb + j], or b[j*ldb + p] when
// trans_b. c[i*ldc + j]. Split over the thread pool (parallel.h) when big enough; each
// element's sum order does not depend on the split, so every thread count gives the
// same bits.
void sgemm(int m, int n, int k, const float* a, int lda, bool trans_a, const float* b, int ldb, bool trans_b,
           float* c, int ldc, bool accumulate);

// The same on the calling thread only: for kernels that are already inside parallel_for.
void sgemm_single_thread(int m, int n, int k, const float* a, int lda, bool trans_a, const float* b, int ldb,
                         bool trans_b, float* c, int ldc, bool accumulate);

// B packed once for several GEMMs that share it (conv weights over chunks of pixels):
// op(b) as k x n, in the blocks and panels that `config` uses. The size is in floats.
size_t sgemm_packed_b_size(const SgemmConfig& config, int n, int k);
void sgemm_pack_b(const SgemmConfig& config, int n, int k, const float* b, int ldb, bool trans_b, float* packed_b);

// sgemm_single_thread reading B from packed_b = sgemm_pack_b(active_sgemm_config(), n,
// k, b, ldb, trans_b); b itself is read only if the workspace for A cannot be allocated.
void sgemm_single_thread_packed_b(int m, int n, int k, const float* a, int lda, bool trans_a, const float* b, int ldb,
                                  bool trans_b, const float* packed_b, float* c, int ldc, bool accumulate);

// The same with an explicit config, on the pool when `parallel`: for tests and benchmarks.
void sgemm_with_config(const SgemmConfig& config, bool parallel, int m, int n, int k, const float* a, int lda,
                       bool trans_a, const float* b, int ldb, bool trans_b, float* c, int ldc, bool accumulate);

}  // namespace convkit
