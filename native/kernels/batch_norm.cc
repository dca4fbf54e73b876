// Batch normalisation over [rows, channels] (rows = batch * spatial positions), PyTorch
// conventions: training mode normalises with the batch mean and biased variance and updates
// the running statistics with the unbiased variance; inference uses the running statistics.
// Per-channel sums go through float partials of kRowBlock rows into double totals per row
// chunk (a fixed number of chunks, split over the threads, added in order); the
// elementwise passes are one float multiply-add per element with coefficients computed in
// double. Channels are processed in blocks whose state lives on the stack, each block a
// pass down the rows reading a contiguous slice of each row.
#include <algorithm>
#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace convkit {

namespace {

constexpr int kChannelBlock = 256;
// Rows summed in float before the sum moves to double: short enough that float rounding
// stays near 1e-7 relative, long enough that the inner loops run in float vectors (the
// double accumulation per element was 4x slower on the 16-channel layers of ResNet-8).
constexpr int64_t kRowBlock = 64;

inline int block_width(int channels, int block) {
  return channels - block < kChannelBlock ? channels - block : kChannelBlock;
}

inline void clear(int count, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] = 0.0f;
}

// total[i] += partial[i], then partial[i] = 0.
inline void flush(int count, float* __restrict partial, double* __restrict total) {
  for (int i = 0; i < count; ++i) {
    total[i] += static_cast<double>(partial[i]);
    partial[i] = 0.0f;
  }
}

// dst[i] += src[i].
inline void add_into(int count, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += src[i];
}

// dst[i] += (src[i] - center[i])^2.
inline void add_centered_squares(int count, const float* __restrict src, const float* __restrict center,
                                 float* __restrict dst) {
  for (int i = 0; i < count; ++i) {
    const float centered = src[i] - center[i];
    dst[i] += centered * centered;
  }
}

// dst[i] = (src[i] - center[i]) * scale[i] + shift[i]: centring first keeps an element
// equal to the mean exactly at shift (a constant channel normalises to beta).
inline void affine(int count, const float* __restrict src, const float* __restrict center,
                   const float* __restrict scale, const float* __restrict shift, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] = (src[i] - center[i]) * scale[i] + shift[i];
}

// affine, then max(., 0).
inline void affine_relu(int count, const float* __restrict src, const float* __restrict center,
                        const float* __restrict scale, const float* __restrict shift, float* __restrict dst) {
  for (int i = 0; i < count; ++i) {
    const float value = (src[i] - center[i]) * scale[i] + shift[i];
    dst[i] = value > 0.0f ? value : 0.0f;
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

template <bool kRelu>
void batch_norm_backward_impl(int64_t rows, int channels, const float* x, const float* gamma, const float* mean,
                              const float* inv_std, const float* dy, const float* relu_output, float* dx,
                              float* dgamma, float* dbeta);

}  // namespace

void batch_norm_train(int64_t rows, int channels, float eps, float momentum, const float* x, const float* gamma,
                      const float* beta, float* y, float* mean, float* inv_std, float* running_mean, float* running_var,
                      bool relu) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;
  const double row_count = static_cast<double>(rows);
  // The running variance is unbiased: var * rows / (rows - 1), or the biased var for one row.
  const double unbias = rows > 1 ? row_count / (row_count - 1.0) : 1.0;
  const double keep = 1.0 - static_cast<double>(momentum);

  for (int block = 0; block < channels; block += kChannelBlock) {
    const int width = block_width(channels, block);
    double chunk_totals[kFixedChunks][kChannelBlock];
    double total[kChannelBlock];
    float center[kChannelBlock];       // the mean rounded to float
    double mean_error[kChannelBlock];  // mean - center
    float scale[kChannelBlock];
    float shift[kChannelBlock];

    // Sums over rows in row chunks (float partials of kRowBlock rows into double), then
    // the chunks in order.
    auto chunked_sum = [&](auto add_row) {
      for_fixed_chunks(rows, kFixedChunks, [&](int64_t chunk, int64_t row_begin, int64_t row_end) {
        double* chunk_total = chunk_totals[chunk];
        float partial[kChannelBlock];
        for (int i = 0; i < width; ++i) chunk_total[i] = 0.0;
        clear(width, partial);
        for (int64_t row = row_begin; row < row_end; ++row) {
          add_row(x_data + row * channels + block, partial);
          if ((row - row_begin + 1) % kRowBlock == 0 || row + 1 == row_end) flush(width, partial, chunk_total);
        }
      });
      for (int i = 0; i < width; ++i) {
        total[i] = 0.0;
        for (int chunk = 0; chunk < kFixedChunks; ++chunk) total[i] += chunk_totals[chunk][i];
      }
    };

    // Pass 1: the mean.
    chunked_sum([&](const float* row, float* partial) { add_into(width, row, partial); });
    for (int i = 0; i < width; ++i) {
      const double block_mean = total[i] / row_count;
      center[i] = static_cast<float>(block_mean);
      mean_error[i] = block_mean - static_cast<double>(center[i]);
      mean[block + i] = center[i];
    }

    // Pass 2: the biased variance, from squares about the float mean (two passes: no
    // cancellation); E[(x - c)^2] = var + (mean - c)^2 removes the rounding of c exactly.
    chunked_sum([&](const float* row, float* partial) { add_centered_squares(width, row, center, partial); });

    for (int i = 0; i < width; ++i) {
      const int channel = block + i;
      const double block_mean = static_cast<double>(center[i]) + mean_error[i];
      const double var = std::max(0.0, total[i] / row_count - mean_error[i] * mean_error[i]);
      const double channel_inv_std = 1.0 / std::sqrt(var + static_cast<double>(eps));
      inv_std[channel] = static_cast<float>(channel_inv_std);
      running_mean[channel] =
          static_cast<float>(keep * running_mean[channel] + static_cast<double>(momentum) * block_mean);
      running_var[channel] =
          static_cast<float>(keep * running_var[channel] + static_cast<double>(momentum) * (var * unbias));
      const double channel_scale = static_cast<double>(gamma[channel]) * channel_inv_std;
      scale[i] = static_cast<float>(channel_scale);
      // About the float mean c: y = (x - c) * scale + beta - (mean - c) * scale.
      shift[i] = static_cast<float>(static_cast<double>(beta[channel]) - mean_error[i] * channel_scale);
    }

    // Pass 3: y = gamma * (x - mean) * invStd + beta (then relu).
    parallel_for(rows, [&](int64_t row_begin, int64_t row_end) {
      for (int64_t row = row_begin; row < row_end; ++row) {
        const int64_t offset = row * channels + block;
        if (relu) {
          affine_relu(width, x_data + offset, center, scale, shift, y_data + offset);
        } else {
          affine(width, x_data + offset, center, scale, shift, y_data + offset);
        }
      }
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
  const float* __restrict x_data = x;
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
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
    // Pass 1: sum(dy) and sum(dy * xhat), xhat = (x - mean) * invStd, in row chunks.
    double chunk_dy[kFixedChunks][kChannelBlock];
    double chunk_dy_xhat[kFixedChunks][kChannelBlock];
    for_fixed_chunks(rows, kFixedChunks, [&](int64_t chunk, int64_t row_begin, int64_t row_end) {
      double* total_dy = chunk_dy[chunk];
      double* total_dy_xhat = chunk_dy_xhat[chunk];
      float partial_dy[kChannelBlock];
      float partial_dy_xhat[kChannelBlock];
      for (int i = 0; i < width; ++i) total_dy[i] = 0.0, total_dy_xhat[i] = 0.0;
      clear(width, partial_dy);
      clear(width, partial_dy_xhat);
      for (int64_t row = row_begin; row < row_end; ++row) {
        const float* __restrict x_row = x_data + row * channels + block;
        const float* __restrict dy_row = dy_data + row * channels + block;
        const float* __restrict y_row = kRelu ? relu_output + row * channels + block : nullptr;
        for (int i = 0; i < width; ++i) {
          const float grad = masked_gradient<kRelu>(dy_row, y_row, i);
          partial_dy[i] += grad;
          partial_dy_xhat[i] += grad * ((x_row[i] - center[i]) * norm[i]);
        }
        if ((row - row_begin + 1) % kRowBlock == 0 || row + 1 == row_end) {
          flush(width, partial_dy, total_dy);
          flush(width, partial_dy_xhat, total_dy_xhat);
        }
      }
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

    // Pass 2: dx = gamma * invStd * (dy - sum(dy) / rows - xhat * sum(dy * xhat) / rows).
    parallel_for(rows, [&](int64_t row_begin, int64_t row_end) {
      for (int64_t row = row_begin; row < row_end; ++row) {
        const int64_t offset = row * channels + block;
        const float* __restrict x_row = x_data + offset;
        const float* __restrict dy_row = dy_data + offset;
        const float* __restrict y_row = kRelu ? relu_output + offset : nullptr;
        float* __restrict dx_row = dx_data + offset;
        for (int i = 0; i < width; ++i) {
          const float xhat = (x_row[i] - center[i]) * norm[i];
          dx_row[i] = dy_scale[i] * masked_gradient<kRelu>(dy_row, y_row, i) - shift[i] - xhat_scale[i] * xhat;
        }
      }
    });
  }
}

}  // namespace

void batch_norm_inference(int64_t rows, int channels, float eps, const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, float* y) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;

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
    parallel_for(rows, [&](int64_t row_begin, int64_t row_end) {
      for (int64_t row = row_begin; row < row_end; ++row) {
        const int64_t offset = row * channels + block;
        affine(width, x_data + offset, center, scale, shift, y_data + offset);
      }
    });
  }
}

}  // namespace convkit
