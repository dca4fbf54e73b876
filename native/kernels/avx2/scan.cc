// AVX2 block check for find_non_finite (native/kernels/scan.cc): whether any of
// data[0, length) is NaN or infinity (an all-ones exponent). Compiled with -mavx2 -mfma
// only (native/sources.json); include nothing that could instantiate shared inline code.
#include <immintrin.h>

#include <cstdint>

namespace convkit {

bool any_non_finite__avx2(const float* data, int64_t length) {
  const __m256i exponent = _mm256_set1_epi32(0x7f800000);
  // Four independent ORs of (bits & exponent) == exponent, 32 floats per iteration: the
  // loads, not the integer ops, set the pace.
  __m256i any0 = _mm256_setzero_si256(), any1 = any0, any2 = any0, any3 = any0;
  int64_t i = 0;
  for (; i + 32 <= length; i += 32) {
    const __m256i v0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i));
    const __m256i v1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 8));
    const __m256i v2 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 16));
    const __m256i v3 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + i + 24));
    any0 = _mm256_or_si256(any0, _mm256_cmpeq_epi32(_mm256_and_si256(v0, exponent), exponent));
    any1 = _mm256_or_si256(any1, _mm256_cmpeq_epi32(_mm256_and_si256(v1, exponent), exponent));
    any2 = _mm256_or_si256(any2, _mm256_cmpeq_epi32(_mm256_and_si256(v2, exponent), exponent));
    any3 = _mm256_or_si256(any3, _mm256_cmpeq_epi32(_mm256_and_si256(v3, exponent), exponent));
  }
  const __m256i any = _mm256_or_si256(_mm256_or_si256(any0, any1), _mm256_or_si256(any2, any3));
  if (!_mm256_testz_si256(any, any)) return true;
  for (; i < length; ++i) {
    uint32_t bits;
    __builtin_memcpy(&bits, data + i, sizeof bits);
    if ((bits & 0x7f800000u) == 0x7f800000u) return true;
  }
  return false;
}

}  // namespace convkit
