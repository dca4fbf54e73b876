// conv2d as GEMM: the pieces the three conv2d kernels share. Per group g, with P output
// pixels (n*oh*ow, NHWC order) and K = kh*kw*Cg taps (w's [kh,kw,Cg] order):
//   forward          y_g[P, OCg]  = columns_g[P, K] * w_g[K, OCg]
//   backward input   dx          += col2im(dy_g[P, OCg] * w_g^T)
//   backward filter  dw_g[K, OCg] = columns_g^T * dy_g
// where columns_g is the im2col matrix (zero where a tap falls in padding). Pixels are
// processed in chunks, so the columns workspace stays near L2 size.
#pragma once

#include <cstdint>

#include "kernels.h"

namespace convkit {

struct ConvLowering {
  int group_in;          // Cg
  int group_out;         // OCg
  int depth;             // K = kh * kw * Cg
  int64_t pixels;        // P = n * oh * ow
  int64_t image_pixels;  // oh * ow
  // 1x1, stride 1, no padding: the im2col matrix of group g is x itself (row stride c).
  bool pointwise;
};

ConvLowering conv_lowering(const Conv2dShape& s);

// Whether the GEMM lowering beats the direct loops: not for depthwise-like shapes, where
// each group's GEMM is a sliver (few input or output channels per group).
bool conv_prefers_gemm(const Conv2dShape& s);

// Pixels per chunk: about kChunkFloats of im2col rows, at least a few micro-tiles.
int64_t conv_chunk_pixels(const ConvLowering& lowering);

// Walks output pixels [begin, end) in NHWC order, calling visit(row, image, oy, ox) with
// row = pixel - begin; one division for the whole range, not one per pixel.
template <typename Visit>
void for_each_pixel(const Conv2dShape& s, int64_t begin, int64_t end, const Visit& visit) {
  const int64_t image_pixels = static_cast<int64_t>(s.oh) * s.ow;
  int image = static_cast<int>(begin / image_pixels);
  const int64_t within = begin % image_pixels;
  int oy = static_cast<int>(within / s.ow), ox = static_cast<int>(within % s.ow);
  for (int64_t row = 0; row < end - begin; ++row) {
    visit(row, image, oy, ox);
    if (++ox == s.ow) {
      ox = 0;
      if (++oy == s.oh) oy = 0, ++image;
    }
  }
}

// Rows [pixel_begin, pixel_end) of columns_g into `columns` (row stride K).
void im2col_rows(const Conv2dShape& s, const float* x, int group, int64_t pixel_begin, int64_t pixel_end,
                 float* columns);

// The adjoint: adds rows [pixel_begin, pixel_end) of a columns_g gradient into dx.
void col2im_rows_add(const Conv2dShape& s, const float* columns, int group, int64_t pixel_begin, int64_t pixel_end,
                     float* dx);

}  // namespace convkit
