// pool2d, max and average, forward and backward. A window covers rows
// [oy*sH - pT, oy*sH - pT + ph) and columns likewise, clipped to the input: positions
// outside it are skipped, and a window with none in range yields 0 and takes no gradient.
#include "kernels.h"

namespace convkit {

namespace {

// The in-range part of one window along one axis: [begin, end), empty when begin >= end.
struct WindowRange {
  int begin;
  int end;
};

inline WindowRange clip_window(int out_index, int stride, int pad, int size, int input_len) {
  const int start = out_index * stride - pad;
  WindowRange range;
  range.begin = start < 0 ? 0 : start;
  range.end = start + size > input_len ? input_len : start + size;
  return range;
}

// Channel loops over one pixel. restrict on the parameters (not locals) is what lets g++
// vectorise them without a runtime aliasing check.
inline void take_max(int count, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] = src[i] > dst[i] ? src[i] : dst[i];
}

inline void add_into(int count, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += src[i];
}

// dst[i] += src[i] / divisor: a true division, matching the reference semantics exactly.
inline void add_divided(int count, const float* __restrict src, float divisor, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += src[i] / divisor;
}

}  // namespace

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image_len = static_cast<int64_t>(s.h) * x_row_len;

  float* y_pixel = y_data;
  for (int image = 0; image < s.n; ++image) {
    const float* x_image = x_data + image * x_image_len;
    for (int oy = 0; oy < s.oh; ++oy) {
      const WindowRange rows = clip_window(oy, s.stride_h, s.pad_top, s.ph, s.h);
      for (int ox = 0; ox < s.ow; ++ox, y_pixel += s.c) {
        const WindowRange cols = clip_window(ox, s.stride_w, s.pad_left, s.pw, s.w);
        if (rows.begin >= rows.end || cols.begin >= cols.end) {
          for (int channel = 0; channel < s.c; ++channel) y_pixel[channel] = 0.0f;
          continue;
        }
        // The first in-range position seeds the maximum, so no sentinel value is needed.
        const float* first = x_image + rows.begin * x_row_len + static_cast<int64_t>(cols.begin) * s.c;
        for (int channel = 0; channel < s.c; ++channel) y_pixel[channel] = first[channel];
        for (int iy = rows.begin; iy < rows.end; ++iy) {
          const float* x_row = x_image + iy * x_row_len;
          for (int ix = cols.begin; ix < cols.end; ++ix) {
            take_max(s.c, x_row + static_cast<int64_t>(ix) * s.c, y_pixel);
          }
        }
      }
    }
  }
}

void max_pool2d_backward(const Pool2dShape& s, const float* x, const float* dy, float* dx) {
  const float* __restrict x_data = x;
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image_len = static_cast<int64_t>(s.h) * x_row_len;

  const int64_t dx_len = static_cast<int64_t>(s.n) * x_image_len;
  for (int64_t index = 0; index < dx_len; ++index) dx_data[index] = 0.0f;

  const float* dy_pixel = dy_data;
  for (int image = 0; image < s.n; ++image) {
    const float* x_image = x_data + image * x_image_len;
    float* dx_image = dx_data + image * x_image_len;
    for (int oy = 0; oy < s.oh; ++oy) {
      const WindowRange rows = clip_window(oy, s.stride_h, s.pad_top, s.ph, s.h);
      for (int ox = 0; ox < s.ow; ++ox, dy_pixel += s.c) {
        const WindowRange cols = clip_window(ox, s.stride_w, s.pad_left, s.pw, s.w);
        if (rows.begin >= rows.end || cols.begin >= cols.end) continue;  // no input, no gradient
        for (int channel = 0; channel < s.c; ++channel) {
          // Strict '>' in row-major order keeps the first of tied maxima.
          int64_t best_offset = rows.begin * x_row_len + static_cast<int64_t>(cols.begin) * s.c + channel;
          float best_value = x_image[best_offset];
          for (int iy = rows.begin; iy < rows.end; ++iy) {
            const int64_t row_offset = iy * x_row_len + channel;
            for (int ix = cols.begin; ix < cols.end; ++ix) {
              const int64_t offset = row_offset + static_cast<int64_t>(ix) * s.c;
              if (x_image[offset] > best_value) {
                best_value = x_image[offset];
                best_offset = offset;
              }
            }
          }
          dx_image[best_offset] += dy_pixel[channel];
        }
      }
    }
  }
}

void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image_len = static_cast<int64_t>(s.h) * x_row_len;

  float* y_pixel = y_data;
  for (int image = 0; image < s.n; ++image) {
    const float* x_image = x_data + image * x_image_len;
    for (int oy = 0; oy < s.oh; ++oy) {
      const WindowRange rows = clip_window(oy, s.stride_h, s.pad_top, s.ph, s.h);
      for (int ox = 0; ox < s.ow; ++ox, y_pixel += s.c) {
        const WindowRange cols = clip_window(ox, s.stride_w, s.pad_left, s.pw, s.w);
        for (int channel = 0; channel < s.c; ++channel) y_pixel[channel] = 0.0f;
        if (rows.begin >= rows.end || cols.begin >= cols.end) continue;  // empty window: 0
        for (int iy = rows.begin; iy < rows.end; ++iy) {
          const float* x_row = x_image + iy * x_row_len;
          for (int ix = cols.begin; ix < cols.end; ++ix) {
            add_into(s.c, x_row + static_cast<int64_t>(ix) * s.c, y_pixel);
          }
        }
        // Padding is not counted: divide by the number of in-range positions.
        const float count = static_cast<float>((rows.end - rows.begin) * (cols.end - cols.begin));
        for (int channel = 0; channel < s.c; ++channel) y_pixel[channel] /= count;
      }
    }
  }
}

void avg_pool2d_backward(const Pool2dShape& s, const float* dy, float* dx) {
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image_len = static_cast<int64_t>(s.h) * x_row_len;

  const int64_t dx_len = static_cast<int64_t>(s.n) * x_image_len;
  for (int64_t index = 0; index < dx_len; ++index) dx_data[index] = 0.0f;

  const float* dy_pixel = dy_data;
  for (int image = 0; image < s.n; ++image) {
    float* dx_image = dx_data + image * x_image_len;
    for (int oy = 0; oy < s.oh; ++oy) {
      const WindowRange rows = clip_window(oy, s.stride_h, s.pad_top, s.ph, s.h);
      for (int ox = 0; ox < s.ow; ++ox, dy_pixel += s.c) {
        const WindowRange cols = clip_window(ox, s.stride_w, s.pad_left, s.pw, s.w);
        if (rows.begin >= rows.end || cols.begin >= cols.end) continue;  // no input, no gradient
        const float count = static_cast<float>((rows.end - rows.begin) * (cols.end - cols.begin));
        for (int iy = rows.begin; iy < rows.end; ++iy) {
          float* dx_row = dx_image + iy * x_row_len;
          for (int ix = cols.begin; ix < cols.end; ++ix) {
            add_divided(s.c, dy_pixel, count, dx_row + static_cast<int64_t>(ix) * s.c);
          }
        }
      }
    }
  }
}

}  // namespace convkit
