// pool3d over NDHWC, max, average and L2, forward and backward. A window covers depths
// [oz*sD - pF, oz*sD - pF + pd), rows and columns likewise, clipped to the input: positions
// outside it are skipped, and a window with none in range yields 0 and takes no gradient.
// In-range positions are visited in row-major window order (depth, then row, then column).
#include <cmath>

#include "kernels.h"

namespace convkit {

namespace {

// Channels are processed in blocks of this many so per-channel state (double sums, running
// maxima and their positions) lives on the stack: no allocation, contiguous inner loops.
constexpr int kChannelBlock = 64;

// The in-range part of one window along one axis: [begin, end), empty when begin >= end.
struct WindowRange {
  int begin;
  int end;
  bool empty() const { return begin >= end; }
  int count() const { return end - begin; }
};

inline WindowRange clip_window(int out_index, int stride, int pad, int size, int input_len) {
  const int start = out_index * stride - pad;
  WindowRange range;
  range.begin = start < 0 ? 0 : start;
  range.end = start + size > input_len ? input_len : start + size;
  return range;
}

// One output pixel's window, clipped on all three axes.
struct Window {
  WindowRange depths;
  WindowRange rows;
  WindowRange cols;
  bool empty() const { return depths.empty() || rows.empty() || cols.empty(); }
  int count() const { return depths.count() * rows.count() * cols.count(); }
};

// Strides of an NDHWC volume (one image).
struct VolumeLayout {
  int64_t row_len;
  int64_t plane_len;
  int64_t volume_len;
  int channels;
  int64_t offset(int iz, int iy, int ix) const {
    return iz * plane_len + iy * row_len + static_cast<int64_t>(ix) * channels;
  }
};

inline VolumeLayout layout_of(const Pool3dShape& s) {
  VolumeLayout layout;
  layout.channels = s.c;
  layout.row_len = static_cast<int64_t>(s.w) * s.c;
  layout.plane_len = static_cast<int64_t>(s.h) * layout.row_len;
  layout.volume_len = static_cast<int64_t>(s.d) * layout.plane_len;
  return layout;
}

// Calls visit(image, window, pixel_index) for every output pixel in order, pixel_index
// counting output pixels (multiply by c for the offset into y or dy).
template <typename Visit>
void for_each_output(const Pool3dShape& s, Visit visit) {
  int64_t pixel_index = 0;
  for (int image = 0; image < s.n; ++image) {
    for (int oz = 0; oz < s.od; ++oz) {
      Window window;
      window.depths = clip_window(oz, s.stride_d, s.pad_front, s.pd, s.d);
      for (int oy = 0; oy < s.oh; ++oy) {
        window.rows = clip_window(oy, s.stride_h, s.pad_top, s.ph, s.h);
        for (int ox = 0; ox < s.ow; ++ox, ++pixel_index) {
          window.cols = clip_window(ox, s.stride_w, s.pad_left, s.pw, s.w);
          visit(image, window, pixel_index);
        }
      }
    }
  }
}

// Calls visit(offset) for each in-range position of the window in row-major order, offset
// being the position's pixel offset within its image volume.
template <typename Visit>
inline void for_each_position(const VolumeLayout& layout, const Window& window, Visit visit) {
  for (int iz = window.depths.begin; iz < window.depths.end; ++iz) {
    for (int iy = window.rows.begin; iy < window.rows.end; ++iy) {
      for (int ix = window.cols.begin; ix < window.cols.end; ++ix) visit(layout.offset(iz, iy, ix));
    }
  }
}

// Channel loops over one block. restrict on the parameters (not locals) is what lets g++
// vectorise them without a runtime aliasing check.
inline void take_max(int count, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] = src[i] > dst[i] ? src[i] : dst[i];
}

// Strictly greater replaces, so the first of tied maxima keeps its position. Positions are
// int window ordinals (the width of a float) selected through an integer mask: g++ vectorises
// that form, and not a second ?: on the same comparison.
inline void take_max_position(int count, const float* __restrict src, int position, float* __restrict best,
                              int* __restrict best_position) {
  for (int i = 0; i < count; ++i) {
    const float value = src[i];
    const float current = best[i];
    const int greater_mask = -static_cast<int>(value > current);
    best[i] = value > current ? value : current;
    best_position[i] = (position & greater_mask) | (best_position[i] & ~greater_mask);
  }
}

inline void sum_into(int count, const float* __restrict src, double* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += static_cast<double>(src[i]);
}

inline void sum_squares_into(int count, const float* __restrict src, double* __restrict dst) {
  for (int i = 0; i < count; ++i) {
    const double value = static_cast<double>(src[i]);
    dst[i] += value * value;
  }
}

// dst[i] += src[i] / divisor: a true division, as avg_pool2d_backward.
inline void add_divided(int count, const float* __restrict src, float divisor, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += src[i] / divisor;
}

// dst[i] += dy[i] * (x[i] / y[i]) where y[i] != 0, nothing where y[i] == 0. x / y is taken
// first: |x| <= y for a consistent forward output, so the product cannot overflow even when
// y is tiny. Where y == 0 the divisor becomes 1 and dy is scaled by 0 (both exact), which
// g++ vectorises; a ?: on y != 0 here would leave a branch in the loop.
inline void add_l2_gradient(int count, const float* __restrict x, const float* __restrict y, const float* __restrict dy,
                            float* __restrict dst) {
  for (int i = 0; i < count; ++i) {
    const float live = static_cast<float>(y[i] != 0.0f);  // 1 or 0
    const float ratio = x[i] / (y[i] + (1.0f - live));
    dst[i] += (dy[i] * live) * ratio;
  }
}

inline void fill_zero(int64_t count, float* __restrict dst) {
  for (int64_t i = 0; i < count; ++i) dst[i] = 0.0f;
}

}  // namespace

void max_pool3d_forward(const Pool3dShape& s, const float* x, float* y) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;
  const VolumeLayout layout = layout_of(s);
  for_each_output(s, [&](int image, const Window& window, int64_t pixel) {
    float* y_pixel = y_data + pixel * s.c;
    if (window.empty()) {
      fill_zero(s.c, y_pixel);
      return;
    }
    const float* x_volume = x_data + image * layout.volume_len;
    // The first in-range position seeds the maximum, so no sentinel value is needed.
    const float* first = x_volume + layout.offset(window.depths.begin, window.rows.begin, window.cols.begin);
    for (int channel = 0; channel < s.c; ++channel) y_pixel[channel] = first[channel];
    for_each_position(layout, window, [&](int64_t offset) { take_max(s.c, x_volume + offset, y_pixel); });
  });
}

void max_pool3d_backward(const Pool3dShape& s, const float* x, const float* dy, float* dx) {
  const float* __restrict x_data = x;
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  const VolumeLayout layout = layout_of(s);
  fill_zero(s.n * layout.volume_len, dx_data);

  for_each_output(s, [&](int image, const Window& window, int64_t pixel) {
    if (window.empty()) return;  // no input, no gradient
    const float* x_volume = x_data + image * layout.volume_len;
    float* dx_volume = dx_data + image * layout.volume_len;
    const float* dy_pixel = dy_data + pixel * s.c;
    const int64_t first = layout.offset(window.depths.begin, window.rows.begin, window.cols.begin);
    const int rows = window.rows.count();
    const int cols = window.cols.count();
    for (int block = 0; block < s.c; block += kChannelBlock) {
      const int width = s.c - block < kChannelBlock ? s.c - block : kChannelBlock;
      float best[kChannelBlock];
      int best_position[kChannelBlock];  // ordinal of the in-range position, row-major
      for (int i = 0; i < width; ++i) {
        best[i] = x_volume[first + block + i];
        best_position[i] = 0;
      }
      int position = 0;
      for_each_position(layout, window, [&](int64_t offset) {
        take_max_position(width, x_volume + offset + block, position++, best, best_position);
      });
      for (int i = 0; i < width; ++i) {
        const int ordinal = best_position[i];
        const int iz = window.depths.begin + ordinal / (rows * cols);
        const int iy = window.rows.begin + ordinal / cols % rows;
        const int ix = window.cols.begin + ordinal % cols;
        dx_volume[layout.offset(iz, iy, ix) + block + i] += dy_pixel[block + i];
      }
    }
  });
}

void avg_pool3d_forward(const Pool3dShape& s, const float* x, float* y) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;
  const VolumeLayout layout = layout_of(s);
  for_each_output(s, [&](int image, const Window& window, int64_t pixel) {
    float* y_pixel = y_data + pixel * s.c;
    if (window.empty()) {
      fill_zero(s.c, y_pixel);
      return;
    }
    const float* x_volume = x_data + image * layout.volume_len;
    // Padding is not counted: divide by the number of in-range positions.
    const double count = static_cast<double>(window.count());
    for (int block = 0; block < s.c; block += kChannelBlock) {
      const int width = s.c - block < kChannelBlock ? s.c - block : kChannelBlock;
      double sums[kChannelBlock];
      for (int i = 0; i < width; ++i) sums[i] = 0.0;
      for_each_position(layout, window, [&](int64_t offset) { sum_into(width, x_volume + offset + block, sums); });
      for (int i = 0; i < width; ++i) y_pixel[block + i] = static_cast<float>(sums[i] / count);
    }
  });
}

void avg_pool3d_backward(const Pool3dShape& s, const float* dy, float* dx) {
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  const VolumeLayout layout = layout_of(s);
  fill_zero(s.n * layout.volume_len, dx_data);

  for_each_output(s, [&](int image, const Window& window, int64_t pixel) {
    if (window.empty()) return;  // no input, no gradient
    float* dx_volume = dx_data + image * layout.volume_len;
    const float* dy_pixel = dy_data + pixel * s.c;
    const float count = static_cast<float>(window.count());
    for_each_position(layout, window, [&](int64_t offset) { add_divided(s.c, dy_pixel, count, dx_volume + offset); });
  });
}

void l2_pool3d_forward(const Pool3dShape& s, const float* x, float* y) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;
  const VolumeLayout layout = layout_of(s);
  for_each_output(s, [&](int image, const Window& window, int64_t pixel) {
    float* y_pixel = y_data + pixel * s.c;
    if (window.empty()) {
      fill_zero(s.c, y_pixel);
      return;
    }
    const float* x_volume = x_data + image * layout.volume_len;
    for (int block = 0; block < s.c; block += kChannelBlock) {
      const int width = s.c - block < kChannelBlock ? s.c - block : kChannelBlock;
      // Squares summed in double: no float overflow or underflow of x^2 for any finite x.
      double sums[kChannelBlock];
      for (int i = 0; i < width; ++i) sums[i] = 0.0;
      for_each_position(layout, window, [&](int64_t offset) { sum_squares_into(width, x_volume + offset + block, sums); });
      for (int i = 0; i < width; ++i) y_pixel[block + i] = static_cast<float>(std::sqrt(sums[i]));
    }
  });
}

void l2_pool3d_backward(const Pool3dShape& s, const float* x, const float* y, const float* dy, float* dx) {
  const float* __restrict x_data = x;
  const float* __restrict y_data = y;
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  const VolumeLayout layout = layout_of(s);
  fill_zero(s.n * layout.volume_len, dx_data);

  for_each_output(s, [&](int image, const Window& window, int64_t pixel) {
    if (window.empty()) return;  // no input, no gradient
    const float* x_volume = x_data + image * layout.volume_len;
    float* dx_volume = dx_data + image * layout.volume_len;
    const float* y_pixel = y_data + pixel * s.c;
    const float* dy_pixel = dy_data + pixel * s.c;
    for_each_position(layout, window, [&](int64_t offset) {
      add_l2_gradient(s.c, x_volume + offset, y_pixel, dy_pixel, dx_volume + offset);
    });
  });
}

}  // namespace convkit
