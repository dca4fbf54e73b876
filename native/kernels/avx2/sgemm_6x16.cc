// AVX2 + FMA micro-kernel: a 6x16 tile of C in 12 ymm accumulators; per k step two
// vector loads of B, six broadcasts of A, twelve FMAs. Compiled with -mavx2 -mfma only
// (native/sources.json); include nothing that could instantiate shared inline code.
#include <immintrin.h>

#include <cstdint>

namespace convkit {

void sgemm_6x16__avx2(int64_t k, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b_panel,
                      float* c, int64_t ldc, bool accumulate) {
  constexpr int kRows = 6;
  __m256 acc[kRows][2];
#pragma GCC unroll 6
  for (int i = 0; i < kRows; ++i) acc[i][0] = acc[i][1] = _mm256_setzero_ps();

  // Rows 0-2 and 3-5 from two base pointers plus 0, 1 or 2 row strides: the addressing
  // modes do the rest, so the loop moves two pointers per k step, not six.
  const float* a_low = a;
  const float* a_high = a + 3 * a_row_stride;
  for (int64_t p = 0; p < k; ++p, a_low += a_k_stride, a_high += a_k_stride, b_panel += 16) {
    const __m256 b0 = _mm256_load_ps(b_panel);
    const __m256 b1 = _mm256_load_ps(b_panel + 8);
#pragma GCC unroll 6
    for (int i = 0; i < kRows; ++i) {
      const float* base = i < 3 ? a_low : a_high;
      const __m256 a_value = _mm256_broadcast_ss(base + (i % 3) * a_row_stride);
      acc[i][0] = _mm256_fmadd_ps(a_value, b0, acc[i][0]);
      acc[i][1] = _mm256_fmadd_ps(a_value, b1, acc[i][1]);
    }
  }

#pragma GCC unroll 6
  for (int i = 0; i < kRows; ++i) {
    float* c_row = c + i * ldc;
    if (accumulate) {
      acc[i][0] = _mm256_add_ps(_mm256_loadu_ps(c_row), acc[i][0]);
      acc[i][1] = _mm256_add_ps(_mm256_loadu_ps(c_row + 8), acc[i][1]);
    }
    _mm256_storeu_ps(c_row, acc[i][0]);
    _mm256_storeu_ps(c_row + 8, acc[i][1]);
  }
}

}  // namespace convkit
