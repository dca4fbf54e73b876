// conv2d filter gradient: dw[ky,kx,ci,o] = sum_{n,oy,ox} x[n,iy,ix,g*Cg+ci] * dy[n,oy,ox,o],
// over in-range input positions only (padding reads as zero). Lowered to GEMM per group
// (conv2d_im2col.h), summed transposed: dw_g^T += dy_g^T * columns_g chunk by chunk, with
// x itself as the columns for a 1x1 stride-1 unpadded conv. Depthwise-like shapes keep
// the direct loops. Threads split the batch, each summing into its own partial dw; the
// partials are added in a fixed order, so one thread count always gives the same bits.
#include <algorithm>
#include <cstring>

#include "conv2d_im2col.h"
#include "conv2d_implicit.h"
#include "conv2d_filter16.h"
#include "conv2d_planar.h"
#include "conv2d_winograd.h"
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"
#include "workspace.h"

namespace convkit {

namespace {

// Below this many dw elements, summing the partials costs less than waking the pool.
constexpr int64_t kMinParallelReduce = int64_t{1} << 14;

// dst[i] += scale * src[i]: the contiguous inner loop g++ vectorises. restrict on the
// parameters (not locals) is what lets g++ skip its runtime aliasing check.
inline void add_scaled(int count, float scale, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += scale * src[i];
}

// dst[i] += a[i] * b[i].
inline void add_products(int count, const float* __restrict a, const float* __restrict b, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += a[i] * b[i];
}

// Direct loops: adds the contribution of output pixels [pixel_begin, pixel_end) to dw.
void backward_filter_direct(const Conv2dShape& s, const float* x, const float* dy, float* dw, int64_t pixel_begin,
                            int64_t pixel_end) {
  const int group_in = s.c / s.groups;    // Cg: input channels per group
  const int group_out = s.oc / s.groups;  // OCg: output channels per group
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image_len = static_cast<int64_t>(s.h) * x_row_len;
  const int64_t w_tap_len = static_cast<int64_t>(group_in) * s.oc;  // one (ky,kx) slice of w
  // Depthwise with multiplier 1: one contiguous multiply-add over all channels.
  const bool depthwise_single = group_in == 1 && group_out == 1;

  for_each_pixel(s, pixel_begin, pixel_end, [&](int64_t row, int image, int oy, int ox) {
    const float* dy_pixel = dy + (pixel_begin + row) * s.oc;
    const float* x_image = x + image * x_image_len;
    const int iy_origin = oy * s.stride_h - s.pad_top;
    const int ix_origin = ox * s.stride_w - s.pad_left;

    for (int ky = 0; ky < s.kh; ++ky) {
      const int iy = iy_origin + ky * s.dilation_h;
      if (iy < 0 || iy >= s.h) continue;  // padding reads as zero: contributes nothing
      for (int kx = 0; kx < s.kw; ++kx) {
        const int ix = ix_origin + kx * s.dilation_w;
        if (ix < 0 || ix >= s.w) continue;
        const float* x_pixel = x_image + iy * x_row_len + static_cast<int64_t>(ix) * s.c;
        float* dw_tap = dw + (static_cast<int64_t>(ky) * s.kw + kx) * w_tap_len;

        if (depthwise_single) {
          add_products(s.c, x_pixel, dy_pixel, dw_tap);
          continue;
        }
        for (int group = 0; group < s.groups; ++group) {
          const float* x_group = x_pixel + group * group_in;
          const float* dy_group = dy_pixel + group * group_out;
          float* dw_group = dw_tap + group * group_out;
          for (int ci = 0; ci < group_in; ++ci) {
            add_scaled(group_out, x_group[ci], dy_group, dw_group + static_cast<int64_t>(ci) * s.oc);
          }
        }
      }
    }
  });
}

// dwt[g][o][kk] = the sum over output pixels [pixel_begin, pixel_end) in plain loops:
// the fallback when the im2col workspace cannot be allocated.
void backward_filter_transposed_direct(const Conv2dShape& s, const ConvLowering& lowering, const float* x,
                                       const float* dy, float* dwt, int64_t pixel_begin, int64_t pixel_end) {
  const int group_in = lowering.group_in, group_out = lowering.group_out, depth = lowering.depth;
  std::memset(dwt, 0, sizeof(float) * depth * s.oc);
  for_each_pixel(s, pixel_begin, pixel_end, [&](int64_t row, int image, int oy, int ox) {
    const float* dy_pixel = dy + (pixel_begin + row) * s.oc;
    for (int ky = 0; ky < s.kh; ++ky) {
      const int iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
      if (iy < 0 || iy >= s.h) continue;
      for (int kx = 0; kx < s.kw; ++kx) {
        const int ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
        if (ix < 0 || ix >= s.w) continue;
        const float* x_pixel = x + ((static_cast<int64_t>(image) * s.h + iy) * s.w + ix) * s.c;
        const int tap = (ky * s.kw + kx) * group_in;
        for (int group = 0; group < s.groups; ++group) {
          for (int o = 0; o < group_out; ++o) {
            float* dwt_row = dwt + (static_cast<int64_t>(group) * group_out + o) * depth + tap;
            const float dy_value = dy_pixel[group * group_out + o];
            for (int ci = 0; ci < group_in; ++ci) dwt_row[ci] += x_pixel[group * group_in + ci] * dy_value;
          }
        }
      }
    }
  });
}

// The GEMM sums dw transposed, dwt[g][o][kk] = dw[kk][g*OCg + o] for kk < K: then A is
// dy_g^T, packed by contiguous copies of a few output channels, and B is the im2col rows
// as they are, so nothing is transposed per pixel. One sum over output pixels
// [pixel_begin, pixel_end), chunk by chunk; the first chunk writes, later ones add.
void backward_filter_gemm(const Conv2dShape& s, const ConvLowering& lowering, const float* x, const float* dy,
                          float* dwt, int64_t pixel_begin, int64_t pixel_end, bool threaded) {
  // The pointwise GEMM reads x in place: a long k dimension needs no workspace.
  const int64_t chunk = lowering.pointwise ? std::max<int64_t>(conv_chunk_pixels(lowering), 4096)
                                           : conv_chunk_pixels(lowering);
  float* columns = nullptr;
  const int64_t group_len = static_cast<int64_t>(lowering.group_out) * lowering.depth;
  if (!lowering.pointwise) {
    columns = thread_workspace(WorkspaceSlot::kConvColumns,
                               static_cast<size_t>(std::min(chunk, pixel_end - pixel_begin)) * lowering.depth);
    if (columns == nullptr) {
      backward_filter_transposed_direct(s, lowering, x, dy, dwt, pixel_begin, pixel_end);
      return;
    }
  }
  for (int64_t begin = pixel_begin; begin < pixel_end; begin += chunk) {
    const int64_t end = std::min(pixel_end, begin + chunk);
    const int rows = static_cast<int>(end - begin);
    const bool accumulate = begin != pixel_begin;
    for (int group = 0; group < s.groups; ++group) {
      // op(b) = columns_g [rows, K]: the im2col rows, or x's rows when pointwise.
      const float* b = columns;
      int ldb = lowering.depth;
      if (lowering.pointwise) {
        b = x + begin * s.c + group * lowering.group_in;
        ldb = s.c;
      } else {
        im2col_rows(s, x, group, begin, end, columns);
      }
      const float* dy_group = dy + begin * s.oc + group * lowering.group_out;  // op(a) = dy_g^T
      float* dwt_group = dwt + group * group_len;
      if (threaded) {
        sgemm(lowering.group_out, lowering.depth, rows, dy_group, s.oc, true, b, ldb, false, dwt_group,
              lowering.depth, accumulate);
      } else {
        sgemm_single_thread(lowering.group_out, lowering.depth, rows, dy_group, s.oc, true, b, ldb, false, dwt_group,
                            lowering.depth, accumulate);
      }
    }
  }
}

// dw = the direct loops' sum over output pixels [pixel_begin, pixel_end).
void backward_filter_direct_sum(const Conv2dShape& s, const ConvLowering& lowering, const float* x, const float* dy,
                                float* dw, int64_t pixel_begin, int64_t pixel_end) {
  std::memset(dw, 0, sizeof(float) * lowering.depth * s.oc);
  backward_filter_direct(s, x, dy, dw, pixel_begin, pixel_end);
}

}  // namespace

void conv2d_backward_filter(const Conv2dShape& s, const float* x, const float* dy, float* dw, FiniteCheck* x_check,
                            FiniteCheck* dy_check) {
  if (conv_backward_filter_winograd_preferred(s) && conv2d_backward_filter_winograd(s, x, dy, dw, x_check, dy_check))
    return;
  if (conv_backward_filter16_preferred(s) && conv2d_backward_filter16(s, x, dy, dw, x_check, dy_check)) return;
  if (conv_backward_filter_planar_preferred(s) && conv2d_backward_filter_planar(s, x, dy, dw, x_check, dy_check))
    return;
  if (conv_backward_filter_implicit_preferred(s) && conv2d_backward_filter_implicit(s, x, dy, dw, x_check, dy_check))
    return;
  const ConvLowering lowering = conv_lowering(s);
  const int64_t dw_len = static_cast<int64_t>(lowering.depth) * s.oc;
  // Threads split the batch into slots, each with its own partial sum; a single image or
  // thread makes one slot, whose GEMMs split over the threads instead.
  const int threads = thread_count();
  const int slots = std::max(1, std::min(threads, s.n));
  const bool gemm = conv_prefers_gemm(s);
  // The GEMM sums every slot transposed (then transposes into dw); the direct loops sum
  // slot 0 straight into dw and the others into partials.
  const int partial_count = gemm ? slots : slots - 1;
  float* partials = partial_count > 0 ? thread_workspace(WorkspaceSlot::kConvPartials,
                                                         static_cast<size_t>(partial_count) * dw_len)
                                      : nullptr;
  if (partial_count > 0 && partials == nullptr) {
    backward_filter_direct_sum(s, lowering, x, dy, dw, 0, lowering.pixels);  // out of memory: slow but right
    return;
  }
  auto slot_pixels = [&](int64_t slot, int64_t* begin, int64_t* end) {
    *begin = s.n * slot / slots * lowering.image_pixels;
    *end = s.n * (slot + 1) / slots * lowering.image_pixels;
  };

  if (!gemm) {
    parallel_for(slots, [&](int64_t first, int64_t last) {
      for (int64_t slot = first; slot < last; ++slot) {
        int64_t begin = 0, end = 0;
        slot_pixels(slot, &begin, &end);
        backward_filter_direct_sum(s, lowering, x, dy, slot == 0 ? dw : partials + (slot - 1) * dw_len, begin, end);
      }
    });
    // dw += partial 1, partial 2, ... in that order for every element.
    if (slots > 1) {
      auto reduce = [&](int64_t begin, int64_t end) {
        for (int slot = 1; slot < slots; ++slot) {
          const float* __restrict partial = partials + (slot - 1) * dw_len;
          float* __restrict out = dw;
          for (int64_t index = begin; index < end; ++index) out[index] += partial[index];
        }
      };
      if (dw_len >= kMinParallelReduce) {
        parallel_for(dw_len, reduce);
      } else {
        reduce(0, dw_len);
      }
    }
    return;
  }

  if (slots == 1) {
    backward_filter_gemm(s, lowering, x, dy, partials, 0, lowering.pixels, true);
  } else {
    parallel_for(slots, [&](int64_t first, int64_t last) {
      for (int64_t slot = first; slot < last; ++slot) {
        int64_t begin = 0, end = 0;
        slot_pixels(slot, &begin, &end);
        backward_filter_gemm(s, lowering, x, dy, partials + slot * dw_len, begin, end, false);
      }
    });
  }
  // dw[kk][g*OCg + o] = sum over slots, in slot order, of dwt_slot[g][o][kk].
  const int group_out = lowering.group_out, depth = lowering.depth;
  auto transpose_reduce = [&](int64_t begin, int64_t end) {
    for (int64_t kk = begin; kk < end; ++kk) {
      float* dw_row = dw + kk * s.oc;
      for (int column = 0; column < s.oc; ++column) {
        const int group = column / group_out, o = column % group_out;
        const float* partial = partials + (static_cast<int64_t>(group) * group_out + o) * depth + kk;
        float sum = partial[0];
        for (int slot = 1; slot < slots; ++slot) sum += partial[slot * dw_len];
        dw_row[column] = sum;
      }
    }
  };
  if (dw_len >= kMinParallelReduce) {
    parallel_for(depth, transpose_reduce);
  } else {
    transpose_reduce(0, depth);
  }
}

}  // namespace convkit
