#include "conv2d_winograd.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "conv2d_stride1.h"
#include "cpu.h"
#include "gemm.h"
#include "parallel.h"
#include "workspace.h"

namespace convkit {

#if defined(__x86_64__) || defined(_M_X64)
// native/kernels/avx512/conv_winograd.cc
void winograd_input_tiles__avx512(const float* patch, int64_t row_stride, int channels, int tiles, float* v,
                                  int64_t v_stride, int64_t tile_stride, int panel_width, int64_t panel_stride);
void winograd_output_tile__avx512(const float* m, int64_t m_stride, int channels, const float* bias, bool relu,
                                  int rows, int cols, float* out, int64_t out_row_stride);
#endif

namespace {

constexpr int kElements = 16;  // a transformed tile: 4 x 4
// Below this many input channels (the GEMM's k) the transforms cost more than they save.
constexpr int kMinChannels = 16;
// Floats of V plus M that one block keeps in L2 (half of Cascade Lake's 1 MiB, leaving room
// for the transformed filter and the input rows being read).
constexpr int64_t kBlockFloats = int64_t{1} << 17;
constexpr int kMaxBlockRows = 8;  // micro-kernel row tiles per block

bool winograd_available() {
#if defined(__x86_64__) || defined(_M_X64)
  static const bool available = active_isa() == Isa::kAvx512 && active_sgemm_config().kernel.isa == Isa::kAvx512;
  return available;
#else
  return false;
#endif
}

// The GEMM of geometry g: k is g.c, its columns g.oc. Measured against the implicit and
// im2col paths (N 64, 8x8 to 32x32 images): 1.2-1.9x from 24 output columns up, but
// 0.70-0.87x with 16, where half of each 32-wide micro-kernel tile is padding.
bool winograd_applies(const Stride1Conv& g, int nr) {
  const int ldm = (g.oc + nr - 1) / nr * nr;
  return g.c >= kMinChannels && 4 * g.oc >= 3 * ldm;
}

bool winograd_applies(const Conv2dShape& s) {
  return winograd_available() && s.kh == 3 && s.kw == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1;
}

// How one call splits into tiles and blocks.
struct WinogradLayout {
  int tiles_y, tiles_x;
  int64_t image_tiles, tiles;  // per image, in all
  int panels, ldm;             // micro-kernel column panels of oc; M's row length
  int block_tiles;             // tiles per block, a multiple of the micro-kernel's mr
  int64_t blocks;
  int64_t v_floats, m_floats, patch_floats;  // one block's scratch
};

WinogradLayout winograd_layout(const Stride1Conv& g, const SgemmKernel& kernel) {
  WinogradLayout layout;
  layout.tiles_y = (g.oh + 1) / 2;
  layout.tiles_x = (g.ow + 1) / 2;
  layout.image_tiles = static_cast<int64_t>(layout.tiles_y) * layout.tiles_x;
  layout.tiles = layout.image_tiles * g.n;
  layout.panels = (g.oc + kernel.nr - 1) / kernel.nr;
  layout.ldm = layout.panels * kernel.nr;
  int64_t rows = kBlockFloats / (static_cast<int64_t>(kElements) * (g.c + layout.ldm) * kernel.mr);
  rows = std::max<int64_t>(1, std::min<int64_t>(rows, kMaxBlockRows));
  // No more row tiles than the whole call has.
  rows = std::min<int64_t>(rows, (layout.tiles + kernel.mr - 1) / kernel.mr);
  layout.block_tiles = static_cast<int>(rows) * kernel.mr;
  layout.blocks = (layout.tiles + layout.block_tiles - 1) / layout.block_tiles;
  layout.v_floats = static_cast<int64_t>(kElements) * layout.block_tiles * g.c;
  layout.m_floats = static_cast<int64_t>(kElements) * layout.block_tiles * layout.ldm;
  layout.patch_floats = static_cast<int64_t>(kElements) * g.c;
  return layout;
}

// U[xi][p][ci][j] = (G g G^T)[xi] for the 3x3 filter g of input channel ci and output
// channel p*nr + j (zero past oc): panel (xi, p) is the c x nr B operand of element xi's
// GEMM. G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
template <typename Weight>
void transform_filter(const Stride1Conv& g, const WinogradLayout& layout, int nr, const Weight& weight,
                      float* __restrict u) {
  const int64_t panel_len = static_cast<int64_t>(g.c) * nr;
  for (int p = 0; p < layout.panels; ++p) {
    for (int ci = 0; ci < g.c; ++ci) {
      for (int j = 0; j < nr; ++j) {
        const int o = p * nr + j;
        float transformed[4][4] = {};
        if (o < g.oc) {
          float rows[4][3];  // G g
          for (int kx = 0; kx < 3; ++kx) {
            const float g0 = weight(0, kx, ci, o), g1 = weight(1, kx, ci, o), g2 = weight(2, kx, ci, o);
            rows[0][kx] = g0;
            rows[1][kx] = 0.5f * (g0 + g1 + g2);
            rows[2][kx] = 0.5f * (g0 - g1 + g2);
            rows[3][kx] = g2;
          }
          for (int i = 0; i < 4; ++i) {  // (G g) G^T
            const float g0 = rows[i][0], g1 = rows[i][1], g2 = rows[i][2];
            transformed[i][0] = g0;
            transformed[i][1] = 0.5f * (g0 + g1 + g2);
            transformed[i][2] = 0.5f * (g0 - g1 + g2);
            transformed[i][3] = g2;
          }
        }
        for (int xi = 0; xi < kElements; ++xi) {
          u[(static_cast<int64_t>(xi) * layout.panels + p) * panel_len + static_cast<int64_t>(ci) * nr + j] =
              transformed[xi / 4][xi % 4];
        }
      }
    }
  }
}

#if defined(__x86_64__) || defined(_M_X64)
// Block `block`: V of its tiles, the 16 GEMMs into M, then the output tiles. `scratch`
// holds V, M and one zero-padded patch for tiles that overlap the padding.
void run_block(const Stride1Conv& g, const WinogradLayout& layout, const SgemmKernel& kernel, const float* u,
               const ConvEpilogue& epilogue, const float* input, float* output, int64_t block, float* scratch,
               FiniteCheck* input_check) {
  const int c = g.c, mr = kernel.mr, nr = kernel.nr;
  const int64_t first = block * layout.block_tiles;
  const int count = static_cast<int>(std::min<int64_t>(layout.block_tiles, layout.tiles - first));
  const int64_t v_stride = static_cast<int64_t>(layout.block_tiles) * c;  // between V's elements
  const int64_t m_stride = static_cast<int64_t>(layout.block_tiles) * layout.ldm;
  float* v = scratch;
  float* m = v + layout.v_floats;
  float* patch = m + layout.m_floats;
  const int64_t input_row = static_cast<int64_t>(g.w) * c;
  const int64_t input_len = static_cast<int64_t>(g.h) * input_row;
  const int64_t output_row = static_cast<int64_t>(g.ow) * g.oc;
  const int64_t output_len = static_cast<int64_t>(g.oh) * output_row;

  // Input transforms: runs of tiles along one tile row whose patches lie inside the image
  // in one call, read in place; tiles over the padding through a zero-padded copy.
  for (int k = 0; k < count;) {
    const int64_t tile = first + k;
    const int64_t image = tile / layout.image_tiles;
    const int64_t in_image = tile % layout.image_tiles;
    const int ty = static_cast<int>(in_image / layout.tiles_x), tx = static_cast<int>(in_image % layout.tiles_x);
    const float* image_data = input + image * input_len;
    if (in_image == 0) check_finite(input_check, image_data, input_len);
    const int iy = 2 * ty - g.pad_top, ix = 2 * tx - g.pad_left;
    const bool rows_inside = iy >= 0 && iy + 4 <= g.h;
    if (rows_inside && ix >= 0 && ix + 4 <= g.w) {
      // Tiles tx .. tx + run - 1 of this row, all inside, all in this block.
      const int inside_end = std::min(layout.tiles_x, (g.w - 4 + g.pad_left) / 2 + 1);
      const int run = std::min(inside_end - tx, count - k);
      winograd_input_tiles__avx512(image_data + iy * input_row + static_cast<int64_t>(ix) * c, input_row, c, run,
                                   v + static_cast<int64_t>(k) * c, v_stride, c, c, 0);
      k += run;
      continue;
    }
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) {
        float* dst = patch + (i * 4 + j) * c;
        const int y = iy + i, x = ix + j;
        if (y < 0 || y >= g.h || x < 0 || x >= g.w) {
          std::memset(dst, 0, sizeof(float) * c);
        } else {
          std::memcpy(dst, image_data + y * input_row + static_cast<int64_t>(x) * c, sizeof(float) * c);
        }
      }
    }
    winograd_input_tiles__avx512(patch, 4 * c, c, 1, v + static_cast<int64_t>(k) * c, v_stride, c, c, 0);
    ++k;
  }
  // The last block's missing tiles: zero rows, so that the micro-kernel's rows past
  // `count` compute (and discard) zeros rather than whatever the scratch held.
  const int row_tiles = (count + mr - 1) / mr;
  if (count < row_tiles * mr) {
    for (int xi = 0; xi < kElements; ++xi) {
      std::memset(v + xi * v_stride + static_cast<int64_t>(count) * c, 0,
                  sizeof(float) * (row_tiles * mr - count) * c);
    }
  }

  // M[xi] = V[xi] U[xi]: rows of V read in place, c floats apart.
  const int64_t panel_len = static_cast<int64_t>(c) * nr;
  for (int xi = 0; xi < kElements; ++xi) {
    const float* v_xi = v + xi * v_stride;
    float* m_xi = m + xi * m_stride;
    for (int p = 0; p < layout.panels; ++p) {
      const float* b = u + (static_cast<int64_t>(xi) * layout.panels + p) * panel_len;
      for (int r = 0; r < row_tiles; ++r) {
        kernel.function(c, v_xi + static_cast<int64_t>(r) * mr * c, c, 1, b,
                        m_xi + static_cast<int64_t>(r) * mr * layout.ldm + p * nr, layout.ldm, false);
      }
    }
  }

  // Output transforms, with the epilogue.
  for (int k = 0; k < count; ++k) {
    const int64_t tile = first + k;
    const int64_t image = tile / layout.image_tiles;
    const int64_t in_image = tile % layout.image_tiles;
    const int oy = 2 * static_cast<int>(in_image / layout.tiles_x), ox = 2 * static_cast<int>(in_image % layout.tiles_x);
    winograd_output_tile__avx512(m + static_cast<int64_t>(k) * layout.ldm, m_stride, g.oc, epilogue.bias,
                                 epilogue.relu, std::min(2, g.oh - oy), std::min(2, g.ow - ox),
                                 output + image * output_len + oy * output_row + static_cast<int64_t>(ox) * g.oc,
                                 output_row);
  }
}
#endif

template <typename Weight>
bool run(const Stride1Conv& g, const Weight& weight, const ConvEpilogue& epilogue, const float* input, float* output,
         FiniteCheck* input_check) {
#if defined(__x86_64__) || defined(_M_X64)
  const SgemmKernel& kernel = active_sgemm_config().kernel;
  const WinogradLayout layout = winograd_layout(g, kernel);
  float* u = thread_workspace(WorkspaceSlot::kConvWeights,
                              static_cast<size_t>(kElements) * layout.panels * g.c * kernel.nr);
  if (u == nullptr) return false;
  transform_filter(g, layout, kernel.nr, weight, u);
  std::atomic<bool> complete{true};  // false when a thread's scratch could not be allocated
  parallel_for_dynamic(layout.blocks, 1, [&](int64_t begin, int64_t end) {  // blocks to whichever thread is free
    float* scratch = thread_workspace(WorkspaceSlot::kConvColumns,
                                      static_cast<size_t>(layout.v_floats + layout.m_floats + layout.patch_floats));
    if (scratch == nullptr) {
      complete.store(false, std::memory_order_relaxed);
      return;
    }
    for (int64_t block = begin; block < end; ++block) {
      run_block(g, layout, kernel, u, epilogue, input, output, block, scratch, input_check);
    }
  });
  if (!complete.load()) return false;
  mark_covered(input_check);
  return true;
#else
  (void)g, (void)weight, (void)epilogue, (void)input, (void)output, (void)input_check;
  return false;
#endif
}

}  // namespace

bool conv_forward_winograd_preferred(const Conv2dShape& s) {
  return winograd_applies(s) && winograd_applies(stride1_forward(s), active_sgemm_config().kernel.nr);
}

bool conv_backward_input_winograd_preferred(const Conv2dShape& s) {
  return winograd_applies(s) && winograd_applies(stride1_input_gradient(s), active_sgemm_config().kernel.nr);
}

bool conv2d_forward_winograd(const Conv2dShape& s, const float* x, const float* w, float* y,
                             const ConvEpilogue& epilogue, FiniteCheck* x_check) {
  return run(stride1_forward(s), ForwardWeight{w, s.kw, s.c, s.oc}, epilogue, x, y, x_check);
}

bool conv2d_backward_input_winograd(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                    FiniteCheck* dy_check) {
  return run(stride1_input_gradient(s), MirroredWeight{w, s.kh, s.kw, s.c, s.oc}, ConvEpilogue{}, dy, dx, dy_check);
}

}  // namespace convkit
