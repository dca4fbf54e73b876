// Fused epilogues: a layer's bias and relu applied to its convolution or matmul output
// while that is still in cache, and relu's gradient taken with the bias gradient in one
// pass. Unfused, each was a separate pass over a tensor that had left the cache: for
// ConvNet-M's 32x32x32 activations, four extra trips through memory per layer and step.
#include <algorithm>

#include "kernels.h"
#include "parallel.h"

namespace convkit {
namespace {

// Output floats per block of images in conv2d_bias_activation (256 KiB): the convolution
// writes a block and the epilogue reads it back from L2.
constexpr int64_t kEpilogueFloats = int64_t{1} << 16;
// Rows summed in float before the bias gradient's sum moves to double (as batch_norm.cc).
constexpr int64_t kRowBlock = 64;

// y[r, c] += bias[c], then max(., 0) when relu.
void bias_epilogue(int64_t rows, int channels, const float* __restrict bias, bool relu, float* __restrict y) {
  for (int64_t r = 0; r < rows; ++r) {
    float* __restrict row = y + r * channels;
    if (relu) {
      for (int c = 0; c < channels; ++c) {
        const float value = row[c] + bias[c];
        row[c] = value > 0.0f ? value : 0.0f;
      }
    } else {
      for (int c = 0; c < channels; ++c) row[c] += bias[c];
    }
  }
}

// The epilogue over rows [0, rows) of y, split over the threads by rows.
void bias_epilogue_parallel(int64_t rows, int channels, const float* bias, bool relu, float* y) {
  parallel_for(rows, [&](int64_t begin, int64_t end) {
    bias_epilogue(end - begin, channels, bias, relu, y + begin * channels);
  });
}

}  // namespace

void conv2d_bias_activation(const Conv2dShape& s, bool relu, const float* x, const float* w, const float* bias,
                            float* y) {
  const int64_t image_in = static_cast<int64_t>(s.h) * s.w * s.c;
  const int64_t image_pixels = static_cast<int64_t>(s.oh) * s.ow;
  const int64_t image_out = image_pixels * s.oc;
  // Whole multiples of the thread count, so that the image-parallel conv paths keep every
  // thread busy on each block.
  const int threads = thread_count();
  int64_t block = std::max<int64_t>(1, kEpilogueFloats / image_out);
  block = (block + threads - 1) / threads * threads;
  for (int64_t first = 0; first < s.n; first += block) {
    Conv2dShape part = s;
    part.n = static_cast<int>(std::min<int64_t>(block, s.n - first));
    float* y_part = y + first * image_out;
    conv2d_forward(part, x + first * image_in, w, y_part);
    bias_epilogue_parallel(part.n * image_pixels, s.oc, bias, relu, y_part);
  }
}

void matmul_bias_activation(int m, int n, int k, bool trans_a, bool trans_b, bool relu, const float* a, const float* b,
                            const float* bias, float* c) {
  matmul(m, n, k, trans_a, trans_b, a, b, c);
  bias_epilogue_parallel(m, n, bias, relu, c);
}

void relu_backward_bias_grad(int64_t rows, int channels, const float* y, const float* dy, float* dx, float* dbias) {
  constexpr int kChannelBlock = 256;
  for (int block = 0; block < channels; block += kChannelBlock) {
    const int width = std::min(kChannelBlock, channels - block);
    double total[kChannelBlock];
    float partial[kChannelBlock];
    for (int i = 0; i < width; ++i) total[i] = 0.0, partial[i] = 0.0f;
    for (int64_t row = 0; row < rows; ++row) {
      const int64_t offset = row * channels + block;
      const float* __restrict y_row = y + offset;
      const float* __restrict dy_row = dy + offset;
      float* dx_row = dx + offset;  // may alias dy_row: each element is read before it is written
      float* __restrict sums = partial;
      for (int i = 0; i < width; ++i) {
        const float gradient = dy_row[i];
        const float kept = y_row[i] > 0.0f ? gradient : 0.0f;
        dx_row[i] = kept;
        sums[i] += kept;
      }
      if ((row + 1) % kRowBlock == 0 || row + 1 == rows) {
        for (int i = 0; i < width; ++i) total[i] += static_cast<double>(partial[i]), partial[i] = 0.0f;
      }
    }
    for (int i = 0; i < width; ++i) dbias[block + i] = static_cast<float>(total[i]);
  }
}

}  // namespace convkit
