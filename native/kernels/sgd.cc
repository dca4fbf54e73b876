// SGD with momentum and weight decay, PyTorch semantics (dampening 0, no Nesterov).
#include "kernels.h"

namespace convkit {

void sgd_momentum(int64_t size, float* param, const float* grad, float* velocity, const float* hyper) {
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
    param_data[index] -= learning_rate * new_velocity;
  }
}

}  // namespace convkit
