// sgemm micro-benchmark: GFLOP/s of c = a*b (n x n, row-major, no transposes) for every
// micro-kernel of native/kernels/list.inc this CPU runs, at 1 and 2 threads, next to a
// peak-FMA loop per ISA (many independent accumulators: the most the core can do), and
// OpenBLAS's cblas_sgemm when libopenblas can be loaded at run time (the peer). Then the
// conv2d kernels on a few typical layers with the active ISA.
//
//   build-cmake/gemm_bench                all of the above
//   build-cmake/gemm_bench --quick        shorter timing runs
//   build-cmake/gemm_bench --gemm|--conv  only one part
//   build-cmake/gemm_bench --threads 2    only that thread count (default 1 and 2)
//   build-cmake/gemm_bench --conv --layer resnet8   only conv layers whose name contains that text
//   build-cmake/gemm_bench --cold         evict the caches before every timed call, as in a
//                                         training step, where each layer's input was
//                                         written long enough ago to have left L2 and L3
//   build-cmake/gemm_bench --mean         report the mean call instead of the best
#include <dlfcn.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include "cpu.h"
#include "gemm.h"
#include "kernels.h"
#include "parallel.h"
#include "thread_pool.h"

namespace {

using Clock = std::chrono::steady_clock;

double min_seconds_per_measurement = 1.0;
bool cold_caches = false;
bool report_mean = false;  // --mean: the mean call, as a training step sees it, not the best

// Writes and reads a buffer larger than the last-level cache (48 MiB here), so what a
// timed call reads next comes from memory.
void evict_caches() {
  static std::vector<float> buffer(size_t{96} << 20 >> 2);
  float sum = 0.0f;
  for (size_t i = 0; i < buffer.size(); i += 16) buffer[i] += 1.0f, sum += buffer[i];
  volatile float sink = sum;
  (void)sink;
}

// One thread is timed by its own CPU clock, which leaves out the time the OS gives other
// processes (this benchmark often shares a small machine); more threads by the wall clock.
double now_seconds(bool thread_clock) {
  if (thread_clock) {
    timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) + 1e-9 * static_cast<double>(now.tv_nsec);
  }
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}

// Best time of one call of `body` over repeats lasting at least min_seconds_per_measurement:
// the best is the run least disturbed by other processes.
template <typename Body>
double best_seconds(bool thread_clock, const Body& body) {
  body();  // warm caches, workspaces and the pool
  double best = 1e30, total = 0.0;
  int calls = 0;
  for (int repeat = 0; repeat < 5 || total < min_seconds_per_measurement; ++repeat) {
    if (cold_caches) evict_caches();
    const double start = now_seconds(thread_clock);
    body();
    const double seconds = now_seconds(thread_clock) - start;
    best = std::min(best, seconds);
    total += seconds;
    ++calls;
  }
  return report_mean ? total / calls : best;
}

// ---------------------------------------------------------------------------------------
// Peak FMA loops: independent accumulator chains, more than latency x ports, so the FMA
// units never wait. Each iteration is one multiply-add per lane per chain.

constexpr int64_t kPeakIterations = 20000000;

__attribute__((noinline)) float peak_scalar(int64_t iterations, float scale, float offset) {
  float acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = static_cast<float>(i);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < 16; ++i) acc[i] = acc[i] * scale + offset;
    __asm__ volatile("" : "+m"(acc));  // keep the chains scalar and in the loop
  }
  float sum = 0.0f;
  for (float value : acc) sum += value;
  return sum;
}

#if defined(__x86_64__) || defined(_M_X64)
__attribute__((noinline, target("avx2,fma"))) float peak_avx2(int64_t iterations, float scale, float offset) {
  const __m256 s = _mm256_set1_ps(scale), o = _mm256_set1_ps(offset);
  __m256 acc[12];
  for (int i = 0; i < 12; ++i) acc[i] = _mm256_set1_ps(static_cast<float>(i));
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 12
    for (int i = 0; i < 12; ++i) acc[i] = _mm256_fmadd_ps(acc[i], s, o);
  }
  __m256 sum = acc[0];
  for (int i = 1; i < 12; ++i) sum = _mm256_add_ps(sum, acc[i]);
  float lanes[8];
  _mm256_storeu_ps(lanes, sum);
  return lanes[0];
}

__attribute__((noinline, target("avx512f,fma"))) float peak_avx512(int64_t iterations, float scale, float offset) {
  const __m512 s = _mm512_set1_ps(scale), o = _mm512_set1_ps(offset);
  __m512 acc[24];
  for (int i = 0; i < 24; ++i) acc[i] = _mm512_set1_ps(static_cast<float>(i));
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i) acc[i] = _mm512_fmadd_ps(acc[i], s, o);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < 24; ++i) sum = _mm512_add_ps(sum, acc[i]);
  float lanes[16];
  _mm512_storeu_ps(lanes, sum);
  return lanes[0];
}
#endif

#if defined(__aarch64__)
__attribute__((noinline)) float peak_neon(int64_t iterations, float scale, float offset) {
  const float32x4_t s = vdupq_n_f32(scale), o = vdupq_n_f32(offset);
  float32x4_t acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = vdupq_n_f32(static_cast<float>(i));
  for (int64_t it = 0; it < iterations; ++it) {
    for (int i = 0; i < 16; ++i) acc[i] = vfmaq_f32(o, acc[i], s);
  }
  float32x4_t sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = vaddq_f32(sum, acc[i]);
  return vgetq_lane_f32(sum, 0);
}
#endif

// Multiply-adds per iteration of the ISA's peak loop (lanes x chains), and the loop.
struct PeakLoop {
  int64_t multiply_adds_per_iteration;
  float (*loop)(int64_t, float, float);
};

PeakLoop peak_loop(convkit::Isa isa) {
  switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case convkit::Isa::kAvx2:
      return {8 * 12, peak_avx2};
    case convkit::Isa::kAvx512:
      return {16 * 24, peak_avx512};
#endif
#if defined(__aarch64__)
    case convkit::Isa::kNeon:
      return {4 * 16, peak_neon};
#endif
    default:
      return {16, peak_scalar};
  }
}

volatile float peak_sink;

// GFLOP/s of the ISA's peak loop on `threads` threads, each running the whole loop.
double peak_gflops(convkit::Isa isa, int threads) {
  const PeakLoop peak = peak_loop(isa);
  const int64_t iterations = isa == convkit::Isa::kScalar ? kPeakIterations / 4 : kPeakIterations;
  convkit::set_thread_count(threads);
  const double seconds = best_seconds(threads == 1, [&] {
    convkit::parallel_for(threads, [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) peak_sink = peak.loop(iterations, 0.99999f, 1e-5f);
    });
  });
  return 2.0 * peak.multiply_adds_per_iteration * iterations * threads / seconds * 1e-9;
}

// ---------------------------------------------------------------------------------------
// OpenBLAS, loaded if present: the peer the issue compares against.

using CblasSgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                            int);
using OpenblasSetThreads = void (*)(int);
constexpr int kCblasRowMajor = 101, kCblasNoTrans = 111;

struct OpenBlas {
  CblasSgemm sgemm = nullptr;
  OpenblasSetThreads set_threads = nullptr;
  std::string library;
};

OpenBlas load_openblas() {
  OpenBlas blas;
  for (const char* name : {"libopenblas.so.0", "libopenblas.so", "libopenblas.dylib"}) {
    void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) continue;
    blas.sgemm = reinterpret_cast<CblasSgemm>(dlsym(handle, "cblas_sgemm"));
    blas.set_threads = reinterpret_cast<OpenblasSetThreads>(dlsym(handle, "openblas_set_num_threads"));
    blas.library = name;
    if (blas.sgemm != nullptr) return blas;
  }
  return OpenBlas{};
}

// ---------------------------------------------------------------------------------------

std::vector<float> random_vector(size_t size, std::mt19937& rng) {
  std::uniform_real_distribution<float> distribution(-1.0f, 1.0f);
  std::vector<float> values(size);
  for (float& value : values) value = distribution(rng);
  return values;
}

const int kSizes[] = {256, 512, 1024};
std::vector<int> thread_counts = {1, 2};
const char* layer_filter = nullptr;

void bench_gemm() {
  std::mt19937 rng(7);
  const OpenBlas blas = load_openblas();
  std::printf("sgemm c[n,n] = a[n,n] * b[n,n], GFLOP/s, best of repeats (1 thread: thread CPU clock; 2: wall "
              "clock); peak = the ISA's FMA loop\n");
  std::printf("%-16s %7s %9s %9s %9s %9s %12s\n", "kernel", "threads", "n=256", "n=512", "n=1024", "peak",
              "1024/peak");
  for (int index = 0; index < convkit::sgemm_kernel_count(); ++index) {
    const convkit::SgemmKernel& kernel = convkit::sgemm_kernel(index);
    if (!convkit::isa_supported(kernel.isa)) continue;
    const convkit::SgemmConfig config = convkit::sgemm_config_for(kernel);
    for (int threads : thread_counts) {
      double gflops[3];
      for (int s = 0; s < 3; ++s) {
        const int n = kSizes[s];
        const std::vector<float> a = random_vector(static_cast<size_t>(n) * n, rng);
        const std::vector<float> b = random_vector(static_cast<size_t>(n) * n, rng);
        std::vector<float> c(static_cast<size_t>(n) * n);
        convkit::set_thread_count(threads);
        const double seconds = best_seconds(threads == 1, [&] {
          convkit::sgemm_with_config(config, true, n, n, n, a.data(), n, false, b.data(), n, false, c.data(), n,
                                     false);
        });
        gflops[s] = 2.0 * n * n * n / seconds * 1e-9;
      }
      const double peak = peak_gflops(kernel.isa, threads);
      if (kernel.isa == convkit::Isa::kScalar) {
        // Plain C++ that the compiler vectorises with the baseline SIMD; its peak loop is scalar.
        std::printf("%-16s %7d %9.1f %9.1f %9.1f %9.1f %12s\n", kernel.name, threads, gflops[0], gflops[1], gflops[2],
                    peak, "-");
        continue;
      }
      std::printf("%-16s %7d %9.1f %9.1f %9.1f %9.1f %11.0f%%\n", kernel.name, threads, gflops[0], gflops[1],
                  gflops[2], peak, 100.0 * gflops[2] / peak);
    }
  }
  if (blas.sgemm == nullptr) {
    std::printf("OpenBLAS: not found (install libopenblas0 to compare)\n");
  } else {
    for (int threads : thread_counts) {
      double gflops[3];
      for (int s = 0; s < 3; ++s) {
        const int n = kSizes[s];
        const std::vector<float> a = random_vector(static_cast<size_t>(n) * n, rng);
        const std::vector<float> b = random_vector(static_cast<size_t>(n) * n, rng);
        std::vector<float> c(static_cast<size_t>(n) * n);
        if (blas.set_threads != nullptr) blas.set_threads(threads);
        const double seconds = best_seconds(threads == 1, [&] {
          blas.sgemm(kCblasRowMajor, kCblasNoTrans, kCblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f,
                     c.data(), n);
        });
        gflops[s] = 2.0 * n * n * n / seconds * 1e-9;
      }
      std::printf("%-16s %7d %9.1f %9.1f %9.1f\n", "openblas", threads, gflops[0], gflops[1], gflops[2]);
    }
  }
}

struct ConvLayer {
  const char* name;
  convkit::Conv2dShape shape;
};

convkit::Conv2dShape conv_same(int n, int h, int w, int c, int oc, int k, int stride, int groups) {
  const int oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
  const int pad_h = std::max(0, (oh - 1) * stride + k - h), pad_w = std::max(0, (ow - 1) * stride + k - w);
  return convkit::Conv2dShape{n, h, w, c, oc, k, k, stride, stride, 1, 1, pad_h / 2, pad_w / 2, oh, ow, groups};
}

void bench_conv() {
  const ConvLayer layers[] = {
      {"lenet 5x5 1->6 28x28 b64", conv_same(64, 28, 28, 1, 6, 5, 1, 1)},
      {"lenet 5x5 6->16 14x14 valid b64", convkit::Conv2dShape{64, 14, 14, 6, 16, 5, 5, 1, 1, 1, 1, 0, 0, 10, 10, 1}},
      {"lenet 5x5 1->6 28x28 b256 (inference)", conv_same(256, 28, 28, 1, 6, 5, 1, 1)},
      {"lenet 5x5 6->16 14x14 valid b256 (inference)",
       convkit::Conv2dShape{256, 14, 14, 6, 16, 5, 5, 1, 1, 1, 1, 0, 0, 10, 10, 1}},
      {"resnet8 stem 3x3 3->16 32x32 b64", conv_same(64, 32, 32, 3, 16, 3, 1, 1)},
      {"resnet8 3x3 16->16 32x32 b64", conv_same(64, 32, 32, 16, 16, 3, 1, 1)},
      {"resnet8 3x3 16->32 s2 32x32 b64", conv_same(64, 32, 32, 16, 32, 3, 2, 1)},
      {"resnet8 1x1 16->32 s2 32x32 b64", conv_same(64, 32, 32, 16, 32, 1, 2, 1)},
      {"resnet8 3x3 32->32 16x16 b64", conv_same(64, 16, 16, 32, 32, 3, 1, 1)},
      {"resnet8 3x3 64->64 8x8 b64", conv_same(64, 8, 8, 64, 64, 3, 1, 1)},
      {"convnet-m 3x3 3->32 32x32 b64", conv_same(64, 32, 32, 3, 32, 3, 1, 1)},
      {"convnet-m 3x3 32->32 32x32 b64", conv_same(64, 32, 32, 32, 32, 3, 1, 1)},
      {"convnet-m 3x3 32->64 16x16 b64", conv_same(64, 16, 16, 32, 64, 3, 1, 1)},
      {"convnet-m 3x3 64->64 16x16 b64", conv_same(64, 16, 16, 64, 64, 3, 1, 1)},
      {"npm bench conv 3x3 32->64 32x32 b64", conv_same(64, 32, 32, 32, 64, 3, 1, 1)},
      {"3x3 32->64 28x28 b32", conv_same(32, 28, 28, 32, 64, 3, 1, 1)},
      {"3x3 64->64 56x56 b8", conv_same(8, 56, 56, 64, 64, 3, 1, 1)},
      {"3x3 128->128 s2 28x28 b16", conv_same(16, 28, 28, 128, 128, 3, 2, 1)},
      {"1x1 64->256 56x56 b8", conv_same(8, 56, 56, 64, 256, 1, 1, 1)},
      {"dw 3x3 c64 56x56 b8", conv_same(8, 56, 56, 64, 64, 3, 1, 64)},
      {"grouped 3x3 64->64 g4 28x28 b16", conv_same(16, 28, 28, 64, 64, 3, 1, 4)},
  };
  std::mt19937 rng(11);
  std::printf("\nconv2d, active ISA %s, GFLOP/s (forward / backward input / backward filter)\n",
              convkit::active_isa_name());
  std::printf("%-46s %7s %9s %9s %9s\n", "layer", "threads", "forward", "bw input", "bw filter");
  for (const ConvLayer& layer : layers) {
    if (layer_filter != nullptr && std::strstr(layer.name, layer_filter) == nullptr) continue;
    const convkit::Conv2dShape& s = layer.shape;
    const size_t x_size = static_cast<size_t>(s.n) * s.h * s.w * s.c;
    const size_t w_size = static_cast<size_t>(s.kh) * s.kw * (s.c / s.groups) * s.oc;
    const size_t y_size = static_cast<size_t>(s.n) * s.oh * s.ow * s.oc;
    const std::vector<float> x = random_vector(x_size, rng), w = random_vector(w_size, rng);
    const std::vector<float> dy = random_vector(y_size, rng);
    std::vector<float> y(y_size), dx(x_size), dw(w_size);
    const double flops = 2.0 * s.n * s.oh * s.ow * s.oc * s.kh * s.kw * (s.c / s.groups);
    for (int threads : thread_counts) {
      convkit::set_thread_count(threads);
      const bool one = threads == 1;
      const double forward = best_seconds(one, [&] { convkit::conv2d_forward(s, x.data(), w.data(), y.data()); });
      const double input =
          best_seconds(one, [&] { convkit::conv2d_backward_input(s, dy.data(), w.data(), dx.data()); });
      const double filter =
          best_seconds(one, [&] { convkit::conv2d_backward_filter(s, x.data(), dy.data(), dw.data()); });
      std::printf("%-46s %7d %9.1f %9.1f %9.1f\n", layer.name, threads, flops / forward * 1e-9, flops / input * 1e-9,
                  flops / filter * 1e-9);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool gemm = true, conv = true;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) min_seconds_per_measurement = 0.2;
    if (std::strcmp(argv[i], "--gemm") == 0) conv = false;
    if (std::strcmp(argv[i], "--conv") == 0) gemm = false;
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) thread_counts = {std::atoi(argv[++i])};
    if (std::strcmp(argv[i], "--cold") == 0) cold_caches = true;
    if (std::strcmp(argv[i], "--mean") == 0) report_mean = true;
    if (std::strcmp(argv[i], "--layer") == 0 && i + 1 < argc) layer_filter = argv[++i];
  }
  std::printf("convkit gemm_bench: active ISA %s, default threads %d\n", convkit::active_isa_name(),
              convkit::default_thread_count());
  if (gemm) bench_gemm();
  if (conv) bench_conv();
  convkit::set_thread_count(convkit::default_thread_count());
  return 0;
}
