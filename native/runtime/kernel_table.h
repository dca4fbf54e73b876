// The list of kernels the runtime can run, in the id order of lib/backend/kernels.ts,
// with the checks that every call passes before it touches memory.
#pragma once

#include <cstdint>
#include <string>

namespace convkit {

constexpr int kMaxKernelBuffers = 10;
constexpr int kMaxKernelInts = 24;
constexpr int kMaxKernelFloats = 4;

struct KernelInfo {
  const char* name;
  int num_buffers;
  int num_ints;
  int num_floats;
  // Bit i set when buffer i is read; eager calls scan those for NaN and Infinity.
  unsigned input_mask;
  const char* buffer_names[kMaxKernelBuffers];
  // Inputs (a subset of input_mask) the kernel can check itself as it reads them (see
  // FiniteCheck in kernels.h). Only kernels whose control flow never depends on input
  // values are listed: they may run on a NaN before the call reports it.
  unsigned checked_while_running = 0;
};

int kernel_count();
const KernelInfo& kernel_info(int id);

struct CheckResult {
  // Empty when the call is valid; otherwise "E_ARG" or "E_SHAPE".
  std::string code;
  std::string message;
  bool ok() const { return code.empty(); }
};

// Validates the integer parameters of kernel `id` and that buffer i holds exactly the
// number of elements the parameters imply.
CheckResult check_kernel_call(int id, const int64_t* buffer_lengths, int num_buffers, const int32_t* ints, int num_ints,
                              int num_floats);

struct FiniteCheck;  // kernels.h

// Runs a call that check_kernel_call accepted. checks, when not null, has
// kMaxKernelBuffers entries: those of the inputs in checked_while_running are handed to
// the kernel, and say afterwards whether it checked that input and what it saw.
void run_kernel(int id, float* const* buffers, const int32_t* ints, const float* floats,
                FiniteCheck* checks = nullptr);

}  // namespace convkit
