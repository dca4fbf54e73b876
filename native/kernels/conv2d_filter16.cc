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
void conv_filter_8x16_row__avx512(int taps, int64_t rows, int64_t cols, const float* x, int64_t x_row_stride,
                                  int64_t x_pixel_stride, const float* dy, int64_t dy_row_stride, float* sums,
                                  int64_t sums_channel_stride, int64_t sums_tap_stride);
#endif

namespace {

constexpr int kVector = 16;  // output channels per micro-kernel call: one vector of dy per pixel
constexpr int kChannelBlock = 8;     // input channels per micro-kernel call
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

// One image's dy with each row padded by kw - 1 zero pixels before it and zeros after it
// up to the last column any tap reads: entry j of a row is output column j - (kw - 1).
int64_t padded_row_pixels(const Conv2dShape& s) { return (s.kw - 1) + std::max(s.ow, s.w + s.pad_left); }

int64_t padded_dy_floats(const Conv2dShape& s) { return s.oh * padded_row_pixels(s) * kVector; }

// Channels [block, block + 16) of one image's dy into the padded layout.
void pad_dy(const Conv2dShape& s, const float* __restrict dy_image, int block, float* __restrict padded) {
  const int64_t row_pixels = padded_row_pixels(s);
  const int64_t before = s.kw - 1, after = row_pixels - before - s.ow;
  for (int oy = 0; oy < s.oh; ++oy, padded += row_pixels * kVector) {
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

}  // namespace

bool conv_backward_filter16_preferred(const Conv2dShape& s) {
  return filter16_available() && s.stride_h == 1 && s.stride_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 &&
         s.groups == 1 && s.oc % kVector == 0 && s.oc <= kMaxOutputChannels && s.c % kChannelBlock == 0 &&
         padded_dy_floats(s) <= kMaxScratchFloats;
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
  const int64_t padded_row = padded_row_pixels(s) * kVector;
  std::atomic<bool> complete{true};  // threads that cannot get workspace clear it
  for_fixed_chunks(s.n, chunks, [&](int64_t chunk, int64_t first, int64_t end) {
    float* padded = thread_workspace(WorkspaceSlot::kConvGradientPanels, static_cast<size_t>(padded_dy_floats(s)));
    if (padded == nullptr) {
      complete.store(false, std::memory_order_relaxed);
      return;
    }
    float* partial = partials + chunk * dw_len;
    std::memset(partial, 0, sizeof(float) * dw_len);
    // Image by image, so its x and dy stay in L2 while every tap reads them. Input pixel
    // (iy, ix) meets dy at output pixel (iy - ky + pad_top, ix - kx + pad_left) for tap
    // (ky, kx): all columns ix of the rows iy whose output row exists, the padded dy
    // supplying zeros where the output column does not.
    for (int64_t image = first; image < end; ++image) {
      check_finite(x_check, x + image * x_image, x_image);
      check_finite(dy_check, dy + image * dy_image, dy_image);
      for (int ob = 0; ob < s.oc; ob += kVector) {
        pad_dy(s, dy + image * dy_image, ob, padded);
        for (int ky = 0; ky < s.kh; ++ky) {
          const int iy_begin = std::max(0, ky - s.pad_top), iy_end = std::min(s.h, s.oh + ky - s.pad_top);
          if (iy_begin >= iy_end) continue;
          const float* x_rows = x + image * x_image + static_cast<int64_t>(iy_begin) * x_row;
          const float* dy_rows = padded + static_cast<int64_t>(iy_begin - ky + s.pad_top) * padded_row;
          for (int kx0 = 0; kx0 < s.kw; kx0 += kTapGroup) {
            const int taps = std::min(kTapGroup, s.kw - kx0);
            // Input column 0, tap kx0: output column pad_left - kx0, padded entry + kw - 1.
            const float* dy_tap = dy_rows + static_cast<int64_t>(s.pad_left - kx0 + s.kw - 1) * kVector;
            float* sums = partial + (static_cast<int64_t>(ky) * s.kw + kx0) * s.c * s.oc + ob;
            for (int cb = 0; cb < s.c; cb += kChannelBlock) {
              conv_filter_8x16_row__avx512(taps, iy_end - iy_begin, s.w, x_rows + cb, x_row, s.c, dy_tap, padded_row,
                                           sums + static_cast<int64_t>(cb) * s.oc, s.oc,
                                           static_cast<int64_t>(s.c) * s.oc);
            }
          }
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
