// A compiled plan: a flat list of kernel calls over two buffer spaces (state: parameters,
// gradients, optimizer state; work: activations and inputs), decoded and checked once so
// that running it is one loop with no allocation. The encoding is written by
// lib/plan/program.ts.
#pragma once

#include <cstdint>
#include <vector>

#include "kernel_table.h"

namespace convkit {

constexpr int32_t kPlanMagic = 0x434b5031;  // "CKP1"

struct PlanInstruction {
  int kernel;
  float* buffers[kMaxKernelBuffers];
  int32_t ints[kMaxKernelInts];
  float floats[kMaxKernelFloats];
};

class Plan {
 public:
  // Decodes and checks `program` against the two spaces; on failure leaves the plan empty.
  CheckResult build(const int32_t* program, int64_t program_length, float* state, int64_t state_length, float* work,
                    int64_t work_length);
  int size() const { return static_cast<int>(instructions_.size()); }
  // Runs instructions [begin, end); the caller checks 0 <= begin <= end <= size().
  void run(int begin, int end) const;

 private:
  std::vector<PlanInstruction> instructions_;
};

}  // namespace convkit
