#include "conv2d_filter16.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "conv2d_stride1.h"
#include "cpu.h"
#include "parallel.h"
#include "workspace.h"

namespace convkit {

#if defined(__x86_64__) || defined(_M_X64)
// native/kernels/avx512/conv_filter16.cc
void conv_filter_row__avx512(int taps, int channels, int64_t rows, int64_t cols, const float* x,
                             int64_t x_row_stride, int64_t x_pixel_stride, const float* dy, int64_t dy_row_stride,
                             float* sums, int64_t sums_channel_stride, int64_t sums_tap_stride);
#endif

namespace {

constexpr int kVector = 16;  // output channels per micro-kernel call: one vector of dy per pixel
constexpr int kChannelBlock = 8;     // input channels per micro-kernel call (twice that for one tap)
constexpr int kTapGroup = 3;         // taps along a kernel row per micro-kernel call
constexpr int kMaxOutputChannels = 64;

bool filter16_available() {
#if defined(__x86_64__) || defined(_M_X64)
  static const bool available = active_isa() == Isa::kAvx512;
  return available;
#else
  return false;
#endif
}

inline int floor_div(int a, int b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }
inline int ceil_div(int a, int b) { return -floor_div(-a, b); }

// The taps of one kernel row that one micro-kernel call sums: kx = first + t * stride_w
// for t < taps. With stride sw, input column ix meets output column (ix + pad_left - kx) /
// sw only when that divides, so the taps split by the phase r = (kx - pad_left) mod sw
// of the input columns they read, ix = sw*q + r: the call walks those columns (q = 0, 1,
// ...), and tap t meets output column q - t - shift. At stride 1 there is one phase and
// consecutive taps share each broadcast of x; at stride 2 the even taps of a row share
// one phase (3x3: kx = 0 and 2), the odd ones the other.
struct TapGroup {
  int first;    // kx of tap 0
  int taps;     // 1 to kTapGroup
  int phase;    // r: the call reads input columns sw*q + r
  int columns;  // how many such columns the image has
  int shift;    // tap t of column q meets output column q - t - shift
};

// Calls visit(group) for every tap group of a kernel row, phase by phase.
template <typename Visit>
void for_each_tap_group(const Conv2dShape& s, const Visit& visit) {
  const int sw = s.stride_w;
  for (int phase = 0; phase < sw && phase < s.w; ++phase) {
    const int columns = (s.w - phase + sw - 1) / sw;
    // The smallest kx with (kx - pad_left) mod sw == phase.
    for (int first = ((phase + s.pad_left) % sw + sw) % sw; first < s.kw; first += kTapGroup * sw) {
      const int taps = std::min(kTapGroup, (s.kw - first + sw - 1) / sw);
      visit(TapGroup{first, taps, phase, columns, (first - s.pad_left - phase) / sw});
    }
  }
}

// One image's dy, for one block of 16 output channels, with each row padded by zero
// pixels: entry j of a row is output column j - before, and every entry a tap group
// reads (output columns q - t - shift) lies inside the row.
struct PaddedDy {
  int64_t before;      // zero pixels ahead of output column 0
  int64_t row_pixels;  // entries per row
};

PaddedDy padded_dy_layout(const Conv2dShape& s) {
  int64_t before = 0, end = s.ow;  // end: one past the last output column read, at least ow
  for_each_tap_group(s, [&](const TapGroup& g) {
    before = std::max<int64_t>(before, g.taps - 1 + g.shift);
    end = std::max<int64_t>(end, g.columns - g.shift);
  });
  return PaddedDy{before, before + end};
}

int64_t padded_dy_floats(const Conv2dShape& s) { return s.oh * padded_dy_layout(s).row_pixels * kVector; }

#if defined(__x86_64__) || defined(_M_X64)  // the only caller is the AVX-512 driver below
// Channels [block, block + 16) of one image's dy into the padded layout.
void pad_dy(const Conv2dShape& s, const PaddedDy& layout, const float* __restrict dy_image, int block,
            float* __restrict padded) {
  const int64_t before = layout.before, after = layout.row_pixels - before - s.ow;
  for (int oy = 0; oy < s.oh; ++oy, padded += layout.row_pixels * kVector) {
    std::memset(padded, 0, sizeof(float) * before * kVector);
    const float* __restrict src = dy_image + static_cast<int64_t>(oy) * s.ow * s.oc + block;
    float* __restrict dst = padded + before * kVector;
    if (s.oc == kVector) {
      std::memcpy(dst, src, sizeof(float) * s.ow * kVector);
    } else {
      for (int ox = 0; ox < s.ow; ++ox) std::memcpy(dst + ox * kVector, src + static_cast<int64_t>(ox) * s.oc, sizeof(float) * kVector);
    }
    std::memset(padded + (before + s.ow) * kVector, 0, sizeof(float) * after * kVector);
  }
}
#endif

}  // namespace

bool conv_backward_filter16_preferred(const Conv2dShape& s) {
  return filter16_available() && s.dilation_h == 1 && s.dilation_w == 1 && s.groups == 1 && s.oc % kVector == 0 &&
         s.oc <= kMaxOutputChannels && s.c % kChannelBlock == 0 && padded_dy_floats(s) <= kMaxScratchFloats;
}

bool conv2d_backward_filter16(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                              FiniteCheck* x_check, FiniteCheck* dy_check) {
#if defined(__x86_64__) || defined(_M_X64)
  const int64_t dw_len = static_cast<int64_t>(s.kh) * s.kw * s.c * s.oc;
  // One partial dw per fixed chunk of images, added in chunk order: the same bits on any
  // number of threads.
  const int chunks = std::min(s.n, kFixedChunks);
  float* partials = thread_workspace(WorkspaceSlot::kConvPartials, static_cast<size_t>(chunks * dw_len));
  if (partials == nullptr) return false;
  const int64_t x_row = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image = s.h * x_row;
  const int64_t dy_image = static_cast<int64_t>(s.oh) * s.ow * s.oc;
  const PaddedDy layout = padded_dy_layout(s);
  const int64_t padded_row = layout.row_pixels * kVector;
  const int64_t padded_floats = s.oh * padded_row;
  std::atomic<bool> complete{true};  // threads that cannot get workspace clear it
  for_fixed_chunks(s.n, chunks, [&](int64_t chunk, int64_t first, int64_t end) {
    float* padded = thread_workspace(WorkspaceSlot::kConvGradientPanels, static_cast<size_t>(padded_floats));
    if (padded == nullptr) {
      complete.store(false, std::memory_order_relaxed);
      return;
    }
    float* partial = partials + chunk * dw_len;
    std::memset(partial, 0, sizeof(float) * dw_len);
    // Image by image, so its x and dy stay in L2 while every tap reads them. Tap (ky, kx)
    // pairs output row oy with input row iy = sh*oy + ky - pad_top, for the output rows
    // whose input row exists, and (TapGroup) input column sw*q + r with output column
    // q - t - shift, the padded dy supplying zeros where that column does not exist.
    for (int64_t image = first; image < end; ++image) {
      check_finite(x_check, x + image * x_image, x_image);
      check_finite(dy_check, dy + image * dy_image, dy_image);
      const float* x_image_data = x + image * x_image;
      for (int ob = 0; ob < s.oc; ob += kVector) {
        pad_dy(s, layout, dy + image * dy_image, ob, padded);
        for (int ky = 0; ky < s.kh; ++ky) {
          const int oy_begin = std::max(0, ceil_div(s.pad_top - ky, s.stride_h));
          const int oy_end = std::min(s.oh, floor_div(s.h - 1 + s.pad_top - ky, s.stride_h) + 1);
          if (oy_begin >= oy_end) continue;
          const float* x_rows =
              x_image_data + static_cast<int64_t>(oy_begin * s.stride_h + ky - s.pad_top) * x_row;
          const float* dy_rows = padded + static_cast<int64_t>(oy_begin) * padded_row;
          for_each_tap_group(s, [&](const TapGroup& g) {
            const float* dy_tap = dy_rows + (layout.before - g.shift) * kVector;
            float* sums = partial + (static_cast<int64_t>(ky) * s.kw + g.first) * s.c * s.oc + ob;
            // A single tap takes 16 input channels at a time where it can (see the micro-kernel).
            const int channels = g.taps == 1 && s.c % (2 * kChannelBlock) == 0 ? 2 * kChannelBlock : kChannelBlock;
            for (int cb = 0; cb < s.c; cb += channels) {
              conv_filter_row__avx512(g.taps, channels, oy_end - oy_begin, g.columns,
                                      x_rows + static_cast<int64_t>(g.phase) * s.c + cb, s.stride_h * x_row,
                                      static_cast<int64_t>(s.stride_w) * s.c, dy_tap, padded_row,
                                      sums + static_cast<int64_t>(cb) * s.oc, s.oc,
                                      static_cast<int64_t>(s.stride_w) * s.c * s.oc);
            }
          });
        }
      }
    }
  });
  if (!complete.load()) return false;
  mark_covered(x_check);
  mark_covered(dy_check);
  for (int64_t i = 0; i < dw_len; ++i) {
    float sum = partials[i];
    for (int chunk = 1; chunk < chunks; ++chunk) sum += partials[chunk * dw_len + i];
    dw[i] = sum;
  }
  return true;
#else
  (void)s, (void)x, (void)dy, (void)dw, (void)x_check, (void)dy_check;
  return false;
#endif
}

}  // namespace convkit
