#include "plan.h"

#include <cstring>
#include <string>

namespace convkit {
namespace {

CheckResult format_error(const std::string& message) { return CheckResult{"E_FORMAT", "plan program: " + message}; }

}  // namespace

CheckResult Plan::build(const int32_t* program, int64_t length, float* state, int64_t state_length, float* work,
                        int64_t work_length) {
  instructions_.clear();
  if (length < 3 || program[0] != kPlanMagic) return format_error("missing header or wrong magic");
  const int32_t num_buffers = program[1];
  const int32_t num_instructions = program[2];
  if (num_buffers < 0 || num_instructions < 0) return format_error("negative counts in header");
  int64_t pos = 3;
  if (pos + int64_t{num_buffers} * 3 > length) return format_error("buffer table runs past the end");

  struct BufferRef {
    float* data;
    int64_t length;
  };
  std::vector<BufferRef> buffers(num_buffers);
  for (int32_t i = 0; i < num_buffers; ++i) {
    const int32_t space = program[pos], offset = program[pos + 1], count = program[pos + 2];
    pos += 3;
    float* base = space == 0 ? state : space == 1 ? work : nullptr;
    const int64_t limit = space == 0 ? state_length : work_length;
    if (base == nullptr) return format_error("buffer " + std::to_string(i) + " names unknown space " + std::to_string(space));
    if (offset < 0 || count < 1 || int64_t{offset} + count > limit)
      return format_error("buffer " + std::to_string(i) + " [" + std::to_string(offset) + ", +" + std::to_string(count) +
                          ") lies outside its space of " + std::to_string(limit) + " elements");
    buffers[i] = BufferRef{base + offset, count};
  }

  // Each instruction takes at least 4 words; checking that first keeps a hostile count from
  // reserving gigabytes.
  if (int64_t{num_instructions} * 4 > length - pos) return format_error("more instructions than the program can hold");
  instructions_.reserve(num_instructions);
  for (int32_t i = 0; i < num_instructions; ++i) {
    if (pos + 4 > length) return format_error("instruction " + std::to_string(i) + " runs past the end");
    PlanInstruction instr{};
    instr.kernel = program[pos];
    const int32_t nb = program[pos + 1], ni = program[pos + 2], nf = program[pos + 3];
    pos += 4;
    if (instr.kernel < 0 || instr.kernel >= kernel_count())
      return format_error("instruction " + std::to_string(i) + " has unknown kernel id " + std::to_string(instr.kernel));
    if (nb < 0 || nb > kMaxKernelBuffers || ni < 0 || ni > kMaxKernelInts || nf < 0 || nf > kMaxKernelFloats ||
        pos + nb + ni + nf > length)
      return format_error("instruction " + std::to_string(i) + " has bad argument counts");
    int64_t lengths[kMaxKernelBuffers] = {0, 0, 0, 0};
    for (int32_t b = 0; b < nb; ++b) {
      const int32_t id = program[pos + b];
      if (id < 0 || id >= num_buffers)
        return format_error("instruction " + std::to_string(i) + " names unknown buffer " + std::to_string(id));
      instr.buffers[b] = buffers[id].data;
      lengths[b] = buffers[id].length;
    }
    pos += nb;
    std::memcpy(instr.ints, program + pos, sizeof(int32_t) * ni);
    pos += ni;
    std::memcpy(instr.floats, program + pos, sizeof(float) * nf);
    pos += nf;
    CheckResult check = check_kernel_call(instr.kernel, lengths, nb, instr.ints, ni, nf);
    if (!check.ok()) {
      check.message = "plan instruction " + std::to_string(i) + ": " + check.message;
      return check;
    }
    instructions_.push_back(instr);
  }
  if (pos != length) return format_error("trailing data after the last instruction");
  return CheckResult{};
}

void Plan::run(int begin, int end) const {
  for (int i = begin; i < end; ++i) {
    const PlanInstruction& instr = instructions_[i];
    run_kernel(instr.kernel, instr.buffers, instr.ints, instr.floats);
  }
}

}  // namespace convkit
