// Shared by the standalone C++ kernel tests: PASS/FAIL lines, counts, and the normwise
// relative error that every reference comparison uses. Each test is its own executable,
// so the counters live here once per program.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

namespace convkit_test {

inline int passed_count = 0;
inline int failed_count = 0;

inline void record(const std::string& name, bool ok, const std::string& detail) {
  if (ok) {
    ++passed_count;
  } else {
    ++failed_count;
  }
  std::printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.empty() ? "" : " ", detail.c_str());
}

inline void check_true(const std::string& name, bool condition) { record(name, condition, ""); }

// Normwise relative error: max |got - want| / max |want| (floored at 1e-12 for all-zero
// references). NaN or a length mismatch counts as an infinite error.
inline double relative_error(const std::vector<float>& got, const std::vector<double>& want) {
  if (got.size() != want.size()) return std::numeric_limits<double>::infinity();
  double max_difference = 0.0;
  double max_magnitude = 1e-12;
  for (size_t i = 0; i < got.size(); ++i) {
    const double difference = std::fabs(static_cast<double>(got[i]) - want[i]);
    if (!(difference <= std::numeric_limits<double>::max())) return std::numeric_limits<double>::infinity();
    max_difference = std::max(max_difference, difference);
    max_magnitude = std::max(max_magnitude, std::fabs(want[i]));
  }
  return max_difference / max_magnitude;
}

}  // namespace convkit_test
