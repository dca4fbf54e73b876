// Losses with their gradients: dense-target softmax cross-entropy, binary cross-entropy on
// logits, mean squared error and smooth L1. Each writes loss[0] (the mean, summed in double)
// and the gradient of that mean with respect to the prediction. Per-element arithmetic is in
// double and rounded once to float.
#include <cmath>

#include "kernels.h"

namespace convkit {

void softmax_cross_entropy_dense(int rows, int classes, const float* logits, const float* targets, float* loss,
                                 float* dlogits) {
  const float* __restrict logits_data = logits;
  const float* __restrict targets_data = targets;
  float* __restrict dlogits_data = dlogits;
  const double row_count = static_cast<double>(rows);

  double loss_sum = 0.0;
  for (int row = 0; row < rows; ++row) {
    const int64_t offset = static_cast<int64_t>(row) * classes;
    const float* z = logits_data + offset;
    const float* t = targets_data + offset;
    float* grad = dlogits_data + offset;

    // Subtracting the row maximum keeps every exp() in (0, 1]: no overflow.
    float row_max = z[0];
    for (int k = 1; k < classes; ++k) row_max = z[k] > row_max ? z[k] : row_max;
    double exp_sum = 0.0;
    double target_sum = 0.0;
    for (int k = 0; k < classes; ++k) {
      exp_sum += std::exp(static_cast<double>(z[k]) - row_max);
      target_sum += static_cast<double>(t[k]);
    }
    const double log_sum = std::log(exp_sum);

    // -sum_k t_k log softmax_k, with -log softmax_k = log(sum exp(z - max)) - (z_k - max).
    double row_loss = 0.0;
    for (int k = 0; k < classes; ++k) {
      const double shifted = static_cast<double>(z[k]) - row_max;
      row_loss += static_cast<double>(t[k]) * (log_sum - shifted);
      const double probability = std::exp(shifted) / exp_sum;
      grad[k] = static_cast<float>((probability * target_sum - static_cast<double>(t[k])) / row_count);
    }
    loss_sum += row_loss;
  }
  loss[0] = static_cast<float>(loss_sum / row_count);
}

void sigmoid_cross_entropy(int64_t size, const float* logits, const float* targets, float* loss, float* dlogits) {
  const float* __restrict logits_data = logits;
  const float* __restrict targets_data = targets;
  float* __restrict dlogits_data = dlogits;
  const double count = static_cast<double>(size);

  double loss_sum = 0.0;
  for (int64_t i = 0; i < size; ++i) {
    const double z = static_cast<double>(logits_data[i]);
    const double t = static_cast<double>(targets_data[i]);
    // exp only of -|z|: no overflow for any finite logit.
    const double e = std::exp(-std::fabs(z));
    loss_sum += (z > 0.0 ? z : 0.0) - z * t + std::log1p(e);
    const double sigmoid = z >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
    dlogits_data[i] = static_cast<float>((sigmoid - t) / count);
  }
  loss[0] = static_cast<float>(loss_sum / count);
}

void mean_squared_error(int64_t size, const float* pred, const float* targets, float* loss, float* dpred) {
  const float* __restrict pred_data = pred;
  const float* __restrict targets_data = targets;
  float* __restrict dpred_data = dpred;
  const double count = static_cast<double>(size);

  double loss_sum = 0.0;
  for (int64_t i = 0; i < size; ++i) {
    const double difference = static_cast<double>(pred_data[i]) - static_cast<double>(targets_data[i]);
    loss_sum += difference * difference;
    dpred_data[i] = static_cast<float>(2.0 * difference / count);
  }
  loss[0] = static_cast<float>(loss_sum / count);
}

void smooth_l1(int64_t size, float beta, const float* pred, const float* targets, float* loss, float* dpred) {
  const float* __restrict pred_data = pred;
  const float* __restrict targets_data = targets;
  float* __restrict dpred_data = dpred;
  const double count = static_cast<double>(size);
  const double b = static_cast<double>(beta);

  double loss_sum = 0.0;
  for (int64_t i = 0; i < size; ++i) {
    const double difference = static_cast<double>(pred_data[i]) - static_cast<double>(targets_data[i]);
    const double magnitude = std::fabs(difference);
    double slope;
    if (magnitude < b) {
      loss_sum += 0.5 * difference * difference / b;
      slope = difference / b;
    } else {
      loss_sum += magnitude - 0.5 * b;
      slope = difference > 0.0 ? 1.0 : (difference < 0.0 ? -1.0 : 0.0);
    }
    dpred_data[i] = static_cast<float>(slope / count);
  }
  loss[0] = static_cast<float>(loss_sum / count);
}

}  // namespace convkit
