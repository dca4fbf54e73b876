// Optimizer steps (SGD with Nesterov momentum, Adam/AdamW) and the global-norm clipping
// pair: sum_squares gives one buffer's squared norm, clip_by_global_norm scales a gradient
// by maxNorm / sqrt(sum of all squared norms) when that total exceeds maxNorm.
#include <cmath>

#include "kernels.h"

namespace convkit {

// PyTorch's Nesterov SGD (dampening 0): g = grad + wd * param; velocity = momentum *
// velocity + g; param -= lr * (g + momentum * velocity). hyper = [lr, momentum, weight_decay].
void sgd_nesterov(int64_t size, float* param, const float* grad, float* velocity, const float* hyper) {
  float* __restrict param_data = param;
  const float* __restrict grad_data = grad;
  float* __restrict velocity_data = velocity;
  const float learning_rate = hyper[0];
  const float momentum = hyper[1];
  const float weight_decay = hyper[2];
  for (int64_t index = 0; index < size; ++index) {
    const float decayed_grad = grad_data[index] + weight_decay * param_data[index];
    const float new_velocity = momentum * velocity_data[index] + decayed_grad;
    velocity_data[index] = new_velocity;
    param_data[index] -= learning_rate * (decayed_grad + momentum * new_velocity);
  }
}

// hyper = [lr, beta1, beta2, eps, weight_decay, decoupled, bias_correction1, bias_correction2],
// bias_correction_i = 1 - beta_i^step. decoupled == 0: Adam with L2 (g = grad + wd * param);
// otherwise AdamW (param *= 1 - lr * wd first, g = grad). eps is added after the bias
// correction of v, as PyTorch.
void adam(int64_t size, float* param, const float* grad, float* m, float* v, const float* hyper) {
  float* __restrict param_data = param;
  const float* __restrict grad_data = grad;
  float* __restrict m_data = m;
  float* __restrict v_data = v;
  const float learning_rate = hyper[0];
  const float beta1 = hyper[1];
  const float beta2 = hyper[2];
  const float eps = hyper[3];
  const float weight_decay = hyper[4];
  const bool decoupled = hyper[5] != 0.0f;
  const float bias_correction1 = hyper[6];
  const float bias_correction2 = hyper[7];
  const float one_minus_beta1 = 1.0f - beta1;
  const float one_minus_beta2 = 1.0f - beta2;
  // Decoupled decay multiplies the parameter; coupled decay adds to the gradient.
  const float param_scale = decoupled ? 1.0f - learning_rate * weight_decay : 1.0f;
  const float grad_decay = decoupled ? 0.0f : weight_decay;

  for (int64_t index = 0; index < size; ++index) {
    const float p = param_data[index];
    const float g = grad_data[index] + grad_decay * p;
    const float new_m = beta1 * m_data[index] + one_minus_beta1 * g;
    const float new_v = beta2 * v_data[index] + one_minus_beta2 * g * g;
    m_data[index] = new_m;
    v_data[index] = new_v;
    const float step = learning_rate * (new_m / bias_correction1) / (std::sqrt(new_v / bias_correction2) + eps);
    param_data[index] = p * param_scale - step;
  }
}

void sum_squares(int64_t size, const float* x, float* out) {
  const float* __restrict x_data = x;
  // Eight independent double partial sums: g++ may vectorise them without reassociating a
  // single accumulator, and double keeps the total accurate over millions of terms.
  constexpr int kLanes = 8;
  double lanes[kLanes] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
  int64_t index = 0;
  for (; index + kLanes <= size; index += kLanes) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const double value = static_cast<double>(x_data[index + lane]);
      lanes[lane] += value * value;
    }
  }
  double total = 0.0;
  for (; index < size; ++index) {
    const double value = static_cast<double>(x_data[index]);
    total += value * value;
  }
  for (int lane = 0; lane < kLanes; ++lane) total += lanes[lane];
  out[0] = static_cast<float>(total);
}

// total = sqrt(norms[0] + ... + norms[count-1]) (squared norms, summed in order in double);
// grad *= maxNorm / total when total > maxNorm, else grad is left unchanged.
void clip_by_global_norm(int count, int64_t size, float max_norm, const float* norms, float* grad) {
  double squared_total = 0.0;
  for (int index = 0; index < count; ++index) squared_total += static_cast<double>(norms[index]);
  const double total = std::sqrt(squared_total);
  if (!(total > static_cast<double>(max_norm))) return;
  const float scale = static_cast<float>(static_cast<double>(max_norm) / total);
  for (int64_t index = 0; index < size; ++index) grad[index] *= scale;
}

}  // namespace convkit
