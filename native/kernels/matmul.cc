// matmul: c[m,n] = op(a) * op(b), through the packed, threaded SGEMM.
#include "gemm.h"
#include "kernels.h"

namespace convkit {

void matmul(int m, int n, int k, bool trans_a, bool trans_b, const float* a, const float* b, float* c,
            FiniteCheck* a_check, FiniteCheck* b_check) {
  // a is [m,k] (or [k,m] when trans_a), b is [k,n] (or [n,k] when trans_b), all dense.
  sgemm_checking_inputs(m, n, k, a, trans_a ? m : k, trans_a, b, trans_b ? k : n, trans_b, c, n, a_check, b_check);
  // With an empty dimension the GEMM reads nothing, and the caller scans instead.
  if (m > 0 && n > 0 && k > 0) {
    if (a_check != nullptr) a_check->covered = true;
    if (b_check != nullptr) b_check->covered = true;
  }
}

}  // namespace convkit
