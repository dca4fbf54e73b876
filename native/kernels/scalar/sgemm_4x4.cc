// Portable reference micro-kernel: a 4x4 tile of C in 16 scalar accumulators. Runs
// anywhere; the SIMD kernels are tested against the same double-precision reference.
#include <cstdint>

namespace convkit {

// g++ would vectorise the k loop with shuffles (slow); across the four columns of a row it
// finds plain 4-wide multiply-adds instead.
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("no-tree-loop-vectorize")))
#endif
void sgemm_4x4__scalar(int64_t k, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b_panel,
                       float* c, int64_t ldc, bool accumulate) {
  constexpr int kRows = 4, kCols = 4;
  float acc[kRows][kCols] = {};
  for (int64_t p = 0; p < k; ++p, a += a_k_stride, b_panel += kCols) {
    for (int i = 0; i < kRows; ++i) {
      const float a_value = a[i * a_row_stride];
      for (int j = 0; j < kCols; ++j) acc[i][j] += a_value * b_panel[j];
    }
  }
  for (int i = 0; i < kRows; ++i) {
    float* c_row = c + i * ldc;
    for (int j = 0; j < kCols; ++j) c_row[j] = accumulate ? c_row[j] + acc[i][j] : acc[i][j];
  }
}

}  // namespace convkit
