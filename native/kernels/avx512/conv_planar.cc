// AVX-512 micro-kernels of the planar direct convolution (conv2d_planar.h): vectors run
// along output pixels, so layers with few output channels still fill every lane.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma only
// (native/sources.json); include nothing that could instantiate shared inline code.
#include <immintrin.h>

#include <cstdint>

namespace convkit {

// out[o * 48 + i] = sum over t < taps of p[i + offsets[t]] * w[t * 8 + o], for 48 pixels
// i and 8 channels o: 24 accumulators; per tap three unaligned pixel loads, eight weight
// broadcasts and 24 FMAs (about two FMAs per load, which this core needs to keep both FMA
// ports busy).
void conv_planar_forward_48x8__avx512(int64_t taps, const float* p, const int32_t* offsets, const float* w,
                                      float* out) {
  __m512 acc[8][3];
#pragma GCC unroll 8
  for (int o = 0; o < 8; ++o) acc[o][0] = acc[o][1] = acc[o][2] = _mm512_setzero_ps();
  for (int64_t t = 0; t < taps; ++t, w += 8) {
    const float* pixels = p + offsets[t];
    const __m512 v0 = _mm512_loadu_ps(pixels);
    const __m512 v1 = _mm512_loadu_ps(pixels + 16);
    const __m512 v2 = _mm512_loadu_ps(pixels + 32);
#pragma GCC unroll 8
    for (int o = 0; o < 8; ++o) {
      const __m512 weight = _mm512_set1_ps(w[o]);
      acc[o][0] = _mm512_fmadd_ps(v0, weight, acc[o][0]);
      acc[o][1] = _mm512_fmadd_ps(v1, weight, acc[o][1]);
      acc[o][2] = _mm512_fmadd_ps(v2, weight, acc[o][2]);
    }
  }
#pragma GCC unroll 8
  for (int o = 0; o < 8; ++o) {
    _mm512_storeu_ps(out + o * 48, acc[o][0]);
    _mm512_storeu_ps(out + o * 48 + 16, acc[o][1]);
    _mm512_storeu_ps(out + o * 48 + 32, acc[o][2]);
  }
}

// sums[t * 8 + o] += sum over i < pixels of p[i + offsets[t]] * dy[o * ld + i], for 3 taps t
// and 8 channels o; pixels is a multiple of 16. 24 vector accumulators, reduced once at
// the end in a fixed order; per 16 pixels 3 + 8 loads and 24 FMAs.
void conv_planar_filter_3x8__avx512(int64_t pixels, const float* p, const int32_t* offsets, const float* dy,
                                    int64_t ld, float* sums) {
  __m512 acc[3][8];
#pragma GCC unroll 3
  for (int t = 0; t < 3; ++t) {
#pragma GCC unroll 8
    for (int o = 0; o < 8; ++o) acc[t][o] = _mm512_setzero_ps();
  }
  const float* p0 = p + offsets[0];
  const float* p1 = p + offsets[1];
  const float* p2 = p + offsets[2];
  for (int64_t i = 0; i < pixels; i += 16) {
    const __m512 v0 = _mm512_loadu_ps(p0 + i);
    const __m512 v1 = _mm512_loadu_ps(p1 + i);
    const __m512 v2 = _mm512_loadu_ps(p2 + i);
#pragma GCC unroll 8
    for (int o = 0; o < 8; ++o) {
      const __m512 g = _mm512_loadu_ps(dy + o * ld + i);
      acc[0][o] = _mm512_fmadd_ps(v0, g, acc[0][o]);
      acc[1][o] = _mm512_fmadd_ps(v1, g, acc[1][o]);
      acc[2][o] = _mm512_fmadd_ps(v2, g, acc[2][o]);
    }
  }
#pragma GCC unroll 3
  for (int t = 0; t < 3; ++t) {
#pragma GCC unroll 8
    for (int o = 0; o < 8; ++o) sums[t * 8 + o] += _mm512_reduce_add_ps(acc[t][o]);
  }
}

}  // namespace convkit
