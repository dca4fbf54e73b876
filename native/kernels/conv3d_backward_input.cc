// conv3d input gradient: dx = d(sum(y * dy))/dx. Scatters each output pixel's dy back
// through w into the input positions its window read; out-of-range positions are skipped.
#include "kernels.h"

namespace convkit {

namespace {

// dst[i] += a[i] * b[i]. restrict on the parameters (not locals) is what lets g++ skip its
// runtime aliasing check.
inline void add_products(int count, const float* __restrict a, const float* __restrict b, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += a[i] * b[i];
}

// sum a[i] * b[i] over the contiguous output-channel axis. Eight independent partial sums
// let g++ vectorise the main loop without -ffast-math (a single float accumulator is a
// serial dependency it may not reorder).
inline float dot(int count, const float* __restrict a, const float* __restrict b) {
  constexpr int kLanes = 8;
  float lanes[kLanes] = {0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f};
  int i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int lane = 0; lane < kLanes; ++lane) lanes[lane] += a[i + lane] * b[i + lane];
  }
  float sum = 0.0f;
  for (; i < count; ++i) sum += a[i] * b[i];
  for (int lane = 0; lane < kLanes; ++lane) sum += lanes[lane];
  return sum;
}

}  // namespace

void conv3d_backward_input(const Conv3dShape& s, const float* dy, const float* w, float* dx) {
  const float* __restrict dy_data = dy;
  const float* __restrict w_data = w;
  float* __restrict dx_data = dx;

  const int group_in = s.c / s.groups;    // Cg: input channels per group
  const int group_out = s.oc / s.groups;  // OCg: output channels per group
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_plane_len = static_cast<int64_t>(s.h) * x_row_len;
  const int64_t x_volume_len = static_cast<int64_t>(s.d) * x_plane_len;
  const int64_t w_tap_len = static_cast<int64_t>(group_in) * s.oc;  // one (kz,ky,kx) slice of w
  // Depthwise with multiplier 1: one contiguous multiply-add over all channels.
  const bool depthwise_single = group_in == 1 && group_out == 1;

  const int64_t dx_len = static_cast<int64_t>(s.n) * x_volume_len;
  for (int64_t index = 0; index < dx_len; ++index) dx_data[index] = 0.0f;

  const float* dy_pixel = dy_data;
  for (int image = 0; image < s.n; ++image) {
    float* dx_volume = dx_data + image * x_volume_len;
    for (int oz = 0; oz < s.od; ++oz) {
      const int iz_origin = oz * s.stride_d - s.pad_front;
      for (int oy = 0; oy < s.oh; ++oy) {
        const int iy_origin = oy * s.stride_h - s.pad_top;
        for (int ox = 0; ox < s.ow; ++ox, dy_pixel += s.oc) {
          const int ix_origin = ox * s.stride_w - s.pad_left;

          for (int kz = 0; kz < s.kd; ++kz) {
            const int iz = iz_origin + kz * s.dilation_d;
            if (iz < 0 || iz >= s.d) continue;  // padding has no gradient
            for (int ky = 0; ky < s.kh; ++ky) {
              const int iy = iy_origin + ky * s.dilation_h;
              if (iy < 0 || iy >= s.h) continue;
              for (int kx = 0; kx < s.kw; ++kx) {
                const int ix = ix_origin + kx * s.dilation_w;
                if (ix < 0 || ix >= s.w) continue;
                float* dx_pixel = dx_volume + iz * x_plane_len + iy * x_row_len + static_cast<int64_t>(ix) * s.c;
                const float* w_tap = w_data + ((static_cast<int64_t>(kz) * s.kh + ky) * s.kw + kx) * w_tap_len;

                if (depthwise_single) {
                  add_products(s.c, dy_pixel, w_tap, dx_pixel);
                  continue;
                }
                for (int group = 0; group < s.groups; ++group) {
                  const float* dy_group = dy_pixel + group * group_out;
                  const float* w_group = w_tap + group * group_out;
                  float* dx_group = dx_pixel + group * group_in;
                  for (int ci = 0; ci < group_in; ++ci) {
                    // w[kz,ky,kx,ci,:] is contiguous over the group's output channels, as is dy.
                    dx_group[ci] += dot(group_out, dy_group, w_group + static_cast<int64_t>(ci) * s.oc);
                  }
                }
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace convkit
