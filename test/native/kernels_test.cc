// Standalone tests for the native kernels (native/kernels/*.cc). Each kernel is compared with
// a naive double-precision reference written here, and each gradient kernel with central
// finite differences of the scalar objective sum(y * r) for a random r.
//
// Build and run: node scripts/ctest.js (ctest runs it once per ISA, CONVKIT_ISA=scalar|avx2|
// avx512, and on one thread); the per-ISA micro-kernels need their own compile flags, which
// CMakeLists.txt takes from native/sources.json.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "conv2d_filter16.h"
#include "cpu.h"
#include "conv2d_implicit.h"
#include "conv2d_planar.h"
#include "conv2d_winograd.h"
#include "kernels.h"
#include "thread_pool.h"

namespace {

using convkit_test::check_true;
using convkit_test::failed_count;
using convkit_test::passed_count;
using convkit_test::record;
using convkit_test::relative_error;

using convkit::Conv2dShape;
using convkit::Pool2dShape;

// Kernel vs naive double reference: float rounding only.
constexpr double kReferenceTolerance = 1e-4;
// Central differences of an objective evaluated in double. The conv, pool, bias and relu
// objectives are (piecewise) linear, so the difference is exact up to rounding and only the
// float kernel's own rounding remains; softmax is smooth, with O(eps^2) truncation.
constexpr double kDoubleDifferenceTolerance = 1e-3;
// Central differences of an objective evaluated through the float kernels themselves,
// eps 1e-2: float rounding of the objective divided by 2*eps dominates.
constexpr double kFloatDifferenceTolerance = 1e-2;

std::mt19937 rng(20240611);


void check_close(const std::string& name, const std::vector<float>& got, const std::vector<double>& want,
                 double tolerance) {
  const double error = relative_error(got, want);
  char detail[96];
  std::snprintf(detail, sizeof detail, "(relative error %.2e, tolerance %.0e)", error, tolerance);
  record(name, error <= tolerance, detail);
}

std::vector<float> random_vector(size_t size, float low = -1.0f, float high = 1.0f) {
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(size);
  for (float& value : values) value = distribution(rng);
  return values;
}

// Values spaced 0.01 apart in random order: no ties, and a perturbation of 1e-3 never
// changes which element of a window is largest.
std::vector<float> distinct_vector(size_t size) {
  std::vector<float> values(size);
  for (size_t i = 0; i < size; ++i) values[i] = 0.01f * (static_cast<float>(i) - static_cast<float>(size) / 2.0f);
  std::shuffle(values.begin(), values.end(), rng);
  return values;
}

std::vector<double> to_double(const std::vector<float>& values) { return std::vector<double>(values.begin(), values.end()); }

std::vector<float> to_float(const std::vector<double>& values) {
  std::vector<float> result(values.size());
  for (size_t i = 0; i < values.size(); ++i) result[i] = static_cast<float>(values[i]);
  return result;
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// Central differences of objective at point, one coordinate at a time.
std::vector<double> central_differences(std::vector<double> point, const std::function<double(const std::vector<double>&)>& objective,
                                        double eps) {
  std::vector<double> gradient(point.size());
  for (size_t i = 0; i < point.size(); ++i) {
    const double original = point[i];
    point[i] = original + eps;
    const double above = objective(point);
    point[i] = original - eps;
    const double below = objective(point);
    point[i] = original;
    gradient[i] = (above - below) / (2.0 * eps);
  }
  return gradient;
}

// ---------------------------------------------------------------------------------------
// matmul

std::vector<double> matmul_reference(int m, int n, int k, bool trans_a, bool trans_b, const std::vector<double>& a,
                                     const std::vector<double>& b) {
  std::vector<double> c(static_cast<size_t>(m) * n);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double sum = 0.0;
      for (int p = 0; p < k; ++p) {
        const double a_value = trans_a ? a[static_cast<size_t>(p) * m + i] : a[static_cast<size_t>(i) * k + p];
        const double b_value = trans_b ? b[static_cast<size_t>(j) * k + p] : b[static_cast<size_t>(p) * n + j];
        sum += a_value * b_value;
      }
      c[static_cast<size_t>(i) * n + j] = sum;
    }
  }
  return c;
}

void test_matmul() {
  const int shapes[][3] = {{1, 1, 1}, {5, 7, 3}, {17, 13, 29}, {64, 33, 70}, {1, 40, 9}, {40, 1, 9}};
  for (const auto& shape : shapes) {
    const int m = shape[0], n = shape[1], k = shape[2];
    for (int combo = 0; combo < 4; ++combo) {
      const bool trans_a = (combo & 1) != 0;
      const bool trans_b = (combo & 2) != 0;
      const std::vector<float> a = random_vector(static_cast<size_t>(m) * k);
      const std::vector<float> b = random_vector(static_cast<size_t>(k) * n);
      std::vector<float> c(static_cast<size_t>(m) * n, 123.0f);  // garbage: must be overwritten
      convkit::matmul(m, n, k, trans_a, trans_b, a.data(), b.data(), c.data());
      const std::string name = "matmul m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
                               (trans_a ? " transA" : "") + (trans_b ? " transB" : "");
      check_close(name, c, matmul_reference(m, n, k, trans_a, trans_b, to_double(a), to_double(b)), kReferenceTolerance);
    }
  }
}

// ---------------------------------------------------------------------------------------
// conv2d

// Builds a shape from per-side padding; the output size is what the padded input allows.
Conv2dShape make_conv(int n, int h, int w, int c, int oc, int kh, int kw, int stride_h, int stride_w, int dilation_h,
                      int dilation_w, int pad_top, int pad_left, int pad_bottom, int pad_right, int groups) {
  Conv2dShape s;
  s.n = n;
  s.h = h;
  s.w = w;
  s.c = c;
  s.oc = oc;
  s.kh = kh;
  s.kw = kw;
  s.stride_h = stride_h;
  s.stride_w = stride_w;
  s.dilation_h = dilation_h;
  s.dilation_w = dilation_w;
  s.pad_top = pad_top;
  s.pad_left = pad_left;
  s.oh = (h + pad_top + pad_bottom - ((kh - 1) * dilation_h + 1)) / stride_h + 1;
  s.ow = (w + pad_left + pad_right - ((kw - 1) * dilation_w + 1)) / stride_w + 1;
  s.groups = groups;
  return s;
}

size_t conv_x_size(const Conv2dShape& s) { return static_cast<size_t>(s.n) * s.h * s.w * s.c; }
size_t conv_w_size(const Conv2dShape& s) { return static_cast<size_t>(s.kh) * s.kw * (s.c / s.groups) * s.oc; }
size_t conv_y_size(const Conv2dShape& s) { return static_cast<size_t>(s.n) * s.oh * s.ow * s.oc; }

// The definition, term by term: y[n,oy,ox,o] = sum x[n,iy,ix,g*Cg+ci] * w[ky,kx,ci,o].
std::vector<double> conv_reference(const Conv2dShape& s, const std::vector<double>& x, const std::vector<double>& w) {
  const int group_in = s.c / s.groups;
  const int group_out = s.oc / s.groups;
  std::vector<double> y(conv_y_size(s));
  for (int b = 0; b < s.n; ++b) {
    for (int oy = 0; oy < s.oh; ++oy) {
      for (int ox = 0; ox < s.ow; ++ox) {
        for (int o = 0; o < s.oc; ++o) {
          const int group = o / group_out;
          double sum = 0.0;
          for (int ky = 0; ky < s.kh; ++ky) {
            for (int kx = 0; kx < s.kw; ++kx) {
              const int iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
              const int ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
              if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
              for (int ci = 0; ci < group_in; ++ci) {
                const size_t x_index = ((static_cast<size_t>(b) * s.h + iy) * s.w + ix) * s.c + group * group_in + ci;
                const size_t w_index = ((static_cast<size_t>(ky) * s.kw + kx) * group_in + ci) * s.oc + o;
                sum += x[x_index] * w[w_index];
              }
            }
          }
          y[((static_cast<size_t>(b) * s.oh + oy) * s.ow + ox) * s.oc + o] = sum;
        }
      }
    }
  }
  return y;
}

struct ConvCase {
  std::string name;
  Conv2dShape shape;
};

void test_conv_case(const ConvCase& test_case, bool float_differences) {
  const Conv2dShape& s = test_case.shape;
  const std::string prefix = "conv2d[" + test_case.name + "] ";
  const std::vector<float> x = random_vector(conv_x_size(s));
  const std::vector<float> w = random_vector(conv_w_size(s));
  const std::vector<float> r = random_vector(conv_y_size(s));  // dy: weights of the objective
  const std::vector<double> x_double = to_double(x), w_double = to_double(w), r_double = to_double(r);

  std::vector<float> y(conv_y_size(s), 123.0f);
  convkit::conv2d_forward(s, x.data(), w.data(), y.data());
  check_close(prefix + "forward vs reference", y, conv_reference(s, x_double, w_double), kReferenceTolerance);

  std::vector<float> dx(conv_x_size(s), 123.0f);
  convkit::conv2d_backward_input(s, r.data(), w.data(), dx.data());
  const std::vector<double> dx_expected = central_differences(
      x_double, [&](const std::vector<double>& point) { return dot(conv_reference(s, point, w_double), r_double); }, 1e-3);
  check_close(prefix + "backward_input vs finite differences", dx, dx_expected, kDoubleDifferenceTolerance);

  std::vector<float> dw(conv_w_size(s), 123.0f);
  convkit::conv2d_backward_filter(s, x.data(), r.data(), dw.data());
  const std::vector<double> dw_expected = central_differences(
      w_double, [&](const std::vector<double>& point) { return dot(conv_reference(s, x_double, point), r_double); }, 1e-3);
  check_close(prefix + "backward_filter vs finite differences", dw, dw_expected, kDoubleDifferenceTolerance);

  if (!float_differences) return;
  // The kernel pair end to end: differences of the float forward kernel itself.
  std::vector<float> y_scratch(conv_y_size(s));
  const std::vector<double> dx_float_expected = central_differences(
      x_double,
      [&](const std::vector<double>& point) {
        const std::vector<float> x_point = to_float(point);
        convkit::conv2d_forward(s, x_point.data(), w.data(), y_scratch.data());
        return dot(to_double(y_scratch), r_double);
      },
      1e-2);
  check_close(prefix + "backward_input vs float-kernel finite differences", dx, dx_float_expected, kFloatDifferenceTolerance);
  const std::vector<double> dw_float_expected = central_differences(
      w_double,
      [&](const std::vector<double>& point) {
        const std::vector<float> w_point = to_float(point);
        convkit::conv2d_forward(s, x.data(), w_point.data(), y_scratch.data());
        return dot(to_double(y_scratch), r_double);
      },
      1e-2);
  check_close(prefix + "backward_filter vs float-kernel finite differences", dw, dw_float_expected, kFloatDifferenceTolerance);
}

// Calls visit(x_pixel, y_pixel, tap) for every window tap that reads inside the input
// (groups 1): x_pixel and y_pixel index the pixels of x and y, tap = ky*kw + kx.
template <typename Visit>
void for_each_window_tap(const Conv2dShape& s, const Visit& visit) {
  for (int b = 0; b < s.n; ++b) {
    for (int oy = 0; oy < s.oh; ++oy) {
      for (int ox = 0; ox < s.ow; ++ox) {
        const size_t y_pixel = (static_cast<size_t>(b) * s.oh + oy) * s.ow + ox;
        for (int ky = 0; ky < s.kh; ++ky) {
          for (int kx = 0; kx < s.kw; ++kx) {
            const int iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
            const int ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
            if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
            visit((static_cast<size_t>(b) * s.h + iy) * s.w + ix, y_pixel, static_cast<size_t>(ky) * s.kw + kx);
          }
        }
      }
    }
  }
}

// conv2d's input gradient by its definition: each dy[n,oy,ox,o] * w[ky,kx,ci,o] added to
// the input pixel that window tap read. (For shapes too big for finite differences.)
std::vector<double> conv_backward_input_reference(const Conv2dShape& s, const std::vector<double>& dy,
                                                  const std::vector<double>& w) {
  std::vector<double> dx(conv_x_size(s), 0.0);
  for_each_window_tap(s, [&](size_t x_pixel, size_t y_pixel, size_t tap) {
    const double* dy_pixel = dy.data() + y_pixel * s.oc;
    for (int ci = 0; ci < s.c; ++ci) {
      const double* w_row = w.data() + (tap * s.c + ci) * s.oc;
      double sum = 0.0;
      for (int o = 0; o < s.oc; ++o) sum += dy_pixel[o] * w_row[o];
      dx[x_pixel * s.c + ci] += sum;
    }
  });
  return dx;
}

// conv2d's filter gradient by its definition: dw[ky,kx,ci,o] = sum of x * dy over the
// windows.
std::vector<double> conv_backward_filter_reference(const Conv2dShape& s, const std::vector<double>& x,
                                                   const std::vector<double>& dy) {
  std::vector<double> dw(conv_w_size(s), 0.0);
  for_each_window_tap(s, [&](size_t x_pixel, size_t y_pixel, size_t tap) {
    const double* dy_pixel = dy.data() + y_pixel * s.oc;
    for (int ci = 0; ci < s.c; ++ci) {
      double* dw_row = dw.data() + (tap * s.c + ci) * s.oc;
      const double x_value = x[x_pixel * s.c + ci];
      for (int o = 0; o < s.oc; ++o) dw_row[o] += x_value * dy_pixel[o];
    }
  });
  return dw;
}

// The Winograd path (conv2d_winograd.h, AVX-512): forward, forward with the bias + relu
// epilogue, input gradient and filter gradient against the double references, on shapes with part tiles,
// channel tails, uneven and oversized padding, several blocks of tiles and blocks that
// span images; and the same bits on 1 and 3 threads.
void test_conv_winograd() {
  // make_conv(n, h, w, c, oc, kh, kw, sH, sW, dH, dW, padTop, padLeft, padBottom, padRight, groups)
  const std::vector<ConvCase> cases = {
      {"3x3 same, 24 -> 28, 7x9 (part tiles at the bottom and right), batch 3",
       make_conv(3, 7, 9, 24, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"3x3 valid, 50 -> 50 (two column panels, channel tails of 2), 8x6",
       make_conv(2, 8, 6, 50, 50, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1)},
      {"3x3, padding top 2, left 0, bottom 1, right 3, 32 -> 28",
       make_conv(2, 6, 7, 32, 28, 3, 3, 1, 1, 1, 1, 2, 0, 1, 3, 1)},
      {"3x3 same, 32 -> 64, 12x14, batch 3 (two blocks, one tile row split between them)",
       make_conv(3, 12, 14, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"3x3 same, 24 -> 28, a 2x2 image (one tile, mostly padding)", make_conv(2, 2, 2, 24, 28, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"3x3, padding 3 all round (outputs wholly in padding), 24 -> 28",
       make_conv(2, 3, 4, 24, 28, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 1)},
      // 64 output channels: five row tiles of the filter gradient's GEMM, the last part
      // padding; ten blocks of 84 tiles in 8 chunks, two of which sum two blocks.
      {"3x3 same, 32 -> 64, 16x16, batch 12", make_conv(12, 16, 16, 32, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
  };
  const bool avx512 = convkit::active_isa() == convkit::Isa::kAvx512;
  const int default_threads = convkit::thread_count();
  for (const ConvCase& c : cases) {
    const Conv2dShape& s = c.shape;
    const std::string prefix = "conv2d winograd[" + c.name + "] ";
    if (avx512) {
      check_true(prefix + "forward takes the Winograd path", convkit::conv_forward_winograd_preferred(s));
      check_true(prefix + "input gradient takes the Winograd path", convkit::conv_backward_input_winograd_preferred(s));
      check_true(prefix + "filter gradient takes the Winograd path", convkit::conv_backward_filter_winograd_preferred(s));
    }
    const std::vector<float> x = random_vector(conv_x_size(s));
    const std::vector<float> w = random_vector(conv_w_size(s));
    const std::vector<float> dy = random_vector(conv_y_size(s));
    const std::vector<float> bias = random_vector(static_cast<size_t>(s.oc));
    const std::vector<double> y_expected = conv_reference(s, to_double(x), to_double(w));

    std::vector<float> y(conv_y_size(s), 123.0f);
    convkit::conv2d_forward(s, x.data(), w.data(), y.data());
    check_close(prefix + "forward vs reference", y, y_expected, kReferenceTolerance);

    std::vector<double> activated(y_expected.size());
    for (size_t i = 0; i < activated.size(); ++i) activated[i] = std::max(0.0, y_expected[i] + bias[i % s.oc]);
    std::vector<float> y_activated(conv_y_size(s), 123.0f);
    convkit::conv2d_forward(s, x.data(), w.data(), y_activated.data(), convkit::ConvEpilogue{bias.data(), true});
    check_close(prefix + "forward + bias + relu vs reference", y_activated, activated, kReferenceTolerance);

    std::vector<float> dx(conv_x_size(s), 123.0f);
    convkit::conv2d_backward_input(s, dy.data(), w.data(), dx.data());
    check_close(prefix + "input gradient vs reference", dx,
                conv_backward_input_reference(s, to_double(dy), to_double(w)), kReferenceTolerance);

    std::vector<float> dw(conv_w_size(s), 123.0f);
    convkit::conv2d_backward_filter(s, x.data(), dy.data(), dw.data());
    check_close(prefix + "filter gradient vs reference", dw,
                conv_backward_filter_reference(s, to_double(x), to_double(dy)), kReferenceTolerance);

    // Blocks go to whichever thread is free; a tile's sums do not depend on which. (The
    // other ISAs' paths may differ across thread counts by summation order.)
    if (!avx512) continue;
    for (const int threads : {1, 3}) {
      convkit::set_thread_count(threads);
      std::vector<float> y_again(y.size()), dx_again(dx.size()), dw_again(dw.size());
      convkit::conv2d_forward(s, x.data(), w.data(), y_again.data());
      convkit::conv2d_backward_input(s, dy.data(), w.data(), dx_again.data());
      convkit::conv2d_backward_filter(s, x.data(), dy.data(), dw_again.data());
      check_true(prefix + "same bits on " + std::to_string(threads) + " threads",
                 y_again == y && dx_again == dx && dw_again == dw);
    }
    convkit::set_thread_count(default_threads);
  }
}

// Images whose planar or expanded copies would pass the stride-1 paths' scratch bound
// (2^24 floats per thread) go through im2col, whose chunks are bounded.
void test_conv_scratch_bounds() {
  const Conv2dShape big = make_conv(2, 1100, 1000, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
  check_true("a 1100x1000x16 image skips the planar forward path", !convkit::conv_forward_planar_preferred(big));
  check_true("a 1100x1000x16 image skips the implicit forward path", !convkit::conv_forward_implicit_preferred(big));
  check_true("a 1100x1000x16 image skips the planar filter-gradient path",
             !convkit::conv_backward_filter_planar_preferred(big));
  const Conv2dShape small = make_conv(2, 110, 100, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1);
  check_true("a 110x100x16 image takes a stride-1 forward path",
             convkit::conv_forward_planar_preferred(small) || convkit::conv_forward_implicit_preferred(small));
}

void test_conv2d() {
  // make_conv(n, h, w, c, oc, kh, kw, sH, sW, dH, dW, padTop, padLeft, padBottom, padRight, groups)
  const std::vector<ConvCase> cases = {
      {"3x3 pad 1", make_conv(2, 5, 6, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"stride 2", make_conv(2, 7, 8, 2, 3, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 1)},
      {"dilation 2", make_conv(1, 7, 6, 2, 3, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1)},
      {"groups 2", make_conv(2, 5, 5, 4, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2)},
      {"depthwise groups=c", make_conv(2, 6, 5, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4)},
      {"depthwise multiplier 2 stride 2", make_conv(1, 5, 5, 3, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3)},
      {"same stride 2, padding bottom/right beyond padTop/padLeft", make_conv(2, 6, 7, 3, 2, 3, 3, 2, 2, 1, 1, 0, 1, 1, 1, 1)},
      {"same 4x4 kernel, asymmetric padding", make_conv(1, 5, 5, 2, 2, 4, 4, 1, 1, 1, 1, 1, 1, 2, 2, 1)},
      {"batch 1, kernel equals input", make_conv(1, 4, 5, 3, 2, 4, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1)},
      {"stride 3 > kernel 2", make_conv(2, 8, 9, 2, 3, 2, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1)},
      {"mixed groups 2, dilation (2,1), stride (1,2), uneven padding", make_conv(2, 7, 8, 4, 2, 3, 2, 1, 2, 2, 1, 2, 1, 1, 0, 2)},
      {"1x1 kernel, padding 2 (outputs wholly in padding)", make_conv(1, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1)},
      {"1x1 kernel, 8 -> 16 channels", make_conv(3, 4, 4, 8, 16, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1)},
      {"3x3, 8 -> 16 channels", make_conv(1, 6, 6, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      // Shapes the stride-1 paths take: planar (conv2d_planar.h, AVX-512, fewer than 32
      // output channels) and implicit GEMM (conv2d_implicit.h, few input channels). Under
      // CONVKIT_ISA=avx2 or scalar the planar ones go through the implicit path instead.
      {"stride 1: 3x3 same, 3 -> 17 channels", make_conv(2, 6, 7, 3, 17, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"stride 1: 5x5 valid, 6 -> 16 channels", make_conv(2, 9, 8, 6, 16, 5, 5, 1, 1, 1, 1, 0, 0, 0, 0, 1)},
      {"stride 1: 3x3 same, 16 -> 20 channels, batch 3", make_conv(3, 5, 6, 16, 20, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"stride 1: 2x3, dilation (2,1), uneven padding, 17 -> 16",
       make_conv(2, 7, 6, 17, 16, 2, 3, 1, 1, 2, 1, 2, 0, 1, 2, 1)},
      {"planar transpose: 3x3 same, 16 -> 8, a row of 19 pixels (16 + a tail of 3)",
       make_conv(2, 3, 19, 16, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      // Fewer than 16 channels (x, and dy in the filter gradient) go planar by permutes:
      // even and odd counts, rows of 16 pixels plus a tail.
      {"planar transpose: 3x3 same, 6 -> 12, a row of 21 pixels", make_conv(2, 3, 21, 6, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"planar transpose: 3x3 same, 5 -> 7, a row of 18 pixels", make_conv(2, 2, 18, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"planar transpose: 5x5 same, 1 -> 15, a row of 17 pixels", make_conv(2, 3, 17, 1, 15, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1)},
      {"stride 1: padding wider than the kernel, 16 -> 16", make_conv(2, 4, 4, 16, 16, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 1)},
      {"stride 1: two column panels and edge tiles, 4 -> 33", make_conv(2, 12, 13, 4, 33, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"stride 1: implicit input gradient, 32 -> 16", make_conv(2, 5, 7, 32, 16, 3, 2, 1, 1, 1, 1, 1, 1, 1, 0, 1)},
      // (Small kernels: the finite-difference checks visit every weight.)
      {"stride 1: implicit input gradient from 40 channels, 16 -> 40", make_conv(2, 4, 5, 16, 40, 1, 2, 1, 1, 1, 1, 0, 1, 0, 0, 1)},
      // The implicit filter gradient's copies, whose widths (channels of x, columns of a dy
      // panel, the zeros after a part panel) run unrolled for 1-4, 8, 16 and 32 floats.
      {"stride 1: implicit filter gradient, RGB 3 -> 32 (a first layer)", make_conv(2, 6, 7, 3, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"stride 1: implicit filter gradient, 2 -> 40 (a part panel)", make_conv(2, 5, 6, 2, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      // The 16-output-channel filter gradient (conv2d_filter16.h, AVX-512): kernel rows of
      // 3 taps, of 5 (a group of 3 and one of 2) and of 1, uneven and oversized padding.
      {"filter16: 3x3 same, 16 -> 16, batch 3", make_conv(3, 7, 9, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"filter16: 5x5, uneven padding, 8 -> 16", make_conv(1, 6, 5, 8, 16, 5, 5, 1, 1, 1, 1, 2, 1, 1, 3, 1)},
      {"filter16: 2x4, padding past the kernel, 8 -> 16", make_conv(2, 4, 5, 8, 16, 2, 4, 1, 1, 1, 1, 3, 4, 3, 4, 1)},
      {"filter16: 1x1, 32 -> 16", make_conv(2, 5, 6, 32, 16, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1)},
      {"filter16: 3x3 same, 16 -> 32 (two blocks of output channels), batch 5",
       make_conv(5, 6, 5, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1)},
      {"filter16: 3x2, 8 -> 48", make_conv(2, 5, 7, 8, 48, 3, 2, 1, 1, 1, 1, 1, 0, 1, 1, 1)},
      // Strided: the taps of a row split by the phase of the input columns they read.
      {"filter16: 3x3 stride 2, padding bottom/right only (ResNet-8), 16 -> 32",
       make_conv(2, 8, 8, 16, 32, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 1)},
      {"filter16: 3x3 stride 2, padding 1 all round, odd size, 8 -> 16",
       make_conv(2, 7, 9, 8, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1)},
      {"filter16: 1x1 stride 2 (projection), 16 -> 32", make_conv(2, 8, 7, 16, 32, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1)},
      {"filter16: 5x5 stride 2, uneven padding, 8 -> 16", make_conv(1, 9, 8, 8, 16, 5, 5, 2, 2, 1, 1, 2, 1, 1, 2, 1)},
      {"filter16: 2x2 stride 3 (gaps between windows), 8 -> 16", make_conv(2, 8, 10, 8, 16, 2, 2, 3, 3, 1, 1, 0, 0, 0, 0, 1)},
      {"filter16: 3x3 stride (1, 2), padding left 2, 8 -> 16", make_conv(1, 5, 9, 8, 16, 3, 3, 1, 2, 1, 1, 1, 2, 1, 0, 1)},
      {"filter16: 7x7 stride 2 (a phase with two tap groups), 8 -> 16",
       make_conv(1, 9, 15, 8, 16, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1)},
      // Forward and filter gradient by im2col (40 input channels), input gradient implicit.
      {"implicit input gradient only, 40 -> 50", make_conv(2, 4, 3, 40, 50, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1)},
  };
  for (const ConvCase& c : cases) {
    if (c.name.compare(0, 9, "filter16:") == 0 && convkit::active_isa() == convkit::Isa::kAvx512) {
      check_true("conv2d[" + c.name + "] filter gradient takes the 16-channel path",
                 convkit::conv_backward_filter16_preferred(c.shape));
    }
    if (c.name.compare(0, 17, "planar transpose:") == 0 && convkit::active_isa() == convkit::Isa::kAvx512) {
      check_true("conv2d[" + c.name + "] forward takes the planar path", convkit::conv_forward_planar_preferred(c.shape));
    }
    if (c.name.find("implicit input gradient") == std::string::npos) continue;
    check_true("conv2d[" + c.name + "] input gradient takes the implicit path",
               !convkit::conv_backward_input_winograd_preferred(c.shape) &&
                   convkit::conv_backward_input_implicit_preferred(c.shape));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    const bool float_differences = cases[i].name.compare(0, 5, "mixed") == 0 || i == 0;
    test_conv_case(cases[i], float_differences);
    if (cases[i].name.compare(0, 9, "stride 1:") == 0) {
      // The cases above must really leave im2col: each kernel takes a stride-1 path.
      const Conv2dShape& s = cases[i].shape;
      check_true("conv2d[" + cases[i].name + "] forward takes a stride-1 path",
                 convkit::conv_forward_planar_preferred(s) || convkit::conv_forward_implicit_preferred(s));
      check_true("conv2d[" + cases[i].name + "] filter gradient takes a stride-1 path",
                 convkit::conv_backward_filter_planar_preferred(s) || convkit::conv_backward_filter_implicit_preferred(s));
    }
  }
}

// ---------------------------------------------------------------------------------------
// pool2d

Pool2dShape make_pool(int n, int h, int w, int c, int ph, int pw, int stride_h, int stride_w, int pad_top, int pad_left,
                      int oh, int ow) {
  Pool2dShape s;
  s.n = n;
  s.h = h;
  s.w = w;
  s.c = c;
  s.ph = ph;
  s.pw = pw;
  s.stride_h = stride_h;
  s.stride_w = stride_w;
  s.pad_top = pad_top;
  s.pad_left = pad_left;
  s.oh = oh;
  s.ow = ow;
  return s;
}

size_t pool_x_size(const Pool2dShape& s) { return static_cast<size_t>(s.n) * s.h * s.w * s.c; }
size_t pool_y_size(const Pool2dShape& s) { return static_cast<size_t>(s.n) * s.oh * s.ow * s.c; }
size_t pool_x_index(const Pool2dShape& s, int b, int iy, int ix, int ch) {
  return ((static_cast<size_t>(b) * s.h + iy) * s.w + ix) * s.c + ch;
}
size_t pool_y_index(const Pool2dShape& s, int b, int oy, int ox, int ch) {
  return ((static_cast<size_t>(b) * s.oh + oy) * s.ow + ox) * s.c + ch;
}

// Visits each window's in-range positions in row-major order.
template <typename Visit>
void for_each_window_position(const Pool2dShape& s, int oy, int ox, Visit visit) {
  for (int ky = 0; ky < s.ph; ++ky) {
    for (int kx = 0; kx < s.pw; ++kx) {
      const int iy = oy * s.stride_h - s.pad_top + ky;
      const int ix = ox * s.stride_w - s.pad_left + kx;
      if (iy >= 0 && iy < s.h && ix >= 0 && ix < s.w) visit(iy, ix);
    }
  }
}

// Max pool in double; when argmax is given it receives the x index of the first maximum
// of each output (or SIZE_MAX when its window has no in-range position).
std::vector<double> max_pool_reference(const Pool2dShape& s, const std::vector<double>& x, std::vector<size_t>* argmax) {
  std::vector<double> y(pool_y_size(s));
  if (argmax != nullptr) argmax->assign(y.size(), SIZE_MAX);
  for (int b = 0; b < s.n; ++b) {
    for (int oy = 0; oy < s.oh; ++oy) {
      for (int ox = 0; ox < s.ow; ++ox) {
        for (int ch = 0; ch < s.c; ++ch) {
          bool found = false;
          double best = 0.0;
          size_t best_index = SIZE_MAX;
          for_each_window_position(s, oy, ox, [&](int iy, int ix) {
            const size_t index = pool_x_index(s, b, iy, ix, ch);
            if (!found || x[index] > best) {
              found = true;
              best = x[index];
              best_index = index;
            }
          });
          const size_t out = pool_y_index(s, b, oy, ox, ch);
          y[out] = best;
          if (argmax != nullptr) (*argmax)[out] = best_index;
        }
      }
    }
  }
  return y;
}

std::vector<double> max_pool_backward_reference(const Pool2dShape& s, const std::vector<double>& x, const std::vector<double>& dy) {
  std::vector<size_t> argmax;
  max_pool_reference(s, x, &argmax);
  std::vector<double> dx(x.size(), 0.0);
  for (size_t out = 0; out < argmax.size(); ++out) {
    if (argmax[out] != SIZE_MAX) dx[argmax[out]] += dy[out];
  }
  return dx;
}

std::vector<double> avg_pool_reference(const Pool2dShape& s, const std::vector<double>& x) {
  std::vector<double> y(pool_y_size(s));
  for (int b = 0; b < s.n; ++b) {
    for (int oy = 0; oy < s.oh; ++oy) {
      for (int ox = 0; ox < s.ow; ++ox) {
        for (int ch = 0; ch < s.c; ++ch) {
          double sum = 0.0;
          int count = 0;
          for_each_window_position(s, oy, ox, [&](int iy, int ix) {
            sum += x[pool_x_index(s, b, iy, ix, ch)];
            ++count;
          });
          y[pool_y_index(s, b, oy, ox, ch)] = count == 0 ? 0.0 : sum / count;
        }
      }
    }
  }
  return y;
}

struct PoolCase {
  std::string name;
  Pool2dShape shape;
};

void test_pool_case(const PoolCase& test_case) {
  const Pool2dShape& s = test_case.shape;
  const std::string prefix = "pool2d[" + test_case.name + "] ";
  const std::vector<float> r = random_vector(pool_y_size(s));  // dy: weights of the objective
  const std::vector<double> r_double = to_double(r);

  // Max pool: distinct values, so the maximum is unique and stable under eps = 1e-3.
  const std::vector<float> x = distinct_vector(pool_x_size(s));
  const std::vector<double> x_double = to_double(x);
  std::vector<float> y(pool_y_size(s), 123.0f);
  convkit::max_pool2d_forward(s, x.data(), y.data());
  check_close(prefix + "max forward vs reference", y, max_pool_reference(s, x_double, nullptr), kReferenceTolerance);
  std::vector<float> dx(pool_x_size(s), 123.0f);
  convkit::max_pool2d_backward(s, x.data(), r.data(), dx.data());
  check_close(prefix + "max backward vs reference", dx, max_pool_backward_reference(s, x_double, r_double), kReferenceTolerance);
  const std::vector<double> dx_expected = central_differences(
      x_double, [&](const std::vector<double>& point) { return dot(max_pool_reference(s, point, nullptr), r_double); }, 1e-3);
  check_close(prefix + "max backward vs finite differences", dx, dx_expected, kDoubleDifferenceTolerance);

  // Max pool with many ties (values from {-1, -0.5, 0, 0.5, 1}): the first maximum wins.
  std::vector<float> x_ties(pool_x_size(s));
  std::uniform_int_distribution<int> level(-2, 2);
  for (float& value : x_ties) value = 0.5f * static_cast<float>(level(rng));
  convkit::max_pool2d_forward(s, x_ties.data(), y.data());
  check_close(prefix + "max forward with ties vs reference", y, max_pool_reference(s, to_double(x_ties), nullptr),
              kReferenceTolerance);
  convkit::max_pool2d_backward(s, x_ties.data(), r.data(), dx.data());
  check_close(prefix + "max backward with ties vs reference (first maximum)", dx,
              max_pool_backward_reference(s, to_double(x_ties), r_double), kReferenceTolerance);

  // All-negative input: padding must be skipped, never read as 0.
  std::vector<float> x_negative = random_vector(pool_x_size(s), -2.0f, -1.0f);
  convkit::max_pool2d_forward(s, x_negative.data(), y.data());
  check_close(prefix + "max forward all-negative vs reference", y, max_pool_reference(s, to_double(x_negative), nullptr),
              kReferenceTolerance);

  // Average pool: linear, any data.
  const std::vector<float> x_avg = random_vector(pool_x_size(s));
  const std::vector<double> x_avg_double = to_double(x_avg);
  convkit::avg_pool2d_forward(s, x_avg.data(), y.data());
  check_close(prefix + "avg forward vs reference", y, avg_pool_reference(s, x_avg_double), kReferenceTolerance);
  std::fill(dx.begin(), dx.end(), 123.0f);
  convkit::avg_pool2d_backward(s, r.data(), dx.data());
  const std::vector<double> dx_avg_expected = central_differences(
      x_avg_double, [&](const std::vector<double>& point) { return dot(avg_pool_reference(s, point), r_double); }, 1e-3);
  check_close(prefix + "avg backward vs finite differences", dx, dx_avg_expected, kDoubleDifferenceTolerance);
}

void test_pool2d() {
  // make_pool(n, h, w, c, ph, pw, sH, sW, padTop, padLeft, oh, ow)
  const std::vector<PoolCase> cases = {
      {"2x2 stride 2", make_pool(2, 4, 6, 3, 2, 2, 2, 2, 0, 0, 2, 3)},
      {"3x3 stride 2 pad 1 (overlapping)", make_pool(2, 5, 5, 2, 3, 3, 2, 2, 1, 1, 3, 3)},
      {"3x3 stride 1 pad 1", make_pool(1, 4, 5, 3, 3, 3, 1, 1, 1, 1, 4, 5)},
      {"2x3 window, stride (1,2), window past bottom/right", make_pool(2, 5, 6, 2, 2, 3, 1, 2, 0, 1, 5, 3)},
      {"windows with no in-range position", make_pool(1, 3, 4, 2, 2, 2, 2, 2, 2, 0, 3, 2)},
      {"window equals input, batch 1", make_pool(1, 3, 4, 5, 3, 4, 1, 1, 0, 0, 1, 1)},
  };
  for (const PoolCase& test_case : cases) test_pool_case(test_case);

  // Hand-written tie examples: with all inputs equal, each window sends its dy to its
  // first in-range position in row-major order.
  {
    const Pool2dShape s = make_pool(1, 3, 3, 1, 2, 2, 1, 1, 0, 0, 2, 2);
    const std::vector<float> x(9, 1.0f);
    const std::vector<float> dy = {1.0f, 2.0f, 3.0f, 4.0f};
    std::vector<float> dx(9, 123.0f);
    convkit::max_pool2d_backward(s, x.data(), dy.data(), dx.data());
    check_close("max_pool2d_backward hand example, all ties", dx, {1, 2, 0, 3, 4, 0, 0, 0, 0}, 0.0);
  }
  {
    const Pool2dShape s = make_pool(1, 2, 2, 1, 2, 2, 1, 1, 1, 1, 3, 3);
    const std::vector<float> x(4, 5.0f);
    const std::vector<float> dy = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    std::vector<float> dx(4, 123.0f);
    convkit::max_pool2d_backward(s, x.data(), dy.data(), dx.data());
    // Windows by output (oy,ox) and their first in-range input: (0,0)->0 (0,1)->0 (0,2)->1
    // (1,0)->0 (1,1)->0 (1,2)->1 (2,0)->2 (2,1)->2 (2,2)->3.
    check_close("max_pool2d_backward hand example, ties with padding", dx, {1 + 2 + 4 + 5, 3 + 6, 7 + 8, 9}, 0.0);
    std::vector<float> y(9, 123.0f);
    convkit::avg_pool2d_forward(s, x.data(), y.data());
    check_close("avg_pool2d_forward hand example, padding not counted", y, std::vector<double>(9, 5.0), 0.0);
  }
  {
    // Rows -2..-1 of the first output row are all padding: output 0 and no gradient.
    const Pool2dShape s = make_pool(1, 2, 2, 1, 2, 2, 2, 2, 2, 0, 2, 1);
    const std::vector<float> x = {-3, -4, -5, -6};
    std::vector<float> y(2, 123.0f);
    convkit::max_pool2d_forward(s, x.data(), y.data());
    check_close("max_pool2d_forward empty window gives 0", y, {0, -3}, 0.0);
    convkit::avg_pool2d_forward(s, x.data(), y.data());
    check_close("avg_pool2d_forward empty window gives 0", y, {0, -4.5}, 0.0);
    const std::vector<float> dy = {10, 20};
    std::vector<float> dx(4, 123.0f);
    convkit::max_pool2d_backward(s, x.data(), dy.data(), dx.data());
    check_close("max_pool2d_backward empty window takes no gradient", dx, {20, 0, 0, 0}, 0.0);
    convkit::avg_pool2d_backward(s, dy.data(), dx.data());
    check_close("avg_pool2d_backward empty window takes no gradient", dx, {5, 5, 5, 5}, 0.0);
  }
}

// ---------------------------------------------------------------------------------------
// elementwise

void test_elementwise() {
  const int rows = 7, channels = 5;
  const size_t size = static_cast<size_t>(rows) * channels;
  const std::vector<float> x = random_vector(size);
  const std::vector<float> bias = random_vector(channels);
  std::vector<double> bias_expected(size);
  for (size_t i = 0; i < size; ++i) bias_expected[i] = static_cast<double>(x[i]) + bias[i % channels];

  std::vector<float> y(size, 123.0f);
  convkit::bias_add(rows, channels, x.data(), bias.data(), y.data());
  check_close("bias_add vs reference", y, bias_expected, kReferenceTolerance);
  std::vector<float> in_place = x;
  convkit::bias_add(rows, channels, in_place.data(), bias.data(), in_place.data());
  check_close("bias_add in place (y aliases x)", in_place, bias_expected, kReferenceTolerance);

  const std::vector<float> r = random_vector(size);
  std::vector<float> dbias(channels, 123.0f);
  convkit::bias_add_grad(rows, channels, r.data(), dbias.data());
  std::vector<double> dbias_expected(channels, 0.0);
  for (size_t i = 0; i < size; ++i) dbias_expected[i % channels] += r[i];
  check_close("bias_add_grad vs reference", dbias, dbias_expected, kReferenceTolerance);
  const std::vector<double> x_double = to_double(x), r_double = to_double(r);
  const std::vector<double> dbias_differences = central_differences(
      to_double(bias),
      [&](const std::vector<double>& point) {
        double sum = 0.0;
        for (size_t i = 0; i < size; ++i) sum += (x_double[i] + point[i % channels]) * r_double[i];
        return sum;
      },
      1e-3);
  check_close("bias_add_grad vs finite differences", dbias, dbias_differences, kDoubleDifferenceTolerance);

  // relu: values kept at least 0.05 from 0 so eps = 1e-3 never crosses the kink, plus exact zeros.
  std::vector<float> relu_x = random_vector(size);
  for (float& value : relu_x) {
    if (std::fabs(value) < 0.05f) value = value < 0.0f ? -0.05f : 0.05f;
  }
  relu_x[3] = 0.0f;
  relu_x[10] = -0.0f;
  std::vector<double> relu_expected(size);
  for (size_t i = 0; i < size; ++i) relu_expected[i] = relu_x[i] > 0.0f ? relu_x[i] : 0.0;
  std::vector<float> relu_y(size, 123.0f);
  convkit::relu_forward(static_cast<int64_t>(size), relu_x.data(), relu_y.data());
  check_close("relu_forward vs reference", relu_y, relu_expected, kReferenceTolerance);
  std::vector<float> relu_in_place = relu_x;
  convkit::relu_forward(static_cast<int64_t>(size), relu_in_place.data(), relu_in_place.data());
  check_close("relu_forward in place (y aliases x)", relu_in_place, relu_expected, kReferenceTolerance);

  std::vector<float> relu_dx(size, 123.0f);
  convkit::relu_backward(static_cast<int64_t>(size), relu_y.data(), r.data(), relu_dx.data());
  std::vector<double> relu_dx_expected(size);
  for (size_t i = 0; i < size; ++i) relu_dx_expected[i] = relu_y[i] > 0.0f ? r[i] : 0.0;
  check_close("relu_backward vs reference", relu_dx, relu_dx_expected, kReferenceTolerance);
  std::vector<double> relu_x_away(to_double(relu_x));
  relu_x_away[3] = -0.05;  // finite differences need a point off the kink
  relu_x_away[10] = -0.05;
  std::vector<float> relu_y_away(size), relu_dx_away(size);
  const std::vector<float> relu_x_away_float = to_float(relu_x_away);
  convkit::relu_forward(static_cast<int64_t>(size), relu_x_away_float.data(), relu_y_away.data());
  convkit::relu_backward(static_cast<int64_t>(size), relu_y_away.data(), r.data(), relu_dx_away.data());
  const std::vector<double> relu_differences = central_differences(
      relu_x_away,
      [&](const std::vector<double>& point) {
        double sum = 0.0;
        for (size_t i = 0; i < size; ++i) sum += std::max(point[i], 0.0) * r_double[i];
        return sum;
      },
      1e-3);
  check_close("relu_backward vs finite differences", relu_dx_away, relu_differences, kDoubleDifferenceTolerance);

  const std::vector<float> a = random_vector(size), b = random_vector(size);
  std::vector<double> sum_expected(size);
  for (size_t i = 0; i < size; ++i) sum_expected[i] = static_cast<double>(a[i]) + b[i];
  std::vector<float> sum(size, 123.0f);
  convkit::add(static_cast<int64_t>(size), a.data(), b.data(), sum.data());
  check_close("add vs reference", sum, sum_expected, kReferenceTolerance);
  std::vector<float> into_a = a;
  convkit::add(static_cast<int64_t>(size), into_a.data(), b.data(), into_a.data());
  check_close("add in place (y aliases a)", into_a, sum_expected, kReferenceTolerance);
  std::vector<float> into_b = b;
  convkit::add(static_cast<int64_t>(size), a.data(), into_b.data(), into_b.data());
  check_close("add in place (y aliases b)", into_b, sum_expected, kReferenceTolerance);
}

// ---------------------------------------------------------------------------------------
// softmax cross-entropy

bool label_is_valid(double label, int classes) { return label >= 0.0 && label < classes && std::floor(label) == label; }

// Mean over all rows of -log softmax[label]; rows with an invalid label add 0.
double cross_entropy_reference(int rows, int classes, const std::vector<double>& logits, const std::vector<float>& labels) {
  double total = 0.0;
  for (int row = 0; row < rows; ++row) {
    if (!label_is_valid(labels[row], classes)) continue;
    const double* row_logits = logits.data() + static_cast<size_t>(row) * classes;
    const double row_max = *std::max_element(row_logits, row_logits + classes);
    double exp_sum = 0.0;
    for (int k = 0; k < classes; ++k) exp_sum += std::exp(row_logits[k] - row_max);
    total += std::log(exp_sum) + row_max - row_logits[static_cast<int>(labels[row])];
  }
  return total / rows;
}

std::vector<double> cross_entropy_grad_reference(int rows, int classes, const std::vector<double>& logits,
                                                 const std::vector<float>& labels) {
  std::vector<double> grad(logits.size());
  for (int row = 0; row < rows; ++row) {
    const double* row_logits = logits.data() + static_cast<size_t>(row) * classes;
    double* row_grad = grad.data() + static_cast<size_t>(row) * classes;
    const double row_max = *std::max_element(row_logits, row_logits + classes);
    double exp_sum = 0.0;
    for (int k = 0; k < classes; ++k) exp_sum += std::exp(row_logits[k] - row_max);
    for (int k = 0; k < classes; ++k) {
      const double onehot = label_is_valid(labels[row], classes) && static_cast<int>(labels[row]) == k ? 1.0 : 0.0;
      row_grad[k] = (std::exp(row_logits[k] - row_max) / exp_sum - onehot) / rows;
    }
  }
  return grad;
}

void test_softmax_cross_entropy() {
  const int rows = 6, classes = 5;
  const std::vector<float> logits = random_vector(static_cast<size_t>(rows) * classes, -3.0f, 3.0f);
  const std::vector<float> labels = {0, 4, 2, 2, 1, 3};
  const std::vector<double> logits_double = to_double(logits);
  float loss = 123.0f;
  std::vector<float> dlogits(logits.size(), 123.0f);
  convkit::softmax_cross_entropy(rows, classes, logits.data(), labels.data(), &loss, dlogits.data());

  check_close("softmax_cross_entropy loss vs reference", {loss}, {cross_entropy_reference(rows, classes, logits_double, labels)},
              kReferenceTolerance);
  check_close("softmax_cross_entropy dlogits vs reference", dlogits,
              cross_entropy_grad_reference(rows, classes, logits_double, labels), kReferenceTolerance);
  const std::vector<double> double_differences = central_differences(
      logits_double, [&](const std::vector<double>& point) { return cross_entropy_reference(rows, classes, point, labels); },
      1e-4);
  check_close("softmax_cross_entropy dlogits vs finite differences", dlogits, double_differences, kDoubleDifferenceTolerance);
  std::vector<float> scratch_grad(logits.size());
  const std::vector<double> float_differences = central_differences(
      logits_double,
      [&](const std::vector<double>& point) {
        const std::vector<float> point_float = to_float(point);
        float point_loss = 0.0f;
        convkit::softmax_cross_entropy(rows, classes, point_float.data(), labels.data(), &point_loss, scratch_grad.data());
        return static_cast<double>(point_loss);
      },
      1e-2);
  check_close("softmax_cross_entropy dlogits vs float-kernel finite differences", dlogits, float_differences,
              kFloatDifferenceTolerance);

  // Large logits: subtracting the row maximum keeps exp() finite; softmax is shift-invariant.
  std::vector<float> shifted = logits;
  for (float& value : shifted) value += 1000.0f;
  float shifted_loss = 0.0f;
  std::vector<float> shifted_grad(logits.size());
  convkit::softmax_cross_entropy(rows, classes, shifted.data(), labels.data(), &shifted_loss, shifted_grad.data());
  check_close("softmax_cross_entropy logits + 1000: loss finite, matches reference", {shifted_loss},
              {cross_entropy_reference(rows, classes, to_double(shifted), labels)}, 1e-3);
  check_close("softmax_cross_entropy logits + 1000: dlogits finite, match reference", shifted_grad,
              cross_entropy_grad_reference(rows, classes, to_double(shifted), labels), 1e-3);

  // Invalid labels: negative, == classes, non-integer, NaN, huge, infinite. They add nothing
  // to the loss (still divided by all rows) and their rows' gradient is softmax / rows.
  const int bad_rows = 8;
  const std::vector<float> bad_logits = random_vector(static_cast<size_t>(bad_rows) * classes, -3.0f, 3.0f);
  const std::vector<float> bad_labels = {-1.0f,
                                         static_cast<float>(classes),
                                         1.5f,
                                         std::numeric_limits<float>::quiet_NaN(),
                                         1e30f,
                                         -std::numeric_limits<float>::infinity(),
                                         2.0f,
                                         -0.0f};
  float bad_loss = 123.0f;
  std::vector<float> bad_grad(bad_logits.size(), 123.0f);
  convkit::softmax_cross_entropy(bad_rows, classes, bad_logits.data(), bad_labels.data(), &bad_loss, bad_grad.data());
  check_true("softmax_cross_entropy invalid labels: no crash, loss finite", std::isfinite(bad_loss));
  check_close("softmax_cross_entropy invalid labels: loss skips invalid rows", {bad_loss},
              {cross_entropy_reference(bad_rows, classes, to_double(bad_logits), bad_labels)}, kReferenceTolerance);
  check_close("softmax_cross_entropy invalid labels: dlogits = softmax / rows there", bad_grad,
              cross_entropy_grad_reference(bad_rows, classes, to_double(bad_logits), bad_labels), kReferenceTolerance);
}

// ---------------------------------------------------------------------------------------
// sgd

void test_sgd_momentum() {
  // lr 0.1, momentum 0.9, weight decay 0.01, two steps worked by hand:
  // element 0: p=1, v=0.  step 1, grad 0.5:  g=0.51,     v=0.51,    p=0.949
  //                       step 2, grad -0.2: g=-0.19051, v=0.26849, p=0.922151
  // element 1: p=-2, v=0.5. step 1, grad 1:  g=0.98,     v=1.43,    p=-2.143
  //                       step 2, grad 0:    g=-0.02143, v=1.26557, p=-2.269557
  const float hyper[3] = {0.1f, 0.9f, 0.01f};
  std::vector<float> param = {1.0f, -2.0f};
  std::vector<float> velocity = {0.0f, 0.5f};
  const std::vector<float> grad_step1 = {0.5f, 1.0f};
  const std::vector<float> grad_step2 = {-0.2f, 0.0f};
  convkit::sgd_momentum(2, param.data(), grad_step1.data(), velocity.data(), hyper);
  check_close("sgd_momentum step 1 param", param, {0.949, -2.143}, 1e-6);
  check_close("sgd_momentum step 1 velocity", velocity, {0.51, 1.43}, 1e-6);
  convkit::sgd_momentum(2, param.data(), grad_step2.data(), velocity.data(), hyper);
  check_close("sgd_momentum step 2 param", param, {0.922151, -2.269557}, 1e-6);
  check_close("sgd_momentum step 2 velocity", velocity, {0.26849, 1.26557}, 1e-6);
}

}  // namespace

// find_non_finite on arrays past the one-thread limit (split over the pool when it has
// more than one thread), with NaN and infinities at block and thread-share boundaries:
// always the first bad index, whichever thread finds it.
void test_find_non_finite() {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  const int64_t length = (int64_t{1} << 20) + 37;  // 4 MiB and a tail
  std::vector<float> data(static_cast<size_t>(length), 1.25f);
  data[5] = std::numeric_limits<float>::max();
  data[6] = -std::numeric_limits<float>::denorm_min();
  check_true("find_non_finite: finite data gives -1", convkit::find_non_finite(data.data(), length) == -1);
  check_true("find_non_finite: empty gives -1", convkit::find_non_finite(data.data(), 0) == -1);
  const int64_t positions[] = {0, 16383, 16384, length / 2 - 1, length / 2, length - 37, length - 1};
  const float bad_values[] = {nan, inf, -inf};
  for (const float bad : bad_values) {
    for (const int64_t at : positions) {
      data[static_cast<size_t>(at)] = bad;
      data[static_cast<size_t>(length - 1)] = bad;  // a later bad value never hides the first
      const int64_t found = convkit::find_non_finite(data.data(), length);
      check_true("find_non_finite: " + std::to_string(bad) + " at " + std::to_string(at) + " (found " +
                     std::to_string(found) + ")",
                 found == at);
      data[static_cast<size_t>(at)] = 1.25f;
      data[static_cast<size_t>(length - 1)] = 1.25f;
    }
  }
  // Lengths that are not multiples of the vector width, on a short array.
  for (int64_t n = 1; n <= 70; ++n) {
    std::vector<float> small(static_cast<size_t>(n), -3.0f);
    small[static_cast<size_t>(n - 1)] = nan;
    check_true("find_non_finite: NaN last of " + std::to_string(n), convkit::find_non_finite(small.data(), n) == n - 1);
  }
}

// FiniteCheck (kernels.h): the paths that check an input as they read it cover it entirely,
// note a NaN or infinity wherever it is, and leave the results bit for bit unchanged.
void test_finite_checks() {
  const float nan = std::numeric_limits<float>::quiet_NaN(), inf = std::numeric_limits<float>::infinity();
  auto filled = [](int64_t n, int seed) {
    std::vector<float> v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>((i * 7 + seed) % 11) / 11.0f - 0.5f;
    return v;
  };
  auto same3 = [](int n, int hw, int c, int oc) { return Conv2dShape{n, hw, hw, c, oc, 3, 3, 1, 1, 1, 1, 1, 1, hw, hw, 1}; };
  // Shapes that take the checking paths (batch 3 keeps them taken on up to 3 threads),
  // and LeNet's two layers (planar under AVX-512, im2col elsewhere).
  const Conv2dShape shapes[] = {same3(3, 8, 8, 16),
                                same3(3, 8, 16, 16),
                                same3(3, 8, 32, 32),
                                same3(3, 8, 8, 32),
                                same3(3, 8, 32, 64),  // the Winograd filter gradient
                                Conv2dShape{3, 28, 28, 1, 6, 5, 5, 1, 1, 1, 1, 2, 2, 28, 28, 1},
                                Conv2dShape{3, 14, 14, 6, 16, 5, 5, 1, 1, 1, 1, 0, 0, 10, 10, 1}};
  for (const Conv2dShape& s : shapes) {
    const std::string name = "finite checks: conv " + std::to_string(s.c) + "->" + std::to_string(s.oc) + " ";
    const int64_t x_len = int64_t{s.n} * s.h * s.w * s.c, y_len = int64_t{s.n} * s.oh * s.ow * s.oc;
    const int64_t w_len = int64_t{s.kh} * s.kw * s.c * s.oc;
    std::vector<float> x = filled(x_len, 1), w = filled(w_len, 2), dy = filled(y_len, 3);
    std::vector<float> plain(static_cast<size_t>(std::max(x_len, std::max(y_len, w_len)))), checked(plain.size());
    struct Run {
      const char* what;
      std::function<void(float*, convkit::FiniteCheck*, convkit::FiniteCheck*)> call;
      std::vector<float>* first;   // the input checked by the first FiniteCheck
      std::vector<float>* second;  // by the second, or null
    };
    const Run runs[] = {
        {"forward x", [&](float* out, convkit::FiniteCheck* a, convkit::FiniteCheck*) {
           convkit::conv2d_forward(s, x.data(), w.data(), out, convkit::ConvEpilogue{}, a); }, &x, nullptr},
        {"backward input dy", [&](float* out, convkit::FiniteCheck* a, convkit::FiniteCheck*) {
           convkit::conv2d_backward_input(s, dy.data(), w.data(), out, a); }, &dy, nullptr},
        {"backward filter x, dy", [&](float* out, convkit::FiniteCheck* a, convkit::FiniteCheck* b) {
           convkit::conv2d_backward_filter(s, x.data(), dy.data(), out, a, b); }, &x, &dy},
    };
    for (const Run& run : runs) {
      // Only the shapes whose gradient paths take channels this way are expected to cover.
      // The Winograd, planar, implicit and filter16 paths check; im2col and the direct loops
      // do not.
      const std::string what = run.what;
      const bool expect_covered =
          what == "forward x" ? convkit::conv_forward_winograd_preferred(s) || convkit::conv_forward_planar_preferred(s) ||
                                    convkit::conv_forward_implicit_preferred(s)
          : what == "backward input dy"
              ? convkit::conv_backward_input_winograd_preferred(s) || convkit::conv_backward_input_planar_preferred(s) ||
                    convkit::conv_backward_input_implicit_preferred(s)
              : convkit::conv_backward_filter_winograd_preferred(s) || convkit::conv_backward_filter16_preferred(s) ||
                    convkit::conv_backward_filter_planar_preferred(s) ||
                    convkit::conv_backward_filter_implicit_preferred(s);
      const size_t out_len = static_cast<size_t>(what == "forward x" ? y_len : what == "backward input dy" ? x_len : w_len);
      convkit::FiniteCheck first, second;
      std::fill(plain.begin(), plain.end(), 0.0f);
      std::fill(checked.begin(), checked.end(), 0.0f);
      run.call(plain.data(), nullptr, nullptr);
      run.call(checked.data(), &first, &second);
      check_true(name + run.what + ": same bits with checks",
                 std::equal(plain.begin(), plain.begin() + out_len, checked.begin()));
      // The 32 -> 32 layer (like the bench's conv) takes checking paths on every ISA.
      check_true(name + run.what + ": a checking path", s.c != 32 || expect_covered);
      check_true(name + run.what + ": covered", !expect_covered || (first.covered && (run.second == nullptr || second.covered)));
      check_true(name + run.what + ": finite inputs pass", !first.non_finite.load() && !second.non_finite.load());
      for (std::vector<float>* input : {run.first, run.second}) {
        if (input == nullptr) continue;
        const size_t at = input->size() * 2 / 3 + 5;  // inside the last image
        for (const float bad : {nan, -inf}) {
          const float kept = (*input)[at];
          (*input)[at] = bad;
          convkit::FiniteCheck a, b;
          run.call(checked.data(), &a, &b);
          convkit::FiniteCheck& noted = input == run.first ? a : b;
          check_true(name + run.what + ": a bad value is noted", !noted.covered || noted.non_finite.load());
          check_true(name + run.what + ": covered with a bad value", !expect_covered || noted.covered);
          (*input)[at] = kept;
        }
      }
    }
  }
}

int main() {
  test_find_non_finite();
  test_finite_checks();
  test_matmul();
  test_conv2d();
  test_conv_winograd();
  test_conv_scratch_bounds();
  test_pool2d();
  test_elementwise();
  test_softmax_cross_entropy();
  test_sgd_momentum();
  std::printf("%d passed, %d failed\n", passed_count, failed_count);
  return failed_count == 0 ? 0 : 1;
}
