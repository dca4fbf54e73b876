// The geometry the stride-1 conv paths (conv2d_implicit.cc, conv2d_planar.cc) share: one
// convolution with unit strides, and the two filters they run, the forward one and the
// input gradient's mirror image.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels.h"

namespace convkit {

// Per-thread scratch (floats) either stride-1 path may use; past it, large images go
// through im2col, whose chunks are bounded.
constexpr int64_t kMaxScratchFloats = int64_t{1} << 24;

// A stride-1 convolution of `input` [n, h, w, c] with taps (ky, kx) at rows
// oy + ky*dh - pad_top and columns ox + kx*dw - pad_left, into output [n, oh, ow, oc].
// Paddings may be negative (a crop), which the input gradient's mirrored geometry needs.
struct Stride1Conv {
  int n, h, w, c;
  int oc, kh, kw, dh, dw;
  int pad_top, pad_left;
  int oh, ow;
};

// The forward convolution of s (stride 1).
inline Stride1Conv stride1_forward(const Conv2dShape& s) {
  return Stride1Conv{s.n,          s.h,          s.w,          s.c,        s.oc,     s.kh, s.kw,
                     s.dilation_h, s.dilation_w, s.pad_top,    s.pad_left, s.oh,     s.ow};
}

// The input gradient of s (stride 1) as a convolution of dy: dx[iy, ix, ci] = sum over
// (ky', kx', o) of dy[iy + ky'*dh - pad_top', ix + kx'*dw - pad_left', o] *
// w[kh-1-ky', kw-1-kx', ci, o], padded by the kernel's extent less the forward padding.
inline Stride1Conv stride1_input_gradient(const Conv2dShape& s) {
  return Stride1Conv{s.n,
                     s.oh,
                     s.ow,
                     s.oc,
                     s.c,
                     s.kh,
                     s.kw,
                     s.dilation_h,
                     s.dilation_w,
                     (s.kh - 1) * s.dilation_h - s.pad_top,
                     (s.kw - 1) * s.dilation_w - s.pad_left,
                     s.h,
                     s.w};
}

// dst[i*dst_stride + j] = src[i*src_stride + j] for i < count, j < Width.
template <int Width>
inline void copy_pixels_fixed(const float* __restrict src, int64_t src_stride, int64_t count, float* __restrict dst,
                              int64_t dst_stride) {
  for (int64_t i = 0; i < count; ++i, src += src_stride, dst += dst_stride) {
    for (int j = 0; j < Width; ++j) dst[j] = src[j];
  }
}

// The same for a width known only at run time. A plain loop per pixel is what GCC turns
// into one memmove call per pixel, which for a pixel's few floats (3 in an RGB image)
// costs several times the copy: the widths the layers here have are unrolled instead.
inline void copy_pixels(const float* __restrict src, int64_t src_stride, int64_t count, int width,
                        float* __restrict dst, int64_t dst_stride) {
  switch (width) {
    case 1:
      return copy_pixels_fixed<1>(src, src_stride, count, dst, dst_stride);
    case 2:
      return copy_pixels_fixed<2>(src, src_stride, count, dst, dst_stride);
    case 3:
      return copy_pixels_fixed<3>(src, src_stride, count, dst, dst_stride);
    case 4:
      return copy_pixels_fixed<4>(src, src_stride, count, dst, dst_stride);
    case 8:
      return copy_pixels_fixed<8>(src, src_stride, count, dst, dst_stride);
    case 16:
      return copy_pixels_fixed<16>(src, src_stride, count, dst, dst_stride);
    case 32:
      return copy_pixels_fixed<32>(src, src_stride, count, dst, dst_stride);
    default:
      for (int64_t i = 0; i < count; ++i, src += src_stride, dst += dst_stride) {
        std::memcpy(dst, src, sizeof(float) * width);
      }
  }
}

// dst[i*dst_stride + j] = 0 for i < count, j < width.
inline void zero_pixels(int64_t count, int width, float* __restrict dst, int64_t dst_stride) {
  static const float kZeros[64] = {};
  for (int64_t done = 0; done < width; done += 64) {
    copy_pixels(kZeros, 0, count, static_cast<int>(std::min<int64_t>(64, width - done)), dst + done, dst_stride);
  }
}

// dst[j] = src[j * src_stride] for j < count, plus bias[j] and then relu when the
// epilogue has a bias: how the stride-1 paths write a pixel's channels out of a tile.
inline void store_pixel(int count, const float* __restrict src, int src_stride, const ConvEpilogue& epilogue,
                        int channel0, float* __restrict dst) {
  if (epilogue.bias == nullptr) {
    // (With stride 1 the loop below would be a memmove call per pixel: 7% of a 3 -> 32
    // forward conv with no bias.)
    if (src_stride == 1) return copy_pixels(src, count, 1, count, dst, count);
    for (int j = 0; j < count; ++j) dst[j] = src[j * src_stride];
    return;
  }
  const float* __restrict bias = epilogue.bias + channel0;
  if (epilogue.relu) {
    for (int j = 0; j < count; ++j) {
      const float value = src[j * src_stride] + bias[j];
      dst[j] = value > 0.0f ? value : 0.0f;
    }
  } else {
    for (int j = 0; j < count; ++j) dst[j] = src[j * src_stride] + bias[j];
  }
}

// Filter element (ky, kx, ci, o) of the forward convolution.
struct ForwardWeight {
  const float* w;  // [kh, kw, c, oc]
  int kw, c, oc;
  float operator()(int ky, int kx, int ci, int o) const {
    return w[((static_cast<int64_t>(ky) * kw + kx) * c + ci) * oc + o];
  }
};

// The input gradient's filter: w rotated 180 degrees, its channel axes swapped.
struct MirroredWeight {
  const float* w;  // the forward filter [kh, kw, c, oc]; here ci runs over oc and o over c
  int kh, kw, c, oc;
  float operator()(int ky, int kx, int ci, int o) const {
    return w[((static_cast<int64_t>(kh - 1 - ky) * kw + (kw - 1 - kx)) * c + o) * oc + ci];
  }
};

}  // namespace convkit
