// conv2d input gradient: dx = d(sum(y * dy))/dx. Lowered to GEMM per group
// (conv2d_im2col.h): the column gradient dy_g * w_g^T of a chunk of pixels, scattered back
// into dx by col2im; a 1x1 stride-1 unpadded conv is dy_g * w_g^T straight into dx.
// Depthwise-like shapes keep the direct scatter.
#include <algorithm>
#include <cstring>

#include "conv2d_im2col.h"
#include "conv2d_implicit.h"
#include "conv2d_planar.h"
#include "conv2d_winograd.h"
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"
#include "workspace.h"

namespace convkit {

namespace {

// dst[i] += a[i] * b[i]. restrict on the parameters (not locals) is what lets g++ skip its
// runtime aliasing check.
inline void add_products(int count, const float* __restrict a, const float* __restrict b, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += a[i] * b[i];
}

inline float dot(int count, const float* __restrict a, const float* __restrict b) {
  float sum = 0.0f;
  for (int i = 0; i < count; ++i) sum += a[i] * b[i];
  return sum;
}

// Direct scatter of output pixels [pixel_begin, pixel_end) into dx (added to it): each
// pixel's dy goes back through w into the input positions its window read.
void backward_input_direct(const Conv2dShape& s, const float* dy, const float* w, float* dx, int64_t pixel_begin,
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
    float* dx_image = dx + image * x_image_len;
    const int iy_origin = oy * s.stride_h - s.pad_top;
    const int ix_origin = ox * s.stride_w - s.pad_left;

    for (int ky = 0; ky < s.kh; ++ky) {
      const int iy = iy_origin + ky * s.dilation_h;
      if (iy < 0 || iy >= s.h) continue;  // padding has no gradient
      for (int kx = 0; kx < s.kw; ++kx) {
        const int ix = ix_origin + kx * s.dilation_w;
        if (ix < 0 || ix >= s.w) continue;
        float* dx_pixel = dx_image + iy * x_row_len + static_cast<int64_t>(ix) * s.c;
        const float* w_tap = w + (static_cast<int64_t>(ky) * s.kw + kx) * w_tap_len;

        if (depthwise_single) {
          add_products(s.c, dy_pixel, w_tap, dx_pixel);
          continue;
        }
        for (int group = 0; group < s.groups; ++group) {
          const float* dy_group = dy_pixel + group * group_out;
          const float* w_group = w_tap + group * group_out;
          float* dx_group = dx_pixel + group * group_in;
          for (int ci = 0; ci < group_in; ++ci) {
            // w[ky,kx,ci,:] is contiguous over the group's output channels, as is dy.
            dx_group[ci] += dot(group_out, dy_group, w_group + static_cast<int64_t>(ci) * s.oc);
          }
        }
      }
    }
  });
}

// Adds the gradient of output pixels [pixel_begin, pixel_end) into dx: per group, the
// column gradient dy_g * w_g^T, then col2im. packed_wt holds each group's w_g^T from
// sgemm_pack_b (group_packed floats apart), or is null.
void backward_input_chunk(const Conv2dShape& s, const ConvLowering& lowering, const float* dy, const float* w,
                          const float* packed_wt, size_t group_packed, float* dx, int64_t pixel_begin,
                          int64_t pixel_end, bool threaded) {
  const int rows = static_cast<int>(pixel_end - pixel_begin);
  float* columns = thread_workspace(WorkspaceSlot::kConvColumns, static_cast<size_t>(rows) * lowering.depth);
  if (columns == nullptr) {
    backward_input_direct(s, dy, w, dx, pixel_begin, pixel_end);
    return;
  }
  for (int group = 0; group < s.groups; ++group) {
    const float* dy_group = dy + pixel_begin * s.oc + group * lowering.group_out;
    const float* w_group = w + group * lowering.group_out;  // w_g is [K, OCg], row stride oc
    if (threaded) {
      sgemm(rows, lowering.depth, lowering.group_out, dy_group, s.oc, false, w_group, s.oc, true, columns,
            lowering.depth, false);
    } else if (packed_wt != nullptr) {
      sgemm_single_thread_packed_b(rows, lowering.depth, lowering.group_out, dy_group, s.oc, false, w_group, s.oc,
                                   true, packed_wt + group * group_packed, columns, lowering.depth, false);
    } else {
      sgemm_single_thread(rows, lowering.depth, lowering.group_out, dy_group, s.oc, false, w_group, s.oc, true,
                          columns, lowering.depth, false);
    }
    col2im_rows_add(s, columns, group, pixel_begin, pixel_end, dx);
  }
}

// Zeroes images [image_begin, image_end) of dx, then adds their gradient chunk by chunk.
void backward_input_images(const Conv2dShape& s, const ConvLowering& lowering, const float* dy, const float* w,
                           const float* packed_wt, size_t group_packed, float* dx, int64_t image_begin,
                           int64_t image_end, bool threaded) {
  const int64_t x_image_len = static_cast<int64_t>(s.h) * s.w * s.c;
  std::memset(dx + image_begin * x_image_len, 0, sizeof(float) * (image_end - image_begin) * x_image_len);
  const int64_t chunk = conv_chunk_pixels(lowering);
  const int64_t pixel_end = image_end * lowering.image_pixels;
  const bool gemm = conv_prefers_gemm(s);
  for (int64_t begin = image_begin * lowering.image_pixels; begin < pixel_end; begin += chunk) {
    const int64_t end = std::min(pixel_end, begin + chunk);
    if (gemm) {
      backward_input_chunk(s, lowering, dy, w, packed_wt, group_packed, dx, begin, end, threaded);
    } else {
      backward_input_direct(s, dy, w, dx, begin, end);
    }
  }
}

}  // namespace

void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx, FiniteCheck* dy_check) {
  if (conv_backward_input_winograd_preferred(s) && conv2d_backward_input_winograd(s, dy, w, dx, dy_check)) return;
  if (conv_backward_input_planar_preferred(s) && conv2d_backward_input_planar(s, dy, w, dx, dy_check)) return;
  if (conv_backward_input_implicit_preferred(s) && conv2d_backward_input_implicit(s, dy, w, dx, dy_check)) return;
  const ConvLowering lowering = conv_lowering(s);
  if (lowering.pointwise && conv_prefers_gemm(s)) {
    // dx_g [P, Cg] = dy_g [P, OCg] * w_g^T: the columns are dx itself, no scatter.
    for (int group = 0; group < s.groups; ++group) {
      sgemm(static_cast<int>(lowering.pixels), lowering.group_in, lowering.group_out, dy + group * lowering.group_out,
            s.oc, false, w + group * lowering.group_out, s.oc, true, dx + group * lowering.group_in, s.c, false);
    }
    return;
  }
  // Images never share dx, so they split over threads without races; with fewer images
  // than that needs, each GEMM splits over the threads instead.
  const int threads = thread_count();
  const bool image_parallel = threads == 1 || s.n >= 2 * threads || s.n % threads == 0;
  // Threads share one packing of each group's w_g^T instead of repacking per chunk.
  const size_t group_packed = sgemm_packed_b_size(active_sgemm_config(), lowering.depth, lowering.group_out);
  float* packed_wt = image_parallel && conv_prefers_gemm(s)
                         ? thread_workspace(WorkspaceSlot::kConvWeights, group_packed * s.groups)
                         : nullptr;
  if (packed_wt != nullptr) {
    for (int group = 0; group < s.groups; ++group) {
      sgemm_pack_b(active_sgemm_config(), lowering.depth, lowering.group_out, w + group * lowering.group_out, s.oc,
                   true, packed_wt + group * group_packed);
    }
  }
  if (image_parallel) {
    parallel_for_dynamic(s.n, 1, [&](int64_t begin, int64_t end) {  // images to whichever thread is free
      backward_input_images(s, lowering, dy, w, packed_wt, group_packed, dx, begin, end, false);
    });
  } else {
    backward_input_images(s, lowering, dy, w, nullptr, 0, dx, 0, s.n, true);
  }
}

}  // namespace convkit
