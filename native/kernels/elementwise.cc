// Elementwise kernels: bias add and its gradient, relu and its gradient, add.
#include "kernels.h"

namespace convkit {

// y may alias x, so neither is restrict-qualified; each element is read before it is written.
void bias_add(int64_t rows, int channels, const float* x, const float* bias, float* y) {
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t row_offset = row * channels;
    const float* x_row = x + row_offset;
    float* y_row = y + row_offset;
    for (int channel = 0; channel < channels; ++channel) y_row[channel] = x_row[channel] + bias[channel];
  }
}

void bias_add_grad(int64_t rows, int channels, const float* dy, float* dbias) {
  const float* __restrict dy_data = dy;
  float* __restrict dbias_data = dbias;
  for (int channel = 0; channel < channels; ++channel) dbias_data[channel] = 0.0f;
  // Row by row keeps the reads of dy contiguous; dbias stays in cache.
  for (int64_t row = 0; row < rows; ++row) {
    const float* dy_row = dy_data + row * channels;
    for (int channel = 0; channel < channels; ++channel) dbias_data[channel] += dy_row[channel];
  }
}

// y may alias x.
void relu_forward(int64_t size, const float* x, float* y) {
  for (int64_t index = 0; index < size; ++index) {
    const float value = x[index];
    y[index] = value > 0.0f ? value : 0.0f;
  }
}

// Uses the forward output: y > 0 exactly where x > 0.
void relu_backward(int64_t size, const float* y, const float* dy, float* dx) {
  const float* __restrict y_data = y;
  const float* __restrict dy_data = dy;
  float* __restrict dx_data = dx;
  // Both loads unconditional: a select g++ vectorises. Loading dy only where y > 0 made it a
  // branch per element, mispredicted about half the time on real activations (4x slower).
  for (int64_t index = 0; index < size; ++index) {
    const float gradient = dy_data[index];
    dx_data[index] = y_data[index] > 0.0f ? gradient : 0.0f;
  }
}

// y may alias a or b.
void add(int64_t size, const float* a, const float* b, float* y) {
  for (int64_t index = 0; index < size; ++index) y[index] = a[index] + b[index];
}

}  // namespace convkit
