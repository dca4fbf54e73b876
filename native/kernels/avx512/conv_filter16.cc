// AVX-512 micro-kernel of the NHWC filter gradient for 16 output channels
// (conv2d_filter16.h). Accumulators: 8 input channels x up to 3 taps along a kernel row
// (or 16 channels x 1 tap), each one vector of the 16 output channels. Per input pixel,
// eight broadcasts of x and three vector loads of dy feed 24 multiply-adds: each broadcast
// serves three taps, which keeps the loads under half the multiply-adds (one broadcast per
// multiply-add measured 54% of peak, load-bound).
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma only
// (native/sources.json); include nothing that could instantiate shared inline code.
#include <immintrin.h>

#include <cstdint>

namespace convkit {

namespace {

template <int kTaps, int kChannels>
void filter_row_taps(int64_t rows, int64_t cols, const float* x, int64_t x_row_stride, int64_t x_pixel_stride,
                     const float* dy, int64_t dy_row_stride, float* sums, int64_t sums_channel_stride,
                     int64_t sums_tap_stride) {
  __m512 acc[kTaps][kChannels];
#pragma GCC unroll 3
  for (int t = 0; t < kTaps; ++t) {
#pragma GCC unroll 16
    for (int ci = 0; ci < kChannels; ++ci) acc[t][ci] = _mm512_loadu_ps(sums + t * sums_tap_stride + ci * sums_channel_stride);
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* x_pixel = x + r * x_row_stride;
    const float* dy_pixel = dy + r * dy_row_stride;
    for (int64_t q = 0; q < cols; ++q, x_pixel += x_pixel_stride, dy_pixel += 16) {
      __m512 gradient[kTaps];
#pragma GCC unroll 3
      for (int t = 0; t < kTaps; ++t) gradient[t] = _mm512_loadu_ps(dy_pixel - t * 16);
#pragma GCC unroll 16
      for (int ci = 0; ci < kChannels; ++ci) {
        const __m512 value = _mm512_set1_ps(x_pixel[ci]);
#pragma GCC unroll 3
        for (int t = 0; t < kTaps; ++t) acc[t][ci] = _mm512_fmadd_ps(value, gradient[t], acc[t][ci]);
      }
    }
  }
#pragma GCC unroll 3
  for (int t = 0; t < kTaps; ++t) {
#pragma GCC unroll 16
    for (int ci = 0; ci < kChannels; ++ci) _mm512_storeu_ps(sums + t * sums_tap_stride + ci * sums_channel_stride, acc[t][ci]);
  }
}

}  // namespace

// For t < taps (1 to 3), ci < channels (8, or 16 when taps is 1), o < 16:
//   sums[t * sums_tap_stride + ci * sums_channel_stride + o] += sum over r < rows, q < cols of
//     x[r * x_row_stride + q * x_pixel_stride + ci] * dy[r * dy_row_stride + (q - t) * 16 + o]
// dy holds 16 output channels per pixel, with rows padded so that every (q - t) is inside.
// A single tap takes 16 channels: with 8, its 8 accumulators would be just enough to
// cover the multiply-add latency, and one load of dy would serve only 8 of them.
void conv_filter_row__avx512(int taps, int channels, int64_t rows, int64_t cols, const float* x,
                             int64_t x_row_stride, int64_t x_pixel_stride, const float* dy, int64_t dy_row_stride,
                             float* sums, int64_t sums_channel_stride, int64_t sums_tap_stride) {
  if (taps == 1 && channels == 16) {
    filter_row_taps<1, 16>(rows, cols, x, x_row_stride, x_pixel_stride, dy, dy_row_stride, sums, sums_channel_stride,
                           sums_tap_stride);
    return;
  }
  switch (taps) {
    case 1:
      filter_row_taps<1, 8>(rows, cols, x, x_row_stride, x_pixel_stride, dy, dy_row_stride, sums, sums_channel_stride,
                            sums_tap_stride);
      break;
    case 2:
      filter_row_taps<2, 8>(rows, cols, x, x_row_stride, x_pixel_stride, dy, dy_row_stride, sums, sums_channel_stride,
                            sums_tap_stride);
      break;
    default:
      filter_row_taps<3, 8>(rows, cols, x, x_row_stride, x_pixel_stride, dy, dy_row_stride, sums, sums_channel_stride,
                            sums_tap_stride);
      break;
  }
}

}  // namespace convkit
