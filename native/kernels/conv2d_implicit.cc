#include "conv2d_implicit.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "conv2d_stride1.h"
#include "gemm.h"
#include "parallel.h"
#include "workspace.h"

namespace convkit {
namespace {

constexpr int kMaxTileFloats = 1024;  // scratch tile: at least mr * nr of every micro-kernel

// Above this many input channels (of the forward conv, or output channels for the input
// gradient) im2col's copies are small next to its GEMM and the two paths measure about
// the same (bench/native/gemm_bench --conv); below it the implicit path wins by 1.5-3x.
constexpr int kMaxImplicitChannels = 32;
// The input gradient's alternative is im2col's GEMM plus col2im, a scatter-add that costs
// more than forward im2col's gather: the implicit path stays ahead up to 64 channels of dy
// (gemm_bench --conv --mean, interleaved runs: 32->64 layers 81-83 -> 88-104 GFLOP/s).
constexpr int kMaxImplicitGradientChannels = 64;
// The output channels are the GEMM's columns, the micro-kernel's vector lanes: with fewer
// than this, most lanes would compute padding.
constexpr int kMinImplicitColumns = 16;

// B for the micro-kernel, one block per (panel, ky): block (p, ky) holds rows
// t = kx*c + ci of columns [p*nr, p*nr + nr), nr floats per row, zero past oc.
template <typename Weight>
void pack_taps(const Stride1Conv& g, int nr, const Weight& weight, float* __restrict packed) {
  const int panels = (g.oc + nr - 1) / nr;
  for (int p = 0; p < panels; ++p) {
    for (int ky = 0; ky < g.kh; ++ky) {
      for (int kx = 0; kx < g.kw; ++kx) {
        for (int ci = 0; ci < g.c; ++ci, packed += nr) {
          for (int j = 0; j < nr; ++j) {
            const int o = p * nr + j;
            packed[j] = o < g.oc ? weight(ky, kx, ci, o) : 0.0f;
          }
        }
      }
    }
  }
}

// Pixels of one image's padded copy P (see pad_image): the hp x wp grid, plus the slack
// the last tile's taps read past it.
int64_t padded_pixels(const Stride1Conv& g, int mr) {
  const int64_t wp = g.ow + g.kw - 1;
  const int64_t hp = g.oh + static_cast<int64_t>(g.kh - 1) * g.dh;
  const int64_t tiles = (static_cast<int64_t>(g.oh) * wp + mr - 1) / mr;
  return std::max(hp * wp, tiles * mr + static_cast<int64_t>(g.kh - 1) * g.dh * wp + g.kw);
}

// P[row][col][ci] = image[row - pad_top][col - pad_left][ci] for the hp x wp grid of
// pad_image's caller, zero outside the image and in the slack: whole image rows copied
// at once, only the borders cleared.
void pad_image(const Stride1Conv& g, const float* __restrict image, int wp, int64_t pixels, float* __restrict padded) {
  const int c = g.c;
  const int hp = g.oh + (g.kh - 1) * g.dh;
  const int col_begin = std::min(wp, std::max(0, g.pad_left));
  const int col_end = std::max(col_begin, std::min(wp, g.w + g.pad_left));
  for (int row = 0; row < hp; ++row) {
    float* __restrict dst = padded + static_cast<int64_t>(row) * wp * c;
    const int iy = row - g.pad_top;
    if (iy < 0 || iy >= g.h || col_begin == col_end) {
      std::memset(dst, 0, sizeof(float) * wp * c);
      continue;
    }
    std::memset(dst, 0, sizeof(float) * col_begin * c);
    std::memcpy(dst + static_cast<int64_t>(col_begin) * c,
                image + (static_cast<int64_t>(iy) * g.w + (col_begin - g.pad_left)) * c,
                sizeof(float) * (col_end - col_begin) * c);
    std::memset(dst + static_cast<int64_t>(col_end) * c, 0, sizeof(float) * (wp - col_end) * c);
  }
  const int64_t grid_floats = static_cast<int64_t>(hp) * wp * c;
  std::memset(padded + grid_floats, 0, sizeof(float) * (pixels * c - grid_floats));
}

// R rows [0, rows) of one image (see conv2d_implicit.h): R[q][ky][ci] = input at row
// oy + ky*dh - pad_top, column ox - pad_left of grid pixel q = oy*wp + ox, zero outside.
void expand_rows(const Stride1Conv& g, const float* __restrict image, int wp, int64_t rows, float* __restrict r) {
  const int c = g.c;
  const int64_t khc = static_cast<int64_t>(g.kh) * c;
  const int64_t image_row_len = static_cast<int64_t>(g.w) * c;
  // Grid columns whose input column lies inside the image.
  const int col_begin = std::min(wp, std::max(0, g.pad_left));
  const int col_end = std::max(col_begin, std::min(wp, g.w + g.pad_left));
  for (int64_t row_start = 0, oy = 0; row_start < rows; row_start += wp, ++oy) {
    const int cols = static_cast<int>(std::min<int64_t>(wp, rows - row_start));
    float* __restrict grid_row = r + row_start * khc;
    for (int ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy + static_cast<int64_t>(ky) * g.dh - g.pad_top;
      float* __restrict dst = grid_row + static_cast<int64_t>(ky) * c;
      const bool row_inside = iy >= 0 && iy < g.h;
      const int inside_begin = row_inside ? std::min(cols, col_begin) : cols;
      const int inside_end = row_inside ? std::min(cols, col_end) : cols;
      zero_pixels(inside_begin, c, dst, khc);
      const float* __restrict src = image + iy * image_row_len + static_cast<int64_t>(inside_begin - g.pad_left) * c;
      copy_pixels(src, c, inside_end - inside_begin, c, dst + inside_begin * khc, khc);
      zero_pixels(cols - inside_end, c, dst + inside_end * khc, khc);
    }
  }
}

// Output image `image` straight from the definition: only when the workspace for R
// cannot be allocated.
template <typename Weight>
void direct_image(const Stride1Conv& g, const Weight& weight, const float* __restrict image,
                  float* __restrict out_image) {
  for (int oy = 0; oy < g.oh; ++oy) {
    for (int ox = 0; ox < g.ow; ++ox) {
      float* out = out_image + (static_cast<int64_t>(oy) * g.ow + ox) * g.oc;
      for (int o = 0; o < g.oc; ++o) out[o] = 0.0f;
      for (int ky = 0; ky < g.kh; ++ky) {
        const int iy = oy + ky * g.dh - g.pad_top;
        if (iy < 0 || iy >= g.h) continue;
        for (int kx = 0; kx < g.kw; ++kx) {
          const int ix = ox + kx - g.pad_left;
          if (ix < 0 || ix >= g.w) continue;
          const float* in = image + (static_cast<int64_t>(iy) * g.w + ix) * g.c;
          for (int ci = 0; ci < g.c; ++ci) {
            for (int o = 0; o < g.oc; ++o) out[o] += in[ci] * weight(ky, kx, ci, o);
          }
        }
      }
    }
  }
}

// Output images [image_begin, image_end): pad each image, then per mr-pixel tile and
// nr-column panel, the kh kernel rows (kw*c taps each): one call of the kernel's segmented
// form where it has one (the tile stays in registers: 4-8% faster than a call per row on
// the 3x3 layers of the benches), else one call per row, summed in place. A tile of mr
// pixels inside one output row is written straight to the output; other tiles (across a
// row end, or with a partial panel) go through a scratch tile.
template <typename Weight>
void run_images(const Stride1Conv& g, const SgemmKernel& kernel, const Weight& weight, const ConvEpilogue& epilogue,
                const float* packed, const float* input, float* output, int64_t image_begin, int64_t image_end,
                FiniteCheck* input_check) {
  const int mr = kernel.mr, nr = kernel.nr;
  const int wp = g.ow + g.kw - 1;
  const int64_t grid = static_cast<int64_t>(g.oh) * wp;
  const int64_t tiles = (grid + mr - 1) / mr;
  const int64_t depth = static_cast<int64_t>(g.kw) * g.c;  // taps per kernel row
  const int64_t row_offset = static_cast<int64_t>(g.dh) * wp * g.c;  // P floats between kernel rows
  const int panels = (g.oc + nr - 1) / nr;
  const bool whole_panels = g.oc % nr == 0;
  const int64_t input_len = static_cast<int64_t>(g.h) * g.w * g.c;
  const int64_t output_len = static_cast<int64_t>(g.oh) * g.ow * g.oc;
  const int64_t pixels = padded_pixels(g, mr);
  float* padded = thread_workspace(WorkspaceSlot::kConvColumns, static_cast<size_t>(pixels * g.c));
  alignas(64) float tile[kMaxTileFloats];
  for (int64_t image = image_begin; image < image_end; ++image) {
    float* out_image = output + image * output_len;
    check_finite(input_check, input + image * input_len, input_len);
    if (padded == nullptr) {
      direct_image(g, weight, input + image * input_len, out_image);
      if (epilogue.bias != nullptr) {
        bias_activation_rows(static_cast<int64_t>(g.oh) * g.ow, g.oc, epilogue.bias, epilogue.relu, out_image);
      }
      continue;
    }
    pad_image(g, input + image * input_len, wp, pixels, padded);
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t q0 = t * mr;
      const int rows = static_cast<int>(std::min<int64_t>(mr, grid - q0));
      const int oy0 = static_cast<int>(q0 / wp), ox0 = static_cast<int>(q0 % wp);
      const bool in_place = whole_panels && rows == mr && ox0 + mr <= g.ow;
      float* out_tile = out_image + (static_cast<int64_t>(oy0) * g.ow + ox0) * g.oc;
      for (int p = 0; p < panels; ++p) {
        float* c_tile = in_place ? out_tile + p * nr : tile;
        const int64_t ldc = in_place ? g.oc : nr;
        const float* b = packed + static_cast<int64_t>(p) * g.kh * depth * nr;
        if (kernel.segments != nullptr) {
          kernel.segments(depth, g.kh, row_offset, padded + q0 * g.c, g.c, b, c_tile, ldc, false);
        } else {
          for (int ky = 0; ky < g.kh; ++ky) {
            kernel.function(depth, padded + q0 * g.c + ky * row_offset, g.c, 1, b + ky * depth * nr, c_tile, ldc,
                            ky > 0);
          }
        }
        if (in_place) continue;
        const int cols = std::min(nr, g.oc - p * nr);
        int oy = oy0, ox = ox0;
        for (int i = 0; i < rows; ++i) {
          if (ox < g.ow) {
            store_pixel(cols, tile + i * nr, 1, epilogue, p * nr,
                        out_image + (static_cast<int64_t>(oy) * g.ow + ox) * g.oc + p * nr);
          }
          if (++ox == wp) ox = 0, ++oy;
        }
      }
      // The tile's pixels are still in L1.
      if (in_place && epilogue.bias != nullptr) bias_activation_rows(mr, g.oc, epilogue.bias, epilogue.relu, out_tile);
    }
  }
}

template <typename Weight>
bool run(const Stride1Conv& g, const Weight& weight, const ConvEpilogue& epilogue, const float* input, float* output,
         FiniteCheck* input_check) {
  const SgemmConfig& config = active_sgemm_config();
  const SgemmKernel& kernel = config.kernel;
  const int64_t depth = static_cast<int64_t>(g.kh) * g.kw * g.c;
  const int panels = (g.oc + kernel.nr - 1) / kernel.nr;
  if (kernel.mr * kernel.nr > kMaxTileFloats) return false;
  float* packed = thread_workspace(WorkspaceSlot::kConvWeights, static_cast<size_t>(panels) * depth * kernel.nr);
  // (depth = kh*kw*c: the panels' kh blocks of kw*c rows each.)
  if (packed == nullptr) return false;
  pack_taps(g, kernel.nr, weight, packed);
  parallel_for_dynamic(g.n, 1, [&](int64_t begin, int64_t end) {  // images to whichever thread is free
    run_images(g, kernel, weight, epilogue, packed, input, output, begin, end, input_check);
  });
  mark_covered(input_check);
  return true;
}

// Floats of R for one image of g (see conv2d_implicit.h), with the slack the tiles read.
int64_t expanded_floats(const Stride1Conv& g, int mr) {
  const int64_t wp = g.ow + g.kw - 1;
  const int64_t rows = ((static_cast<int64_t>(g.oh) * wp + mr - 1) / mr) * mr + g.kw + mr;
  return rows * g.kh * g.c;
}

bool conv_implicit_applies(const Conv2dShape& s) {
  const bool pointwise = s.kh == 1 && s.kw == 1;
  if (s.stride_h != 1 || s.stride_w != 1 || s.groups != 1 || s.dilation_w != 1 || pointwise || s.n < thread_count())
    return false;
  const int mr = active_sgemm_config().kernel.mr;
  const Stride1Conv forward = stride1_forward(s), input_gradient = stride1_input_gradient(s);
  return expanded_floats(forward, mr) <= kMaxScratchFloats && expanded_floats(input_gradient, mr) <= kMaxScratchFloats &&
         padded_pixels(forward, mr) * forward.c <= kMaxScratchFloats &&
         padded_pixels(input_gradient, mr) * input_gradient.c <= kMaxScratchFloats;
}

// One image's dy on the virtual grid, as nr-wide panels: panel p holds, for q < grid,
// dy[oy, ox, p*nr + j] for grid pixel q = oy*wp + ox, zero where ox >= ow or p*nr + j >= oc.
void grid_panels(const Stride1Conv& g, int nr, int wp, const float* __restrict dy_image, float* __restrict panels) {
  const int64_t grid = static_cast<int64_t>(g.oh) * wp;
  const int panel_count = (g.oc + nr - 1) / nr;
  for (int p = 0; p < panel_count; ++p) {
    const int cols = std::min(nr, g.oc - p * nr);
    float* __restrict dst = panels + p * grid * nr;
    for (int oy = 0; oy < g.oh; ++oy, dst += static_cast<int64_t>(wp) * nr) {
      copy_pixels(dy_image + static_cast<int64_t>(oy) * g.ow * g.oc + p * nr, g.oc, g.ow, cols, dst, nr);
      if (cols < nr) zero_pixels(g.ow, nr - cols, dst + cols, nr);
      zero_pixels(wp - g.ow, nr, dst + static_cast<int64_t>(g.ow) * nr, nr);
    }
  }
}

}  // namespace

bool conv_forward_implicit_preferred(const Conv2dShape& s) {
  return conv_implicit_applies(s) && s.c <= kMaxImplicitChannels && s.oc >= kMinImplicitColumns;
}

bool conv_backward_input_implicit_preferred(const Conv2dShape& s) {
  return conv_implicit_applies(s) && s.oc <= kMaxImplicitGradientChannels && s.c >= kMinImplicitColumns;
}

bool conv_backward_filter_implicit_preferred(const Conv2dShape& s) {
  const int nr = active_sgemm_config().kernel.nr;
  const int64_t grid = static_cast<int64_t>(s.oh) * (s.ow + s.kw - 1);
  const int64_t gradient_panels = grid * ((s.oc + nr - 1) / nr) * nr;  // one image's dy, as panels
  return conv_implicit_applies(s) && s.c <= kMaxImplicitChannels && gradient_panels <= kMaxScratchFloats;
}

bool conv2d_forward_implicit(const Conv2dShape& s, const float* x, const float* w, float* y,
                             const ConvEpilogue& epilogue, FiniteCheck* x_check) {
  return run(stride1_forward(s), ForwardWeight{w, s.kw, s.c, s.oc}, epilogue, x, y, x_check);
}

bool conv2d_backward_input_implicit(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                    FiniteCheck* dy_check) {
  const Stride1Conv g = stride1_input_gradient(s);
  return run(g, MirroredWeight{w, s.kh, s.kw, s.c, s.oc}, ConvEpilogue{}, dy, dx, dy_check);
}

bool conv2d_backward_filter_implicit(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                     FiniteCheck* x_check, FiniteCheck* dy_check) {
  const Stride1Conv g = stride1_forward(s);
  const SgemmKernel& kernel = active_sgemm_config().kernel;
  const int mr = kernel.mr, nr = kernel.nr;
  const int wp = g.ow + g.kw - 1;
  const int64_t grid = static_cast<int64_t>(g.oh) * wp;
  const int64_t khc = static_cast<int64_t>(g.kh) * g.c;
  const int64_t depth = g.kw * khc;
  const int tap_tiles = static_cast<int>((depth + mr - 1) / mr);
  const int panels = (g.oc + nr - 1) / nr;
  // The last tap tile reads up to mr - 1 floats past a pixel's taps, into the next
  // pixels' rows of R: the rows past the grid must exist (and are zero).
  const int64_t r_rows = grid + g.kw + (mr + khc - 1) / khc;
  // Partials in tap order (kx, ky, ci), rows padded to whole tiles and columns to whole
  // panels, so the micro-kernel writes every tile in place.
  const int64_t ldp = static_cast<int64_t>(panels) * nr;
  const int64_t partial_len = static_cast<int64_t>(tap_tiles) * mr * ldp;
  const int chunks = std::min(s.n, kFixedChunks);
  float* partials = thread_workspace(WorkspaceSlot::kConvPartials, static_cast<size_t>(chunks * partial_len));
  if (partials == nullptr) return false;

  std::atomic<bool> complete{true};  // false when a thread's workspace could not be allocated
  const int64_t input_len = static_cast<int64_t>(g.h) * g.w * g.c;
  const int64_t output_len = static_cast<int64_t>(g.oh) * g.ow * g.oc;
  for_fixed_chunks(s.n, chunks, [&](int64_t chunk, int64_t image_begin, int64_t image_end) {
    float* r = thread_workspace(WorkspaceSlot::kConvColumns, static_cast<size_t>(r_rows * khc));
    float* dy_panels = thread_workspace(WorkspaceSlot::kConvGradientPanels, static_cast<size_t>(panels * grid * nr));
    if (r == nullptr || dy_panels == nullptr) {
      complete.store(false, std::memory_order_relaxed);
      return;
    }
    float* partial = partials + chunk * partial_len;
    for (int64_t image = image_begin; image < image_end; ++image) {
      check_finite(x_check, x + image * input_len, input_len);
      check_finite(dy_check, dy + image * output_len, output_len);
      expand_rows(g, x + image * input_len, wp, r_rows, r);
      grid_panels(g, nr, wp, dy + image * output_len, dy_panels);
      const bool accumulate = image > image_begin;
      for (int tt = 0; tt < tap_tiles; ++tt) {
        for (int p = 0; p < panels; ++p) {
          kernel.function(grid, r + static_cast<int64_t>(tt) * mr, 1, khc, dy_panels + p * grid * nr,
                          partial + tt * mr * ldp + p * nr, ldp, accumulate);
        }
      }
    }
  });
  if (!complete.load()) return false;
  mark_covered(x_check);
  mark_covered(dy_check);

  // dw[ky, kx, ci, o] = sum over chunks, in order, of the partials' row t = (kx*kh + ky)*c + ci.
  for (int ky = 0; ky < g.kh; ++ky) {
    for (int kx = 0; kx < g.kw; ++kx) {
      for (int ci = 0; ci < g.c; ++ci) {
        const int64_t t = (static_cast<int64_t>(kx) * g.kh + ky) * g.c + ci;
        float* __restrict out = dw + ((static_cast<int64_t>(ky) * g.kw + kx) * g.c + ci) * g.oc;
        const float* __restrict first = partials + t * ldp;
        for (int o = 0; o < g.oc; ++o) out[o] = first[o];
        for (int chunk = 1; chunk < chunks; ++chunk) {
          const float* __restrict next = partials + chunk * partial_len + t * ldp;
          for (int o = 0; o < g.oc; ++o) out[o] += next[o];
        }
      }
    }
  }
  return true;
}

}  // namespace convkit
