// conv3d filter gradient: dw[kz,ky,kx,ci,o] = sum_{n,oz,oy,ox} x[n,iz,iy,ix,g*Cg+ci] * dy[n,oz,oy,ox,o],
// over in-range input positions only (padding reads as zero).
#include "kernels.h"

namespace convkit {

namespace {

// dst[i] += scale * src[i]: the contiguous inner loop g++ vectorises. restrict on the
// parameters (not locals) is what lets g++ skip its runtime aliasing check.
inline void add_scaled(int count, float scale, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += scale * src[i];
}

// dst[i] += a[i] * b[i].
inline void add_products(int count, const float* __restrict a, const float* __restrict b, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += a[i] * b[i];
}

}  // namespace

void conv3d_backward_filter(const Conv3dShape& s, const float* x, const float* dy, float* dw) {
  const float* __restrict x_data = x;
  const float* __restrict dy_data = dy;
  float* __restrict dw_data = dw;

  const int group_in = s.c / s.groups;    // Cg: input channels per group
  const int group_out = s.oc / s.groups;  // OCg: output channels per group
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_plane_len = static_cast<int64_t>(s.h) * x_row_len;
  const int64_t x_volume_len = static_cast<int64_t>(s.d) * x_plane_len;
  const int64_t w_tap_len = static_cast<int64_t>(group_in) * s.oc;  // one (kz,ky,kx) slice of w
  // Depthwise with multiplier 1: one contiguous multiply-add over all channels.
  const bool depthwise_single = group_in == 1 && group_out == 1;

  const int64_t dw_len = static_cast<int64_t>(s.kd) * s.kh * s.kw * w_tap_len;
  for (int64_t index = 0; index < dw_len; ++index) dw_data[index] = 0.0f;

  const float* dy_pixel = dy_data;
  for (int image = 0; image < s.n; ++image) {
    const float* x_volume = x_data + image * x_volume_len;
    for (int oz = 0; oz < s.od; ++oz) {
      const int iz_origin = oz * s.stride_d - s.pad_front;
      for (int oy = 0; oy < s.oh; ++oy) {
        const int iy_origin = oy * s.stride_h - s.pad_top;
        for (int ox = 0; ox < s.ow; ++ox, dy_pixel += s.oc) {
          const int ix_origin = ox * s.stride_w - s.pad_left;

          for (int kz = 0; kz < s.kd; ++kz) {
            const int iz = iz_origin + kz * s.dilation_d;
            if (iz < 0 || iz >= s.d) continue;  // padding reads as zero: contributes nothing
            for (int ky = 0; ky < s.kh; ++ky) {
              const int iy = iy_origin + ky * s.dilation_h;
              if (iy < 0 || iy >= s.h) continue;
              for (int kx = 0; kx < s.kw; ++kx) {
                const int ix = ix_origin + kx * s.dilation_w;
                if (ix < 0 || ix >= s.w) continue;
                const float* x_pixel = x_volume + iz * x_plane_len + iy * x_row_len + static_cast<int64_t>(ix) * s.c;
                float* dw_tap = dw_data + ((static_cast<int64_t>(kz) * s.kh + ky) * s.kw + kx) * w_tap_len;

                if (depthwise_single) {
                  add_products(s.c, x_pixel, dy_pixel, dw_tap);
                  continue;
                }
                for (int group = 0; group < s.groups; ++group) {
                  const float* x_group = x_pixel + group * group_in;
                  const float* dy_group = dy_pixel + group * group_out;
                  float* dw_group = dw_tap + group * group_out;
                  for (int ci = 0; ci < group_in; ++ci) {
                    // dw[kz,ky,kx,ci,:] is contiguous over the group's output channels, as is dy.
                    add_scaled(group_out, x_group[ci], dy_group, dw_group + static_cast<int64_t>(ci) * s.oc);
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
