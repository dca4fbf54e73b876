// AVX-512 col2im for pixels whose kernel rows are contiguous runs of dx (one group, no
// dilation along x, every tap inside the image): the adds of conv2d_im2col.cc's
// col2im_rows_add, 16 floats a vector with a masked tail. The portable loop there is
// compiled for baseline x86-64 (4 floats a vector, a scalar tail), and for LeNet's 30-float
// kernel rows col2im took as long as the GEMM before it.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma only
// (native/sources.json); include nothing that could instantiate shared inline code.
#include <immintrin.h>

#include <cstdint>

namespace convkit {

// For r < count and ky < rows: dx[ky * row_step + r * pixel_step + j] +=
// in[r * depth + ky * tap_run + j], j < tap_run, pixel by pixel as in col2im_rows_add.
void col2im_add_pixels__avx512(float* dx, int64_t row_step, int64_t pixel_step, int rows, const float* in,
                               int64_t depth, int tap_run, int count) {
  const int full = tap_run / 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (tap_run % 16)) - 1);
  for (int r = 0; r < count; ++r, dx += pixel_step, in += depth) {
    for (int ky = 0; ky < rows; ++ky) {
      float* dst = dx + ky * row_step;
      const float* src = in + static_cast<int64_t>(ky) * tap_run;
      int v = 0;
      for (; v < full; ++v, dst += 16, src += 16) {
        _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), _mm512_loadu_ps(src)));
      }
      if (tail != 0) {
        _mm512_mask_storeu_ps(dst, tail, _mm512_add_ps(_mm512_maskz_loadu_ps(tail, dst), _mm512_maskz_loadu_ps(tail, src)));
      }
    }
  }
}

}  // namespace convkit
