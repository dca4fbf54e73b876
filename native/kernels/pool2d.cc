// pool2d, max and average, forward and backward. A window covers rows
// [oy*sH - pT, oy*sH - pT + ph) and columns likewise, clipped to the input: positions
// outside it are skipped, and a window with none in range yields 0 and takes no gradient.
#include "kernels.h"
#include "parallel.h"

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

// Channels per block of the max-pool backward's running argmax (stack arrays).
constexpr int kPoolChannelBlock = 64;

// Where src[i] > best_value[i], takes src[i] and records `position`. Positions are small
// whole numbers held as floats, and the update is arithmetic rather than a select on an
// int: that is the form g++ vectorises (a float compare driving an int select stays a
// branch per element).
inline void take_argmax(int count, const float* __restrict src, float position, float* __restrict best_value,
                        float* __restrict best_position) {
  for (int i = 0; i < count; ++i) {
    const float value = src[i], best = best_value[i];
    const float greater = static_cast<float>(value > best);
    best_value[i] = value > best ? value : best;
    best_position[i] += greater * (position - best_position[i]);
  }
}

// dst[i] += src[i] where best_position[i] == position.
inline void add_where(int count, const float* __restrict src, float position, const float* __restrict best_position,
                      float* __restrict dst) {
  for (int i = 0; i < count; ++i) {
    const float gradient = src[i];
    dst[i] += best_position[i] == position ? gradient : 0.0f;
  }
}

inline void add_into(int count, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += src[i];
}

// dst[i] += src[i] / divisor: a true division, matching the reference semantics exactly.
inline void add_divided(int count, const float* __restrict src, float divisor, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += src[i] / divisor;
}

}  // namespace

namespace {

// The common 2x2, stride 2, unpadded pool: each output pixel is the channelwise maximum of
// two pairs of adjacent input pixels, one pass down the rows with no window clipping.
// Strict '>' keeps the first maximum, as the general loop (and NaN never wins a compare).
void max_pool2d_forward_2x2(const Pool2dShape& s, const float* x, float* y) {
  const int64_t row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t image_len = static_cast<int64_t>(s.h) * row_len;
  parallel_for(s.n, [&](int64_t image_begin, int64_t image_end) {
    for (int64_t image = image_begin; image < image_end; ++image) {
      float* __restrict out = y + image * s.oh * s.ow * s.c;
      for (int oy = 0; oy < s.oh; ++oy) {
        const float* __restrict top = x + image * image_len + 2 * oy * row_len;
        const float* __restrict bottom = top + row_len;
        for (int ox = 0; ox < s.ow; ++ox, out += s.c, top += 2 * s.c, bottom += 2 * s.c) {
          for (int ch = 0; ch < s.c; ++ch) {
            const float a = top[ch], b = top[s.c + ch], c = bottom[ch], d = bottom[s.c + ch];
            const float ab = b > a ? b : a;
            const float abc = c > ab ? c : ab;
            out[ch] = d > abc ? d : abc;
          }
        }
      }
    }
  });
}

}  // namespace

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y) {
  if (s.ph == 2 && s.pw == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_top == 0 && s.pad_left == 0 &&
      s.oh * 2 <= s.h && s.ow * 2 <= s.w) {
    max_pool2d_forward_2x2(s, x, y);
    return;
  }
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

namespace {

// One 2x2 window per channel, for windows that tile the input (stride 2, no padding):
// writes each channel's dy at the first maximum among a, b, c, d (row-major, strict '>',
// the same comparisons as the general loop, NaN included) and zero at the other three, so
// dx needs no separate clearing. Written as selects on single compares, the form g++
// vectorises; a running argmax with flags stayed a branch per element.
inline void max_pool_2x2_backward_pixel(int channels, const float* __restrict a, const float* __restrict b,
                                        const float* __restrict c, const float* __restrict d,
                                        const float* __restrict dy, float* __restrict da, float* __restrict db,
                                        float* __restrict dc, float* __restrict dd) {
  for (int i = 0; i < channels; ++i) {
    const float va = a[i], vb = b[i], vc = c[i], vd = d[i], gradient = dy[i];
    const float max_ab = vb > va ? vb : va;
    const float max_abc = vc > max_ab ? vc : max_ab;
    const float not_d = vd > max_abc ? 0.0f : gradient;  // dy unless d wins
    const float top = vc > max_ab ? 0.0f : not_d;         // dy when a or b wins
    dd[i] = vd > max_abc ? gradient : 0.0f;
    dc[i] = vc > max_ab ? not_d : 0.0f;
    db[i] = vb > va ? top : 0.0f;
    da[i] = vb > va ? 0.0f : top;
  }
}

// The common 2x2, stride 2, unpadded pool: every input pixel lies in at most one window.
void max_pool2d_backward_2x2(const Pool2dShape& s, const float* x, const float* dy, float* dx) {
  const int64_t row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t image_len = static_cast<int64_t>(s.h) * row_len;
  // Odd heights or widths leave a last row or column that no window covers.
  if (s.oh * 2 != s.h || s.ow * 2 != s.w) {
    const int64_t dx_len = static_cast<int64_t>(s.n) * image_len;
    for (int64_t index = 0; index < dx_len; ++index) dx[index] = 0.0f;
  }
  parallel_for(s.n, [&](int64_t image_begin, int64_t image_end) {
    const float* dy_pixel = dy + image_begin * s.oh * s.ow * s.c;
    for (int64_t image = image_begin; image < image_end; ++image) {
      for (int oy = 0; oy < s.oh; ++oy) {
        const int64_t top = image * image_len + 2 * oy * row_len;
        for (int ox = 0; ox < s.ow; ++ox, dy_pixel += s.c) {
          const int64_t a = top + static_cast<int64_t>(2 * ox) * s.c, b = a + s.c, c = a + row_len, d = c + s.c;
          max_pool_2x2_backward_pixel(s.c, x + a, x + b, x + c, x + d, dy_pixel, dx + a, dx + b, dx + c, dx + d);
        }
      }
    }
  });
}

}  // namespace

void max_pool2d_backward(const Pool2dShape& s, const float* x, const float* dy, float* dx) {
  if (s.ph == 2 && s.pw == 2 && s.stride_h == 2 && s.stride_w == 2 && s.pad_top == 0 && s.pad_left == 0 &&
      s.oh * 2 <= s.h && s.ow * 2 <= s.w) {
    max_pool2d_backward_2x2(s, x, dy, dx);
    return;
  }
  const float* __restrict x_data = x;
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_image_len = static_cast<int64_t>(s.h) * x_row_len;

  const int64_t dx_len = static_cast<int64_t>(s.n) * x_image_len;
  for (int64_t index = 0; index < dx_len; ++index) dx_data[index] = 0.0f;

  // Channels go in blocks, each with its running maximum and the window position that
  // holds it. Both passes are selects over contiguous channels, which g++ vectorises; a
  // per-channel argmax with a data-dependent branch ran 3-4x slower.
  float best_value[kPoolChannelBlock];
  float best_position[kPoolChannelBlock];
  const float* dy_pixel = dy_data;
  for (int image = 0; image < s.n; ++image) {
    const float* x_image = x_data + image * x_image_len;
    float* dx_image = dx_data + image * x_image_len;
    for (int oy = 0; oy < s.oh; ++oy) {
      const WindowRange rows = clip_window(oy, s.stride_h, s.pad_top, s.ph, s.h);
      for (int ox = 0; ox < s.ow; ++ox, dy_pixel += s.c) {
        const WindowRange cols = clip_window(ox, s.stride_w, s.pad_left, s.pw, s.w);
        if (rows.begin >= rows.end || cols.begin >= cols.end) continue;  // no input, no gradient
        for (int block = 0; block < s.c; block += kPoolChannelBlock) {
          const int count = s.c - block < kPoolChannelBlock ? s.c - block : kPoolChannelBlock;
          const int64_t first = rows.begin * x_row_len + static_cast<int64_t>(cols.begin) * s.c + block;
          for (int i = 0; i < count; ++i) best_value[i] = x_image[first + i], best_position[i] = 0.0f;
          // Strict '>' in row-major order keeps the first of tied maxima.
          float position = 0.0f;
          for (int iy = rows.begin; iy < rows.end; ++iy) {
            for (int ix = cols.begin; ix < cols.end; ++ix, position += 1.0f) {
              take_argmax(count, x_image + iy * x_row_len + static_cast<int64_t>(ix) * s.c + block, position,
                          best_value, best_position);
            }
          }
          position = 0.0f;
          for (int iy = rows.begin; iy < rows.end; ++iy) {
            for (int ix = cols.begin; ix < cols.end; ++ix, position += 1.0f) {
              add_where(count, dy_pixel + block, position, best_position,
                        dx_image + iy * x_row_len + static_cast<int64_t>(ix) * s.c + block);
            }
          }
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
