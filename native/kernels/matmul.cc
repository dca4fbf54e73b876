// matmul: c[m,n] = op(a) * op(b), through the packed, threaded SGEMM.
#include "gemm.h"
#include "kernels.h"

namespace convkit {

void matmul(int m, int n, int k, bool trans_a, bool trans_b, const float* a, const float* b, float* c) {
  // a is [m,k] (or [k,m] when trans_a), b is [k,n] (or [n,k] when trans_b), all dense.
  sgemm(m, n, k, a, trans_a ? m : k, trans_a, b, trans_b ? k : n, trans_b, c, n, false);
}

}  // namespace convkit
