// Standalone tests for the layer kernels of native/kernels (conv3d, pool3d, batch norm,
// activations, softmax, mul, columns, losses, optimizers). Each kernel is compared with a
// naive double-precision reference written here, and each gradient kernel with central
// finite differences of the scalar objective sum(y * r) (r random) evaluated in double.
//
// Build and run (one line):
//   g++ -O2 -std=c++17 -Wall -Wextra -Inative/kernels native/kernels/conv3d_*.cc native/kernels/pool3d.cc
//     native/kernels/batch_norm.cc native/kernels/activation.cc native/kernels/columns.cc
//     native/kernels/losses.cc native/kernels/optimizers.cc test/native/layers_kernels_test.cc
//     -o /tmp/layers_kernels_test && /tmp/layers_kernels_test
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "kernels.h"

namespace {

using convkit_test::check_true;
using convkit_test::failed_count;
using convkit_test::passed_count;
using convkit_test::record;
using convkit_test::relative_error;

using convkit::ActivationKind;
using convkit::Conv3dShape;
using convkit::Pool3dShape;

// Kernel vs naive double reference: float rounding only.
constexpr double kReferenceTolerance = 1e-4;
// Kernel vs central differences of a double objective: the piecewise-linear objectives
// (conv, pools) are exact up to rounding; the smooth ones have O(eps^2) truncation.
constexpr double kDifferenceTolerance = 1e-3;
// Hand-computed values: float rounding of a few operations.
constexpr double kHandTolerance = 1e-6;
// A value written into outputs before each call: kernels must overwrite it.
constexpr float kGarbage = 123.0f;

std::mt19937 rng(20240612);


// Elementwise relative error: max over i of |got - want| / max(|want|, floor). Catches a
// small value computed badly next to large ones (the stability checks of the activations).
double elementwise_error(const std::vector<float>& got, const std::vector<double>& want, double floor) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double error = std::fabs(static_cast<double>(got[i]) - want[i]) / std::max(std::fabs(want[i]), floor);
    if (!(error <= std::numeric_limits<double>::max())) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, error);
  }
  return worst;
}

void check_close(const std::string& name, const std::vector<float>& got, const std::vector<double>& want,
                 double tolerance) {
  const double error = relative_error(got, want);
  char detail[96];
  std::snprintf(detail, sizeof detail, "(relative error %.2e, tolerance %.0e)", error, tolerance);
  record(name, error <= tolerance, detail);
}

void check_elementwise(const std::string& name, const std::vector<float>& got, const std::vector<double>& want,
                       double tolerance, double floor) {
  const double error = elementwise_error(got, want, floor);
  char detail[112];
  std::snprintf(detail, sizeof detail, "(elementwise relative error %.2e, tolerance %.0e)", error, tolerance);
  record(name, error <= tolerance, detail);
}

void check_scalar(const std::string& name, float got, double want, double tolerance) {
  check_close(name, std::vector<float>{got}, std::vector<double>{want}, tolerance);
}

bool all_finite(const std::vector<float>& values) {
  return std::all_of(values.begin(), values.end(), [](float v) { return std::isfinite(v); });
}

std::vector<float> random_vector(size_t size, float low = -1.0f, float high = 1.0f) {
  std::uniform_real_distribution<float> distribution(low, high);
  std::vector<float> values(size);
  for (float& value : values) value = distribution(rng);
  return values;
}

// Magnitudes in [0.1, 1] with random signs: no kink of |x| or of an activation within a
// finite-difference step.
std::vector<float> away_from_zero_vector(size_t size) {
  std::vector<float> values = random_vector(size, 0.1f, 1.0f);
  std::bernoulli_distribution negative(0.5);
  for (float& value : values) value = negative(rng) ? -value : value;
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

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) sum += a[i] * b[i];
  return sum;
}

// Central differences of objective at point, one coordinate at a time.
std::vector<double> central_differences(std::vector<double> point,
                                        const std::function<double(const std::vector<double>&)>& objective,
                                        double eps = 1e-3) {
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
// conv3d

// Builds a shape from per-side padding; the output size is what the padded input allows.
// Sizes are {d, h, w}, kernel {kd, kh, kw}, and so on, depth first.
struct Triple {
  int d, h, w;
};

Conv3dShape make_conv(int n, Triple in, int c, int oc, Triple kernel, Triple stride, Triple dilation, Triple pad_begin,
                      Triple pad_end, int groups) {
  Conv3dShape s;
  s.n = n;
  s.d = in.d;
  s.h = in.h;
  s.w = in.w;
  s.c = c;
  s.oc = oc;
  s.kd = kernel.d;
  s.kh = kernel.h;
  s.kw = kernel.w;
  s.stride_d = stride.d;
  s.stride_h = stride.h;
  s.stride_w = stride.w;
  s.dilation_d = dilation.d;
  s.dilation_h = dilation.h;
  s.dilation_w = dilation.w;
  s.pad_front = pad_begin.d;
  s.pad_top = pad_begin.h;
  s.pad_left = pad_begin.w;
  s.od = (in.d + pad_begin.d + pad_end.d - ((kernel.d - 1) * dilation.d + 1)) / stride.d + 1;
  s.oh = (in.h + pad_begin.h + pad_end.h - ((kernel.h - 1) * dilation.h + 1)) / stride.h + 1;
  s.ow = (in.w + pad_begin.w + pad_end.w - ((kernel.w - 1) * dilation.w + 1)) / stride.w + 1;
  s.groups = groups;
  return s;
}

size_t conv_x_size(const Conv3dShape& s) { return static_cast<size_t>(s.n) * s.d * s.h * s.w * s.c; }
size_t conv_w_size(const Conv3dShape& s) { return static_cast<size_t>(s.kd) * s.kh * s.kw * (s.c / s.groups) * s.oc; }
size_t conv_y_size(const Conv3dShape& s) { return static_cast<size_t>(s.n) * s.od * s.oh * s.ow * s.oc; }

// The definition, term by term: y[n,oz,oy,ox,o] = sum x[n,iz,iy,ix,g*Cg+ci] * w[kz,ky,kx,ci,o].
std::vector<double> conv_reference(const Conv3dShape& s, const std::vector<double>& x, const std::vector<double>& w) {
  const int group_in = s.c / s.groups;
  const int group_out = s.oc / s.groups;
  std::vector<double> y(conv_y_size(s));
  for (int b = 0; b < s.n; ++b) {
    for (int oz = 0; oz < s.od; ++oz) {
      for (int oy = 0; oy < s.oh; ++oy) {
        for (int ox = 0; ox < s.ow; ++ox) {
          for (int o = 0; o < s.oc; ++o) {
            const int group = o / group_out;
            double sum = 0.0;
            for (int kz = 0; kz < s.kd; ++kz) {
              for (int ky = 0; ky < s.kh; ++ky) {
                for (int kx = 0; kx < s.kw; ++kx) {
                  const int iz = oz * s.stride_d - s.pad_front + kz * s.dilation_d;
                  const int iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
                  const int ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
                  if (iz < 0 || iz >= s.d || iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                  for (int ci = 0; ci < group_in; ++ci) {
                    const size_t x_index =
                        (((static_cast<size_t>(b) * s.d + iz) * s.h + iy) * s.w + ix) * s.c + group * group_in + ci;
                    const size_t w_index = (((static_cast<size_t>(kz) * s.kh + ky) * s.kw + kx) * group_in + ci) * s.oc + o;
                    sum += x[x_index] * w[w_index];
                  }
                }
              }
            }
            y[(((static_cast<size_t>(b) * s.od + oz) * s.oh + oy) * s.ow + ox) * s.oc + o] = sum;
          }
        }
      }
    }
  }
  return y;
}

void test_conv_case(const std::string& name, const Conv3dShape& s) {
  const std::string prefix = "conv3d[" + name + "] ";
  const std::vector<float> x = random_vector(conv_x_size(s));
  const std::vector<float> w = random_vector(conv_w_size(s));
  const std::vector<float> r = random_vector(conv_y_size(s));  // dy: weights of the objective
  const std::vector<double> x_double = to_double(x), w_double = to_double(w), r_double = to_double(r);

  std::vector<float> y(conv_y_size(s), kGarbage);
  convkit::conv3d_forward(s, x.data(), w.data(), y.data());
  check_close(prefix + "forward vs reference", y, conv_reference(s, x_double, w_double), kReferenceTolerance);

  std::vector<float> dx(conv_x_size(s), kGarbage);
  convkit::conv3d_backward_input(s, r.data(), w.data(), dx.data());
  const std::vector<double> dx_expected = central_differences(
      x_double, [&](const std::vector<double>& point) { return dot(conv_reference(s, point, w_double), r_double); });
  check_close(prefix + "backward_input vs finite differences", dx, dx_expected, kDifferenceTolerance);

  std::vector<float> dw(conv_w_size(s), kGarbage);
  convkit::conv3d_backward_filter(s, x.data(), r.data(), dw.data());
  const std::vector<double> dw_expected = central_differences(
      w_double, [&](const std::vector<double>& point) { return dot(conv_reference(s, x_double, point), r_double); });
  check_close(prefix + "backward_filter vs finite differences", dw, dw_expected, kDifferenceTolerance);
}

void test_conv3d() {
  // make_conv(n, {d,h,w}, c, oc, kernel, stride, dilation, pad front/top/left, pad back/bottom/right, groups)
  test_conv_case("3x3x3 pad 1", make_conv(2, {4, 5, 3}, 3, 4, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1));
  test_conv_case("batch 1, odd sizes, 2x3x2 kernel",
                 make_conv(1, {3, 5, 7}, 3, 5, {2, 3, 2}, {1, 1, 1}, {1, 1, 1}, {0, 1, 0}, {0, 1, 1}, 1));
  test_conv_case("stride 3 > kernel 2",
                 make_conv(2, {7, 8, 6}, 2, 3, {2, 2, 2}, {3, 3, 3}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 1));
  test_conv_case("kernel equals input",
                 make_conv(1, {3, 4, 5}, 2, 3, {3, 4, 5}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 1));
  test_conv_case("dilation 2", make_conv(1, {5, 6, 5}, 2, 3, {3, 3, 3}, {1, 1, 1}, {2, 2, 2}, {2, 2, 2}, {2, 2, 2}, 1));
  test_conv_case("groups 2", make_conv(2, {3, 4, 4}, 4, 6, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 2));
  test_conv_case("depthwise groups == c == oc",
                 make_conv(2, {4, 5, 3}, 5, 5, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 5));
  test_conv_case("depthwise groups == c == oc = 19, stride 2",
                 make_conv(1, {5, 4, 5}, 19, 19, {3, 2, 3}, {2, 2, 2}, {1, 1, 1}, {1, 0, 1}, {1, 1, 1}, 19));
  test_conv_case("depthwise multiplier 2",
                 make_conv(1, {3, 4, 4}, 3, 6, {2, 3, 3}, {1, 2, 1}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, 3));
  test_conv_case("mixed groups 2, dilation (2,1,1), stride (1,2,1), uneven padding",
                 make_conv(2, {6, 5, 4}, 4, 2, {2, 3, 2}, {1, 2, 1}, {2, 1, 1}, {2, 1, 0}, {1, 0, 1}, 2));
  test_conv_case("1x1x1 kernel, padding 2 (outputs wholly in padding)",
                 make_conv(1, {2, 3, 2}, 2, 2, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {2, 2, 2}, {2, 2, 2}, 1));
  test_conv_case("8 -> 20 channels (dot lanes and tail)",
                 make_conv(1, {3, 3, 4}, 8, 20, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {1, 0, 1}, {0, 1, 0}, 1));
  test_conv_case("groups 2, 6 -> 34 channels", make_conv(1, {2, 3, 3}, 6, 34, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}, 2));
}

// ---------------------------------------------------------------------------------------
// pool3d

Pool3dShape make_pool(int n, Triple in, int c, Triple window, Triple stride, Triple pad_begin, Triple pad_end) {
  Pool3dShape s;
  s.n = n;
  s.d = in.d;
  s.h = in.h;
  s.w = in.w;
  s.c = c;
  s.pd = window.d;
  s.ph = window.h;
  s.pw = window.w;
  s.stride_d = stride.d;
  s.stride_h = stride.h;
  s.stride_w = stride.w;
  s.pad_front = pad_begin.d;
  s.pad_top = pad_begin.h;
  s.pad_left = pad_begin.w;
  s.od = (in.d + pad_begin.d + pad_end.d - window.d) / stride.d + 1;
  s.oh = (in.h + pad_begin.h + pad_end.h - window.h) / stride.h + 1;
  s.ow = (in.w + pad_begin.w + pad_end.w - window.w) / stride.w + 1;
  return s;
}

size_t pool_x_size(const Pool3dShape& s) { return static_cast<size_t>(s.n) * s.d * s.h * s.w * s.c; }
size_t pool_y_size(const Pool3dShape& s) { return static_cast<size_t>(s.n) * s.od * s.oh * s.ow * s.c; }

enum class PoolKind { kMax, kAvg, kL2 };

// Pools in double. For max, argmax (when given) receives the x index of the first maximum in
// row-major window order (SIZE_MAX for windows with no in-range position).
std::vector<double> pool_reference(const Pool3dShape& s, PoolKind kind, const std::vector<double>& x,
                                   std::vector<size_t>* argmax = nullptr) {
  std::vector<double> y(pool_y_size(s));
  if (argmax != nullptr) argmax->assign(y.size(), SIZE_MAX);
  size_t out = 0;
  for (int b = 0; b < s.n; ++b) {
    for (int oz = 0; oz < s.od; ++oz) {
      for (int oy = 0; oy < s.oh; ++oy) {
        for (int ox = 0; ox < s.ow; ++ox) {
          for (int ch = 0; ch < s.c; ++ch, ++out) {
            bool found = false;
            double best = 0.0, sum = 0.0, squares = 0.0;
            size_t best_index = SIZE_MAX;
            int count = 0;
            for (int kz = 0; kz < s.pd; ++kz) {
              for (int ky = 0; ky < s.ph; ++ky) {
                for (int kx = 0; kx < s.pw; ++kx) {
                  const int iz = oz * s.stride_d - s.pad_front + kz;
                  const int iy = oy * s.stride_h - s.pad_top + ky;
                  const int ix = ox * s.stride_w - s.pad_left + kx;
                  if (iz < 0 || iz >= s.d || iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
                  const size_t index = (((static_cast<size_t>(b) * s.d + iz) * s.h + iy) * s.w + ix) * s.c + ch;
                  if (!found || x[index] > best) {
                    best = x[index];
                    best_index = index;
                  }
                  found = true;
                  sum += x[index];
                  squares += x[index] * x[index];
                  ++count;
                }
              }
            }
            switch (kind) {
              case PoolKind::kMax:
                y[out] = best;
                break;
              case PoolKind::kAvg:
                y[out] = count == 0 ? 0.0 : sum / count;
                break;
              case PoolKind::kL2:
                y[out] = std::sqrt(squares);
                break;
            }
            if (argmax != nullptr) (*argmax)[out] = best_index;
          }
        }
      }
    }
  }
  return y;
}

void test_pool_case(const std::string& name, const Pool3dShape& s) {
  const std::string prefix = "pool3d[" + name + "] ";
  const std::vector<float> r = random_vector(pool_y_size(s));
  const std::vector<double> r_double = to_double(r);

  // max: distinct values, so finite differences never move the maximum.
  {
    const std::vector<float> x = distinct_vector(pool_x_size(s));
    const std::vector<double> x_double = to_double(x);
    std::vector<float> y(pool_y_size(s), kGarbage);
    convkit::max_pool3d_forward(s, x.data(), y.data());
    check_close(prefix + "max forward vs reference", y, pool_reference(s, PoolKind::kMax, x_double), kReferenceTolerance);
    std::vector<float> dx(pool_x_size(s), kGarbage);
    convkit::max_pool3d_backward(s, x.data(), r.data(), dx.data());
    const std::vector<double> expected = central_differences(x_double, [&](const std::vector<double>& point) {
      return dot(pool_reference(s, PoolKind::kMax, point), r_double);
    });
    check_close(prefix + "max backward vs finite differences", dx, expected, kDifferenceTolerance);
  }
  // avg: any values.
  {
    const std::vector<float> x = random_vector(pool_x_size(s));
    const std::vector<double> x_double = to_double(x);
    std::vector<float> y(pool_y_size(s), kGarbage);
    convkit::avg_pool3d_forward(s, x.data(), y.data());
    check_close(prefix + "avg forward vs reference", y, pool_reference(s, PoolKind::kAvg, x_double), kReferenceTolerance);
    std::vector<float> dx(pool_x_size(s), kGarbage);
    convkit::avg_pool3d_backward(s, r.data(), dx.data());
    const std::vector<double> expected = central_differences(x_double, [&](const std::vector<double>& point) {
      return dot(pool_reference(s, PoolKind::kAvg, point), r_double);
    });
    check_close(prefix + "avg backward vs finite differences", dx, expected, kDifferenceTolerance);
  }
  // l2: magnitudes away from 0, where sqrt(sum x^2) is smooth even for one-position windows.
  {
    const std::vector<float> x = away_from_zero_vector(pool_x_size(s));
    const std::vector<double> x_double = to_double(x);
    std::vector<float> y(pool_y_size(s), kGarbage);
    convkit::l2_pool3d_forward(s, x.data(), y.data());
    check_close(prefix + "l2 forward vs reference", y, pool_reference(s, PoolKind::kL2, x_double), kReferenceTolerance);
    std::vector<float> dx(pool_x_size(s), kGarbage);
    convkit::l2_pool3d_backward(s, x.data(), y.data(), r.data(), dx.data());
    const std::vector<double> expected = central_differences(
        x_double, [&](const std::vector<double>& point) { return dot(pool_reference(s, PoolKind::kL2, point), r_double); },
        1e-4);
    check_close(prefix + "l2 backward vs finite differences", dx, expected, kDifferenceTolerance);
  }
}

// Ties, negative values next to padding, and the empty-window conventions, by hand.
void test_pool_conventions() {
  // One window of 2x2x2 over a 2x2x2 input, one channel, all values equal except none: the
  // first position must take the whole gradient.
  {
    const Pool3dShape s = make_pool(1, {2, 2, 2}, 1, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0});
    const std::vector<float> x(8, 0.5f);
    const std::vector<float> dy = {3.0f};
    std::vector<float> dx(8, kGarbage);
    convkit::max_pool3d_backward(s, x.data(), dy.data(), dx.data());
    check_close("pool3d max backward: tie goes to the first position", dx, {3, 0, 0, 0, 0, 0, 0, 0}, 0.0);
  }
  // Ties in the middle: the maximum 2 occurs at window positions 3 and 6; position 3 wins.
  {
    const Pool3dShape s = make_pool(1, {2, 2, 2}, 1, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0});
    const std::vector<float> x = {-1, 0, 1, 2, -3, 1, 2, 0};
    const std::vector<float> dy = {1.5f};
    std::vector<float> dx(8, kGarbage);
    convkit::max_pool3d_backward(s, x.data(), dy.data(), dx.data());
    check_close("pool3d max backward: later tie does not replace", dx, {0, 0, 0, 1.5, 0, 0, 0, 0}, 0.0);
  }
  // All-negative input with padding 1: padding is skipped, so the maxima stay negative, and
  // windows wholly in padding (window 1, padding 1) yield 0.
  {
    const Pool3dShape s = make_pool(1, {1, 2, 2}, 2, {1, 2, 2}, {1, 1, 1}, {0, 1, 1}, {0, 0, 0});
    std::vector<float> x(8);
    for (size_t i = 0; i < x.size(); ++i) x[i] = -1.0f - static_cast<float>(i);
    std::vector<float> y(pool_y_size(s), kGarbage);
    convkit::max_pool3d_forward(s, x.data(), y.data());
    check_close("pool3d max forward: padding skipped (negative maxima)", y,
                pool_reference(s, PoolKind::kMax, to_double(x)), 0.0);
    check_true("pool3d max forward: padding never yields 0 here",
               std::none_of(y.begin(), y.end(), [](float v) { return v == 0.0f; }));
    const Pool3dShape empty = make_pool(1, {1, 1, 1}, 2, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1});
    const std::vector<float> x_small = {-2.0f, -5.0f};
    for (PoolKind kind : {PoolKind::kMax, PoolKind::kAvg, PoolKind::kL2}) {
      std::vector<float> y_empty(pool_y_size(empty), kGarbage);
      if (kind == PoolKind::kMax) convkit::max_pool3d_forward(empty, x_small.data(), y_empty.data());
      if (kind == PoolKind::kAvg) convkit::avg_pool3d_forward(empty, x_small.data(), y_empty.data());
      if (kind == PoolKind::kL2) convkit::l2_pool3d_forward(empty, x_small.data(), y_empty.data());
      std::vector<double> expected(y_empty.size(), 0.0);
      expected[(((1 * 3 + 1) * 3) + 1) * 2 + 0] = kind == PoolKind::kL2 ? 2.0 : -2.0;
      expected[(((1 * 3 + 1) * 3) + 1) * 2 + 1] = kind == PoolKind::kL2 ? 5.0 : -5.0;
      const char* label = kind == PoolKind::kMax ? "max" : (kind == PoolKind::kAvg ? "avg" : "l2");
      check_close(std::string("pool3d ") + label + " forward: windows wholly in padding give 0", y_empty, expected, 0.0);
    }
    std::vector<float> dy_empty(pool_y_size(empty), 1.0f), dx_small(2, kGarbage);
    convkit::max_pool3d_backward(empty, x_small.data(), dy_empty.data(), dx_small.data());
    check_close("pool3d max backward: empty windows take no gradient", dx_small, {1.0, 1.0}, 0.0);
    convkit::avg_pool3d_backward(empty, dy_empty.data(), dx_small.data());
    check_close("pool3d avg backward: empty windows take no gradient", dx_small, {1.0, 1.0}, 0.0);
  }
  // Average divisor = in-range count: a 2x2x2 window at the corner with padding 1 covers one
  // position, so y = x there and the gradient is dy.
  {
    const Pool3dShape s = make_pool(1, {2, 2, 2}, 1, {2, 2, 2}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1});
    const std::vector<float> x = {1, 2, 3, 4, 5, 6, 7, 8};
    std::vector<float> y(pool_y_size(s), kGarbage);
    convkit::avg_pool3d_forward(s, x.data(), y.data());
    check_close("pool3d avg forward: padding not counted", y, {1, 2, 3, 4, 5, 6, 7, 8}, 0.0);
  }
  // L2 with an all-zero window: y == 0 there and its gradient is 0, never NaN. Two channels
  // over one 2x2x2 window: channel 0 all zeros, channel 1 not; overlapping windows (stride 1,
  // padding 1) mix zero and non-zero windows for a third check.
  {
    const Pool3dShape s = make_pool(1, {2, 2, 2}, 2, {2, 2, 2}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0});
    std::vector<float> x(16, 0.0f);
    double squares = 0.0;
    for (int i = 0; i < 8; ++i) {
      x[i * 2 + 1] = 0.25f * static_cast<float>(i + 1);
      squares += static_cast<double>(x[i * 2 + 1]) * x[i * 2 + 1];
    }
    std::vector<float> y(2, kGarbage);
    convkit::l2_pool3d_forward(s, x.data(), y.data());
    check_close("pool3d l2 forward: all-zero window gives 0", y, {0.0, std::sqrt(squares)}, kReferenceTolerance);
    const std::vector<float> dy = {2.0f, 3.0f};
    std::vector<float> dx(16, kGarbage);
    convkit::l2_pool3d_backward(s, x.data(), y.data(), dy.data(), dx.data());
    std::vector<double> expected(16, 0.0);
    for (int i = 0; i < 8; ++i) expected[i * 2 + 1] = 3.0 * x[i * 2 + 1] / std::sqrt(squares);
    check_true("pool3d l2 backward: all-zero window, no NaN", all_finite(dx));
    check_close("pool3d l2 backward: all-zero window gives 0 gradient", dx, expected, kReferenceTolerance);

    const Pool3dShape overlapping = make_pool(1, {3, 3, 3}, 1, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0});
    std::vector<float> x3(27, 0.0f);
    x3[26] = 0.75f;  // only the last corner is non-zero: most windows are all zeros
    x3[13] = -0.5f;
    std::vector<float> y3(pool_y_size(overlapping), kGarbage), dx3(27, kGarbage);
    convkit::l2_pool3d_forward(overlapping, x3.data(), y3.data());
    const std::vector<float> dy3 = random_vector(y3.size());
    convkit::l2_pool3d_backward(overlapping, x3.data(), y3.data(), dy3.data(), dx3.data());
    std::vector<double> expected3(27, 0.0);
    {
      // Reference: dx += dy * x / y over each window, nothing where y == 0.
      size_t out = 0;
      for (int oz = 0; oz < overlapping.od; ++oz) {
        for (int oy = 0; oy < overlapping.oh; ++oy) {
          for (int ox = 0; ox < overlapping.ow; ++ox, ++out) {
            if (y3[out] == 0.0f) continue;
            for (int kz = 0; kz < 2; ++kz) {
              for (int ky = 0; ky < 2; ++ky) {
                for (int kx = 0; kx < 2; ++kx) {
                  const int iz = oz - 1 + kz, iy = oy - 1 + ky, ix = ox - 1 + kx;
                  if (iz < 0 || iz >= 3 || iy < 0 || iy >= 3 || ix < 0 || ix >= 3) continue;
                  const size_t index = (static_cast<size_t>(iz) * 3 + iy) * 3 + ix;
                  expected3[index] += static_cast<double>(dy3[out]) * x3[index] / y3[out];
                }
              }
            }
          }
        }
      }
    }
    check_true("pool3d l2 backward: overlapping zero windows, no NaN", all_finite(dx3));
    check_close("pool3d l2 backward: overlapping zero windows vs reference", dx3, expected3, kReferenceTolerance);
  }
}

void test_pool3d() {
  // make_pool(n, {d,h,w}, c, window, stride, pad front/top/left, pad back/bottom/right)
  test_pool_case("2x2x2 stride 2", make_pool(2, {4, 4, 6}, 3, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {0, 0, 0}));
  test_pool_case("3x3x3 stride 1 pad 1", make_pool(1, {3, 4, 3}, 2, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}));
  test_pool_case("stride 3 > window 2, odd sizes", make_pool(2, {5, 7, 4}, 2, {2, 2, 2}, {3, 3, 3}, {0, 0, 0}, {0, 0, 0}));
  test_pool_case("window equals input", make_pool(1, {3, 2, 4}, 3, {3, 2, 4}, {1, 1, 1}, {0, 0, 0}, {0, 0, 0}));
  test_pool_case("mixed window (1,3,2), stride (1,2,1), uneven padding",
                 make_pool(1, {3, 5, 4}, 2, {1, 3, 2}, {1, 2, 1}, {0, 1, 1}, {0, 1, 0}));
  test_pool_case("window 1, padding 1 (windows wholly in padding)",
                 make_pool(1, {2, 2, 1}, 2, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}));
  test_pool_case("70 channels (blocked), 2x2x2 overlapping",
                 make_pool(1, {2, 3, 2}, 70, {2, 2, 2}, {1, 1, 1}, {0, 1, 0}, {0, 0, 0}));
  test_pool_conventions();
}

// ---------------------------------------------------------------------------------------
// batch norm

struct BatchNormResult {
  std::vector<double> y, mean, inv_std, running_mean, running_var;
};

// Training-mode batch norm in double, straight from the definition.
BatchNormResult batch_norm_reference(int64_t rows, int channels, double eps, double momentum, const std::vector<double>& x,
                                     const std::vector<double>& gamma, const std::vector<double>& beta,
                                     const std::vector<double>& running_mean, const std::vector<double>& running_var) {
  BatchNormResult result;
  result.y.assign(x.size(), 0.0);
  result.mean.assign(channels, 0.0);
  result.inv_std.assign(channels, 0.0);
  result.running_mean = running_mean;
  result.running_var = running_var;
  for (int ch = 0; ch < channels; ++ch) {
    double sum = 0.0;
    for (int64_t r = 0; r < rows; ++r) sum += x[r * channels + ch];
    const double mean = sum / rows;
    double squares = 0.0;
    for (int64_t r = 0; r < rows; ++r) squares += (x[r * channels + ch] - mean) * (x[r * channels + ch] - mean);
    const double var = squares / rows;
    const double inv_std = 1.0 / std::sqrt(var + eps);
    for (int64_t r = 0; r < rows; ++r) {
      result.y[r * channels + ch] = gamma[ch] * (x[r * channels + ch] - mean) * inv_std + beta[ch];
    }
    result.mean[ch] = mean;
    result.inv_std[ch] = inv_std;
    const double unbiased = rows > 1 ? var * rows / (rows - 1) : var;
    result.running_mean[ch] = (1 - momentum) * running_mean[ch] + momentum * mean;
    result.running_var[ch] = (1 - momentum) * running_var[ch] + momentum * unbiased;
  }
  return result;
}

void test_batch_norm_case(const std::string& name, int64_t rows, int channels, float offset = 0.0f) {
  const std::string prefix = "batch_norm[" + name + "] ";
  const float eps = 1e-3f, momentum = 0.1f;
  std::vector<float> x = random_vector(static_cast<size_t>(rows) * channels, -2.0f + offset, 3.0f + offset);
  const std::vector<float> gamma = random_vector(channels, 0.5f, 1.5f);
  const std::vector<float> beta = random_vector(channels);
  const std::vector<float> running_mean0 = random_vector(channels);
  const std::vector<float> running_var0 = random_vector(channels, 0.5f, 2.0f);
  const std::vector<double> x_double = to_double(x), gamma_double = to_double(gamma), beta_double = to_double(beta);

  std::vector<float> y(x.size(), kGarbage), mean(channels, kGarbage), inv_std(channels, kGarbage);
  std::vector<float> running_mean = running_mean0, running_var = running_var0;
  convkit::batch_norm_train(rows, channels, eps, momentum, x.data(), gamma.data(), beta.data(), y.data(), mean.data(),
                            inv_std.data(), running_mean.data(), running_var.data());
  const BatchNormResult want = batch_norm_reference(rows, channels, eps, momentum, x_double, gamma_double, beta_double,
                                                    to_double(running_mean0), to_double(running_var0));
  check_close(prefix + "train y vs reference", y, want.y, kReferenceTolerance);
  check_close(prefix + "train mean vs reference", mean, want.mean, kReferenceTolerance);
  check_close(prefix + "train invStd vs reference", inv_std, want.inv_std, kReferenceTolerance);
  check_close(prefix + "train runningMean vs reference", running_mean, want.running_mean, kReferenceTolerance);
  check_close(prefix + "train runningVar vs reference", running_var, want.running_var, kReferenceTolerance);

  // Backward vs differences of the full training-mode transform (batch statistics included).
  const std::vector<float> r = random_vector(x.size());
  const std::vector<double> r_double = to_double(r);
  std::vector<float> dx(x.size(), kGarbage), dgamma(channels, kGarbage), dbeta(channels, kGarbage);
  convkit::batch_norm_backward(rows, channels, x.data(), gamma.data(), mean.data(), inv_std.data(), r.data(), dx.data(),
                               dgamma.data(), dbeta.data());
  const std::vector<double> no_stats(channels, 0.0);
  auto objective = [&](const std::vector<double>& xp, const std::vector<double>& gp, const std::vector<double>& bp) {
    return dot(batch_norm_reference(rows, channels, eps, momentum, xp, gp, bp, no_stats, no_stats).y, r_double);
  };
  check_close(prefix + "backward dx vs finite differences", dx,
              central_differences(x_double, [&](const std::vector<double>& p) { return objective(p, gamma_double, beta_double); }),
              kDifferenceTolerance);
  check_close(prefix + "backward dgamma vs finite differences", dgamma,
              central_differences(gamma_double, [&](const std::vector<double>& p) { return objective(x_double, p, beta_double); }),
              kDifferenceTolerance);
  check_close(prefix + "backward dbeta vs finite differences", dbeta,
              central_differences(beta_double, [&](const std::vector<double>& p) { return objective(x_double, gamma_double, p); }),
              kDifferenceTolerance);

  // Inference with the running statistics.
  std::vector<float> y_inference(x.size(), kGarbage);
  convkit::batch_norm_inference(rows, channels, eps, x.data(), gamma.data(), beta.data(), running_mean.data(),
                                running_var.data(), y_inference.data());
  std::vector<double> y_inference_want(x.size());
  for (int64_t row = 0; row < rows; ++row) {
    for (int ch = 0; ch < channels; ++ch) {
      const size_t i = static_cast<size_t>(row) * channels + ch;
      y_inference_want[i] = gamma_double[ch] * (x_double[i] - running_mean[ch]) / std::sqrt(running_var[ch] + static_cast<double>(eps)) +
                            beta_double[ch];
    }
  }
  check_close(prefix + "inference vs reference", y_inference, y_inference_want, kReferenceTolerance);
}

void test_batch_norm_by_hand() {
  // One channel, rows x = [1, 2, 3, 4]: mean 2.5, biased var 1.25, unbiased var 5/3.
  // momentum 0.1 weighs the new batch: runningMean 0 -> 0.25, runningVar 1 -> 0.9 + 0.1*5/3.
  const std::vector<float> x = {1, 2, 3, 4};
  const float gamma = 2.0f, beta = 0.5f, eps = 0.0f, momentum = 0.1f;
  std::vector<float> y(4, kGarbage);
  float mean = kGarbage, inv_std = kGarbage, running_mean = 0.0f, running_var = 1.0f;
  convkit::batch_norm_train(4, 1, eps, momentum, x.data(), &gamma, &beta, y.data(), &mean, &inv_std, &running_mean,
                            &running_var);
  const double s = 1.0 / std::sqrt(1.25);
  check_close("batch_norm by hand: y", y, {2 * -1.5 * s + 0.5, 2 * -0.5 * s + 0.5, 2 * 0.5 * s + 0.5, 2 * 1.5 * s + 0.5},
              kHandTolerance);
  check_scalar("batch_norm by hand: mean 2.5", mean, 2.5, kHandTolerance);
  check_scalar("batch_norm by hand: invStd 1/sqrt(1.25)", inv_std, s, kHandTolerance);
  check_scalar("batch_norm by hand: runningMean 0.25", running_mean, 0.25, kHandTolerance);
  check_scalar("batch_norm by hand: runningVar 0.9 + 0.1*5/3 (unbiased)", running_var, 0.9 + 0.1 * 5.0 / 3.0, kHandTolerance);

  // Two channels, one row: the biased var (0) feeds the running var; mean is the row itself.
  const std::vector<float> x_row = {3.0f, -1.0f}, gammas = {1.0f, 1.0f}, betas = {0.0f, 0.0f};
  std::vector<float> y_row(2, kGarbage), means(2, kGarbage), inv_stds(2, kGarbage);
  std::vector<float> running_means = {1.0f, 1.0f}, running_vars = {2.0f, 4.0f};
  convkit::batch_norm_train(1, 2, 1e-5f, 0.25f, x_row.data(), gammas.data(), betas.data(), y_row.data(), means.data(),
                            inv_stds.data(), running_means.data(), running_vars.data());
  check_close("batch_norm by hand, rows 1: y = 0", y_row, {0.0, 0.0}, kHandTolerance);
  check_close("batch_norm by hand, rows 1: runningMean", running_means, {0.75 + 0.25 * 3.0, 0.75 - 0.25}, kHandTolerance);
  check_close("batch_norm by hand, rows 1: runningVar uses the biased var", running_vars, {1.5, 3.0}, kHandTolerance);
}

void test_batch_norm() {
  test_batch_norm_case("rows 6, channels 3", 6, 3);
  test_batch_norm_case("rows 2, channels 1", 2, 1);
  test_batch_norm_case("rows 5, channels 300 (blocked)", 5, 300);
  // The widths compiled as constants (16, 32, 64), rows over several 64-row blocks and
  // uneven chunks, and a mean far from zero (the statistics merge block moments).
  test_batch_norm_case("rows 203, channels 16", 203, 16);
  test_batch_norm_case("rows 130, channels 32, mean near 100", 130, 32, 100.0f);
  test_batch_norm_case("rows 70, channels 64", 70, 64);
  test_batch_norm_by_hand();
}

// ---------------------------------------------------------------------------------------
// activations, softmax, mul

const char* kActivationNames[] = {"relu", "leakyRelu", "elu", "gelu", "sigmoid", "tanh"};

double activation_reference(ActivationKind kind, double alpha, double x) {
  switch (kind) {
    case ActivationKind::kRelu:
      return x > 0 ? x : 0;
    case ActivationKind::kLeakyRelu:
      return x > 0 ? x : alpha * x;
    case ActivationKind::kElu:
      return x > 0 ? x : alpha * std::expm1(x);
    case ActivationKind::kGelu:
      return 0.5 * x * std::erfc(-x / std::sqrt(2.0));  // = 0.5x(1 + erf(x/sqrt2)), no cancellation
    case ActivationKind::kSigmoid:
      return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
    case ActivationKind::kTanh:
      return std::tanh(x);
  }
  return 0;
}

// Analytic derivatives in double, for the stability checks at large |x| where finite
// differences of a saturated function say nothing.
double activation_derivative_reference(ActivationKind kind, double alpha, double x) {
  const double pi = 3.14159265358979323846;
  switch (kind) {
    case ActivationKind::kRelu:
      return x > 0 ? 1 : 0;
    case ActivationKind::kLeakyRelu:
      return x > 0 ? 1 : alpha;
    case ActivationKind::kElu:
      return x > 0 ? 1 : alpha * std::exp(x);
    case ActivationKind::kGelu:
      return 0.5 * std::erfc(-x / std::sqrt(2.0)) + x * std::exp(-0.5 * x * x) / std::sqrt(2 * pi);
    case ActivationKind::kSigmoid: {
      const double e = std::exp(-std::fabs(x));
      return e / ((1 + e) * (1 + e));
    }
    case ActivationKind::kTanh: {
      const double c = std::cosh(x);
      return 1 / (c * c);
    }
  }
  return 0;
}

void test_activations() {
  const float alphas[] = {0.0f, 0.2f, 1.3f, 0.0f, 0.0f, 0.0f};
  for (int k = 0; k < convkit::kActivationKindCount; ++k) {
    const ActivationKind kind = static_cast<ActivationKind>(k);
    const float alpha = alphas[k];
    const std::string prefix = std::string("activation[") + kActivationNames[k] + "] ";
    // Away from 0 (the relu-family kink); spread over [-3, 3].
    std::vector<float> x = away_from_zero_vector(257);
    for (float& v : x) v *= 3.0f;
    std::vector<double> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = activation_reference(kind, alpha, x[i]);

    std::vector<float> y(x.size(), kGarbage);
    convkit::activation_forward(static_cast<int64_t>(x.size()), kind, alpha, x.data(), y.data());
    check_elementwise(prefix + "forward vs reference", y, want, 1e-5, 1e-30);

    std::vector<float> aliased = x;
    convkit::activation_forward(static_cast<int64_t>(aliased.size()), kind, alpha, aliased.data(), aliased.data());
    check_close(prefix + "forward in place (y aliases x)", aliased, to_double(y), 0.0);

    const std::vector<float> r = random_vector(x.size());
    std::vector<float> dx(x.size(), kGarbage);
    convkit::activation_backward(static_cast<int64_t>(x.size()), kind, alpha, x.data(), y.data(), r.data(), dx.data());
    const std::vector<double> expected = central_differences(to_double(x), [&](const std::vector<double>& point) {
      double sum = 0.0;
      for (size_t i = 0; i < point.size(); ++i) sum += activation_reference(kind, alpha, point[i]) * r[i];
      return sum;
    });
    check_close(prefix + "backward vs finite differences", dx, expected, kDifferenceTolerance);

    // Large |x|: no overflow, no NaN, saturated values and exponentially small derivatives
    // computed to relative accuracy (judged absolutely below 1e-30).
    const std::vector<float> far = {-100.0f, -30.0f, -12.0f, -8.0f, -1e-6f, 1e-6f, 8.0f, 12.0f, 30.0f, 100.0f};
    std::vector<double> far_want(far.size()), far_derivative(far.size());
    for (size_t i = 0; i < far.size(); ++i) {
      far_want[i] = activation_reference(kind, alpha, far[i]);
      far_derivative[i] = activation_derivative_reference(kind, alpha, far[i]);
    }
    std::vector<float> far_y(far.size(), kGarbage), far_dx(far.size(), kGarbage);
    const std::vector<float> ones(far.size(), 1.0f);
    convkit::activation_forward(static_cast<int64_t>(far.size()), kind, alpha, far.data(), far_y.data());
    convkit::activation_backward(static_cast<int64_t>(far.size()), kind, alpha, far.data(), far_y.data(), ones.data(),
                                 far_dx.data());
    check_elementwise(prefix + "forward at large |x| and near 0", far_y, far_want, 1e-5, 1e-30);
    check_elementwise(prefix + "backward at large |x| and near 0", far_dx, far_derivative, 1e-5, 1e-30);
  }

  // relu and leakyRelu at exactly 0 take the x <= 0 branch.
  const std::vector<float> zero = {0.0f, -0.0f}, dy = {5.0f, 7.0f};
  std::vector<float> y(2, kGarbage), dx(2, kGarbage);
  convkit::activation_forward(2, ActivationKind::kRelu, 0.0f, zero.data(), y.data());
  convkit::activation_backward(2, ActivationKind::kRelu, 0.0f, zero.data(), y.data(), dy.data(), dx.data());
  check_close("activation[relu] at exactly 0: gradient 0", dx, {0.0, 0.0}, 0.0);
  convkit::activation_forward(2, ActivationKind::kLeakyRelu, 0.25f, zero.data(), y.data());
  convkit::activation_backward(2, ActivationKind::kLeakyRelu, 0.25f, zero.data(), y.data(), dy.data(), dx.data());
  check_close("activation[leakyRelu] at exactly 0: gradient alpha*dy", dx, {1.25, 1.75}, 0.0);
}

std::vector<double> softmax_reference(int rows, int classes, const std::vector<double>& x) {
  std::vector<double> y(x.size());
  for (int r = 0; r < rows; ++r) {
    double row_max = x[static_cast<size_t>(r) * classes];
    for (int k = 1; k < classes; ++k) row_max = std::max(row_max, x[static_cast<size_t>(r) * classes + k]);
    double sum = 0.0;
    for (int k = 0; k < classes; ++k) sum += std::exp(x[static_cast<size_t>(r) * classes + k] - row_max);
    for (int k = 0; k < classes; ++k) {
      y[static_cast<size_t>(r) * classes + k] = std::exp(x[static_cast<size_t>(r) * classes + k] - row_max) / sum;
    }
  }
  return y;
}

void test_softmax() {
  const int shapes[][2] = {{1, 1}, {3, 5}, {7, 10}, {2, 37}};
  for (const auto& shape : shapes) {
    const int rows = shape[0], classes = shape[1];
    const std::string prefix = "softmax[" + std::to_string(rows) + "x" + std::to_string(classes) + "] ";
    std::vector<float> x = random_vector(static_cast<size_t>(rows) * classes, -4.0f, 4.0f);
    x[0] += 80.0f;  // a large logit: max subtraction keeps exp finite
    std::vector<float> y(x.size(), kGarbage);
    convkit::softmax_forward(rows, classes, x.data(), y.data());
    check_close(prefix + "forward vs reference", y, softmax_reference(rows, classes, to_double(x)), kReferenceTolerance);
    check_true(prefix + "forward finite", all_finite(y));

    // Backward from the forward output, vs differences of sum(softmax(x) * r).
    const std::vector<float> x_moderate = random_vector(x.size(), -2.0f, 2.0f);
    convkit::softmax_forward(rows, classes, x_moderate.data(), y.data());
    const std::vector<float> r = random_vector(x.size());
    std::vector<float> dx(x.size(), kGarbage);
    convkit::softmax_backward(rows, classes, y.data(), r.data(), dx.data());
    const std::vector<double> expected = central_differences(to_double(x_moderate), [&](const std::vector<double>& point) {
      return dot(softmax_reference(rows, classes, point), to_double(r));
    });
    // A 1-class softmax is constant: its gradient is exactly 0 (normwise error then absolute).
    check_close(prefix + "backward vs finite differences", dx, expected, kDifferenceTolerance);
  }
}

void test_mul() {
  const std::vector<float> a = random_vector(101), b = random_vector(101);
  std::vector<double> want(a.size());
  for (size_t i = 0; i < a.size(); ++i) want[i] = static_cast<double>(a[i]) * b[i];
  std::vector<float> y(a.size(), kGarbage);
  convkit::mul(static_cast<int64_t>(a.size()), a.data(), b.data(), y.data());
  check_close("mul vs reference", y, want, kReferenceTolerance);
  std::vector<float> in_place = a;
  convkit::mul(static_cast<int64_t>(a.size()), in_place.data(), b.data(), in_place.data());
  check_close("mul in place (y aliases a)", in_place, to_double(y), 0.0);
  in_place = b;
  convkit::mul(static_cast<int64_t>(a.size()), a.data(), in_place.data(), in_place.data());
  check_close("mul in place (y aliases b)", in_place, to_double(y), 0.0);
}

// ---------------------------------------------------------------------------------------
// columns

void test_columns() {
  const int64_t rows = 5;
  const int y_width = 9;
  // Concatenate widths 2, 4, 3 into 9 columns; y starts as garbage that must be replaced
  // only in each input's own columns.
  const int widths[] = {2, 4, 3};
  std::vector<std::vector<float>> inputs;
  for (int width : widths) inputs.push_back(random_vector(static_cast<size_t>(rows) * width));
  std::vector<float> y(static_cast<size_t>(rows) * y_width, kGarbage);
  int offset = 0;
  for (size_t part = 0; part < inputs.size(); ++part) {
    convkit::scatter_columns(rows, widths[part], y_width, offset, inputs[part].data(), y.data());
    // After each part, the columns not yet written still hold the garbage.
    bool untouched = true;
    for (int64_t r = 0; r < rows; ++r) {
      for (int j = offset + widths[part]; j < y_width; ++j) untouched = untouched && y[r * y_width + j] == kGarbage;
    }
    check_true("scatter_columns part " + std::to_string(part) + ": later columns untouched", untouched);
    offset += widths[part];
  }
  std::vector<double> want(y.size());
  offset = 0;
  for (size_t part = 0; part < inputs.size(); ++part) {
    for (int64_t r = 0; r < rows; ++r) {
      for (int j = 0; j < widths[part]; ++j) want[r * y_width + offset + j] = inputs[part][r * widths[part] + j];
    }
    offset += widths[part];
  }
  check_close("scatter_columns: concatenation", y, want, 0.0);

  offset = 0;
  for (size_t part = 0; part < inputs.size(); ++part) {
    std::vector<float> x(static_cast<size_t>(rows) * widths[part], kGarbage);
    convkit::gather_columns(rows, widths[part], y_width, offset, y.data(), x.data());
    check_close("gather_columns part " + std::to_string(part), x, to_double(inputs[part]), 0.0);
    offset += widths[part];
  }
}

// ---------------------------------------------------------------------------------------
// losses

// Each loss as a double function of the prediction, and the check of a kernel against it:
// loss vs the reference, gradient vs central differences of the reference loss.
void check_loss(const std::string& name, const std::function<double(const std::vector<double>&)>& reference,
                const std::vector<float>& pred, float loss, const std::vector<float>& dpred, double eps = 1e-3) {
  check_scalar(name + " loss vs reference", loss, reference(to_double(pred)), kReferenceTolerance);
  check_close(name + " gradient vs finite differences", dpred, central_differences(to_double(pred), reference, eps),
              kDifferenceTolerance);
  check_true(name + " gradient finite", all_finite(dpred));
}

void test_losses() {
  // softmax cross-entropy, dense targets: one-hot and soft (rows not summing to 1).
  for (int soft = 0; soft < 2; ++soft) {
    const int rows = 4, classes = 6;
    const std::vector<float> logits = random_vector(static_cast<size_t>(rows) * classes, -3.0f, 3.0f);
    std::vector<float> targets(logits.size(), 0.0f);
    if (soft != 0) {
      targets = random_vector(logits.size(), 0.0f, 0.5f);  // row sums vary around 1.5
    } else {
      for (int r = 0; r < rows; ++r) targets[static_cast<size_t>(r) * classes + (r * 5 + 1) % classes] = 1.0f;
    }
    const auto reference = [&](const std::vector<double>& z) {
      double total = 0.0;
      const std::vector<double> p = softmax_reference(rows, classes, z);
      for (size_t i = 0; i < z.size(); ++i) total -= targets[i] * std::log(p[i]);
      return total / rows;
    };
    float loss = kGarbage;
    std::vector<float> dlogits(logits.size(), kGarbage);
    convkit::softmax_cross_entropy_dense(rows, classes, logits.data(), targets.data(), &loss, dlogits.data());
    check_loss(std::string("softmax_cross_entropy_dense[") + (soft ? "soft targets" : "one-hot") + "]", reference, logits,
               loss, dlogits);
  }
  {
    // Large logits: finite loss and gradient.
    const std::vector<float> logits = {1000.0f, -1000.0f, 0.0f, 500.0f};
    const std::vector<float> targets = {0.0f, 1.0f, 0.0f, 0.0f};
    float loss = kGarbage;
    std::vector<float> dlogits(4, kGarbage);
    convkit::softmax_cross_entropy_dense(1, 4, logits.data(), targets.data(), &loss, dlogits.data());
    check_scalar("softmax_cross_entropy_dense large logits: loss 2000", loss, 2000.0, kReferenceTolerance);
    check_close("softmax_cross_entropy_dense large logits: gradient", dlogits, {1.0, -1.0, 0.0, 0.0}, kReferenceTolerance);
  }

  {
    std::vector<float> logits = random_vector(50, -5.0f, 5.0f);
    logits[0] = 60.0f;  // beyond where exp(z) overflows float
    logits[1] = -60.0f;
    const std::vector<float> targets = random_vector(logits.size(), 0.0f, 1.0f);
    const auto reference = [&](const std::vector<double>& z) {
      double total = 0.0;
      // -t log sigmoid(z) - (1 - t) log sigmoid(-z), log sigmoid(u) = -log(1 + exp(-u)) taken
      // without overflow on either side.
      const auto log_sigmoid = [](double u) { return u >= 0 ? -std::log1p(std::exp(-u)) : u - std::log1p(std::exp(u)); };
      for (size_t i = 0; i < z.size(); ++i) {
        total -= targets[i] * log_sigmoid(z[i]) + (1 - targets[i]) * log_sigmoid(-z[i]);
      }
      return total / static_cast<double>(z.size());
    };
    float loss = kGarbage;
    std::vector<float> dlogits(logits.size(), kGarbage);
    convkit::sigmoid_cross_entropy(static_cast<int64_t>(logits.size()), logits.data(), targets.data(), &loss, dlogits.data());
    check_loss("sigmoid_cross_entropy", reference, logits, loss, dlogits);
  }

  {
    const std::vector<float> pred = random_vector(33), targets = random_vector(33);
    const auto reference = [&](const std::vector<double>& p) {
      double total = 0.0;
      for (size_t i = 0; i < p.size(); ++i) total += (p[i] - targets[i]) * (p[i] - targets[i]);
      return total / static_cast<double>(p.size());
    };
    float loss = kGarbage;
    std::vector<float> dpred(pred.size(), kGarbage);
    convkit::mean_squared_error(static_cast<int64_t>(pred.size()), pred.data(), targets.data(), &loss, dpred.data());
    check_loss("mean_squared_error", reference, pred, loss, dpred);
  }

  for (float beta : {1.0f, 0.3f}) {
    // Differences on both sides of beta, none within the finite-difference step of the seam.
    const std::vector<float> targets = random_vector(40);
    std::vector<float> pred(targets.size());
    const std::vector<float> offsets = away_from_zero_vector(targets.size());
    for (size_t i = 0; i < pred.size(); ++i) {
      float d = 2.0f * offsets[i];  // |d| in [0.2, 2]
      if (std::fabs(std::fabs(d) - beta) < 0.01f) d *= 1.1f;
      pred[i] = targets[i] + d;
    }
    const auto reference = [&](const std::vector<double>& p) {
      double total = 0.0;
      for (size_t i = 0; i < p.size(); ++i) {
        const double d = p[i] - targets[i];
        total += std::fabs(d) < beta ? 0.5 * d * d / beta : std::fabs(d) - 0.5 * beta;
      }
      return total / static_cast<double>(p.size());
    };
    float loss = kGarbage;
    std::vector<float> dpred(pred.size(), kGarbage);
    convkit::smooth_l1(static_cast<int64_t>(pred.size()), beta, pred.data(), targets.data(), &loss, dpred.data());
    check_loss("smooth_l1[beta " + std::to_string(beta).substr(0, 3) + "]", reference, pred, loss, dpred, 1e-4);
  }
  {
    // Hand values: d = 0 (gradient 0), d = 0.5 < beta 1 (0.125, 0.5/4), d = -3 (2.5, -1/4), d = 2 (1.5, 1/4).
    const std::vector<float> pred = {1.0f, 1.5f, -2.0f, 2.0f}, targets = {1.0f, 1.0f, 1.0f, 0.0f};
    float loss = kGarbage;
    std::vector<float> dpred(4, kGarbage);
    convkit::smooth_l1(4, 1.0f, pred.data(), targets.data(), &loss, dpred.data());
    check_scalar("smooth_l1 by hand: loss", loss, (0.0 + 0.125 + 2.5 + 1.5) / 4, kHandTolerance);
    check_close("smooth_l1 by hand: gradient", dpred, {0.0, 0.125, -0.25, 0.25}, kHandTolerance);
  }
}

// ---------------------------------------------------------------------------------------
// optimizers

void test_sgd_nesterov() {
  const size_t size = 37;
  std::vector<float> param = random_vector(size), velocity = random_vector(size);
  std::vector<double> param_want = to_double(param), velocity_want = to_double(velocity);
  const float hyper[3] = {0.05f, 0.9f, 0.01f};
  for (int step = 0; step < 2; ++step) {
    const std::vector<float> grad = random_vector(size);
    convkit::sgd_nesterov(static_cast<int64_t>(size), param.data(), grad.data(), velocity.data(), hyper);
    for (size_t i = 0; i < size; ++i) {
      const double g = grad[i] + static_cast<double>(hyper[2]) * param_want[i];
      velocity_want[i] = hyper[1] * velocity_want[i] + g;
      param_want[i] -= hyper[0] * (g + hyper[1] * velocity_want[i]);
    }
  }
  check_close("sgd_nesterov two steps: param", param, param_want, kReferenceTolerance);
  check_close("sgd_nesterov two steps: velocity", velocity, velocity_want, kReferenceTolerance);

  // By hand: param 1, velocity 0, grad 1, lr 0.1, momentum 0.5, wd 0:
  // step 1: v = 1, param = 1 - 0.1*(1 + 0.5) = 0.85; step 2: v = 1.5, param = 0.85 - 0.1*(1 + 0.75) = 0.675.
  float p = 1.0f, v = 0.0f;
  const float g = 1.0f, hand_hyper[3] = {0.1f, 0.5f, 0.0f};
  convkit::sgd_nesterov(1, &p, &g, &v, hand_hyper);
  convkit::sgd_nesterov(1, &p, &g, &v, hand_hyper);
  check_scalar("sgd_nesterov by hand: param 0.675", p, 0.675, kHandTolerance);
  check_scalar("sgd_nesterov by hand: velocity 1.5", v, 1.5, kHandTolerance);
}

void test_adam() {
  // Two steps by hand: param 1, grad 0.5 both steps, lr 0.125, betas (0.5, 0.75), eps 0.25
  // (all exact in float; bias corrections 0.5, 0.25 then 0.75, 0.4375). A large eps shows
  // that it is added after the bias correction: denominator sqrt(v / bc2) + eps.
  // Adam, no decay: m 0.25 -> 0.375, v 0.0625 -> 0.109375; m/bc1 = 0.5 and sqrt(v/bc2) = 0.5
  //   both steps, so each step is 0.125 * 0.5 / 0.75 = 1/12: param 1 -> 11/12 -> 10/12.
  // Adam, wd 0.5 (L2, coupled): g = 1 then 0.5 + 0.5*0.9 = 0.95; step 1: m 0.5, v 0.25,
  //   step 0.125 * 1 / 1.25 = 0.1 -> param 0.9; step 2: m 0.725, v 0.413125,
  //   param 0.9 - 0.125 * (0.725/0.75) / (sqrt(0.413125/0.4375) + 0.25) = 0.80109763722...
  // AdamW, wd 0.5 (decoupled): param *= 1 - 0.125*0.5 = 0.9375 first, g = grad, so m, v and
  //   the step are as without decay: 1 -> 0.9375 - 1/12 = 0.854166... -> 0.80078125 - 1/12
  //   = 0.717447916...
  struct Case {
    const char* name;
    float weight_decay, decoupled;
    double param1, param2, m2, v2;
  };
  const Case cases[] = {
      {"adam", 0.0f, 0.0f, 11.0 / 12.0, 10.0 / 12.0, 0.375, 0.109375},
      {"adam wd 0.5 (L2)", 0.5f, 0.0f, 0.9, 0.8010976372244178, 0.725, 0.413125},
      {"adamw wd 0.5 (decoupled)", 0.5f, 1.0f, 0.9375 - 1.0 / 12.0, 0.80078125 - 1.0 / 12.0, 0.375, 0.109375},
  };
  for (const Case& c : cases) {
    float param = 1.0f, m = 0.0f, v = 0.0f;
    const float grad = 0.5f;
    const float bias_corrections[2][2] = {{0.5f, 0.25f}, {0.75f, 0.4375f}};
    for (int step = 1; step <= 2; ++step) {
      const float hyper[8] = {0.125f, 0.5f, 0.75f, 0.25f, c.weight_decay, c.decoupled, bias_corrections[step - 1][0],
                              bias_corrections[step - 1][1]};
      convkit::adam(1, &param, &grad, &m, &v, hyper);
      if (step == 1) check_scalar(std::string(c.name) + " by hand: param after step 1", param, c.param1, kHandTolerance);
    }
    check_scalar(std::string(c.name) + " by hand: param after step 2", param, c.param2, kHandTolerance);
    check_scalar(std::string(c.name) + " by hand: m after step 2", m, c.m2, kHandTolerance);
    check_scalar(std::string(c.name) + " by hand: v after step 2", v, c.v2, kHandTolerance);
  }

  // Many elements vs a double reference, both variants.
  for (int decoupled = 0; decoupled < 2; ++decoupled) {
    const size_t size = 45;
    std::vector<float> param = random_vector(size), m(size, 0.0f), v(size, 0.0f);
    std::vector<double> param_want = to_double(param), m_want(size, 0.0), v_want(size, 0.0);
    const double lr = 0.01, beta1 = 0.8, beta2 = 0.99, eps = 1e-6, wd = 0.05;
    for (int step = 1; step <= 3; ++step) {
      const std::vector<float> grad = random_vector(size);
      const double bc1 = 1.0 - std::pow(beta1, step), bc2 = 1.0 - std::pow(beta2, step);
      const float hyper[8] = {static_cast<float>(lr), static_cast<float>(beta1), static_cast<float>(beta2),
                              static_cast<float>(eps), static_cast<float>(wd), static_cast<float>(decoupled),
                              static_cast<float>(bc1), static_cast<float>(bc2)};
      convkit::adam(static_cast<int64_t>(size), param.data(), grad.data(), m.data(), v.data(), hyper);
      for (size_t i = 0; i < size; ++i) {
        double g = grad[i];
        if (decoupled != 0) {
          param_want[i] *= 1 - lr * wd;
        } else {
          g += wd * param_want[i];
        }
        m_want[i] = beta1 * m_want[i] + (1 - beta1) * g;
        v_want[i] = beta2 * v_want[i] + (1 - beta2) * g * g;
        param_want[i] -= lr * (m_want[i] / bc1) / (std::sqrt(v_want[i] / bc2) + eps);
      }
    }
    const std::string name = decoupled != 0 ? "adamw" : "adam";
    check_close(name + " three steps vs reference: param", param, param_want, kReferenceTolerance);
    check_close(name + " three steps vs reference: m", m, m_want, kReferenceTolerance);
    check_close(name + " three steps vs reference: v", v, v_want, kReferenceTolerance);
  }
}

void test_norms() {
  for (size_t size : {size_t{1}, size_t{7}, size_t{8}, size_t{100003}}) {
    const std::vector<float> x = random_vector(size, -3.0f, 3.0f);
    double want = 0.0;
    for (float v : x) want += static_cast<double>(v) * v;
    float out = kGarbage;
    convkit::sum_squares(static_cast<int64_t>(size), x.data(), &out);
    check_scalar("sum_squares size " + std::to_string(size), out, want, 1e-6);
  }

  // Squared norms 9 and 16: total 5.
  const std::vector<float> norms = {9.0f, 16.0f};
  const std::vector<float> grad = {1.0f, -2.0f, 4.0f};
  {
    std::vector<float> g = grad;
    convkit::clip_by_global_norm(2, 3, 2.5f, norms.data(), g.data());
    check_close("clip_by_global_norm total 5 > maxNorm 2.5: scaled by 0.5", g, {0.5, -1.0, 2.0}, kHandTolerance);
  }
  {
    std::vector<float> g = grad;
    convkit::clip_by_global_norm(2, 3, 10.0f, norms.data(), g.data());
    check_close("clip_by_global_norm total 5 < maxNorm 10: unchanged", g, to_double(grad), 0.0);
  }
  {
    std::vector<float> g = grad;
    convkit::clip_by_global_norm(2, 3, 5.0f, norms.data(), g.data());
    check_close("clip_by_global_norm total 5 == maxNorm 5: unchanged", g, to_double(grad), 0.0);
  }
  {
    // The norms of three buffers, summed: sqrt(1 + 4 + 20) = 5 again, with count 3.
    const std::vector<float> three = {1.0f, 4.0f, 20.0f};
    std::vector<float> g = grad;
    convkit::clip_by_global_norm(3, 3, 1.0f, three.data(), g.data());
    check_close("clip_by_global_norm count 3, maxNorm 1: scaled by 0.2", g, {0.2, -0.4, 0.8}, kHandTolerance);
  }
}

}  // namespace

int main() {
  test_conv3d();
  test_pool3d();
  test_batch_norm();
  test_activations();
  test_softmax();
  test_mul();
  test_columns();
  test_losses();
  test_sgd_nesterov();
  test_adam();
  test_norms();
  std::printf("%d passed, %d failed\n", passed_count, failed_count);
  return failed_count == 0 ? 0 : 1;
}
