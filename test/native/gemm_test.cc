// Tests for the packed SGEMM (native/kernels/gemm.cc): every micro-kernel of
// native/kernels/list.inc that this CPU supports, against a double-precision reference,
// over odd shapes, all transpose combinations, accumulate on and off, padded leading
// dimensions, and tiny cache blocks that make every blocking loop and edge run; and each
// kernel's segmented form, where it has one. Then
// determinism: the same call twice gives the same bits at 1 and 2 threads (and the two
// thread counts agree, since each element's sum order does not depend on the split).
// Last, the conv2d kernels on shapes that take their GEMM lowering (im2col chunks,
// pointwise, groups, dilation, strides, batch slots), against a double reference.
// Prints a final "N passed, M failed" line; exits non-zero on any failure.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu.h"
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"
#include "thread_pool.h"

namespace {

using convkit::SgemmConfig;
using convkit::SgemmKernel;

// Per element: |c - reference| <= tolerance * (|c0| + sum_p |a_ip| |b_pj|), the scale of
// the rounding a float sum of those terms can make.
constexpr double kRelativeTolerance = 1e-5;
constexpr float kSentinel = -7777.0f;  // fills C's padding columns: must survive

int passed_count = 0;
int failed_count = 0;
std::mt19937 rng(20240612);

void record(bool ok, const std::string& name, const std::string& detail) {
  if (ok) {
    ++passed_count;
  } else {
    ++failed_count;
    std::printf("FAIL %s %s\n", name.c_str(), detail.c_str());
  }
}

std::vector<float> random_vector(size_t size) {
  std::uniform_real_distribution<float> distribution(-1.0f, 1.0f);
  std::vector<float> values(size);
  for (float& value : values) value = distribution(rng);
  return values;
}

struct GemmCase {
  int m, n, k;
  bool trans_a, trans_b, accumulate;
  int pad;  // extra floats per row of a, b and c beyond the minimal leading dimension
};

std::string describe(const GemmCase& t) {
  char text[128];
  std::snprintf(text, sizeof text, "m=%d n=%d k=%d%s%s%s pad=%d", t.m, t.n, t.k, t.trans_a ? " transA" : "",
                t.trans_b ? " transB" : "", t.accumulate ? " accumulate" : "", t.pad);
  return text;
}

// Runs one case through `config` and checks it against the double reference; returns the
// worst scaled error (infinity on a clobbered pad or NaN).
double run_case(const SgemmConfig& config, bool parallel, const GemmCase& t) {
  const int a_rows = t.trans_a ? t.k : t.m, a_cols = t.trans_a ? t.m : t.k;
  const int b_rows = t.trans_b ? t.n : t.k, b_cols = t.trans_b ? t.k : t.n;
  const int lda = a_cols + t.pad, ldb = b_cols + t.pad, ldc = t.n + t.pad;
  const std::vector<float> a = random_vector(static_cast<size_t>(a_rows) * lda);
  const std::vector<float> b = random_vector(static_cast<size_t>(b_rows) * ldb);
  std::vector<float> c = random_vector(static_cast<size_t>(t.m) * ldc);
  for (int i = 0; i < t.m; ++i) {
    for (int j = t.n; j < ldc; ++j) c[static_cast<size_t>(i) * ldc + j] = kSentinel;
  }
  const std::vector<float> c_before = c;
  convkit::sgemm_with_config(config, parallel, t.m, t.n, t.k, a.data(), lda, t.trans_a, b.data(), ldb, t.trans_b,
                             c.data(), ldc, t.accumulate);

  double worst = 0.0;
  for (int i = 0; i < t.m; ++i) {
    for (int j = 0; j < ldc; ++j) {
      const size_t index = static_cast<size_t>(i) * ldc + j;
      if (j >= t.n) {
        if (c[index] != kSentinel) return INFINITY;
        continue;
      }
      double sum = t.accumulate ? c_before[index] : 0.0;
      double scale = t.accumulate ? std::fabs(c_before[index]) : 0.0;
      for (int p = 0; p < t.k; ++p) {
        const double a_value = t.trans_a ? a[static_cast<size_t>(p) * lda + i] : a[static_cast<size_t>(i) * lda + p];
        const double b_value = t.trans_b ? b[static_cast<size_t>(j) * ldb + p] : b[static_cast<size_t>(p) * ldb + j];
        sum += a_value * b_value;
        scale += std::fabs(a_value * b_value);
      }
      const double error = std::fabs(c[index] - sum) / std::max(scale, 1e-30);
      if (!(error <= worst)) worst = std::isnan(error) ? INFINITY : error;
    }
  }
  return worst;
}

// Every combination of the two transposes and accumulate for one shape.
void check_shape(const SgemmConfig& config, bool parallel, const std::string& label, int m, int n, int k, int pad) {
  for (int combo = 0; combo < 8; ++combo) {
    const GemmCase t{m, n, k, (combo & 1) != 0, (combo & 2) != 0, (combo & 4) != 0, pad};
    const double error = run_case(config, parallel, t);
    char detail[64];
    std::snprintf(detail, sizeof detail, "(scaled error %.2e, tolerance %.0e)", error, kRelativeTolerance);
    record(error <= kRelativeTolerance, label + " " + describe(t), detail);
  }
}

// Odd sizes 1..70 in each dimension, random triples, and (with the tuned blocks, whose
// boundaries only large shapes cross) a few large shapes.
void check_config(const SgemmConfig& config, bool parallel, const std::string& label, bool large_shapes) {
  const int failed_before = failed_count, passed_before = passed_count;
  for (int size = 1; size <= 70; ++size) {
    check_shape(config, parallel, label, size, 37, 19, 0);
    check_shape(config, parallel, label, 23, size, 11, size % 3);
    check_shape(config, parallel, label, 15, 33, size, size % 2);
  }
  std::uniform_int_distribution<int> dimension(1, 70);
  for (int trial = 0; trial < 60; ++trial) {
    check_shape(config, parallel, label, dimension(rng), dimension(rng), dimension(rng), trial % 4);
  }
  if (large_shapes) {
    check_shape(config, parallel, label, 256, 256, 256, 0);
    check_shape(config, parallel, label, 513, 67, 513, 1);
    check_shape(config, parallel, label, 45, 513, 257, 0);
    check_shape(config, parallel, label, 513, 513, 31, 3);
    // Rows of A 4 KiB apart (lda 1024 or 2048) are copied to a padded stride, not read in place.
    check_shape(config, parallel, label, 37, 45, 1024, 0);
    check_shape(config, parallel, label, 29, 70, 2000, 48);
  }
  std::printf("%s %s: %d cases, %d failed\n", failed_count == failed_before ? "PASS" : "FAIL", label.c_str(),
              passed_count - passed_before + failed_count - failed_before, failed_count - failed_before);
}

// Blocks much smaller than the tuned ones, so small shapes cross every mc/kc/nc boundary.
SgemmConfig tiny_blocks(const SgemmKernel& kernel) { return SgemmConfig{kernel, 2 * kernel.mr, 8, 2 * kernel.nr}; }

void test_kernels() {
  for (int index = 0; index < convkit::sgemm_kernel_count(); ++index) {
    const SgemmKernel& kernel = convkit::sgemm_kernel(index);
    if (!convkit::isa_supported(kernel.isa)) {
      std::printf("SKIP %s: this CPU or OS does not support %s\n", kernel.name, convkit::isa_name(kernel.isa));
      continue;
    }
    const SgemmConfig tuned = convkit::sgemm_config_for(kernel);
    check_config(tuned, false, std::string(kernel.name) + " tuned blocks", true);
    check_config(tiny_blocks(kernel), false, std::string(kernel.name) + " tiny blocks", false);
    check_config(tiny_blocks(kernel), true, std::string(kernel.name) + " tiny blocks, threaded", false);
  }
}

// The segmented form of each micro-kernel that has one (SgemmSegmentsKernel) against a
// double reference: runs that overlap (segment stride below k, rows closer than k, as in
// the implicit convolution), runs far apart, one run, one k step, accumulate on and off,
// and C's padding columns untouched.
void test_segment_kernels() {
  struct SegmentCase {
    int64_t k, segments, segment_stride, a_row_stride;
  };
  const SegmentCase cases[] = {
      {1, 1, 1, 1},     {7, 3, 5, 3},        {48, 3, 34 * 16, 16}, {96, 3, 34 * 32, 32},
      {13, 2, 13, 40},  {192, 3, 18 * 64, 64}, {5, 4, 1000, 7},
  };
  for (int index = 0; index < convkit::sgemm_kernel_count(); ++index) {
    const SgemmKernel& kernel = convkit::sgemm_kernel(index);
    if (kernel.segments == nullptr || !convkit::isa_supported(kernel.isa)) continue;
    const int mr = kernel.mr, nr = kernel.nr;
    for (const SegmentCase& c : cases) {
      for (const bool accumulate : {false, true}) {
        const int64_t a_len = (c.segments - 1) * c.segment_stride + (mr - 1) * c.a_row_stride + c.k;
        const std::vector<float> a = random_vector(static_cast<size_t>(a_len));
        const size_t b_len = static_cast<size_t>(c.segments * c.k * nr);
        float* b = static_cast<float*>(std::aligned_alloc(64, (b_len * sizeof(float) + 63) / 64 * 64));
        const std::vector<float> b_values = random_vector(b_len);
        std::copy(b_values.begin(), b_values.end(), b);
        const int ldc = nr + 5;
        std::vector<float> out = random_vector(static_cast<size_t>(mr) * ldc);
        for (int i = 0; i < mr; ++i) {
          for (int j = nr; j < ldc; ++j) out[static_cast<size_t>(i) * ldc + j] = kSentinel;
        }
        const std::vector<float> before = out;
        kernel.segments(c.k, c.segments, c.segment_stride, a.data(), c.a_row_stride, b, out.data(), ldc, accumulate);
        bool ok = true;
        std::string detail;
        for (int i = 0; i < mr && ok; ++i) {
          for (int j = 0; j < ldc && ok; ++j) {
            const size_t at = static_cast<size_t>(i) * ldc + j;
            if (j >= nr) {
              if (out[at] != kSentinel) ok = false, detail = "padding column written";
              continue;
            }
            double sum = accumulate ? before[at] : 0.0, scale = accumulate ? std::fabs(before[at]) : 0.0;
            for (int64_t seg = 0; seg < c.segments; ++seg) {
              for (int64_t p = 0; p < c.k; ++p) {
                const double term = static_cast<double>(a[seg * c.segment_stride + i * c.a_row_stride + p]) *
                                    b[(seg * c.k + p) * nr + j];
                sum += term;
                scale += std::fabs(term);
              }
            }
            if (std::fabs(out[at] - sum) > kRelativeTolerance * scale + 1e-30) {
              ok = false;
              detail = "row " + std::to_string(i) + " col " + std::to_string(j) + ": " + std::to_string(out[at]) +
                       " vs " + std::to_string(sum);
            }
          }
        }
        std::free(b);
        record(ok,
               std::string(kernel.name) + " segments k=" + std::to_string(c.k) + " x" + std::to_string(c.segments) +
                   " stride " + std::to_string(c.segment_stride) + (accumulate ? " accumulate" : ""),
               detail);
      }
    }
  }
}

// k = 0: c is zeroed, or left as it is when accumulating.
void test_empty_sum() {
  std::vector<float> c(6, 5.0f);
  const float unused = 0.0f;
  convkit::sgemm(2, 3, 0, &unused, 1, false, &unused, 3, false, c.data(), 3, true);
  record(std::all_of(c.begin(), c.end(), [](float v) { return v == 5.0f; }), "k=0 accumulate leaves c", "");
  convkit::sgemm(2, 3, 0, &unused, 1, false, &unused, 3, false, c.data(), 3, false);
  record(std::all_of(c.begin(), c.end(), [](float v) { return v == 0.0f; }), "k=0 zeroes c", "");
}

std::vector<float> run_active(int threads, int m, int n, int k, bool trans_a, bool trans_b, const std::vector<float>& a,
                              const std::vector<float>& b) {
  convkit::set_thread_count(threads);
  std::vector<float> c(static_cast<size_t>(m) * n);
  convkit::sgemm(m, n, k, a.data(), trans_a ? m : k, trans_a, b.data(), trans_b ? k : n, trans_b, c.data(), n, false);
  return c;
}

void test_determinism() {
  const int shapes[][3] = {{300, 200, 700}, {64, 700, 300}, {257, 300, 259}, {7, 1000, 90}};
  for (const auto& shape : shapes) {
    const int m = shape[0], n = shape[1], k = shape[2];
    const std::vector<float> a = random_vector(static_cast<size_t>(m) * k);
    const std::vector<float> b = random_vector(static_cast<size_t>(k) * n);
    for (int combo = 0; combo < 4; ++combo) {
      const bool trans_a = (combo & 1) != 0, trans_b = (combo & 2) != 0;
      const std::string name = "determinism " + describe(GemmCase{m, n, k, trans_a, trans_b, false, 0});
      const std::vector<float> one_first = run_active(1, m, n, k, trans_a, trans_b, a, b);
      const std::vector<float> one_second = run_active(1, m, n, k, trans_a, trans_b, a, b);
      const std::vector<float> two_first = run_active(2, m, n, k, trans_a, trans_b, a, b);
      const std::vector<float> two_second = run_active(2, m, n, k, trans_a, trans_b, a, b);
      const size_t bytes = one_first.size() * sizeof(float);
      record(std::memcmp(one_first.data(), one_second.data(), bytes) == 0, name + ", 1 thread twice", "");
      record(std::memcmp(two_first.data(), two_second.data(), bytes) == 0, name + ", 2 threads twice", "");
      record(std::memcmp(one_first.data(), two_first.data(), bytes) == 0, name + ", 1 thread vs 2 threads", "");
    }
  }
  convkit::set_thread_count(convkit::default_thread_count());
}

// Many concurrent callers share one pool: each must still get its own right answer.
void test_concurrent_callers() {
  convkit::set_thread_count(2);
  const int m = 200, n = 300, k = 150;
  const std::vector<float> a = random_vector(static_cast<size_t>(m) * k);
  const std::vector<float> b = random_vector(static_cast<size_t>(k) * n);
  const std::vector<float> expected = run_active(2, m, n, k, false, false, a, b);
  std::vector<int> mismatches(4, 0);
  // parallel_for bodies call the threaded sgemm: the nested calls find the pool taken and
  // run inline, which must give the same bits.
  convkit::parallel_for(4, [&](int64_t begin, int64_t end) {
    for (int64_t caller = begin; caller < end; ++caller) {
      for (int repeat = 0; repeat < 3; ++repeat) {
        std::vector<float> c(static_cast<size_t>(m) * n);
        convkit::sgemm(m, n, k, a.data(), k, false, b.data(), n, false, c.data(), n, false);
        if (std::memcmp(c.data(), expected.data(), c.size() * sizeof(float)) != 0) ++mismatches[caller];
      }
    }
  });
  record(std::all_of(mismatches.begin(), mismatches.end(), [](int count) { return count == 0; }),
         "nested sgemm inside parallel_for gives the same bits", "");

  // Separate threads (as separate addon instances would be) racing for the pool.
  std::vector<int> thread_mismatches(3, 0);
  std::vector<std::thread> callers;
  for (int caller = 0; caller < 3; ++caller) {
    callers.emplace_back([&, caller] {
      for (int repeat = 0; repeat < 20; ++repeat) {
        std::vector<float> c(static_cast<size_t>(m) * n);
        convkit::sgemm(m, n, k, a.data(), k, false, b.data(), n, false, c.data(), n, false);
        if (std::memcmp(c.data(), expected.data(), c.size() * sizeof(float)) != 0) ++thread_mismatches[caller];
      }
    });
  }
  for (std::thread& caller : callers) caller.join();
  record(std::all_of(thread_mismatches.begin(), thread_mismatches.end(), [](int count) { return count == 0; }),
         "sgemm from 3 threads at once gives the same bits", "");
  convkit::set_thread_count(convkit::default_thread_count());
}


// ---------------------------------------------------------------------------------------
// conv2d lowered to GEMM

using convkit::Conv2dShape;

Conv2dShape make_conv(int n, int h, int w, int c, int oc, int kh, int kw, int stride_h, int stride_w, int dilation_h,
                      int dilation_w, int pad_top, int pad_left, int pad_bottom, int pad_right, int groups) {
  Conv2dShape s{n, h, w, c, oc, kh, kw, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left, 0, 0, groups};
  s.oh = (h + pad_top + pad_bottom - ((kh - 1) * dilation_h + 1)) / stride_h + 1;
  s.ow = (w + pad_left + pad_right - ((kw - 1) * dilation_w + 1)) / stride_w + 1;
  return s;
}

// y, dx and dw in double, with the sums of |terms| each element's rounding scales with.
struct ConvReference {
  std::vector<double> y, y_scale, dx, dx_scale, dw, dw_scale;
};

ConvReference conv_reference(const Conv2dShape& s, const std::vector<float>& x, const std::vector<float>& w,
                             const std::vector<float>& dy) {
  const int group_in = s.c / s.groups, group_out = s.oc / s.groups;
  ConvReference r;
  r.y.assign(dy.size(), 0.0), r.y_scale.assign(dy.size(), 0.0);
  r.dx.assign(x.size(), 0.0), r.dx_scale.assign(x.size(), 0.0);
  r.dw.assign(w.size(), 0.0), r.dw_scale.assign(w.size(), 0.0);
  for (int image = 0; image < s.n; ++image)
    for (int oy = 0; oy < s.oh; ++oy)
      for (int ox = 0; ox < s.ow; ++ox)
        for (int ky = 0; ky < s.kh; ++ky)
          for (int kx = 0; kx < s.kw; ++kx) {
            const int iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
            const int ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
            if (iy < 0 || iy >= s.h || ix < 0 || ix >= s.w) continue;
            for (int g = 0; g < s.groups; ++g)
              for (int ci = 0; ci < group_in; ++ci)
                for (int o = 0; o < group_out; ++o) {
                  const size_t xi = ((static_cast<size_t>(image) * s.h + iy) * s.w + ix) * s.c + g * group_in + ci;
                  const size_t wi = ((static_cast<size_t>(ky) * s.kw + kx) * group_in + ci) * s.oc + g * group_out + o;
                  const size_t yi = ((static_cast<size_t>(image) * s.oh + oy) * s.ow + ox) * s.oc + g * group_out + o;
                  const double xw = static_cast<double>(x[xi]) * w[wi];
                  const double dyw = static_cast<double>(dy[yi]) * w[wi];
                  const double xdy = static_cast<double>(x[xi]) * dy[yi];
                  r.y[yi] += xw, r.y_scale[yi] += std::fabs(xw);
                  r.dx[xi] += dyw, r.dx_scale[xi] += std::fabs(dyw);
                  r.dw[wi] += xdy, r.dw_scale[wi] += std::fabs(xdy);
                }
          }
  return r;
}

double scaled_error(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& scale) {
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double error = std::fabs(got[i] - want[i]) / std::max(scale[i], 1e-30);
    if (!(error <= worst)) worst = std::isnan(error) ? INFINITY : error;
  }
  return worst;
}

void check_conv(const std::string& name, const Conv2dShape& s) {
  const size_t x_size = static_cast<size_t>(s.n) * s.h * s.w * s.c;
  const size_t w_size = static_cast<size_t>(s.kh) * s.kw * (s.c / s.groups) * s.oc;
  const size_t y_size = static_cast<size_t>(s.n) * s.oh * s.ow * s.oc;
  const std::vector<float> x = random_vector(x_size), w = random_vector(w_size), dy = random_vector(y_size);
  const ConvReference want = conv_reference(s, x, w, dy);
  for (int threads : {1, 2, 3}) {
    convkit::set_thread_count(threads);
    std::vector<float> y(y_size, 123.0f), dx(x_size, 123.0f), dw(w_size, 123.0f);  // garbage: must be overwritten
    convkit::conv2d_forward(s, x.data(), w.data(), y.data());
    convkit::conv2d_backward_input(s, dy.data(), w.data(), dx.data());
    convkit::conv2d_backward_filter(s, x.data(), dy.data(), dw.data());
    const std::string label = "conv2d[" + name + "] " + std::to_string(threads) + " threads ";
    // Images and chunks go to whichever thread claims them first: the bits must not
    // depend on which one did (the path itself may change with the thread count).
    std::vector<float> y_again(y_size), dx_again(x_size);
    convkit::conv2d_forward(s, x.data(), w.data(), y_again.data());
    convkit::conv2d_backward_input(s, dy.data(), w.data(), dx_again.data());
    record(y == y_again, label + "forward twice", "");
    record(dx == dx_again, label + "backward input twice", "");
    const double errors[3] = {scaled_error(y, want.y, want.y_scale), scaled_error(dx, want.dx, want.dx_scale),
                              scaled_error(dw, want.dw, want.dw_scale)};
    const char* parts[3] = {"forward", "backward input", "backward filter"};
    for (int part = 0; part < 3; ++part) {
      char detail[64];
      std::snprintf(detail, sizeof detail, "(scaled error %.2e, tolerance %.0e)", errors[part], kRelativeTolerance);
      record(errors[part] <= kRelativeTolerance, label + parts[part], detail);
    }
    std::vector<float> dw_again(w_size);
    convkit::conv2d_backward_filter(s, x.data(), dy.data(), dw_again.data());
    record(std::memcmp(dw.data(), dw_again.data(), w_size * sizeof(float)) == 0, label + "backward filter twice", "");
  }
  convkit::set_thread_count(convkit::default_thread_count());
}

void test_conv2d_lowering() {
  const int failed_before = failed_count;
  // make_conv(n, h, w, c, oc, kh, kw, sH, sW, dH, dW, padTop, padLeft, padBottom, padRight, groups)
  check_conv("3x3 pad 1, 8 -> 16", make_conv(3, 9, 10, 8, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1));
  check_conv("RGB 3 -> 16, 5x5 pad 2", make_conv(2, 12, 11, 3, 16, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1));
  check_conv("stride 2, dilation 2, uneven padding", make_conv(2, 13, 12, 6, 20, 3, 3, 2, 2, 2, 2, 2, 1, 1, 2, 1));
  // Kernel rows under 16 floats take the tap-by-tap im2col/col2im path.
  check_conv("2 -> 8, stride 2, dilation 2, uneven padding", make_conv(2, 11, 13, 2, 8, 3, 3, 2, 2, 2, 2, 2, 1, 1, 2, 1));
  check_conv("1 -> 6, 5x5, stride 3, padding 2", make_conv(3, 14, 13, 1, 6, 5, 5, 3, 3, 1, 1, 2, 2, 2, 2, 1));
  check_conv("groups 2 of 2 -> 8, dilation (1,3)", make_conv(2, 9, 12, 4, 16, 3, 3, 1, 1, 1, 3, 1, 3, 1, 3, 2));
  check_conv("groups 2, dilation (2,1), stride (1,2)", make_conv(3, 9, 11, 8, 12, 3, 2, 1, 2, 2, 1, 2, 1, 1, 0, 2));
  check_conv("groups 4, 4x4 kernel", make_conv(2, 8, 8, 16, 20, 4, 4, 1, 1, 1, 1, 1, 2, 2, 1, 4));
  check_conv("pointwise 16 -> 24", make_conv(4, 7, 7, 16, 24, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1));
  check_conv("pointwise groups 2", make_conv(3, 5, 6, 8, 12, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2));
  check_conv("1x1 stride 2", make_conv(2, 9, 9, 8, 16, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1));
  check_conv("1x1 padding 2 (outputs wholly in padding)", make_conv(2, 4, 4, 8, 8, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 1));
  check_conv("many chunks, 32 -> 40", make_conv(5, 20, 20, 32, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1));
  check_conv("batch 1, 16 -> 32", make_conv(1, 20, 20, 16, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1));
  check_conv("pointwise, long pixel sum", make_conv(3, 48, 40, 8, 8, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1));
  std::printf("%s conv2d lowered to GEMM\n", failed_count == failed_before ? "PASS" : "FAIL");
}

}  // namespace

// parallel_for_dynamic: every item in exactly one block, blocks of `grain` (the last one
// shorter), at 1-3 threads, and inline when called from inside another region.
void test_parallel_for_dynamic() {
  for (int threads : {1, 2, 3}) {
    convkit::set_thread_count(threads);
    for (const int64_t count : {int64_t{1}, int64_t{7}, int64_t{64}, int64_t{1001}}) {
      for (const int64_t grain : {int64_t{1}, int64_t{3}, int64_t{64}, int64_t{2000}}) {
        std::vector<std::atomic<int>> visits(static_cast<size_t>(count));
        for (auto& v : visits) v.store(0);
        std::atomic<bool> shapes_ok{true};
        convkit::parallel_for_dynamic(count, grain, [&](int64_t begin, int64_t end) {
          if (begin % grain != 0 || end - begin != std::min(grain, count - begin)) shapes_ok.store(false);
          for (int64_t i = begin; i < end; ++i) visits[static_cast<size_t>(i)].fetch_add(1);
        });
        bool once = true;
        for (auto& v : visits) once = once && v.load() == 1;
        const std::string label = "parallel_for_dynamic(" + std::to_string(count) + ", grain " + std::to_string(grain) +
                                  ") at " + std::to_string(threads) + " threads";
        record(once, label + ": every item once", "");
        record(shapes_ok.load(), label + ": blocks of the grain", "");
      }
    }
    // Nested: the inner call finds the pool taken and runs its blocks inline.
    std::vector<std::atomic<int>> visits(64 * 10);
    for (auto& v : visits) v.store(0);
    convkit::parallel_for(10, [&](int64_t first, int64_t last) {
      for (int64_t outer = first; outer < last; ++outer) {
        convkit::parallel_for_dynamic(64, 5, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) visits[static_cast<size_t>(outer * 64 + i)].fetch_add(1);
        });
      }
    });
    bool once = true;
    for (auto& v : visits) once = once && v.load() == 1;
    record(once, "parallel_for_dynamic nested in parallel_for at " + std::to_string(threads) + " threads: every item once",
           "");
  }
  convkit::set_thread_count(convkit::default_thread_count());
}

int main() {
  std::printf("active ISA %s, %d threads\n", convkit::active_isa_name(), convkit::thread_count());
  test_parallel_for_dynamic();
  test_kernels();
  test_segment_kernels();
  test_empty_sum();
  test_determinism();
  test_concurrent_callers();
  test_conv2d_lowering();
  std::printf("%d passed, %d failed\n", passed_count, failed_count);
  return failed_count == 0 ? 0 : 1;
}
