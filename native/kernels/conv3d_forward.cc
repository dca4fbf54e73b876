// conv3d forward, direct loops over NDHWC activations and [KD,KH,KW,C/groups,OC] weights:
// y[n,oz,oy,ox,o] = sum_{kz,ky,kx,ci} x[n,iz,iy,ix,g*Cg+ci] * w[kz,ky,kx,ci,o], with
// iz = oz*sD - pF + kz*dD (likewise iy, ix) and g = o / OCg. Out-of-range positions read as zero.
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

void conv3d_forward(const Conv3dShape& s, const float* x, const float* w, float* y) {
  const float* __restrict x_data = x;
  const float* __restrict w_data = w;
  float* __restrict y_data = y;

  const int group_in = s.c / s.groups;    // Cg: input channels per group
  const int group_out = s.oc / s.groups;  // OCg: output channels per group
  const int64_t x_row_len = static_cast<int64_t>(s.w) * s.c;
  const int64_t x_plane_len = static_cast<int64_t>(s.h) * x_row_len;
  const int64_t x_volume_len = static_cast<int64_t>(s.d) * x_plane_len;
  const int64_t w_tap_len = static_cast<int64_t>(group_in) * s.oc;  // one (kz,ky,kx) slice of w
  // Depthwise with multiplier 1 (groups == c == oc): one contiguous multiply-add over all
  // channels replaces per-group loops of length 1.
  const bool depthwise_single = group_in == 1 && group_out == 1;

  float* y_pixel = y_data;
  for (int image = 0; image < s.n; ++image) {
    const float* x_volume = x_data + image * x_volume_len;
    for (int oz = 0; oz < s.od; ++oz) {
      const int iz_origin = oz * s.stride_d - s.pad_front;
      for (int oy = 0; oy < s.oh; ++oy) {
        const int iy_origin = oy * s.stride_h - s.pad_top;
        for (int ox = 0; ox < s.ow; ++ox, y_pixel += s.oc) {
          const int ix_origin = ox * s.stride_w - s.pad_left;
          for (int o = 0; o < s.oc; ++o) y_pixel[o] = 0.0f;

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
                const float* w_tap = w_data + ((static_cast<int64_t>(kz) * s.kh + ky) * s.kw + kx) * w_tap_len;

                if (depthwise_single) {
                  add_products(s.c, x_pixel, w_tap, y_pixel);
                  continue;
                }
                for (int group = 0; group < s.groups; ++group) {
                  const float* x_group = x_pixel + group * group_in;
                  float* y_group = y_pixel + group * group_out;
                  const float* w_group = w_tap + group * group_out;
                  for (int ci = 0; ci < group_in; ++ci) {
                    // w[kz,ky,kx,ci,:] is contiguous over the group's output channels, as is y.
                    add_scaled(group_out, x_group[ci], w_group + static_cast<int64_t>(ci) * s.oc, y_group);
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
