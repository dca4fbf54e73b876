#include "conv2d_im2col.h"

#include <algorithm>
#include <cstring>

#include "cpu.h"

namespace convkit {

#if defined(__x86_64__) || defined(_M_X64)
// native/kernels/avx512/col2im.cc
void col2im_add_pixels__avx512(float* dx, int64_t row_step, int64_t pixel_step, int rows, const float* in,
                               int64_t depth, int tap_run, int count);
#endif
namespace {

// Target size of one chunk of im2col rows: with the packed blocks it stays within L2.
constexpr int64_t kChunkFloats = int64_t{1} << 17;
constexpr int64_t kMinChunkPixels = 64;

// Below this many floats a library call costs more than the copy (a first layer copies
// kw * c = 5 or 15 floats per kernel row).
constexpr int kShortCopy = 64;

#if defined(__GNUC__)
// Four floats at a time. The empty asm hides the loop's trip count from g++, which would
// otherwise turn the loop back into a memmove call: the very call this avoids.
typedef float Float4 __attribute__((vector_size(16), aligned(4), may_alias));
#define CONVKIT_OPAQUE(index) __asm__("" : "+r"(index))
#else
#define CONVKIT_OPAQUE(index)
#endif

inline void copy_floats(float* __restrict dst, const float* __restrict src, int count) {
  if (count >= kShortCopy) {
    std::memcpy(dst, src, sizeof(float) * count);
    return;
  }
  int i = 0;
#if defined(__GNUC__)
  for (; i + 4 <= count; i += 4) {
    CONVKIT_OPAQUE(i);
    *reinterpret_cast<Float4*>(dst + i) = *reinterpret_cast<const Float4*>(src + i);
  }
#endif
  for (; i < count; ++i) {
    CONVKIT_OPAQUE(i);
    dst[i] = src[i];
  }
}

inline void add_floats(float* __restrict dst, const float* __restrict src, int count) {
  for (int i = 0; i < count; ++i) dst[i] += src[i];
}

inline void fill_zero(float* __restrict dst, int count) {
  if (count >= kShortCopy) {
    std::memset(dst, 0, sizeof(float) * count);
    return;
  }
  for (int i = 0; i < count; ++i) {
    CONVKIT_OPAQUE(i);
    dst[i] = 0.0f;
  }
}

// Calls visit(first_row, count, image, oy, ox0) for each run of output pixels in
// [begin, end) that share an output row; rows are relative to begin.
template <typename Visit>
void for_each_row_run(const Conv2dShape& s, int64_t begin, int64_t end, const Visit& visit) {
  const int64_t image_pixels = static_cast<int64_t>(s.oh) * s.ow;
  for (int64_t pixel = begin; pixel < end;) {
    const int image = static_cast<int>(pixel / image_pixels);
    const int64_t within = pixel % image_pixels;
    const int oy = static_cast<int>(within / s.ow), ox0 = static_cast<int>(within % s.ow);
    const int count = static_cast<int>(std::min<int64_t>(s.ow - ox0, end - pixel));
    visit(pixel - begin, count, image, oy, ox0);
    pixel += count;
  }
}

// Kernel rows shorter than this many floats (a first layer's kw * c, such as 5 or 9) are
// gathered tap by tap across pixels instead of pixel by pixel: per-pixel copies that short
// cost more in loop overhead than in data.
constexpr int kShortTapRun = 16;

// Output pixels ox0 + r, r in [0, count), whose tap at offset `tap` (= kx * dilation_w)
// falls inside [0, w): the range [*first, *last).
inline void pixels_inside(int count, int ox0, int tap, int w, int stride_w, int pad_left, int* first, int* last) {
  // ix = (ox0 + r) * stride_w - pad_left + tap, and 0 <= ix < w.
  const int low = pad_left - tap - ox0 * stride_w;  // r * stride_w >= low
  const int high = w + pad_left - tap - ox0 * stride_w;  // r * stride_w < high
  *first = low <= 0 ? 0 : (low + stride_w - 1) / stride_w;
  *last = high <= 0 ? 0 : (high + stride_w - 1) / stride_w;
  *first = std::min(*first, count);
  *last = std::max(*first, std::min(*last, count));
}

// im2col_kernel_row for short kernel rows: one tap (kx, ci) at a time across the pixels.
void im2col_kernel_row_by_tap(float* __restrict out, int depth, const float* __restrict x_row, int count, int ox0,
                              int w, int c, int group_in, int kw, int stride_w, int dilation_w, int pad_left) {
  const int64_t x_step = static_cast<int64_t>(stride_w) * c;
  for (int kx = 0; kx < kw; ++kx) {
    int first = 0, last = 0;
    pixels_inside(count, ox0, kx * dilation_w, w, stride_w, pad_left, &first, &last);
    for (int ci = 0; ci < group_in; ++ci) {
      float* __restrict column = out + kx * group_in + ci;
      for (int r = 0; r < first; ++r) column[static_cast<int64_t>(r) * depth] = 0.0f;
      const float* __restrict src =
          x_row + (static_cast<int64_t>(ox0 + first) * stride_w - pad_left + kx * dilation_w) * c + ci;
      float* __restrict dst = column + static_cast<int64_t>(first) * depth;
#pragma GCC unroll 4
      for (int r = first; r < last; ++r, src += x_step, dst += depth) *dst = *src;
      for (int r = last; r < count; ++r) column[static_cast<int64_t>(r) * depth] = 0.0f;
    }
  }
}

// col2im_kernel_row for short kernel rows: one tap at a time across the pixels.
void col2im_kernel_row_by_tap(float* __restrict dx_row, const float* __restrict in, int depth, int count, int ox0,
                              int w, int c, int group_in, int kw, int stride_w, int dilation_w, int pad_left) {
  const int64_t x_step = static_cast<int64_t>(stride_w) * c;
  for (int kx = 0; kx < kw; ++kx) {
    int first = 0, last = 0;
    pixels_inside(count, ox0, kx * dilation_w, w, stride_w, pad_left, &first, &last);
    for (int ci = 0; ci < group_in; ++ci) {
      const float* __restrict column = in + kx * group_in + ci;
      float* __restrict dst =
          dx_row + (static_cast<int64_t>(ox0 + first) * stride_w - pad_left + kx * dilation_w) * c + ci;
      for (int r = first; r < last; ++r, dst += x_step) *dst += column[static_cast<int64_t>(r) * depth];
    }
  }
}

// One kernel row (ky) of `count` consecutive output pixels of one output row: out row r
// (stride depth) gets the kw taps of pixel ox0 + r from x_row, zero where a tap falls
// outside [0, w). Scalars by value, so stores to `out` cannot make the compiler reload them.
void im2col_kernel_row(float* __restrict out, int depth, const float* __restrict x_row, int count, int ox0, int w,
                       int c, int group_in, int kw, int stride_w, int dilation_w, int pad_left) {
  const int tap_run = kw * group_in;
  if (tap_run < kShortTapRun) {
    im2col_kernel_row_by_tap(out, depth, x_row, count, ox0, w, c, group_in, kw, stride_w, dilation_w, pad_left);
    return;
  }
  const int window_w = (kw - 1) * dilation_w + 1;
  // With one group and no dilation, the taps of a kernel row are one contiguous run of x.
  const bool contiguous_taps = group_in == c && dilation_w == 1;
  for (int r = 0; r < count; ++r, out += depth) {
    const int ix_origin = (ox0 + r) * stride_w - pad_left;
    if (contiguous_taps && ix_origin >= 0 && ix_origin + window_w <= w) {
      copy_floats(out, x_row + static_cast<int64_t>(ix_origin) * c, tap_run);  // inside the image
      continue;
    }
    for (int kx = 0; kx < kw; ++kx) {
      const int ix = ix_origin + kx * dilation_w;
      if (ix < 0 || ix >= w) {
        fill_zero(out + kx * group_in, group_in);
      } else {
        copy_floats(out + kx * group_in, x_row + static_cast<int64_t>(ix) * c, group_in);
      }
    }
  }
}

// The adjoint of im2col_kernel_row: adds `in` rows back into dx_row.
void col2im_kernel_row(float* __restrict dx_row, const float* __restrict in, int depth, int count, int ox0, int w,
                       int c, int group_in, int kw, int stride_w, int dilation_w, int pad_left) {
  const int tap_run = kw * group_in;
  if (tap_run < kShortTapRun) {
    col2im_kernel_row_by_tap(dx_row, in, depth, count, ox0, w, c, group_in, kw, stride_w, dilation_w, pad_left);
    return;
  }
  const int window_w = (kw - 1) * dilation_w + 1;
  const bool contiguous_taps = group_in == c && dilation_w == 1;
  for (int r = 0; r < count; ++r, in += depth) {
    const int ix_origin = (ox0 + r) * stride_w - pad_left;
    if (contiguous_taps && ix_origin >= 0 && ix_origin + window_w <= w) {
      add_floats(dx_row + static_cast<int64_t>(ix_origin) * c, in, tap_run);
      continue;
    }
    for (int kx = 0; kx < kw; ++kx) {
      const int ix = ix_origin + kx * dilation_w;
      if (ix < 0 || ix >= w) continue;  // padding has no gradient
      add_floats(dx_row + static_cast<int64_t>(ix) * c, in + kx * group_in, group_in);
    }
  }
}

}  // namespace

ConvLowering conv_lowering(const Conv2dShape& s) {
  ConvLowering lowering;
  lowering.group_in = s.c / s.groups;
  lowering.group_out = s.oc / s.groups;
  lowering.depth = s.kh * s.kw * lowering.group_in;
  lowering.image_pixels = static_cast<int64_t>(s.oh) * s.ow;
  lowering.pixels = s.n * lowering.image_pixels;
  lowering.pointwise = s.kh == 1 && s.kw == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_top == 0 &&
                       s.pad_left == 0 && s.oh == s.h && s.ow == s.w;
  return lowering;
}

bool conv_prefers_gemm(const Conv2dShape& s) {
  const ConvLowering lowering = conv_lowering(s);
  return lowering.group_in >= 4 || (lowering.group_out >= 4 && lowering.depth >= 8);
}

int64_t conv_chunk_pixels(const ConvLowering& lowering) {
  const int64_t pixels = std::max(kMinChunkPixels, kChunkFloats / lowering.depth);
  return std::min(pixels, lowering.pixels);
}


void im2col_rows(const Conv2dShape& s, const float* x, int group, int64_t pixel_begin, int64_t pixel_end,
                 float* columns) {
  const int group_in = s.c / s.groups;
  const int depth = s.kh * s.kw * group_in;
  const int tap_run = s.kw * group_in;  // floats of one kernel row
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image_len = s.h * x_row_len;
  for_each_row_run(s, pixel_begin, pixel_end, [&](int64_t first_row, int count, int image, int oy, int ox0) {
    const float* x_image = x + image * x_image_len + group * group_in;
    const int iy_origin = oy * s.stride_h - s.pad_top;
    for (int ky = 0; ky < s.kh; ++ky) {
      float* out = columns + first_row * depth + ky * tap_run;
      const int iy = iy_origin + ky * s.dilation_h;
      if (iy < 0 || iy >= s.h) {
        for (int r = 0; r < count; ++r, out += depth) fill_zero(out, tap_run);
        continue;
      }
      im2col_kernel_row(out, depth, x_image + iy * x_row_len, count, ox0, s.w, s.c, group_in, s.kw, s.stride_w,
                        s.dilation_w, s.pad_left);
    }
  });
}

void col2im_rows_add(const Conv2dShape& s, const float* columns, int group, int64_t pixel_begin, int64_t pixel_end,
                     float* dx) {
  const int group_in = s.c / s.groups;
  const int depth = s.kh * s.kw * group_in;
  const int tap_run = s.kw * group_in;
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image_len = s.h * x_row_len;
  const int window_w = (s.kw - 1) * s.dilation_w + 1;
  const bool contiguous_taps = tap_run >= kShortTapRun && group_in == s.c && s.dilation_w == 1;
#if defined(__x86_64__) || defined(_M_X64)
  static const bool col2im_vector = active_isa() == Isa::kAvx512;
#endif
  for_each_row_run(s, pixel_begin, pixel_end, [&](int64_t first_row, int count, int image, int oy, int ox0) {
    float* dx_image = dx + image * x_image_len + group * group_in;
    const int iy_origin = oy * s.stride_h - s.pad_top;
    if (contiguous_taps) {
      // Pixel by pixel, each pixel's kernel rows into their dx rows, so that one call of the
      // AVX-512 routine covers a run of pixels whose windows lie inside the row. The adds
      // of this portable loop are compiled for baseline x86-64: 4 floats a vector and a
      // scalar tail, which made col2im as slow as the GEMM for LeNet's 30-float kernel rows.
      int ky_begin = 0, ky_end = s.kh;
      while (ky_begin < ky_end && iy_origin + ky_begin * s.dilation_h < 0) ++ky_begin;
      while (ky_end > ky_begin && iy_origin + (ky_end - 1) * s.dilation_h >= s.h) --ky_end;
      const int64_t row_step = s.dilation_h * x_row_len;
      const int64_t pixel_step = static_cast<int64_t>(s.stride_w) * s.c;
      float* dx_rows = dx_image + (iy_origin + ky_begin * s.dilation_h) * x_row_len;
      for (int r = 0; r < count;) {
        const float* in = columns + (first_row + r) * depth + ky_begin * tap_run;
        const int ix_origin = (ox0 + r) * s.stride_w - s.pad_left;
        if (ix_origin < 0 || ix_origin + window_w > s.w) {
          for (int ky = ky_begin; ky < ky_end; ++ky) {
            col2im_kernel_row(dx_image + (iy_origin + ky * s.dilation_h) * x_row_len,
                              columns + (first_row + r) * depth + ky * tap_run, depth, 1, ox0 + r, s.w, s.c, group_in,
                              s.kw, s.stride_w, s.dilation_w, s.pad_left);
          }
          ++r;
          continue;
        }
        // The pixels from r on whose windows lie inside the row.
        int inside = 1;
        while (r + inside < count && (ox0 + r + inside) * s.stride_w - s.pad_left + window_w <= s.w) ++inside;
        float* dx_pixel = dx_rows + static_cast<int64_t>(ix_origin) * s.c;
#if defined(__x86_64__) || defined(_M_X64)
        if (col2im_vector) {
          col2im_add_pixels__avx512(dx_pixel, row_step, pixel_step, ky_end - ky_begin, in, depth, tap_run, inside);
          r += inside;
          continue;
        }
#endif
        for (int i = 0; i < inside; ++i, dx_pixel += pixel_step, in += depth) {
          for (int ky = 0; ky < ky_end - ky_begin; ++ky) add_floats(dx_pixel + ky * row_step, in + ky * tap_run, tap_run);
        }
        r += inside;
      }
      return;
    }
    for (int ky = 0; ky < s.kh; ++ky) {
      const int iy = iy_origin + ky * s.dilation_h;
      if (iy < 0 || iy >= s.h) continue;  // padding has no gradient
      col2im_kernel_row(dx_image + iy * x_row_len, columns + first_row * depth + ky * tap_run, depth, count, ox0, s.w,
                        s.c, group_in, s.kw, s.stride_w, s.dilation_w, s.pad_left);
    }
  });
}

}  // namespace convkit
