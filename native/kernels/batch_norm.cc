// Batch normalisation over [rows, channels] (rows = batch * spatial positions), PyTorch
// conventions: training mode normalises with the batch mean and biased variance and updates
// the running statistics with the unbiased variance; inference uses the running statistics.
//
// Statistics go block by block of kRowBlock rows: a block's sums in float (the block is
// then in L1), merged into double totals per row chunk (a fixed number of chunks, split
// over the threads, merged in order). The forward pass reads x once for its statistics:
// each block's mean and centred squares come from two sweeps of that block in L1, merged
// with the pairwise (Chan et al.) update, so there is no cancellation and no second pass
// over memory. The elementwise passes are one float multiply-add per element with
// coefficients computed in double. Channels go in blocks whose state lives on the stack;
// the common widths (16, 32, 64 channels) are compiled for that width, so a row is a few
// whole vectors and the block's partial sums stay in registers.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels.h"
#include "parallel.h"

namespace convkit {

namespace {

constexpr int kChannelBlock = 256;
// Rows summed in float before the sum moves to double: short enough that float rounding
// stays near 1e-7 relative and the block stays in L1, long enough that the inner loops
// run in float vectors.
constexpr int64_t kRowBlock = 64;
constexpr int64_t kMomentsBlockFloats = 4096;

inline int block_width(int channels, int block) {
  return channels - block < kChannelBlock ? channels - block : kChannelBlock;
}

// A channel count fixed at compile time (kWidth > 0) or read at run time (kWidth == 0).
template <int kWidth>
inline int width_of(int width) {
  return kWidth > 0 ? kWidth : width;
}

#if defined(__GNUC__)
typedef float Float4 __attribute__((vector_size(16), aligned(4), may_alias));
#endif

// dst[i] += src[i].
inline void add_into(int count, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += src[i];
}

// residual[i] += src[i] - center[i]; squares[i] += (src[i] - center[i])^2.
inline void add_centered(int count, const float* __restrict src, const float* __restrict center,
                         float* __restrict residual, float* __restrict squares) {
  for (int i = 0; i < count; ++i) {
    const float centered = src[i] - center[i];
    residual[i] += centered;
    squares[i] += centered * centered;
  }
}

// Count, mean and sum of squared deviations (M2) per channel, in double.
struct Moments {
  double count;
  double mean[kChannelBlock];
  double m2[kChannelBlock];
};

// a <- a merged with (count_b, mean_b, m2_b): the pairwise update, exact in real arithmetic.
inline void merge_moments(int width, Moments& a, double count_b, const double* mean_b, const double* m2_b) {
  if (count_b == 0.0) return;
  const double count = a.count + count_b;
  const double weight = count_b / count, cross = a.count * count_b / count;
  for (int i = 0; i < width; ++i) {
    const double delta = mean_b[i] - a.mean[i];
    a.mean[i] += delta * weight;
    a.m2[i] += m2_b[i] + delta * delta * cross;
  }
  a.count = count;
}

// One block of `rows` rows (stride `stride`): center = its float mean, then residual =
// sum(x - center) and squares = sum((x - center)^2), per channel. The block is in L1 for
// the second sweep.
template <int kWidth>
void block_sweeps(int width_arg, int64_t stride, const float* __restrict x, int64_t rows, float* __restrict center,
                  float* __restrict residual, float* __restrict squares) {
  const float inv_rows = 1.0f / static_cast<float>(rows);
#if defined(__GNUC__)
  if (kWidth > 0 && kWidth % 4 == 0) {
    // Whole vectors of four channels: g++ kept the arrays of the loops below (fully
    // unrolled for a constant width) in scalar registers and stack slots instead.
    constexpr int kVectors = kWidth > 0 ? kWidth / 4 : 1;
    Float4 sum[kVectors], mid[kVectors], r[kVectors], q[kVectors];
    for (int j = 0; j < kVectors; ++j) sum[j] = Float4{}, r[j] = Float4{}, q[j] = Float4{};
    for (int64_t row = 0; row < rows; ++row) {
      const Float4* values = reinterpret_cast<const Float4*>(x + row * stride);
      for (int j = 0; j < kVectors; ++j) sum[j] += values[j];
    }
    for (int j = 0; j < kVectors; ++j) mid[j] = sum[j] * inv_rows;
    for (int64_t row = 0; row < rows; ++row) {
      const Float4* values = reinterpret_cast<const Float4*>(x + row * stride);
      for (int j = 0; j < kVectors; ++j) {
        const Float4 centered = values[j] - mid[j];
        r[j] += centered;
        q[j] += centered * centered;
      }
    }
    for (int j = 0; j < kVectors; ++j) {
      *reinterpret_cast<Float4*>(center + 4 * j) = mid[j];
      *reinterpret_cast<Float4*>(residual + 4 * j) = r[j];
      *reinterpret_cast<Float4*>(squares + 4 * j) = q[j];
    }
    return;
  }
#endif
  const int width = width_of<kWidth>(width_arg);
  float sum[kChannelBlock];
  for (int i = 0; i < width; ++i) sum[i] = 0.0f, residual[i] = 0.0f, squares[i] = 0.0f;
  for (int64_t row = 0; row < rows; ++row) add_into(width, x + row * stride, sum);
  for (int i = 0; i < width; ++i) center[i] = sum[i] * inv_rows;
  for (int64_t row = 0; row < rows; ++row) add_centered(width, x + row * stride, center, residual, squares);
}

// The moments of rows [row_begin, row_end) of x (stride `stride`), block by block.
template <int kWidth>
void row_moments(int width_arg, int64_t stride, const float* __restrict x, int64_t row_begin, int64_t row_end,
                 Moments& out) {
  const int width = width_of<kWidth>(width_arg);
  out.count = 0.0;
  for (int i = 0; i < width; ++i) out.mean[i] = 0.0, out.m2[i] = 0.0;
  double block_mean[kChannelBlock], block_m2[kChannelBlock];
  // Blocks of about 4096 floats (16 KiB, in L1): for few channels, more rows per block,
  // so the per-block merge (scalar double arithmetic) stays small beside the sweeps.
  const int64_t block_rows = std::max<int64_t>(kRowBlock, kMomentsBlockFloats / width);
  for (int64_t begin = row_begin; begin < row_end; begin += block_rows) {
    const int64_t end = std::min(row_end, begin + block_rows);
    float center[kChannelBlock], residual[kChannelBlock], squares[kChannelBlock];
    block_sweeps<kWidth>(width, stride, x + begin * stride, end - begin, center, residual, squares);
    // About the block's float mean c (rounded, and from a float sum): mean = c + r/n and
    // M2 = sum((x - c)^2) - r^2/n with r = sum(x - c), small, so its float sum is accurate.
    const double inv_rows = 1.0 / static_cast<double>(end - begin);
    for (int i = 0; i < width; ++i) {
      const double r = static_cast<double>(residual[i]);
      block_mean[i] = static_cast<double>(center[i]) + r * inv_rows;
      block_m2[i] = std::max(0.0, static_cast<double>(squares[i]) - r * r * inv_rows);
    }
    merge_moments(width, out, static_cast<double>(end - begin), block_mean, block_m2);
  }
}

template <int kWidth, bool kRelu>
void normalize_rows(int width_arg, int64_t stride, const float* __restrict x, const float* __restrict center,
                    const float* __restrict scale, const float* __restrict shift, float* __restrict y,
                    int64_t row_begin, int64_t row_end) {
  const int width = width_of<kWidth>(width_arg);
  for (int64_t row = row_begin; row < row_end; ++row) {
    const float* __restrict src = x + row * stride;
    float* __restrict dst = y + row * stride;
    for (int i = 0; i < width; ++i) {
      // Centring first keeps an element equal to the mean exactly at shift (a constant
      // channel normalises to beta).
      const float value = (src[i] - center[i]) * scale[i] + shift[i];
      dst[i] = kRelu ? (value > 0.0f ? value : 0.0f) : value;
    }
  }
}

// The gradient that reaches batch norm's output: dy, or dy where the relu after it passed
// its value (relu_output > 0) and 0 elsewhere. Both loads unconditional: a select.
template <bool kRelu>
inline float masked_gradient(const float* __restrict dy, const float* __restrict relu_output, int i) {
  if (!kRelu) return dy[i];
  const float gradient = dy[i];
  return relu_output[i] > 0.0f ? gradient : 0.0f;
}

// sum(dy) and sum(dy * xhat) over rows [row_begin, row_end), block by block into double.
template <int kWidth, bool kRelu>
void gradient_sums(int width_arg, int64_t stride, const float* __restrict x, const float* __restrict dy,
                   const float* __restrict relu_output, const float* __restrict center, const float* __restrict norm,
                   int64_t row_begin, int64_t row_end, double* __restrict total_dy, double* __restrict total_dy_xhat) {
  const int width = width_of<kWidth>(width_arg);
  for (int i = 0; i < width; ++i) total_dy[i] = 0.0, total_dy_xhat[i] = 0.0;
  for (int64_t begin = row_begin; begin < row_end; begin += kRowBlock) {
    const int64_t end = std::min(row_end, begin + kRowBlock);
    float partial_dy[kChannelBlock], partial_dy_xhat[kChannelBlock];
    for (int i = 0; i < width; ++i) partial_dy[i] = 0.0f, partial_dy_xhat[i] = 0.0f;
    for (int64_t row = begin; row < end; ++row) {
      const float* __restrict x_row = x + row * stride;
      const float* __restrict dy_row = dy + row * stride;
      const float* __restrict y_row = kRelu ? relu_output + row * stride : nullptr;
      for (int i = 0; i < width; ++i) {
        const float grad = masked_gradient<kRelu>(dy_row, y_row, i);
        partial_dy[i] += grad;
        partial_dy_xhat[i] += grad * ((x_row[i] - center[i]) * norm[i]);
      }
    }
    for (int i = 0; i < width; ++i) {
      total_dy[i] += static_cast<double>(partial_dy[i]);
      total_dy_xhat[i] += static_cast<double>(partial_dy_xhat[i]);
    }
  }
}

// dx = gamma * invStd * (dy - sum(dy) / rows - xhat * sum(dy * xhat) / rows).
template <int kWidth, bool kRelu>
void input_gradient_rows(int width_arg, int64_t stride, const float* __restrict x, const float* __restrict dy,
                         const float* __restrict relu_output, const float* __restrict center,
                         const float* __restrict norm, const float* __restrict dy_scale,
                         const float* __restrict shift, const float* __restrict xhat_scale, float* __restrict dx,
                         int64_t row_begin, int64_t row_end) {
  const int width = width_of<kWidth>(width_arg);
  for (int64_t row = row_begin; row < row_end; ++row) {
    const int64_t offset = row * stride;
    const float* __restrict y_row = kRelu ? relu_output + offset : nullptr;
    for (int i = 0; i < width; ++i) {
      const float xhat = (x[offset + i] - center[i]) * norm[i];
      dx[offset + i] = dy_scale[i] * masked_gradient<kRelu>(dy + offset, y_row, i) - shift[i] - xhat_scale[i] * xhat;
    }
  }
}

// Calls body(std::integral_constant<int, W>) with W = width for the widths compiled
// specially, else W = 0 (run-time width).
template <typename Body>
void with_width(int width, const Body& body) {
  switch (width) {
    case 16:
      body(std::integral_constant<int, 16>{});
      break;
    case 32:
      body(std::integral_constant<int, 32>{});
      break;
    case 64:
      body(std::integral_constant<int, 64>{});
      break;
    default:
      body(std::integral_constant<int, 0>{});
      break;
  }
}

template <bool kRelu>
void batch_norm_backward_impl(int64_t rows, int channels, const float* x, const float* gamma, const float* mean,
                              const float* inv_std, const float* dy, const float* relu_output, float* dx,
                              float* dgamma, float* dbeta);

}  // namespace

void batch_norm_train(int64_t rows, int channels, float eps, float momentum, const float* x, const float* gamma,
                      const float* beta, float* y, float* mean, float* inv_std, float* running_mean, float* running_var,
                      bool relu) {
  const double row_count = static_cast<double>(rows);
  // The running variance is unbiased: var * rows / (rows - 1), or the biased var for one row.
  const double unbias = rows > 1 ? row_count / (row_count - 1.0) : 1.0;
  const double keep = 1.0 - static_cast<double>(momentum);

  for (int block = 0; block < channels; block += kChannelBlock) {
    const int width = block_width(channels, block);
    Moments chunk_moments[kFixedChunks];
    float center[kChannelBlock];  // the mean rounded to float
    float scale[kChannelBlock];
    float shift[kChannelBlock];

    with_width(width, [&](auto fixed) {
      constexpr int kWidth = decltype(fixed)::value;
      for_fixed_chunks(rows, kFixedChunks, [&](int64_t chunk, int64_t row_begin, int64_t row_end) {
        row_moments<kWidth>(width, channels, x + block, row_begin, row_end, chunk_moments[chunk]);
      });
    });
    // The chunks merged in order: the same result at every thread count.
    Moments& total = chunk_moments[0];
    for (int chunk = 1; chunk < kFixedChunks; ++chunk) {
      merge_moments(width, total, chunk_moments[chunk].count, chunk_moments[chunk].mean, chunk_moments[chunk].m2);
    }

    for (int i = 0; i < width; ++i) {
      const int channel = block + i;
      const double block_mean = total.mean[i];
      center[i] = static_cast<float>(block_mean);
      mean[channel] = center[i];
      const double mean_error = block_mean - static_cast<double>(center[i]);  // mean - center
      const double var = std::max(0.0, total.m2[i] / row_count);
      const double channel_inv_std = 1.0 / std::sqrt(var + static_cast<double>(eps));
      inv_std[channel] = static_cast<float>(channel_inv_std);
      running_mean[channel] =
          static_cast<float>(keep * running_mean[channel] + static_cast<double>(momentum) * block_mean);
      running_var[channel] =
          static_cast<float>(keep * running_var[channel] + static_cast<double>(momentum) * (var * unbias));
      const double channel_scale = static_cast<double>(gamma[channel]) * channel_inv_std;
      scale[i] = static_cast<float>(channel_scale);
      // About the float mean c: y = (x - c) * scale + beta - (mean - c) * scale.
      shift[i] = static_cast<float>(static_cast<double>(beta[channel]) - mean_error * channel_scale);
    }

    // y = gamma * (x - mean) * invStd + beta (then relu).
    with_width(width, [&](auto fixed) {
      constexpr int kWidth = decltype(fixed)::value;
      parallel_for(rows, [&](int64_t row_begin, int64_t row_end) {
        if (relu) {
          normalize_rows<kWidth, true>(width, channels, x + block, center, scale, shift, y + block, row_begin, row_end);
        } else {
          normalize_rows<kWidth, false>(width, channels, x + block, center, scale, shift, y + block, row_begin,
                                        row_end);
        }
      });
    });
  }
}

void batch_norm_backward(int64_t rows, int channels, const float* x, const float* gamma, const float* mean,
                         const float* inv_std, const float* dy, float* dx, float* dgamma, float* dbeta,
                         const float* relu_output) {
  if (relu_output != nullptr) {
    batch_norm_backward_impl<true>(rows, channels, x, gamma, mean, inv_std, dy, relu_output, dx, dgamma, dbeta);
  } else {
    batch_norm_backward_impl<false>(rows, channels, x, gamma, mean, inv_std, dy, nullptr, dx, dgamma, dbeta);
  }
}

namespace {

template <bool kRelu>
void batch_norm_backward_impl(int64_t rows, int channels, const float* x, const float* gamma, const float* mean,
                              const float* inv_std, const float* dy, const float* relu_output, float* dx,
                              float* dgamma, float* dbeta) {
  const double row_count = static_cast<double>(rows);

  for (int block = 0; block < channels; block += kChannelBlock) {
    const int width = block_width(channels, block);
    float center[kChannelBlock];
    float norm[kChannelBlock];           // the saved invStd
    double sum_dy[kChannelBlock];        // dbeta
    double sum_dy_xhat[kChannelBlock];   // dgamma
    float dy_scale[kChannelBlock];       // gamma * invStd
    float shift[kChannelBlock];          // gamma * invStd * sum(dy) / rows
    float xhat_scale[kChannelBlock];     // gamma * invStd * sum(dy * xhat) / rows

    for (int i = 0; i < width; ++i) {
      center[i] = mean[block + i];
      norm[i] = inv_std[block + i];
      sum_dy[i] = 0.0;
      sum_dy_xhat[i] = 0.0;
    }
    const float* relu_block = kRelu ? relu_output + block : nullptr;
    // Pass 1: sum(dy) and sum(dy * xhat), xhat = (x - mean) * invStd, in row chunks.
    double chunk_dy[kFixedChunks][kChannelBlock];
    double chunk_dy_xhat[kFixedChunks][kChannelBlock];
    with_width(width, [&](auto fixed) {
      constexpr int kWidth = decltype(fixed)::value;
      for_fixed_chunks(rows, kFixedChunks, [&](int64_t chunk, int64_t row_begin, int64_t row_end) {
        gradient_sums<kWidth, kRelu>(width, channels, x + block, dy + block, relu_block, center, norm, row_begin,
                                     row_end, chunk_dy[chunk], chunk_dy_xhat[chunk]);
      });
    });
    for (int i = 0; i < width; ++i) {
      for (int chunk = 0; chunk < kFixedChunks; ++chunk) {
        sum_dy[i] += chunk_dy[chunk][i];
        sum_dy_xhat[i] += chunk_dy_xhat[chunk][i];
      }
    }

    for (int i = 0; i < width; ++i) {
      dbeta[block + i] = static_cast<float>(sum_dy[i]);
      dgamma[block + i] = static_cast<float>(sum_dy_xhat[i]);
      const double gain = static_cast<double>(gamma[block + i]) * static_cast<double>(norm[i]);
      dy_scale[i] = static_cast<float>(gain);
      shift[i] = static_cast<float>(gain * sum_dy[i] / row_count);
      xhat_scale[i] = static_cast<float>(gain * sum_dy_xhat[i] / row_count);
    }

    // Pass 2: dx.
    with_width(width, [&](auto fixed) {
      constexpr int kWidth = decltype(fixed)::value;
      parallel_for(rows, [&](int64_t row_begin, int64_t row_end) {
        input_gradient_rows<kWidth, kRelu>(width, channels, x + block, dy + block, relu_block, center, norm, dy_scale,
                                           shift, xhat_scale, dx + block, row_begin, row_end);
      });
    });
  }
}

}  // namespace

void batch_norm_inference(int64_t rows, int channels, float eps, const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, float* y) {
  for (int block = 0; block < channels; block += kChannelBlock) {
    const int width = block_width(channels, block);
    float center[kChannelBlock];
    float scale[kChannelBlock];
    float shift[kChannelBlock];
    for (int i = 0; i < width; ++i) {
      const int channel = block + i;
      center[i] = running_mean[channel];
      scale[i] = static_cast<float>(static_cast<double>(gamma[channel]) /
                                    std::sqrt(static_cast<double>(running_var[channel]) + static_cast<double>(eps)));
      shift[i] = beta[channel];
    }
    with_width(width, [&](auto fixed) {
      constexpr int kWidth = decltype(fixed)::value;
      parallel_for(rows, [&](int64_t row_begin, int64_t row_end) {
        normalize_rows<kWidth, false>(width, channels, x + block, center, scale, shift, y + block, row_begin, row_end);
      });
    });
  }
}

}  // namespace convkit
