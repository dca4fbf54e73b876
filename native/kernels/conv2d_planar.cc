#include "conv2d_planar.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "conv2d_stride1.h"
#include "cpu.h"
#include "parallel.h"
#include "workspace.h"

namespace convkit {

#if defined(__x86_64__) || defined(_M_X64)
// native/kernels/avx512/conv_planar.cc
void conv_planar_forward_48x8__avx512(int64_t taps, const float* p, const int32_t* offsets, const float* w,
                                      const float* bias, bool relu, int64_t q0, int pixels, int wp, int ow,
                                      int channels, int64_t pixel_stride, float* out);
void conv_planar_filter_3x8__avx512(int64_t pixels, int64_t images, int64_t p_stride, const float* p,
                                    const int32_t* offsets, int64_t dy_stride, int64_t ld, const float* dy,
                                    float* sums);
void conv_planar_transpose_row__avx512(const float* pixels, int count, int c, float* planes, int64_t plane);
#endif

namespace {

constexpr int kTilePixels = 48;   // pixels per forward micro-kernel call (three vectors)
constexpr int kTileChannels = 8;  // output channels per micro-kernel call
constexpr int kFilterTaps = 3;    // taps per filter-gradient micro-kernel call
constexpr int kVector = 16;       // floats per vector
// From 32 output channels up, a GEMM tile is full and the GEMM paths measure faster.
constexpr int kMaxOutputChannels = 31;
// Taps (c * kh * kw) whose offsets fit the stack table.
constexpr int kMaxTaps = 1024;

bool planar_available() {
#if defined(__x86_64__) || defined(_M_X64)
  static const bool available = active_isa() == Isa::kAvx512;
  return available;
#else
  return false;
#endif
}

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// Sizes of one image's planar copy: planes of hp x wp, the output grid of oh x wp pixels,
// and the floats the micro-kernels may read (the last tile runs past the grid).
struct PlanarLayout {
  int wp, hp;
  int64_t plane, grid, tiles, length;
  int taps;
};

PlanarLayout planar_layout(const Stride1Conv& g) {
  PlanarLayout layout;
  layout.wp = g.ow + (g.kw - 1) * g.dw;
  layout.hp = g.oh + (g.kh - 1) * g.dh;
  layout.plane = static_cast<int64_t>(layout.hp) * layout.wp;
  layout.grid = static_cast<int64_t>(g.oh) * layout.wp;
  layout.tiles = (layout.grid + kTilePixels - 1) / kTilePixels;
  layout.taps = g.c * g.kh * g.kw;
  const int64_t max_offset =
      (g.c - 1) * layout.plane + static_cast<int64_t>(g.kh - 1) * g.dh * layout.wp + (g.kw - 1) * g.dw;
  layout.length = std::max(g.c * layout.plane, layout.tiles * kTilePixels + max_offset) + kVector;
  return layout;
}

// Whether the planar path can run g: the geometry it supports, tap offsets that fit int32,
// and scratch (`images` planar copies per thread) within kMaxScratchFloats.
bool planar_applies(const Conv2dShape& s, const Stride1Conv& g, int64_t images) {
  if (!planar_available() || s.stride_h != 1 || s.stride_w != 1 || s.groups != 1 || s.n < thread_count()) return false;
  if (static_cast<int64_t>(g.c) * g.kh * g.kw > kMaxTaps) return false;
  const PlanarLayout layout = planar_layout(g);
  return layout.length < (int64_t{1} << 31) && images * layout.length <= kMaxScratchFloats;
}

// Images per chunk of the filter gradient (all of a chunk's images are made planar at once).
int64_t filter_chunk_images(const Conv2dShape& s) {
  const int chunks = std::min(s.n, kFixedChunks);
  return (s.n + chunks - 1) / chunks;
}

// The copies and offsets below serve only the AVX-512 micro-kernels.
#if defined(__x86_64__) || defined(_M_X64)
// offsets[t] for tap t = (ci*kh + ky)*kw + kx.
void tap_offsets(const Stride1Conv& g, const PlanarLayout& layout, int32_t* offsets) {
  int t = 0;
  for (int ci = 0; ci < g.c; ++ci) {
    for (int ky = 0; ky < g.kh; ++ky) {
      for (int kx = 0; kx < g.kw; ++kx) {
        offsets[t++] = static_cast<int32_t>(ci * layout.plane + static_cast<int64_t>(ky) * g.dh * layout.wp +
                                            static_cast<int64_t>(kx) * g.dw);
      }
    }
  }
}

// P[ci][row][col] = image[row - pad_top][col - pad_left][ci], zero outside the image and
// in the slack past the planes.
void make_planar(const Stride1Conv& g, const PlanarLayout& layout, const float* __restrict image,
                 float* __restrict planar) {
  std::memset(planar, 0, sizeof(float) * layout.length);
  const int col_begin = std::min(layout.wp, std::max(0, g.pad_left));
  const int col_end = std::max(col_begin, std::min(layout.wp, g.w + g.pad_left));
  for (int row = 0; row < layout.hp; ++row) {
    const int iy = row - g.pad_top;
    if (iy < 0 || iy >= g.h) continue;
    const float* __restrict src = image + (static_cast<int64_t>(iy) * g.w + (col_begin - g.pad_left)) * g.c;
    float* __restrict dst = planar + static_cast<int64_t>(row) * layout.wp;
    if (g.c == 1) {
      std::memcpy(dst + col_begin, src, sizeof(float) * (col_end - col_begin));
      continue;
    }
    // Every planar path runs only with AVX-512 active (planar_available()).
    conv_planar_transpose_row__avx512(src, col_end - col_begin, g.c, dst + col_begin, layout.plane);
  }
}
#endif

// Forward weights for the micro-kernel: group j holds w[t * 8 + o] = weight(tap t,
// channel 8j + o), zero past oc.
template <typename Weight>
void pack_weights(const Stride1Conv& g, const Weight& weight, float* __restrict packed) {
  const int groups = (g.oc + kTileChannels - 1) / kTileChannels;
  for (int group = 0; group < groups; ++group) {
    for (int ci = 0; ci < g.c; ++ci) {
      for (int ky = 0; ky < g.kh; ++ky) {
        for (int kx = 0; kx < g.kw; ++kx, packed += kTileChannels) {
          for (int o = 0; o < kTileChannels; ++o) {
            const int channel = group * kTileChannels + o;
            packed[o] = channel < g.oc ? weight(ky, kx, ci, channel) : 0.0f;
          }
        }
      }
    }
  }
}

template <typename Weight>
bool run_forward(const Stride1Conv& g, const Weight& weight, const ConvEpilogue& epilogue, const float* input,
                 float* output, FiniteCheck* input_check) {
#if defined(__x86_64__) || defined(_M_X64)
  const PlanarLayout layout = planar_layout(g);
  const int groups = (g.oc + kTileChannels - 1) / kTileChannels;
  float* packed =
      thread_workspace(WorkspaceSlot::kConvWeights, static_cast<size_t>(groups) * layout.taps * kTileChannels);
  if (packed == nullptr) return false;
  pack_weights(g, weight, packed);
  int32_t offsets[kMaxTaps];
  tap_offsets(g, layout, offsets);
  // The bias padded to whole groups of 8 channels, for the micro-kernel's epilogue.
  const bool has_bias = epilogue.bias != nullptr;
  float* bias = has_bias ? thread_workspace(WorkspaceSlot::kConvBias, static_cast<size_t>(groups) * kTileChannels)
                         : nullptr;
  if (has_bias && bias == nullptr) return false;
  for (int o = 0; has_bias && o < groups * kTileChannels; ++o) bias[o] = o < g.oc ? epilogue.bias[o] : 0.0f;

  std::atomic<bool> complete{true};  // threads that cannot get workspace clear it
  parallel_for_dynamic(g.n, 1, [&](int64_t image_begin, int64_t image_end) {  // to whichever thread is free
    float* planar = thread_workspace(WorkspaceSlot::kConvColumns, static_cast<size_t>(layout.length));
    if (planar == nullptr) {
      complete.store(false, std::memory_order_relaxed);
      return;
    }
    const int64_t input_len = static_cast<int64_t>(g.h) * g.w * g.c;
    const int64_t output_len = static_cast<int64_t>(g.oh) * g.ow * g.oc;
    for (int64_t image = image_begin; image < image_end; ++image) {
      check_finite(input_check, input + image * input_len, input_len);
      make_planar(g, layout, input + image * input_len, planar);
      float* out_image = output + image * output_len;
      for (int64_t t = 0; t < layout.tiles; ++t) {
        const int64_t q0 = t * kTilePixels;
        const int pixels = static_cast<int>(std::min<int64_t>(kTilePixels, layout.grid - q0));
        for (int group = 0; group < groups; ++group) {
          conv_planar_forward_48x8__avx512(layout.taps, planar + q0, offsets,
                                           packed + static_cast<int64_t>(group) * layout.taps * kTileChannels,
                                           has_bias ? bias + group * kTileChannels : nullptr, epilogue.relu, q0,
                                           pixels, layout.wp, g.ow, std::min(kTileChannels, g.oc - group * kTileChannels),
                                           g.oc, out_image + group * kTileChannels);
        }
      }
    }
  });
  // A thread without workspace leaves its images unwritten: only possible when memory
  // runs out, and then the caller recomputes everything on another path.
  if (!complete.load()) return false;
  mark_covered(input_check);
  return true;
#else
  (void)g, (void)weight, (void)epilogue, (void)input, (void)output, (void)input_check;
  return false;
#endif
}

// dy of one image on the planar grid: row o (of groups * 8, stride ld) holds
// dy[oy, ox, o] at q = oy*wp + ox, zero where ox >= ow, past the grid, or o >= oc.
#if defined(__x86_64__) || defined(_M_X64)
void planar_gradient(const Stride1Conv& g, const PlanarLayout& layout, int rows, int64_t ld,
                     const float* __restrict dy_image, float* __restrict planar_dy) {
  std::memset(planar_dy, 0, sizeof(float) * rows * ld);
  for (int oy = 0; oy < g.oh; ++oy) {
    conv_planar_transpose_row__avx512(dy_image + static_cast<int64_t>(oy) * g.ow * g.oc, g.ow, g.oc,
                                      planar_dy + static_cast<int64_t>(oy) * layout.wp, ld);
  }
}
#endif

}  // namespace

bool conv_forward_planar_preferred(const Conv2dShape& s) {
  return s.oc <= kMaxOutputChannels && planar_applies(s, stride1_forward(s), 1);
}

bool conv_backward_input_planar_preferred(const Conv2dShape& s) {
  // The input gradient runs as a convolution over dy padded by the kernel's extent, on a
  // grid kw - 1 columns wider than dx, in whole groups of 8 channels: only this fraction
  // of its multiply-adds meet a nonzero dy. Below one half (a valid convolution with a
  // large kernel: LeNet's 5x5 on 14x14, 0.30), im2col measured faster.
  const double useful = static_cast<double>(s.oh) * s.ow * s.c /
                        (static_cast<double>(s.h) * (s.w + (s.kw - 1) * s.dilation_w) * round_up(s.c, kTileChannels));
  return s.c <= kMaxOutputChannels && useful >= 0.5 && planar_applies(s, stride1_input_gradient(s), 1);
}

bool conv_backward_filter_planar_preferred(const Conv2dShape& s) {
  return s.oc <= kMaxOutputChannels && planar_applies(s, stride1_forward(s), filter_chunk_images(s));
}

bool conv2d_forward_planar(const Conv2dShape& s, const float* x, const float* w, float* y,
                           const ConvEpilogue& epilogue, FiniteCheck* x_check) {
  return run_forward(stride1_forward(s), ForwardWeight{w, s.kw, s.c, s.oc}, epilogue, x, y, x_check);
}

bool conv2d_backward_input_planar(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                  FiniteCheck* dy_check) {
  return run_forward(stride1_input_gradient(s), MirroredWeight{w, s.kh, s.kw, s.c, s.oc}, ConvEpilogue{}, dy, dx,
                     dy_check);
}

bool conv2d_backward_filter_planar(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                   FiniteCheck* x_check, FiniteCheck* dy_check) {
#if defined(__x86_64__) || defined(_M_X64)
  const Stride1Conv g = stride1_forward(s);
  const PlanarLayout layout = planar_layout(g);
  const int groups = (g.oc + kTileChannels - 1) / kTileChannels;
  const int tap_groups = (layout.taps + kFilterTaps - 1) / kFilterTaps;
  const int64_t ld = round_up(layout.grid, kVector);  // a multiple of 16 floats, zero past the grid
  // Each chunk's sums: [tap group][channel group][3 taps][8 channels].
  const int64_t sums_len = static_cast<int64_t>(tap_groups) * groups * kFilterTaps * kTileChannels;
  const int chunks = std::min(s.n, kFixedChunks);
  float* sums = thread_workspace(WorkspaceSlot::kConvPartials, static_cast<size_t>(chunks * sums_len));
  if (sums == nullptr) return false;
  int32_t offsets[kMaxTaps + kFilterTaps];
  tap_offsets(g, layout, offsets);
  for (int t = layout.taps; t < tap_groups * kFilterTaps; ++t) offsets[t] = 0;  // padding taps, sums unused

  // A chunk's images side by side, planar, then its dy: the micro-kernel sums over all of
  // them in registers, so each tap group's reduction happens once per chunk.
  const int64_t chunk_images = filter_chunk_images(s);
  const int64_t dy_len = groups * kTileChannels * ld;
  std::atomic<bool> complete{true};  // threads that cannot get workspace clear it
  const int64_t input_len = static_cast<int64_t>(g.h) * g.w * g.c;
  const int64_t output_len = static_cast<int64_t>(g.oh) * g.ow * g.oc;
  for_fixed_chunks(s.n, chunks, [&](int64_t chunk, int64_t first, int64_t end) {
    float* planar = thread_workspace(WorkspaceSlot::kConvColumns, static_cast<size_t>(chunk_images * layout.length));
    float* planar_dy =
        thread_workspace(WorkspaceSlot::kConvGradientPanels, static_cast<size_t>(chunk_images * dy_len));
    if (planar == nullptr || planar_dy == nullptr) {
      complete.store(false, std::memory_order_relaxed);
      return;
    }
    const int64_t images = end - first;
    for (int64_t b = 0; b < images; ++b) {
      check_finite(x_check, x + (first + b) * input_len, input_len);
      check_finite(dy_check, dy + (first + b) * output_len, output_len);
      make_planar(g, layout, x + (first + b) * input_len, planar + b * layout.length);
      planar_gradient(g, layout, groups * kTileChannels, ld, dy + (first + b) * output_len, planar_dy + b * dy_len);
    }
    float* out = sums + chunk * sums_len;
    std::memset(out, 0, sizeof(float) * sums_len);
    for (int tg = 0; tg < tap_groups; ++tg) {
      for (int group = 0; group < groups; ++group, out += kFilterTaps * kTileChannels) {
        conv_planar_filter_3x8__avx512(ld, images, layout.length, planar, offsets + tg * kFilterTaps, dy_len, ld,
                                       planar_dy + group * kTileChannels * ld, out);
      }
    }
  });
  if (!complete.load()) return false;

  // dw[ky, kx, ci, o] = the chunks' sums for tap t = (ci*kh + ky)*kw + kx, added in order.
  for (int ci = 0; ci < g.c; ++ci) {
    for (int ky = 0; ky < g.kh; ++ky) {
      for (int kx = 0; kx < g.kw; ++kx) {
        const int t = (ci * g.kh + ky) * g.kw + kx;
        float* __restrict out = dw + ((static_cast<int64_t>(ky) * g.kw + kx) * g.c + ci) * g.oc;
        for (int o = 0; o < g.oc; ++o) {
          const int64_t at =
              ((static_cast<int64_t>(t / kFilterTaps) * groups + o / kTileChannels) * kFilterTaps + t % kFilterTaps) *
                  kTileChannels +
              o % kTileChannels;
          float sum = sums[at];
          for (int chunk = 1; chunk < chunks; ++chunk) sum += sums[chunk * sums_len + at];
          out[o] = sum;
        }
      }
    }
  }
  mark_covered(x_check);
  mark_covered(dy_check);
  return true;
#else
  (void)s, (void)x, (void)dy, (void)dw, (void)x_check, (void)dy_check;
  return false;
#endif
}

}  // namespace convkit
