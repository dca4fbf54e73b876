#include "plan.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

namespace convkit {
namespace {

CheckResult format_error(const std::string& message) { return CheckResult{"E_FORMAT", "plan program: " + message}; }

// CONVKIT_PROFILE=1: plans time every instruction, and the process prints the totals per
// kernel and shape (its int arguments) to stderr at exit, largest first. A developer's
// tool for finding where a training step goes; off, it costs one branch per instruction.
struct ProfileEntry {
  double seconds = 0;
  int64_t calls = 0;
};

class PlanProfile {
 public:
  static PlanProfile* instance() {
    static PlanProfile* profile = [] {
      const char* flag = std::getenv("CONVKIT_PROFILE");
      if (flag == nullptr || flag[0] == '\0' || std::strcmp(flag, "0") == 0) return static_cast<PlanProfile*>(nullptr);
      PlanProfile* created = new PlanProfile();  // lives until exit, when it prints
      std::atexit([] { instance()->print(); });
      return created;
    }();
    return profile;
  }

  void add(const PlanInstruction& instr, double seconds) {
    const KernelInfo& info = kernel_info(instr.kernel);
    std::string key = info.name;
    key += '(';
    for (int i = 0; i < info.num_ints; ++i) key += (i ? "," : "") + std::to_string(instr.ints[i]);
    key += ')';
    std::lock_guard<std::mutex> lock(mutex_);
    ProfileEntry& entry = entries_[key];
    entry.seconds += seconds;
    entry.calls += 1;
  }

 private:
  void print() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::multimap<double, std::pair<std::string, ProfileEntry>, std::greater<double>> sorted;
    double total = 0;
    for (const auto& item : entries_) {
      sorted.emplace(item.second.seconds, item);
      total += item.second.seconds;
    }
    std::fprintf(stderr, "convkit plan profile: %.3f s in kernels\n%8s %8s %10s  %s\n", total, "share", "calls",
                 "ms/call", "kernel(ints)");
    for (const auto& item : sorted) {
      const ProfileEntry& entry = item.second.second;
      std::fprintf(stderr, "%7.2f%% %8lld %10.4f  %s\n", 100.0 * entry.seconds / total,
                   static_cast<long long>(entry.calls), 1e3 * entry.seconds / entry.calls, item.second.first.c_str());
    }
  }

  std::mutex mutex_;
  std::map<std::string, ProfileEntry> entries_;
};

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
    int64_t lengths[kMaxKernelBuffers] = {};
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
  if (PlanProfile* profile = PlanProfile::instance()) {
    for (int i = begin; i < end; ++i) {
      const PlanInstruction& instr = instructions_[i];
      const auto start = std::chrono::steady_clock::now();
      run_kernel(instr.kernel, instr.buffers, instr.ints, instr.floats);
      profile->add(instr, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return;
  }
  for (int i = begin; i < end; ++i) {
    const PlanInstruction& instr = instructions_[i];
    run_kernel(instr.kernel, instr.buffers, instr.ints, instr.floats);
  }
}

}  // namespace convkit
