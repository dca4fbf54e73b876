// conv2d forward: y[n,oy,ox,o] = sum_{ky,kx,ci} x[n,iy,ix,g*Cg+ci] * w[ky,kx,ci,o].
// Lowered to GEMM per group (conv2d_im2col.h): chunks of im2col rows times w, or x itself
// times w for a 1x1 stride-1 unpadded conv. Depthwise-like shapes keep the direct loops.
#include <algorithm>

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

// dst[i] += scale * src[i]: the contiguous inner loop g++ vectorises. restrict on the
// parameters (not locals) is what lets g++ skip its runtime aliasing check.
inline void add_scaled(int count, float scale, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += scale * src[i];
}

// dst[i] += a[i] * b[i].
inline void add_products(int count, const float* __restrict a, const float* __restrict b, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += a[i] * b[i];
}

// The epilogue on output pixels [pixel_begin, pixel_end), on the calling thread.
void apply_epilogue(const Conv2dShape& s, const ConvEpilogue& epilogue, float* y, int64_t pixel_begin,
                    int64_t pixel_end) {
  if (epilogue.bias == nullptr) return;
  bias_activation_rows(pixel_end - pixel_begin, s.oc, epilogue.bias, epilogue.relu, y + pixel_begin * s.oc);
}

// Direct loops over output pixels [pixel_begin, pixel_end).
void forward_direct(const Conv2dShape& s, const float* x, const float* w, float* y, int64_t pixel_begin,
                    int64_t pixel_end) {
  const int group_in = s.c / s.groups;    // Cg: input channels per group
  const int group_out = s.oc / s.groups;  // OCg: output channels per group
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image_len = static_cast<int64_t>(s.h) * x_row_len;
  const int64_t w_tap_len = static_cast<int64_t>(group_in) * s.oc;  // one (ky,kx) slice of w
  // Depthwise with multiplier 1: every channel is its own group, so one contiguous
  // multiply-add over all channels replaces per-group loops of length 1.
  const bool depthwise_single = group_in == 1 && group_out == 1;

  for_each_pixel(s, pixel_begin, pixel_end, [&](int64_t row, int image, int oy, int ox) {
    float* y_pixel = y + (pixel_begin + row) * s.oc;
    const float* x_image = x + image * x_image_len;
    const int iy_origin = oy * s.stride_h - s.pad_top;
    const int ix_origin = ox * s.stride_w - s.pad_left;
    for (int o = 0; o < s.oc; ++o) y_pixel[o] = 0.0f;

    for (int ky = 0; ky < s.kh; ++ky) {
      const int iy = iy_origin + ky * s.dilation_h;
      if (iy < 0 || iy >= s.h) continue;  // padding reads as zero: contributes nothing
      for (int kx = 0; kx < s.kw; ++kx) {
        const int ix = ix_origin + kx * s.dilation_w;
        if (ix < 0 || ix >= s.w) continue;
        const float* x_pixel = x_image + iy * x_row_len + static_cast<int64_t>(ix) * s.c;
        const float* w_tap = w + (static_cast<int64_t>(ky) * s.kw + kx) * w_tap_len;

        if (depthwise_single) {
          add_products(s.c, x_pixel, w_tap, y_pixel);
          continue;
        }
        for (int group = 0; group < s.groups; ++group) {
          const float* x_group = x_pixel + group * group_in;
          float* y_group = y_pixel + group * group_out;
          const float* w_group = w_tap + group * group_out;
          for (int ci = 0; ci < group_in; ++ci) {
            add_scaled(group_out, x_group[ci], w_group + static_cast<int64_t>(ci) * s.oc, y_group);
          }
        }
      }
    }
  });
}

// y rows [pixel_begin, pixel_end) = im2col rows * w, group by group. packed_w holds each
// group's weights from sgemm_pack_b (group_packed floats apart), or is null.
void forward_chunk(const Conv2dShape& s, const ConvLowering& lowering, const float* x, const float* w,
                   const float* packed_w, size_t group_packed, float* y, int64_t pixel_begin, int64_t pixel_end,
                   bool threaded, const ConvEpilogue& epilogue) {
  const int rows = static_cast<int>(pixel_end - pixel_begin);
  float* columns = thread_workspace(WorkspaceSlot::kConvColumns, static_cast<size_t>(rows) * lowering.depth);
  if (columns == nullptr) {
    forward_direct(s, x, w, y, pixel_begin, pixel_end);
    apply_epilogue(s, epilogue, y, pixel_begin, pixel_end);
    return;
  }
  for (int group = 0; group < s.groups; ++group) {
    im2col_rows(s, x, group, pixel_begin, pixel_end, columns);
    const float* w_group = w + group * lowering.group_out;
    float* y_group = y + pixel_begin * s.oc + group * lowering.group_out;
    if (threaded) {
      sgemm(rows, lowering.group_out, lowering.depth, columns, lowering.depth, false, w_group, s.oc, false, y_group,
            s.oc, false);
    } else if (packed_w != nullptr) {
      sgemm_single_thread_packed_b(rows, lowering.group_out, lowering.depth, columns, lowering.depth, false, w_group,
                                   s.oc, false, packed_w + group * group_packed, y_group, s.oc, false);
    } else {
      sgemm_single_thread(rows, lowering.group_out, lowering.depth, columns, lowering.depth, false, w_group, s.oc,
                          false, y_group, s.oc, false);
    }
  }
  apply_epilogue(s, epilogue, y, pixel_begin, pixel_end);  // the chunk is still in L2
}

}  // namespace

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, float* y, const ConvEpilogue& epilogue,
                    FiniteCheck* x_check) {
  if (conv_forward_winograd_preferred(s) && conv2d_forward_winograd(s, x, w, y, epilogue, x_check)) return;
  if (conv_forward_planar_preferred(s) && conv2d_forward_planar(s, x, w, y, epilogue, x_check)) return;
  if (conv_forward_implicit_preferred(s) && conv2d_forward_implicit(s, x, w, y, epilogue, x_check)) return;
  const ConvLowering lowering = conv_lowering(s);
  if (!conv_prefers_gemm(s)) {
    parallel_for(lowering.pixels, [&](int64_t begin, int64_t end) {
      forward_direct(s, x, w, y, begin, end);
      apply_epilogue(s, epilogue, y, begin, end);
    });
    return;
  }
  if (lowering.pointwise) {
    // x [P, c] is the im2col matrix already: one GEMM per group over all pixels.
    for (int group = 0; group < s.groups; ++group) {
      sgemm(static_cast<int>(lowering.pixels), lowering.group_out, lowering.group_in, x + group * lowering.group_in,
            s.c, false, w + group * lowering.group_out, s.oc, false, y + group * lowering.group_out, s.oc, false);
    }
    if (epilogue.bias != nullptr) {
      parallel_for(lowering.pixels, [&](int64_t begin, int64_t end) { apply_epilogue(s, epilogue, y, begin, end); });
    }
    return;
  }
  // Chunks in a multiple of the thread count, so each thread gets the same share.
  const int threads = thread_count();
  const int64_t target_chunk = conv_chunk_pixels(lowering);
  int64_t chunks = (lowering.pixels + target_chunk - 1) / target_chunk;
  const bool chunk_parallel = chunks >= threads;
  if (chunk_parallel) chunks = (chunks + threads - 1) / threads * threads;
  const int64_t chunk = (lowering.pixels + chunks - 1) / chunks;
  const int64_t chunk_count = (lowering.pixels + chunk - 1) / chunk;
  // Threads share one packing of each group's weights instead of repacking per chunk.
  const size_t group_packed = sgemm_packed_b_size(active_sgemm_config(), lowering.group_out, lowering.depth);
  float* packed_w =
      chunk_parallel ? thread_workspace(WorkspaceSlot::kConvWeights, group_packed * s.groups) : nullptr;
  if (packed_w != nullptr) {
    for (int group = 0; group < s.groups; ++group) {
      sgemm_pack_b(active_sgemm_config(), lowering.group_out, lowering.depth, w + group * lowering.group_out, s.oc,
                   false, packed_w + group * group_packed);
    }
  }
  auto run_chunks = [&](int64_t begin, int64_t end) {
    for (int64_t index = begin; index < end; ++index) {
      const int64_t pixel_begin = index * chunk;
      const int64_t pixel_end = std::min(lowering.pixels, pixel_begin + chunk);
      forward_chunk(s, lowering, x, w, packed_w, group_packed, y, pixel_begin, pixel_end, !chunk_parallel,
                    epilogue);
    }
  };
  if (chunk_parallel) {
    parallel_for_dynamic(chunk_count, 1, run_chunks);  // chunks to whichever thread is free
  } else {
    run_chunks(0, chunk_count);  // few chunks: each GEMM splits over the threads instead
  }
}

}  // namespace convkit
