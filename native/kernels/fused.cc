// Fused epilogues: a layer's bias and relu applied to its convolution or matmul output
// while that is still in cache (the conv paths call bias_activation_rows on each part they
// finish, or apply it as they scatter their tiles), and relu's gradient taken with the
// bias gradient in one pass. Unfused, each was a separate pass over a tensor that had
// left the cache: for ConvNet-M's 32x32x32 activations, four extra trips through memory
// per layer and step.
#include <algorithm>

#include "kernels.h"
#include "parallel.h"

namespace convkit {
namespace {

// Rows summed in float before the bias gradient's sum moves to double (as batch_norm.cc).
constexpr int64_t kRowBlock = 64;

// The epilogue over rows [0, rows) of y, split over the threads by rows.
void bias_epilogue_parallel(int64_t rows, int channels, const float* bias, bool relu, float* y) {
  parallel_for(rows, [&](int64_t begin, int64_t end) {
    bias_activation_rows(end - begin, channels, bias, relu, y + begin * channels);
  });
}

}  // namespace

void bias_activation_rows(int64_t rows, int channels, const float* __restrict bias, bool relu, float* __restrict y) {
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

void conv2d_bias_activation(const Conv2dShape& s, bool relu, const float* x, const float* w, const float* bias,
                            float* y) {
  conv2d_forward(s, x, w, y, ConvEpilogue{bias, relu});
}

void matmul_bias_activation(int m, int n, int k, bool trans_a, bool trans_b, bool relu, const float* a, const float* b,
                            const float* bias, float* c) {
  matmul(m, n, k, trans_a, trans_b, a, b, c);
  bias_epilogue_parallel(m, n, bias, relu, c);
}

namespace {

constexpr int kMaxRun = 256;

// Rows [row_begin, row_end) of channels [block, block + width): dx, and the column sums
// into total[0, width). Rows go in groups of `fold` whose channels are summed as one flat
// run of fold * channels floats (folded back to channels at each flush): with 6 channels
// a per-row loop of 6 does not vectorise, a run of 66 does.
void relu_backward_bias_rows(int64_t row_begin, int64_t row_end, int channels, int block, int width, int fold,
                             const float* y, const float* dy, float* dx, double* total) {
  const int64_t span = fold == 1 ? width : static_cast<int64_t>(fold) * channels;  // floats summed per step
  float partial[kMaxRun + 64];
  // Flushes add each partial into its own double (position i of the run), folded to
  // channels once at the end: a fold per flush cost an integer division per float, which
  // made this pass four times slower than its memory traffic on 6 channels.
  double span_total[kMaxRun + 64];
  for (int64_t i = 0; i < span; ++i) partial[i] = 0.0f, span_total[i] = 0.0;
  int64_t row = row_begin;
  int64_t since_flush = 0;
  for (; row + fold <= row_end; row += fold) {
    const int64_t offset = row * channels + block;
    const float* __restrict y_run = y + offset;
    const float* __restrict dy_run = dy + offset;
    float* dx_run = dx + offset;  // may alias dy_run: each element is read before it is written
    float* __restrict sums = partial;
    for (int64_t i = 0; i < span; ++i) {
      const float gradient = dy_run[i];
      const float kept = y_run[i] > 0.0f ? gradient : 0.0f;
      dx_run[i] = kept;
      sums[i] += kept;
    }
    if ((since_flush += fold) >= kRowBlock) {
      for (int64_t i = 0; i < span; ++i) span_total[i] += static_cast<double>(partial[i]), partial[i] = 0.0f;
      since_flush = 0;
    }
  }
  for (; row < row_end; ++row) {  // the rows left over from whole groups, one at a time
    const int64_t offset = row * channels + block;
    for (int i = 0; i < width; ++i) {
      const float gradient = dy[offset + i];
      const float kept = y[offset + i] > 0.0f ? gradient : 0.0f;
      dx[offset + i] = kept;
      partial[i] += kept;
    }
  }
  for (int i = 0; i < width; ++i) total[i] = 0.0;
  for (int64_t i = 0; i < span; ++i) total[i % width] += span_total[i] + static_cast<double>(partial[i]);
}

}  // namespace

void relu_backward_bias_grad(int64_t rows, int channels, const float* y, const float* dy, float* dx, float* dbias) {
  const int fold = channels >= kMaxRun ? 1 : std::max(1, 64 / channels);
  for (int block = 0; block < channels; block += kMaxRun) {
    const int width = std::min(kMaxRun, channels - block);
    // Fixed row chunks (parallel.h), added in order: dbias has the same bits on any thread count.
    double chunk_totals[kFixedChunks][kMaxRun];
    for_fixed_chunks(rows, kFixedChunks, [&](int64_t chunk, int64_t row_begin, int64_t row_end) {
      relu_backward_bias_rows(row_begin, row_end, channels, block, width, fold, y, dy, dx, chunk_totals[chunk]);
    });
    for (int i = 0; i < width; ++i) {
      double total = 0.0;
      for (int chunk = 0; chunk < kFixedChunks; ++chunk) total += chunk_totals[chunk][i];
      dbias[block + i] = static_cast<float>(total);
    }
  }
}

}  // namespace convkit
