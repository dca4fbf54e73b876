// Softmax cross-entropy over rows of logits, with integer class labels stored as floats.
#include <cmath>

#include "kernels.h"

namespace convkit {

void softmax_cross_entropy(int rows, int classes, const float* logits, const float* labels, float* loss,
                           float* dlogits) {
  const float* __restrict logits_data = logits;
  const float* __restrict labels_data = labels;
  float* __restrict dlogits_data = dlogits;
  const float inverse_rows = 1.0f / static_cast<float>(rows);

  double loss_sum = 0.0;  // double: a sum over many rows loses precision in float
  for (int row = 0; row < rows; ++row) {
    const float* row_logits = logits_data + static_cast<int64_t>(row) * classes;
    float* row_grad = dlogits_data + static_cast<int64_t>(row) * classes;

    // Subtracting the row maximum keeps every exp() in (0, 1]: no overflow.
    float row_max = row_logits[0];
    for (int k = 1; k < classes; ++k) row_max = row_logits[k] > row_max ? row_logits[k] : row_max;

    double exp_sum = 0.0;
    for (int k = 0; k < classes; ++k) {
      const float shifted_exp = std::exp(row_logits[k] - row_max);
      row_grad[k] = shifted_exp;
      exp_sum += shifted_exp;
    }
    const float inverse_sum = static_cast<float>(1.0 / exp_sum);
    for (int k = 0; k < classes; ++k) row_grad[k] *= inverse_sum;

    // Only an integer label in [0, classes) may index; comparisons are false for NaN.
    const float label = labels_data[row];
    const bool label_valid = label >= 0.0f && label < static_cast<float>(classes) && std::floor(label) == label;
    if (label_valid) {
      const int label_index = static_cast<int>(label);
      // -log softmax[label] = log(sum exp(l - max)) - (l[label] - max)
      loss_sum += std::log(exp_sum) - (static_cast<double>(row_logits[label_index]) - row_max);
      row_grad[label_index] -= 1.0f;
    }
    for (int k = 0; k < classes; ++k) row_grad[k] *= inverse_rows;
  }
  loss[0] = static_cast<float>(loss_sum / rows);
}

}  // namespace convkit
