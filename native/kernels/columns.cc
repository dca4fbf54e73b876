// Column blocks of a row-major matrix: concatenate along the last axis writes each input's
// columns into its slice of y (scatter_columns); its gradient reads them back (gather_columns).
#include "kernels.h"

namespace convkit {

namespace {

inline void copy(int count, const float* __restrict src, float* __restrict dst) {
  for (int i = 0; i < count; ++i) dst[i] = src[i];
}

}  // namespace

// y[r, offset + j] = x[r, j] for j < width; the other columns of y are left as they are.
void scatter_columns(int64_t rows, int width, int y_width, int offset, const float* x, float* y) {
  for (int64_t row = 0; row < rows; ++row) copy(width, x + row * width, y + row * y_width + offset);
}

// x[r, j] = y[r, offset + j] for j < width.
void gather_columns(int64_t rows, int width, int y_width, int offset, const float* y, float* x) {
  for (int64_t row = 0; row < rows; ++row) copy(width, y + row * y_width + offset, x + row * width);
}

}  // namespace convkit
