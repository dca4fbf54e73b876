// AVX-512 micro-kernel: a 14x32 tile of C in 28 zmm accumulators (of 32); per k step two
// vector loads of B, fourteen broadcasts of A, 28 FMAs, which keeps both FMA ports busy
// while the loads fit the two load ports. Compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512dq -mfma only (native/sources.json); include nothing that could instantiate
// shared inline code.
#include <immintrin.h>

#include <cstdint>

namespace convkit {

namespace {

constexpr int kRows = 14;
using Tile = __m512[kRows][2];

// Warms the C tile's cache lines while the k loop runs; the stores come last.
__attribute__((always_inline)) inline void prefetch_tile(const float* c, int64_t ldc) {
#pragma GCC unroll 14
  for (int i = 0; i < kRows; ++i) {
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
    _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc + 16), _MM_HINT_T0);
  }
}

// acc += k steps of A (rows a_row_stride apart, steps a_k_stride apart) times b_panel;
// returns b_panel past the k*32 floats read.
__attribute__((always_inline)) inline const float* add_run(Tile& acc, int64_t k, const float* a, int64_t a_row_stride,
                                                           int64_t a_k_stride, const float* b_panel) {
  // Rows in groups of three from five base pointers plus 0, 1 or 2 row strides: the
  // addressing modes do the rest, so the loop moves five pointers per k step, not 14.
  const float* base[5];
#pragma GCC unroll 5
  for (int g = 0; g < 5; ++g) base[g] = a + 3 * g * a_row_stride;
  // Two k steps per iteration: fewer loop µops, and the next step's loads issue early.
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p, b_panel += 32) {
    const __m512 b0 = _mm512_load_ps(b_panel);
    const __m512 b1 = _mm512_load_ps(b_panel + 16);
#pragma GCC unroll 14
    for (int i = 0; i < kRows; ++i) {
      const __m512 a_value = _mm512_set1_ps(base[i / 3][(i % 3) * a_row_stride]);
      acc[i][0] = _mm512_fmadd_ps(a_value, b0, acc[i][0]);
      acc[i][1] = _mm512_fmadd_ps(a_value, b1, acc[i][1]);
    }
#pragma GCC unroll 5
    for (int g = 0; g < 5; ++g) base[g] += a_k_stride;
  }
  return b_panel;
}

// c = acc, or c += acc when accumulate.
__attribute__((always_inline)) inline void store_tile(Tile& acc, float* c, int64_t ldc, bool accumulate) {
#pragma GCC unroll 14
  for (int i = 0; i < kRows; ++i) {
    float* c_row = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm512_add_ps(_mm512_loadu_ps(c_row), acc[i][0]);
      acc[i][1] = _mm512_add_ps(_mm512_loadu_ps(c_row + 16), acc[i][1]);
    }
    _mm512_storeu_ps(c_row, acc[i][0]);
    _mm512_storeu_ps(c_row + 16, acc[i][1]);
  }
}

}  // namespace

void sgemm_14x32__avx512(int64_t k, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b_panel,
                         float* c, int64_t ldc, bool accumulate) {
  prefetch_tile(c, ldc);
  Tile acc;
#pragma GCC unroll 14
  for (int i = 0; i < kRows; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  add_run(acc, k, a, a_row_stride, a_k_stride, b_panel);
  store_tile(acc, c, ldc, accumulate);
}

// The same tile summed over `segments` runs of k steps: segment s reads A at
// a + s * segment_stride (k stride 1) and the next k*32 floats of b_panel, so the B
// segments lie end to end. For the implicit convolution, whose kernel rows are such
// segments: one call per tile instead of one per kernel row, the tile in registers
// throughout.
void sgemm_14x32_segments__avx512(int64_t k, int64_t segments, int64_t segment_stride, const float* a,
                                  int64_t a_row_stride, const float* b_panel, float* c, int64_t ldc, bool accumulate) {
  prefetch_tile(c, ldc);
  Tile acc;
#pragma GCC unroll 14
  for (int i = 0; i < kRows; ++i) acc[i][0] = acc[i][1] = _mm512_setzero_ps();
  for (int64_t s = 0; s < segments; ++s) b_panel = add_run(acc, k, a + s * segment_stride, a_row_stride, 1, b_panel);
  store_tile(acc, c, ldc, accumulate);
}

}  // namespace convkit
