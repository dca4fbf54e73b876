// arm64 NEON micro-kernel: an 8x8 tile of C in 16 q-register accumulators; per k step two
// loads of B, eight scalar loads of A (ld1r-style, so A may be rows or a packed panel)
// and 16 FMAs by scalar. NEON is part of the arm64 base architecture, so this file needs
// no extra flags; it is built only on arm64.
#include <arm_neon.h>

#include <cstdint>

namespace convkit {

void sgemm_8x8__neon(int64_t k, const float* a, int64_t a_row_stride, int64_t a_k_stride, const float* b_panel,
                     float* c, int64_t ldc, bool accumulate) {
  constexpr int kRows = 8;
  float32x4_t acc[kRows][2];
  for (int i = 0; i < kRows; ++i) acc[i][0] = acc[i][1] = vdupq_n_f32(0.0f);

  for (int64_t p = 0; p < k; ++p, a += a_k_stride, b_panel += 8) {
    const float32x4_t b0 = vld1q_f32(b_panel);
    const float32x4_t b1 = vld1q_f32(b_panel + 4);
    for (int i = 0; i < kRows; ++i) {
      const float a_value = a[i * a_row_stride];
      acc[i][0] = vfmaq_n_f32(acc[i][0], b0, a_value);
      acc[i][1] = vfmaq_n_f32(acc[i][1], b1, a_value);
    }
  }

  for (int i = 0; i < kRows; ++i) {
    float* c_row = c + i * ldc;
    if (accumulate) {
      acc[i][0] = vaddq_f32(vld1q_f32(c_row), acc[i][0]);
      acc[i][1] = vaddq_f32(vld1q_f32(c_row + 4), acc[i][1]);
    }
    vst1q_f32(c_row, acc[i][0]);
    vst1q_f32(c_row + 4, acc[i][1]);
  }
}

}  // namespace convkit
