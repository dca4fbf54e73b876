// Activations (relu, leakyRelu, elu, gelu, sigmoid, tanh) and their gradients, row-wise
// softmax and its gradient, and elementwise mul. Each activation is its own loop, chosen
// once per call, so the per-element body has no switch.
#include <cmath>

#include "kernels.h"

namespace convkit {

namespace {

constexpr double kInverseSqrt2 = 0.70710678118654752440;
constexpr double kInverseSqrt2Pi = 0.39894228040143267794;

// Stable logistic: exp is only ever taken of -|x|, so it never overflows.
inline float stable_sigmoid(float value) {
  const float e = std::exp(-std::fabs(value));
  const float ratio = 1.0f / (1.0f + e);
  return value >= 0.0f ? ratio : e * ratio;
}

// Exact gelu, x * Phi(x), with Phi(x) = 0.5 * erfc(-x / sqrt(2)): the same function as
// 0.5 * x * (1 + erf(x / sqrt(2))) without its cancellation for negative x. In double.
inline float gelu(float value) {
  const double v = static_cast<double>(value);
  return static_cast<float>(0.5 * v * std::erfc(-v * kInverseSqrt2));
}

// d/dx gelu = Phi(x) + x * phi(x).
inline double gelu_derivative(float value) {
  const double v = static_cast<double>(value);
  return 0.5 * std::erfc(-v * kInverseSqrt2) + v * kInverseSqrt2Pi * std::exp(-0.5 * v * v);
}

}  // namespace

// y may alias x: each element is read before it is written, and neither pointer is restrict.
void activation_forward(int64_t size, ActivationKind kind, float alpha, const float* x, float* y) {
  switch (kind) {
    case ActivationKind::kRelu:
      for (int64_t i = 0; i < size; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
      return;
    case ActivationKind::kLeakyRelu:
      for (int64_t i = 0; i < size; ++i) y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
      return;
    case ActivationKind::kElu:
      // expm1 is exp(x) - 1 without its cancellation near 0.
      for (int64_t i = 0; i < size; ++i) y[i] = x[i] > 0.0f ? x[i] : alpha * std::expm1(x[i]);
      return;
    case ActivationKind::kGelu:
      for (int64_t i = 0; i < size; ++i) y[i] = gelu(x[i]);
      return;
    case ActivationKind::kSigmoid:
      for (int64_t i = 0; i < size; ++i) y[i] = stable_sigmoid(x[i]);
      return;
    case ActivationKind::kTanh:
      for (int64_t i = 0; i < size; ++i) y[i] = std::tanh(x[i]);
      return;
  }
}

// Derivatives are taken from x wherever y would lose them: 1 - y^2 and y * (1 - y) round to
// 0 once y saturates to +-1 or 1, while the x forms keep the exponentially small value.
void activation_backward(int64_t size, ActivationKind kind, float alpha, const float* x, const float* y,
                         const float* dy, float* dx) {
  const float* __restrict x_data = x;
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  (void)y;  // every derivative below is computed from x
  switch (kind) {
    case ActivationKind::kRelu:
      // At exactly 0 the x <= 0 branch: no gradient.
      for (int64_t i = 0; i < size; ++i) dx_data[i] = x_data[i] > 0.0f ? dy_data[i] : 0.0f;
      return;
    case ActivationKind::kLeakyRelu:
      for (int64_t i = 0; i < size; ++i) dx_data[i] = x_data[i] > 0.0f ? dy_data[i] : alpha * dy_data[i];
      return;
    case ActivationKind::kElu:
      // alpha * exp(x) for x <= 0 (not y + alpha, which cancels as y approaches -alpha).
      for (int64_t i = 0; i < size; ++i) {
        dx_data[i] = x_data[i] > 0.0f ? dy_data[i] : dy_data[i] * (alpha * std::exp(x_data[i]));
      }
      return;
    case ActivationKind::kGelu:
      for (int64_t i = 0; i < size; ++i) {
        dx_data[i] = static_cast<float>(static_cast<double>(dy_data[i]) * gelu_derivative(x_data[i]));
      }
      return;
    case ActivationKind::kSigmoid:
      // sigmoid' = e / (1 + e)^2 with e = exp(-|x|), symmetric in x.
      for (int64_t i = 0; i < size; ++i) {
        const float e = std::exp(-std::fabs(x_data[i]));
        const float ratio = 1.0f / (1.0f + e);
        dx_data[i] = dy_data[i] * (e * ratio * ratio);
      }
      return;
    case ActivationKind::kTanh:
      // tanh' = 1 - tanh^2 = 4e / (1 + e)^2 with e = exp(-2|x|), symmetric in x.
      for (int64_t i = 0; i < size; ++i) {
        const float e = std::exp(-2.0f * std::fabs(x_data[i]));
        const float ratio = 1.0f / (1.0f + e);
        dx_data[i] = dy_data[i] * (4.0f * e * ratio * ratio);
      }
      return;
  }
}

void softmax_forward(int rows, int classes, const float* x, float* y) {
  const float* __restrict x_data = x;
  float* __restrict y_data = y;
  for (int row = 0; row < rows; ++row) {
    const float* x_row = x_data + static_cast<int64_t>(row) * classes;
    float* y_row = y_data + static_cast<int64_t>(row) * classes;
    // Subtracting the row maximum keeps every exp() in (0, 1]: no overflow.
    float row_max = x_row[0];
    for (int k = 1; k < classes; ++k) row_max = x_row[k] > row_max ? x_row[k] : row_max;
    double exp_sum = 0.0;
    for (int k = 0; k < classes; ++k) {
      const double shifted_exp = std::exp(static_cast<double>(x_row[k]) - row_max);
      y_row[k] = static_cast<float>(shifted_exp);
      exp_sum += shifted_exp;
    }
    const double inverse_sum = 1.0 / exp_sum;
    for (int k = 0; k < classes; ++k) y_row[k] = static_cast<float>(y_row[k] * inverse_sum);
  }
}

void softmax_backward(int rows, int classes, const float* y, const float* dy, float* dx) {
  const float* __restrict y_data = y;
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  for (int row = 0; row < rows; ++row) {
    const int64_t offset = static_cast<int64_t>(row) * classes;
    const float* y_row = y_data + offset;
    const float* dy_row = dy_data + offset;
    float* dx_row = dx_data + offset;
    double dot = 0.0;
    for (int k = 0; k < classes; ++k) dot += static_cast<double>(dy_row[k]) * y_row[k];
    for (int k = 0; k < classes; ++k) {
      dx_row[k] = static_cast<float>(static_cast<double>(y_row[k]) * (static_cast<double>(dy_row[k]) - dot));
    }
  }
}

// y may alias a or b.
void mul(int64_t size, const float* a, const float* b, float* y) {
  for (int64_t index = 0; index < size; ++index) y[index] = a[index] * b[index];
}

}  // namespace convkit
