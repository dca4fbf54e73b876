// matmul: c[m,n] = op(a) * op(b). Loop orders keep the innermost loop on contiguous memory.
#include "kernels.h"

namespace convkit {

namespace {

// c_row[j] += scale * b_row[j] for j in [0, n): the contiguous update g++ vectorises.
inline void axpy_row(int n, float scale, const float* __restrict b_row, float* __restrict c_row) {
  for (int j = 0; j < n; ++j) c_row[j] += scale * b_row[j];
}

}  // namespace

void matmul(int m, int n, int k, bool trans_a, bool trans_b, const float* a, const float* b, float* c) {
  const float* __restrict a_data = a;
  const float* __restrict b_data = b;
  float* __restrict c_data = c;
  const int64_t row_len = n;

  if (!trans_b) {
    // b is [k,n]: c[i,:] = sum_p op(a)[i,p] * b[p,:], one contiguous axpy per (i, p).
    // op(a)[i,p] is a[i*k + p] when a is [m,k], a[p*m + i] when a is stored [k,m].
    const int64_t a_row_step = trans_a ? 1 : k;
    const int64_t a_col_step = trans_a ? m : 1;
    for (int i = 0; i < m; ++i) {
      float* c_row = c_data + i * row_len;
      for (int j = 0; j < n; ++j) c_row[j] = 0.0f;
      const float* a_start = a_data + i * a_row_step;
      for (int p = 0; p < k; ++p) {
        const float a_value = a_start[p * a_col_step];
        axpy_row(n, a_value, b_data + p * row_len, c_row);
      }
    }
    return;
  }

  // b is stored [n,k]: c[i,j] = sum_p op(a)[i,p] * b[j,p], a dot product contiguous in b.
  if (!trans_a) {
    // Both a[i,:] and b[j,:] are contiguous rows of length k.
    for (int i = 0; i < m; ++i) {
      const float* a_row = a_data + static_cast<int64_t>(i) * k;
      float* c_row = c_data + i * row_len;
      for (int j = 0; j < n; ++j) {
        const float* b_row = b_data + static_cast<int64_t>(j) * k;
        float sum = 0.0f;
        for (int p = 0; p < k; ++p) sum += a_row[p] * b_row[p];
        c_row[j] = sum;
      }
    }
    return;
  }

  // a stored [k,m], b stored [n,k]: c[i,j] = sum_p a[p,i] * b[j,p]. Contiguous in b; the
  // strided column a[:,i] is reused for every j, so it stays in cache.
  for (int i = 0; i < m; ++i) {
    const float* a_col = a_data + i;
    float* c_row = c_data + i * row_len;
    for (int j = 0; j < n; ++j) {
      const float* b_row = b_data + static_cast<int64_t>(j) * k;
      float sum = 0.0f;
      for (int p = 0; p < k; ++p) sum += a_col[p * static_cast<int64_t>(m)] * b_row[p];
      c_row[j] = sum;
    }
  }
}

}  // namespace convkit
