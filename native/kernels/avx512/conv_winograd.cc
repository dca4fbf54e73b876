// AVX-512 tile transforms of the Winograd F(2x2, 3x3) convolution (conv2d_winograd.h),
// channels in the vector lanes. Compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mfma only (native/sources.json); include nothing that could instantiate shared inline
// code.
#include <immintrin.h>

#include <cstdint>

namespace convkit {

namespace {

constexpr int kLanes = 16;

// Lanes [0, count) of a vector, count <= 16.
inline __mmask16 lane_mask(int count) { return static_cast<__mmask16>((1u << count) - 1u); }

}  // namespace

// V = B^T d B for `tiles` tiles side by side: tile t's 4x4 input patch starts at
// patch + t*2*channels (its rows row_stride floats apart, its pixels channels floats
// apart). Element xi = 4*i + j of tile t, channel c, goes to
// v[xi*v_stride + t*tile_stride + (c / panel_width)*panel_stride + c % panel_width]: rows
// of c floats for the forward GEMM's A (tile_stride = panel_width = channels), or
// panels of 32 channels for the filter gradient's B. panel_width is a multiple of 16, or
// at least channels.
// B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1].
void winograd_input_tiles__avx512(const float* patch, int64_t row_stride, int channels, int tiles, float* v,
                                  int64_t v_stride, int64_t tile_stride, int panel_width, int64_t panel_stride) {
  for (int t = 0; t < tiles; ++t) {
    const float* tile_patch = patch + static_cast<int64_t>(t) * 2 * channels;
    float* tile_v = v + static_cast<int64_t>(t) * tile_stride;
    for (int c = 0; c < channels; c += kLanes) {
      const __mmask16 mask = lane_mask(channels - c < kLanes ? channels - c : kLanes);
      __m512 d[4][4];
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {
#pragma GCC unroll 4
        for (int j = 0; j < 4; ++j) {
          d[i][j] = _mm512_maskz_loadu_ps(mask, tile_patch + i * row_stride + j * channels + c);
        }
      }
      __m512 r[4][4];  // B^T d: combinations of the patch's rows
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) {
        r[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
        r[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
        r[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
        r[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
      }
      float* channel_v = tile_v + (c / panel_width) * panel_stride + c % panel_width;
#pragma GCC unroll 4
      for (int i = 0; i < 4; ++i) {  // then of its columns
        float* out = channel_v + 4 * i * v_stride;
        _mm512_mask_storeu_ps(out, mask, _mm512_sub_ps(r[i][0], r[i][2]));
        _mm512_mask_storeu_ps(out + v_stride, mask, _mm512_add_ps(r[i][1], r[i][2]));
        _mm512_mask_storeu_ps(out + 2 * v_stride, mask, _mm512_sub_ps(r[i][2], r[i][1]));
        _mm512_mask_storeu_ps(out + 3 * v_stride, mask, _mm512_sub_ps(r[i][1], r[i][3]));
      }
    }
  }
}

// The filter gradient's transform of one tile of dy: D = A dY A^T, the 4x4 gradient of M
// from the 2x2 gradient of Y. Pixel (i, j) of dY is dy[i*dy_row_stride + j*channels + c]
// for i < rows, j < cols, zero past them (pixels past the output's edge); element xi of D
// goes to d[xi*d_stride + c]. A = [1 0; 1 1; 1 -1; 0 -1].
void winograd_gradient_tile__avx512(const float* dy, int64_t dy_row_stride, int channels, int rows, int cols,
                                    float* d, int64_t d_stride) {
  for (int c = 0; c < channels; c += kLanes) {
    const __mmask16 mask = lane_mask(channels - c < kLanes ? channels - c : kLanes);
    __m512 g[2][2];
#pragma GCC unroll 2
    for (int i = 0; i < 2; ++i) {
#pragma GCC unroll 2
      for (int j = 0; j < 2; ++j) {
        g[i][j] = i < rows && j < cols ? _mm512_maskz_loadu_ps(mask, dy + i * dy_row_stride + j * channels + c)
                                       : _mm512_setzero_ps();
      }
    }
    __m512 r[4][2];  // A dY
#pragma GCC unroll 2
    for (int j = 0; j < 2; ++j) {
      r[0][j] = g[0][j];
      r[1][j] = _mm512_add_ps(g[0][j], g[1][j]);
      r[2][j] = _mm512_sub_ps(g[0][j], g[1][j]);
      r[3][j] = _mm512_sub_ps(_mm512_setzero_ps(), g[1][j]);
    }
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {  // (A dY) A^T
      float* out = d + 4 * i * d_stride + c;
      _mm512_mask_storeu_ps(out, mask, r[i][0]);
      _mm512_mask_storeu_ps(out + d_stride, mask, _mm512_add_ps(r[i][0], r[i][1]));
      _mm512_mask_storeu_ps(out + 2 * d_stride, mask, _mm512_sub_ps(r[i][0], r[i][1]));
      _mm512_mask_storeu_ps(out + 3 * d_stride, mask, _mm512_sub_ps(_mm512_setzero_ps(), r[i][1]));
    }
  }
}

// Y = A^T M A for one tile: element xi of M at m[xi*m_stride + c], the 2x2 output pixel
// (i, j) to out[i*out_row_stride + j*channels + c] for i < rows, j < cols, plus bias[c]
// and then relu when bias is given. A^T = [1 1 1 0; 0 1 -1 -1].
void winograd_output_tile__avx512(const float* m, int64_t m_stride, int channels, const float* bias, bool relu,
                                  int rows, int cols, float* out, int64_t out_row_stride) {
  for (int c = 0; c < channels; c += kLanes) {
    const __mmask16 mask = lane_mask(channels - c < kLanes ? channels - c : kLanes);
    __m512 e[4][4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) e[i][j] = _mm512_maskz_loadu_ps(mask, m + (4 * i + j) * m_stride + c);
    }
    __m512 s[2][4];  // A^T M: combinations of M's rows
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      s[0][j] = _mm512_add_ps(_mm512_add_ps(e[0][j], e[1][j]), e[2][j]);
      s[1][j] = _mm512_sub_ps(_mm512_sub_ps(e[1][j], e[2][j]), e[3][j]);
    }
    const __m512 shift = bias != nullptr ? _mm512_maskz_loadu_ps(mask, bias + c) : _mm512_setzero_ps();
#pragma GCC unroll 2
    for (int i = 0; i < 2; ++i) {  // then of its columns
      if (i >= rows) break;
      __m512 y[2];
      y[0] = _mm512_add_ps(_mm512_add_ps(s[i][0], s[i][1]), s[i][2]);
      y[1] = _mm512_sub_ps(_mm512_sub_ps(s[i][1], s[i][2]), s[i][3]);
#pragma GCC unroll 2
      for (int j = 0; j < 2; ++j) {
        if (j >= cols) break;
        __m512 value = y[j];
        if (bias != nullptr) {
          value = _mm512_add_ps(value, shift);
          if (relu) value = _mm512_max_ps(value, _mm512_setzero_ps());
        }
        _mm512_mask_storeu_ps(out + i * out_row_stride + j * channels + c, mask, value);
      }
    }
  }
}

}  // namespace convkit
