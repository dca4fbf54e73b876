// AVX-512 micro-kernels of the planar direct convolution (conv2d_planar.h): vectors run
// along output pixels, so layers with few output channels still fill every lane.
// Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma only
// (native/sources.json); include nothing that could instantiate shared inline code.
#include <immintrin.h>

#include <cstdint>

namespace convkit {

namespace {

// r[o] holds channel o of 16 pixels; writes pixel i's 8 channels to out[i * 8]. A 8x16
// transpose in three rounds of shuffles: pairs of channels interleaved, then groups of
// four channels per pixel, then the two 128-bit halves of each pixel brought together.
inline void store_transposed_8x16(const __m512 r[8], float* out) {
  __m512 t[8], u[8];
#pragma GCC unroll 4
  for (int k = 0; k < 4; ++k) {
    t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);      // r0[0] r1[0] r0[1] r1[1] per 128 bits
    t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);  // r0[2] r1[2] r0[3] r1[3]
  }
#pragma GCC unroll 2
  for (int h = 0; h < 2; ++h) {  // channels 4h .. 4h + 3
    const __m512 lo = t[4 * h], hi = t[4 * h + 1], lo2 = t[4 * h + 2], hi2 = t[4 * h + 3];
    u[4 * h + 0] = _mm512_shuffle_ps(lo, lo2, _MM_SHUFFLE(1, 0, 1, 0));  // pixel 4L + 0
    u[4 * h + 1] = _mm512_shuffle_ps(lo, lo2, _MM_SHUFFLE(3, 2, 3, 2));  // pixel 4L + 1
    u[4 * h + 2] = _mm512_shuffle_ps(hi, hi2, _MM_SHUFFLE(1, 0, 1, 0));  // pixel 4L + 2
    u[4 * h + 3] = _mm512_shuffle_ps(hi, hi2, _MM_SHUFFLE(3, 2, 3, 2));  // pixel 4L + 3
  }
  // u[m] lane L: channels 0-3 of pixel 4L + m; u[4 + m] lane L: channels 4-7.
#pragma GCC unroll 4
  for (int m = 0; m < 4; ++m) {
    const __m512 low = _mm512_shuffle_f32x4(u[m], u[4 + m], _MM_SHUFFLE(1, 0, 1, 0));   // lanes 0, 1 of each
    const __m512 high = _mm512_shuffle_f32x4(u[m], u[4 + m], _MM_SHUFFLE(3, 2, 3, 2));  // lanes 2, 3 of each
    const __m512 pixels_m_4m = _mm512_shuffle_f32x4(low, low, _MM_SHUFFLE(3, 1, 2, 0));
    const __m512 pixels_8m_12m = _mm512_shuffle_f32x4(high, high, _MM_SHUFFLE(3, 1, 2, 0));
    _mm256_storeu_ps(out + (m + 0) * 8, _mm512_castps512_ps256(pixels_m_4m));
    _mm256_storeu_ps(out + (m + 4) * 8, _mm512_extractf32x8_ps(pixels_m_4m, 1));
    _mm256_storeu_ps(out + (m + 8) * 8, _mm512_castps512_ps256(pixels_8m_12m));
    _mm256_storeu_ps(out + (m + 12) * 8, _mm512_extractf32x8_ps(pixels_8m_12m, 1));
  }
}

// r[i] holds 16 floats of row i; afterwards r[j] holds column j. Four rounds: pairs of
// rows interleaved, 4x4 blocks within each 128-bit lane, then lanes gathered twice.
inline void transpose_16x16(__m512 r[16]) {
  __m512 t[16];
#pragma GCC unroll 8
  for (int k = 0; k < 8; ++k) {
    t[2 * k] = _mm512_unpacklo_ps(r[2 * k], r[2 * k + 1]);      // per lane: r0[0] r1[0] r0[1] r1[1]
    t[2 * k + 1] = _mm512_unpackhi_ps(r[2 * k], r[2 * k + 1]);  // r0[2] r1[2] r0[3] r1[3]
  }
  // u[4q + m] lane L: column 4L + m of rows 4q .. 4q + 3.
#pragma GCC unroll 4
  for (int q = 0; q < 4; ++q) {
    r[4 * q + 0] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * q + 1] = _mm512_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
    r[4 * q + 2] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
    r[4 * q + 3] = _mm512_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  // t[m] (rows 0-7) and t[8 + m] (rows 8-15): lanes 0, 2 of lanes 0, 2 (columns m, 8 + m)
  // and t[4 + m], t[12 + m]: lanes 1, 3 (columns 4 + m, 12 + m), for m < 4.
#pragma GCC unroll 4
  for (int m = 0; m < 4; ++m) {
    t[m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0x88);
    t[4 + m] = _mm512_shuffle_f32x4(r[m], r[4 + m], 0xdd);
    t[8 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0x88);
    t[12 + m] = _mm512_shuffle_f32x4(r[8 + m], r[12 + m], 0xdd);
  }
#pragma GCC unroll 4
  for (int m = 0; m < 4; ++m) {
    r[m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0x88);           // column m
    r[8 + m] = _mm512_shuffle_f32x4(t[m], t[8 + m], 0xdd);       // column 8 + m
    r[4 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0x88);  // column 4 + m
    r[12 + m] = _mm512_shuffle_f32x4(t[4 + m], t[12 + m], 0xdd); // column 12 + m
  }
}

// Channels [0, c) of 16 pixels (n valid) with fewer than 16 channels: their n*c floats are
// contiguous, so c vector loads hold them all, and channel ci of pixel i (float i*c + ci)
// is picked out of the pair of vectors holding it by a two-source permute. (A gather with
// a stride-c index would be one instruction per channel, but gathers run as microcode on
// this host: they measured slower than the scalar loop.)
void small_channels_to_planes(const float* block, int n, int c, float* planes, int64_t plane, __mmask16 mask) {
  __m512 v[16];  // c < 16 loads, and v[c] a zero partner
  const int total = n * c;
  for (int j = 0; j < c; ++j) {
    const int left = total - 16 * j;
    const __mmask16 m = left >= 16 ? static_cast<__mmask16>(0xffff)
                        : left > 0  ? static_cast<__mmask16>((1u << left) - 1)
                                    : static_cast<__mmask16>(0);
    v[j] = _mm512_maskz_loadu_ps(m, block + 16 * j);
  }
  v[c] = _mm512_setzero_ps();  // the partner of the last vector when c is odd
  const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i lanes_times_c = _mm512_mullo_epi32(lanes, _mm512_set1_epi32(c));
  const __m512i low5 = _mm512_set1_epi32(31);
  for (int ci = 0; ci < c; ++ci) {
    const __m512i index = _mm512_add_epi32(lanes_times_c, _mm512_set1_epi32(ci));  // float i*c + ci
    const __m512i pair = _mm512_srli_epi32(index, 5);                              // its pair of vectors
    const __m512i within = _mm512_and_si512(index, low5);                          // and place in the pair
    __m512 out = _mm512_setzero_ps();
    for (int p = 0; 2 * p < c; ++p) {
      const __mmask16 from_pair = _mm512_cmpeq_epi32_mask(pair, _mm512_set1_epi32(p));
      out = _mm512_mask_mov_ps(out, from_pair, _mm512_permutex2var_ps(v[2 * p], within, v[2 * p + 1]));
    }
    _mm512_mask_storeu_ps(planes + ci * plane, mask, out);
  }
}

}  // namespace

// planes[ci * plane + i] = pixels[i * c + ci] for i < count and ci < c: one row of an NHWC
// image (or dy) into its planar copy, 16 pixels at a time. Whole blocks of 16 channels go
// through a register transpose (contiguous 64-byte loads and stores instead of a strided
// load per float); fewer than 16 channels (LeNet's 6) through permutes; the channels left
// over past whole blocks (c > 16 and not a multiple of 16) one float at a time.
void conv_planar_transpose_row__avx512(const float* pixels, int count, int c, float* planes, int64_t plane) {
  const int whole = c / 16 * 16;
  for (int i0 = 0; i0 < count; i0 += 16) {
    const int n = count - i0 < 16 ? count - i0 : 16;
    const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
    const float* block = pixels + static_cast<int64_t>(i0) * c;
    if (c < 16) {
      small_channels_to_planes(block, n, c, planes + i0, plane, mask);
      continue;
    }
    for (int cb = 0; cb < whole; cb += 16) {
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i) {
        r[i] = i < n ? _mm512_loadu_ps(block + static_cast<int64_t>(i) * c + cb) : _mm512_setzero_ps();
      }
      transpose_16x16(r);
#pragma GCC unroll 16
      for (int j = 0; j < 16; ++j) _mm512_mask_storeu_ps(planes + (cb + j) * plane + i0, mask, r[j]);
    }
    for (int ci = whole; ci < c; ++ci) {
      for (int i = 0; i < n; ++i) planes[ci * plane + i0 + i] = block[static_cast<int64_t>(i) * c + ci];
    }
  }
}

// For 48 pixels i (grid pixels q0 + i) and 8 channels o: sum over t < taps of
// p[i + offsets[t]] * w[t * 8 + o], plus bias[o] and then max(., 0) when relu (bias may
// be null: no epilogue). 24 accumulators; per tap three unaligned pixel loads, eight
// weight broadcasts and 24 FMAs (about two FMAs per load, which this core needs to keep
// both FMA ports busy). The first `channels` of each pixel q = oy*wp + ox with ox < ow
// are written to out[(oy*ow + ox) * pixel_stride + o]; the grid's slack columns are not.
void conv_planar_forward_48x8__avx512(int64_t taps, const float* p, const int32_t* offsets, const float* w,
                                      const float* bias, bool relu, int64_t q0, int pixels, int wp, int ow,
                                      int channels, int64_t pixel_stride, float* out) {
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
      __m512 weight = _mm512_set1_ps(w[o]);
      __asm__("" : "+v"(weight));  // one broadcast into a register, not one per FMA (see below)
      acc[o][0] = _mm512_fmadd_ps(v0, weight, acc[o][0]);
      acc[o][1] = _mm512_fmadd_ps(v1, weight, acc[o][1]);
      acc[o][2] = _mm512_fmadd_ps(v2, weight, acc[o][2]);
    }
  }
  if (bias != nullptr) {
    const __m512 zero = _mm512_setzero_ps();
#pragma GCC unroll 8
    for (int o = 0; o < 8; ++o) {
      const __m512 b = _mm512_set1_ps(bias[o]);
#pragma GCC unroll 3
      for (int j = 0; j < 3; ++j) {
        acc[o][j] = _mm512_add_ps(acc[o][j], b);
        // max(v, 0) returns its second operand for NaN and for -0: v > 0 ? v : +0.
        if (relu) acc[o][j] = _mm512_max_ps(acc[o][j], zero);
      }
    }
  }
  // Transposed in registers to pixel-major rows of 8 channels, then copied row segment by
  // row segment with one masked 8-channel store per pixel.
  alignas(64) float tile[48 * 8];
#pragma GCC unroll 3
  for (int j = 0; j < 3; ++j) {
    const __m512 block[8] = {acc[0][j], acc[1][j], acc[2][j], acc[3][j], acc[4][j], acc[5][j], acc[6][j], acc[7][j]};
    store_transposed_8x16(block, tile + j * 16 * 8);
  }
  const __mmask8 mask = static_cast<__mmask8>((1u << channels) - 1);
  int64_t oy = q0 / wp;
  int ox = static_cast<int>(q0 % wp);
  for (int i = 0; i < pixels; ++oy, ox = 0) {
    // Pixels of this grid row in the tile, and those of them inside the output (plain
    // ternaries: std::min here could instantiate a shared inline with AVX-512 code).
    const int run = wp - ox < pixels - i ? wp - ox : pixels - i;
    const int valid = ow - ox < run ? (ow - ox > 0 ? ow - ox : 0) : run;
    float* dst = out + (oy * ow + ox) * pixel_stride;
    const float* src = tile + i * 8;
    for (int k = 0; k < valid; ++k) _mm256_mask_storeu_ps(dst + k * pixel_stride, mask, _mm256_load_ps(src + k * 8));
    i += run;
  }
}

// sums[t * 8 + o] += sum over images b < images and pixels i < pixels of
// p[b * p_stride + i + offsets[t]] * dy[b * dy_stride + o * ld + i], for 3 taps t and 8
// channels o; pixels is a multiple of 16. 24 vector accumulators, kept across all the
// images and reduced once at the end in a fixed order; per 16 pixels 3 + 8 loads and 24
// FMAs.
void conv_planar_filter_3x8__avx512(int64_t pixels, int64_t images, int64_t p_stride, const float* p,
                                    const int32_t* offsets, int64_t dy_stride, int64_t ld, const float* dy,
                                    float* sums) {
  __m512 acc[3][8];
#pragma GCC unroll 3
  for (int t = 0; t < 3; ++t) {
#pragma GCC unroll 8
    for (int o = 0; o < 8; ++o) acc[t][o] = _mm512_setzero_ps();
  }
  for (int64_t b = 0; b < images; ++b, p += p_stride, dy += dy_stride) {
    const float* p0 = p + offsets[0];
    const float* p1 = p + offsets[1];
    const float* p2 = p + offsets[2];
    for (int64_t i = 0; i < pixels; i += 16) {
      const __m512 v0 = _mm512_loadu_ps(p0 + i);
      const __m512 v1 = _mm512_loadu_ps(p1 + i);
      const __m512 v2 = _mm512_loadu_ps(p2 + i);
#pragma GCC unroll 8
      for (int o = 0; o < 8; ++o) {
        __m512 g = _mm512_loadu_ps(dy + o * ld + i);
        // Keep g in a register: folded into each FMA as a memory operand it would be
        // loaded three times, and the loads, not the FMAs, would set the pace.
        __asm__("" : "+v"(g));
        acc[0][o] = _mm512_fmadd_ps(v0, g, acc[0][o]);
        acc[1][o] = _mm512_fmadd_ps(v1, g, acc[1][o]);
        acc[2][o] = _mm512_fmadd_ps(v2, g, acc[2][o]);
      }
    }
  }
#pragma GCC unroll 3
  for (int t = 0; t < 3; ++t) {
#pragma GCC unroll 8
    for (int o = 0; o < 8; ++o) sums[t * 8 + o] += _mm512_reduce_add_ps(acc[t][o]);
  }
}

}  // namespace convkit
