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
void winograd_gradient_tile__avx512(const float* dy, int64_t dy_row_stride, int channels, int rows, int cols,
                                    float* d, int64_t d_stride);
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
// The filter gradient's partial sums (one per chunk of blocks) are 16 x oc x c floats:
// past this, wider layers keep their usual path.
constexpr int64_t kMaxPartialFloats = int64_t{1} << 18;

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
         s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 && s.n >= 1 && s.h >= 1 && s.w >= 1 &&
         s.oh >= 1 && s.ow >= 1;
}

// The rest of this file runs the AVX-512 transforms.
#if defined(__x86_64__) || defined(_M_X64)
// How one call splits into tiles and blocks.
struct WinogradLayout {
  int tiles_y, tiles_x;
  int64_t image_tiles, tiles;  // per image, in all
  int panels, ldm;             // micro-kernel column panels of oc; M's row length
  int block_tiles;             // tiles per block, a multiple of the micro-kernel's mr
  int64_t blocks;
  int64_t v_floats, m_floats, patch_floats;  // one block's scratch
};

// `block_columns`: floats per tile and element of the block's two transformed operands.
WinogradLayout winograd_layout(const Stride1Conv& g, const SgemmKernel& kernel, int64_t block_columns) {
  WinogradLayout layout;
  layout.tiles_y = (g.oh + 1) / 2;
  layout.tiles_x = (g.ow + 1) / 2;
  layout.image_tiles = static_cast<int64_t>(layout.tiles_y) * layout.tiles_x;
  layout.tiles = layout.image_tiles * g.n;
  layout.panels = (g.oc + kernel.nr - 1) / kernel.nr;
  layout.ldm = layout.panels * kernel.nr;
  int64_t rows = kBlockFloats / (kElements * block_columns * kernel.mr);
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

// Where an input transform puts its 16 elements: element xi of tile t, channel ci, at
// v[xi*element_stride + t*tile_stride + (ci / panel_width)*panel_stride + ci % panel_width]
// (see winograd_input_tiles__avx512).
struct TransformedLayout {
  float* v;
  int64_t element_stride, tile_stride;
  int panel_width;
  int64_t panel_stride;
};

// V of tiles [first, first + count): runs of tiles along one tile row whose patches lie
// inside the image in one call, read in place; tiles over the padding through `patch`, a
// zero-padded 4x4 copy. Each image is checked when its first tile is transformed.
void transform_input_tiles(const Stride1Conv& g, const WinogradLayout& layout, const float* input, int64_t first,
                           int count, const TransformedLayout& out, float* patch, FiniteCheck* input_check) {
  const int c = g.c;
  const int64_t input_row = static_cast<int64_t>(g.w) * c;
  const int64_t input_len = static_cast<int64_t>(g.h) * input_row;
  for (int k = 0; k < count;) {
    const int64_t tile = first + k;
    const int64_t image = tile / layout.image_tiles;
    const int64_t in_image = tile % layout.image_tiles;
    const int ty = static_cast<int>(in_image / layout.tiles_x), tx = static_cast<int>(in_image % layout.tiles_x);
    const float* image_data = input + image * input_len;
    if (in_image == 0) check_finite(input_check, image_data, input_len);
    const int iy = 2 * ty - g.pad_top, ix = 2 * tx - g.pad_left;
    float* v = out.v + static_cast<int64_t>(k) * out.tile_stride;
    if (iy >= 0 && iy + 4 <= g.h && ix >= 0 && ix + 4 <= g.w) {
      // Tiles tx .. tx + run - 1 of this row, all inside, all in this block.
      const int inside_end = std::min(layout.tiles_x, (g.w - 4 + g.pad_left) / 2 + 1);
      const int run = std::min(inside_end - tx, count - k);
      winograd_input_tiles__avx512(image_data + iy * input_row + static_cast<int64_t>(ix) * c, input_row, c, run, v,
                                   out.element_stride, out.tile_stride, out.panel_width, out.panel_stride);
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
    winograd_input_tiles__avx512(patch, 4 * c, c, 1, v, out.element_stride, out.tile_stride, out.panel_width,
                                 out.panel_stride);
    ++k;
  }
}

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
  const int64_t output_row = static_cast<int64_t>(g.ow) * g.oc;
  const int64_t output_len = static_cast<int64_t>(g.oh) * output_row;

  transform_input_tiles(g, layout, input, first, count, TransformedLayout{v, v_stride, c, c, 0}, patch, input_check);
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

// The filter gradient (see conv2d_winograd.h): per block, V of x's tiles in panels of nr
// input channels, D = A dY A^T of dy's tiles, then for each element xi the product
// D[xi]^T V[xi] (output channels as the micro-kernel's rows, tiles as its k) added into
// the chunk's partial: rows (oc padded to whole row tiles) by ldv floats per element.
struct FilterGradientLayout {
  int c_panels, ldv;  // panels of nr input channels; V's and the partials' row length
  int row_tiles, rows;  // micro-kernel row tiles over oc, and the rows they cover
  int64_t v_floats, d_floats, partial_floats;
};

FilterGradientLayout filter_gradient_layout(const Stride1Conv& g, const WinogradLayout& layout,
                                            const SgemmKernel& kernel) {
  FilterGradientLayout f;
  f.c_panels = (g.c + kernel.nr - 1) / kernel.nr;
  f.ldv = f.c_panels * kernel.nr;
  f.row_tiles = (g.oc + kernel.mr - 1) / kernel.mr;
  f.rows = f.row_tiles * kernel.mr;
  f.v_floats = static_cast<int64_t>(kElements) * layout.block_tiles * f.ldv;
  // The last row tile reads rows - oc floats past the last tile's channels of D.
  f.d_floats = static_cast<int64_t>(kElements) * layout.block_tiles * g.oc + kernel.mr;
  f.partial_floats = static_cast<int64_t>(kElements) * f.rows * f.ldv;
  return f;
}

void filter_gradient_block(const Stride1Conv& g, const WinogradLayout& layout, const FilterGradientLayout& f,
                           const SgemmKernel& kernel, const float* x, const float* dy, int64_t block, bool accumulate,
                           float* scratch, float* partial, FiniteCheck* x_check, FiniteCheck* dy_check) {
  const int nr = kernel.nr, mr = kernel.mr;
  const int64_t first = block * layout.block_tiles;
  const int count = static_cast<int>(std::min<int64_t>(layout.block_tiles, layout.tiles - first));
  float* v = scratch;
  float* d = v + f.v_floats;
  float* patch = d + f.d_floats;
  const int64_t panel_stride = static_cast<int64_t>(layout.block_tiles) * nr;
  const int64_t v_stride = f.c_panels * panel_stride;
  const int64_t d_stride = static_cast<int64_t>(layout.block_tiles) * g.oc;
  transform_input_tiles(g, layout, x, first, count, TransformedLayout{v, v_stride, nr, nr, panel_stride}, patch,
                        x_check);

  const int64_t dy_row = static_cast<int64_t>(g.ow) * g.oc;
  const int64_t dy_len = static_cast<int64_t>(g.oh) * dy_row;
  for (int k = 0; k < count; ++k) {
    const int64_t tile = first + k;
    const int64_t image = tile / layout.image_tiles;
    const int64_t in_image = tile % layout.image_tiles;
    if (in_image == 0) check_finite(dy_check, dy + image * dy_len, dy_len);
    const int oy = 2 * static_cast<int>(in_image / layout.tiles_x), ox = 2 * static_cast<int>(in_image % layout.tiles_x);
    winograd_gradient_tile__avx512(dy + image * dy_len + oy * dy_row + static_cast<int64_t>(ox) * g.oc, dy_row, g.oc,
                                   std::min(2, g.oh - oy), std::min(2, g.ow - ox), d + static_cast<int64_t>(k) * g.oc,
                                   d_stride);
  }

  // partial[xi] (+)= D[xi]^T V[xi]: D read in place as the micro-kernel's A, a row per
  // output channel (rows past oc read the next floats and are discarded), tiles oc floats
  // apart; V's panels are its B.
  for (int xi = 0; xi < kElements; ++xi) {
    const float* d_xi = d + xi * d_stride;
    float* partial_xi = partial + static_cast<int64_t>(xi) * f.rows * f.ldv;
    for (int p = 0; p < f.c_panels; ++p) {
      const float* b = v + xi * v_stride + p * panel_stride;
      for (int r = 0; r < f.row_tiles; ++r) {
        kernel.function(count, d_xi + r * mr, 1, g.oc, b, partial_xi + static_cast<int64_t>(r) * mr * f.ldv + p * nr,
                        f.ldv, accumulate);
      }
    }
  }
}
// dw = G^T dU G per (ci, o), dU the partials summed in chunk order (G as in
// transform_filter).
void filter_from_partials(const Stride1Conv& g, const FilterGradientLayout& f, const float* partials, int chunks,
                          float* dw) {
  const int64_t element_len = static_cast<int64_t>(f.rows) * f.ldv;
  const int64_t partial_len = kElements * element_len;
  for (int o = 0; o < g.oc; ++o) {
    for (int ci = 0; ci < g.c; ++ci) {
      float du[4][4];
      for (int xi = 0; xi < kElements; ++xi) {
        const float* value = partials + xi * element_len + static_cast<int64_t>(o) * f.ldv + ci;
        float sum = value[0];
        for (int chunk = 1; chunk < chunks; ++chunk) sum += value[chunk * partial_len];
        du[xi / 4][xi % 4] = sum;
      }
      float h[3][4];  // G^T dU
      for (int j = 0; j < 4; ++j) {
        h[0][j] = du[0][j] + 0.5f * (du[1][j] + du[2][j]);
        h[1][j] = 0.5f * (du[1][j] - du[2][j]);
        h[2][j] = 0.5f * (du[1][j] + du[2][j]) + du[3][j];
      }
      for (int ky = 0; ky < 3; ++ky) {  // (G^T dU) G
        float* out = dw + (static_cast<int64_t>(ky) * 3 * g.c + ci) * g.oc + o;
        out[0] = h[ky][0] + 0.5f * (h[ky][1] + h[ky][2]);
        out[static_cast<int64_t>(g.c) * g.oc] = 0.5f * (h[ky][1] - h[ky][2]);
        out[2 * static_cast<int64_t>(g.c) * g.oc] = 0.5f * (h[ky][1] + h[ky][2]) + h[ky][3];
      }
    }
  }
}

bool run_filter_gradient(const Stride1Conv& g, const float* x, const float* dy, float* dw, FiniteCheck* x_check,
                         FiniteCheck* dy_check) {
  const SgemmKernel& kernel = active_sgemm_config().kernel;
  const WinogradLayout layout = winograd_layout(g, kernel, kernel.nr * ((g.c + kernel.nr - 1) / kernel.nr) + g.oc);
  const FilterGradientLayout f = filter_gradient_layout(g, layout, kernel);
  // Blocks in a fixed number of chunks, each summed into its own partial, the partials
  // added in order: the same bits on any thread count.
  const int chunks = static_cast<int>(std::min<int64_t>(layout.blocks, kFixedChunks));
  float* partials = thread_workspace(WorkspaceSlot::kConvPartials, static_cast<size_t>(chunks * f.partial_floats));
  if (partials == nullptr) return false;
  std::atomic<bool> complete{true};  // false when a thread's scratch could not be allocated
  for_fixed_chunks(layout.blocks, chunks, [&](int64_t chunk, int64_t block_begin, int64_t block_end) {
    float* scratch = thread_workspace(WorkspaceSlot::kConvColumns,
                                      static_cast<size_t>(f.v_floats + f.d_floats + layout.patch_floats));
    if (scratch == nullptr) {
      complete.store(false, std::memory_order_relaxed);
      return;
    }
    // V's panel columns past c are never written; zeros there keep whatever the scratch
    // held (a denormal costs a microcode assist per use) out of the discarded columns.
    if (g.c % kernel.nr != 0) std::memset(scratch, 0, sizeof(float) * f.v_floats);
    for (int64_t block = block_begin; block < block_end; ++block) {
      filter_gradient_block(g, layout, f, kernel, x, dy, block, block > block_begin, scratch,
                            partials + chunk * f.partial_floats, x_check, dy_check);
    }
  });
  if (!complete.load()) return false;
  mark_covered(x_check);
  mark_covered(dy_check);
  filter_from_partials(g, f, partials, chunks, dw);
  return true;
}
#endif

template <typename Weight>
bool run(const Stride1Conv& g, const Weight& weight, const ConvEpilogue& epilogue, const float* input, float* output,
         FiniteCheck* input_check) {
#if defined(__x86_64__) || defined(_M_X64)
  const SgemmKernel& kernel = active_sgemm_config().kernel;
  const WinogradLayout layout = winograd_layout(g, kernel, g.c + (g.oc + kernel.nr - 1) / kernel.nr * kernel.nr);
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

bool conv_backward_filter_winograd_preferred(const Conv2dShape& s) {
  if (!winograd_applies(s)) return false;
  const SgemmKernel& kernel = active_sgemm_config().kernel;
  const int ldv = (s.c + kernel.nr - 1) / kernel.nr * kernel.nr;
  const int rows = (s.oc + kernel.mr - 1) / kernel.mr * kernel.mr;
  // Measured against filter16 (N 64, 1 thread): 1.26-1.38x with 64 output channels (70
  // rows of 14), 0.99-1.07x with 32 (42 rows): output channels go in the micro-kernel's
  // rows, and padding past an eighth of them costs what the transforms save.
  return s.c >= kMinChannels && 4 * s.c >= 3 * ldv && 8 * rows <= 9 * s.oc &&
         int64_t{kElements} * rows * ldv <= kMaxPartialFloats;
}

bool conv2d_forward_winograd(const Conv2dShape& s, const float* x, const float* w, float* y,
                             const ConvEpilogue& epilogue, FiniteCheck* x_check) {
  return run(stride1_forward(s), ForwardWeight{w, s.kw, s.c, s.oc}, epilogue, x, y, x_check);
}

bool conv2d_backward_input_winograd(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                    FiniteCheck* dy_check) {
  return run(stride1_input_gradient(s), MirroredWeight{w, s.kh, s.kw, s.c, s.oc}, ConvEpilogue{}, dy, dx, dy_check);
}

bool conv2d_backward_filter_winograd(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                     FiniteCheck* x_check, FiniteCheck* dy_check) {
#if defined(__x86_64__) || defined(_M_X64)
  return run_filter_gradient(stride1_forward(s), x, dy, dw, x_check, dy_check);
#else
  (void)s, (void)x, (void)dy, (void)dw, (void)x_check, (void)dy_check;
  return false;
#endif
}

}  // namespace convkit
