// Batch normalisation over [rows, channels] (rows = batch * spatial positions), PyTorch
// conventions: training mode normalises with the batch mean and biased variance and updates
// the running statistics with the unbiased variance; inference uses the running statistics.
// Per-channel sums are accumulated in double. Channels are processed in blocks whose state
// lives on the stack, each block a pass down the rows reading a contiguous slice of each row.
#include <cmath>

#include "kernels.h"

namespace convkit {

namespace {

constexpr int kChannelBlock = 256;

inline int block_width(int channels, int block) {
  return channels - block < kChannelBlock ? channels - block : kChannelBlock;
}

// dst[i] += src[i].
inline void sum_into(int count, const float* __restrict src, double* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] += static_cast<double>(src[i]);
}

// dst[i] += (src[i] - center[i])^2.
inline void sum_centered_squares_into(int count, const float* __restrict src, const double* __restrict center,
                                      double* __restrict dst) {
  for (int i = 0; i < count; ++i) {
    const double centered = static_cast<double>(src[i]) - center[i];
    dst[i] += centered * centered;
  }
}

// dst[i] = (src[i] - center[i]) * scale[i] + shift[i], rounded once to float.
inline void affine(int count, const float* __restrict src, const double* __restrict center,
                   const double* __restrict scale, const double* __restrict shift, float* __restrict dst) {
  for (int i = 0; i < count; ++i) {
    dst[i] = static_cast<float>((static_cast<double>(src[i]) - center[i]) * scale[i] + shift[i]);
  }
}

}  // namespace

void batch_norm_train(int64_t rows, int channels, float eps, float momentum, const float* x, const float* gamma,
                      const float* beta, float* y, float* mean, float* inv_std, float* running_mean, float* running_var) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;
  const double row_count = static_cast<double>(rows);
  // The running variance is unbiased: var * rows / (rows - 1), or the biased var for one row.
  const double unbias = rows > 1 ? row_count / (row_count - 1.0) : 1.0;
  const double keep = 1.0 - static_cast<double>(momentum);

  for (int block = 0; block < channels; block += kChannelBlock) {
    const int width = block_width(channels, block);
    double block_mean[kChannelBlock];
    double block_var[kChannelBlock];
    double scale[kChannelBlock];
    double shift[kChannelBlock];

    // Pass 1: the mean.
    for (int i = 0; i < width; ++i) block_mean[i] = 0.0;
    for (int64_t row = 0; row < rows; ++row) sum_into(width, x_data + row * channels + block, block_mean);
    for (int i = 0; i < width; ++i) block_mean[i] /= row_count;

    // Pass 2: the biased variance about that mean (two passes: no cancellation).
    for (int i = 0; i < width; ++i) block_var[i] = 0.0;
    for (int64_t row = 0; row < rows; ++row) {
      sum_centered_squares_into(width, x_data + row * channels + block, block_mean, block_var);
    }

    for (int i = 0; i < width; ++i) {
      const int channel = block + i;
      const double var = block_var[i] / row_count;
      const double channel_inv_std = 1.0 / std::sqrt(var + static_cast<double>(eps));
      mean[channel] = static_cast<float>(block_mean[i]);
      inv_std[channel] = static_cast<float>(channel_inv_std);
      running_mean[channel] =
          static_cast<float>(keep * running_mean[channel] + static_cast<double>(momentum) * block_mean[i]);
      running_var[channel] =
          static_cast<float>(keep * running_var[channel] + static_cast<double>(momentum) * (var * unbias));
      scale[i] = static_cast<double>(gamma[channel]) * channel_inv_std;
      shift[i] = static_cast<double>(beta[channel]);
    }

    // Pass 3: y = gamma * (x - mean) * invStd + beta, with the double statistics.
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t offset = row * channels + block;
      affine(width, x_data + offset, block_mean, scale, shift, y_data + offset);
    }
  }
}

void batch_norm_backward(int64_t rows, int channels, const float* x, const float* gamma, const float* mean,
                         const float* inv_std, const float* dy, float* dx, float* dgamma, float* dbeta) {
  const float* __restrict x_data = x;
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  const double row_count = static_cast<double>(rows);

  for (int block = 0; block < channels; block += kChannelBlock) {
    const int width = block_width(channels, block);
    double center[kChannelBlock];
    double norm[kChannelBlock];      // the saved invStd
    double sum_dy[kChannelBlock];    // dbeta
    double sum_dy_xhat[kChannelBlock];  // dgamma
    double gain[kChannelBlock];      // gamma * invStd / rows

    for (int i = 0; i < width; ++i) {
      center[i] = static_cast<double>(mean[block + i]);
      norm[i] = static_cast<double>(inv_std[block + i]);
      sum_dy[i] = 0.0;
      sum_dy_xhat[i] = 0.0;
    }

    // Pass 1: sum(dy) and sum(dy * xhat), xhat = (x - mean) * invStd.
    for (int64_t row = 0; row < rows; ++row) {
      const float* __restrict x_row = x_data + row * channels + block;
      const float* __restrict dy_row = dy_data + row * channels + block;
      for (int i = 0; i < width; ++i) {
        const double grad = static_cast<double>(dy_row[i]);
        const double xhat = (static_cast<double>(x_row[i]) - center[i]) * norm[i];
        sum_dy[i] += grad;
        sum_dy_xhat[i] += grad * xhat;
      }
    }

    for (int i = 0; i < width; ++i) {
      dbeta[block + i] = static_cast<float>(sum_dy[i]);
      dgamma[block + i] = static_cast<float>(sum_dy_xhat[i]);
      gain[i] = static_cast<double>(gamma[block + i]) * norm[i] / row_count;
    }

    // Pass 2: dx = gamma * invStd / rows * (rows * dy - sum(dy) - xhat * sum(dy * xhat)).
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t offset = row * channels + block;
      const float* __restrict x_row = x_data + offset;
      const float* __restrict dy_row = dy_data + offset;
      float* __restrict dx_row = dx_data + offset;
      for (int i = 0; i < width; ++i) {
        const double xhat = (static_cast<double>(x_row[i]) - center[i]) * norm[i];
        const double inner = row_count * static_cast<double>(dy_row[i]) - sum_dy[i] - xhat * sum_dy_xhat[i];
        dx_row[i] = static_cast<float>(gain[i] * inner);
      }
    }
  }
}

void batch_norm_inference(int64_t rows, int channels, float eps, const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, float* y) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;

  for (int block = 0; block < channels; block += kChannelBlock) {
    const int width = block_width(channels, block);
    double center[kChannelBlock];
    double scale[kChannelBlock];
    double shift[kChannelBlock];
    for (int i = 0; i < width; ++i) {
      const int channel = block + i;
      center[i] = static_cast<double>(running_mean[channel]);
      scale[i] = static_cast<double>(gamma[channel]) /
                 std::sqrt(static_cast<double>(running_var[channel]) + static_cast<double>(eps));
      shift[i] = static_cast<double>(beta[channel]);
    }
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t offset = row * channels + block;
      affine(width, x_data + offset, center, scale, shift, y_data + offset);
    }
  }
}

}  // namespace convkit
