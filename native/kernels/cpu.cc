// CPU detection: cpuid plus XGETBV on x86-64 (the OS must enable YMM/ZMM state, not only
// the CPU have the units), getauxval(AT_HWCAP) on Linux arm64.
#include "cpu.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>

#if defined(__x86_64__) || defined(_M_X64)
#define CONVKIT_X86_64 1
#if defined(_MSC_VER)
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#elif defined(__aarch64__) || defined(_M_ARM64)
#define CONVKIT_ARM64 1
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMD
#define HWCAP_ASIMD (1 << 1)
#endif
#endif
#endif

namespace convkit {
namespace {

struct CpuFeatures {
  bool avx2_fma = false;  // AVX2 + FMA3, with YMM state enabled by the OS
  bool avx512 = false;    // AVX-512 F/BW/VL/DQ + FMA3, with ZMM and opmask state enabled
  bool neon = false;      // AdvSIMD with FMA (every arm64 CPU)
};

#if defined(CONVKIT_X86_64)
void cpuid(unsigned leaf, unsigned subleaf, unsigned regs[4]) {
#if defined(_MSC_VER)
  int out[4];
  __cpuidex(out, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) regs[i] = static_cast<unsigned>(out[i]);
#else
  __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
#endif
}

// XCR0: which register states the OS saves and restores (bit 1 SSE, 2 AVX, 5-7 AVX-512).
unsigned long long read_xcr0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
#endif
}

CpuFeatures detect() {
  CpuFeatures features;
  unsigned regs[4] = {0, 0, 0, 0};
  cpuid(0, 0, regs);
  const unsigned max_leaf = regs[0];
  if (max_leaf < 7) return features;

  cpuid(1, 0, regs);
  const bool fma = (regs[2] >> 12) & 1;
  const bool osxsave = (regs[2] >> 27) & 1;
  const bool avx = (regs[2] >> 28) & 1;
  if (!osxsave || !avx) return features;  // without OSXSAVE, XGETBV itself would fault
  const unsigned long long xcr0 = read_xcr0();
  const bool os_ymm = (xcr0 & 0x6) == 0x6;
  const bool os_zmm = os_ymm && (xcr0 & 0xe0) == 0xe0;

  cpuid(7, 0, regs);
  const unsigned ebx = regs[1];
  const bool avx2 = (ebx >> 5) & 1;
  const bool avx512f = (ebx >> 16) & 1, avx512dq = (ebx >> 17) & 1;
  const bool avx512bw = (ebx >> 30) & 1, avx512vl = (ebx >> 31) & 1;

  features.avx2_fma = os_ymm && avx2 && fma;
  features.avx512 = os_zmm && features.avx2_fma && avx512f && avx512dq && avx512bw && avx512vl;
  return features;
}
#elif defined(CONVKIT_ARM64)
CpuFeatures detect() {
  CpuFeatures features;
#if defined(__linux__)
  features.neon = (getauxval(AT_HWCAP) & HWCAP_ASIMD) != 0;
#else
  features.neon = true;  // AdvSIMD is part of the arm64 base architecture
#endif
  return features;
}
#else
CpuFeatures detect() { return CpuFeatures{}; }
#endif

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

// Whether this build compiled the ISA's kernels (see native/sources.json).
bool isa_compiled(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
#if defined(CONVKIT_X86_64)
    case Isa::kAvx2:
    case Isa::kAvx512:
      return true;
#endif
#if defined(CONVKIT_ARM64)
    case Isa::kNeon:
      return true;
#endif
    default:
      return false;
  }
}

Isa best_isa() {
  for (Isa isa : {Isa::kAvx512, Isa::kAvx2, Isa::kNeon}) {
    if (isa_supported(isa)) return isa;
  }
  return Isa::kScalar;
}

Isa choose_isa() {
  const Isa best = best_isa();
  const char* requested = std::getenv("CONVKIT_ISA");
  if (requested == nullptr || requested[0] == '\0') return best;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kNeon}) {
    if (std::strcmp(requested, isa_name(isa)) != 0) continue;
    if (isa_supported(isa)) return isa;
    std::fprintf(stderr, "convkit: CONVKIT_ISA=%s is not supported by this CPU, OS or build; using %s\n", requested,
                 isa_name(best));
    return best;
  }
  std::fprintf(stderr, "convkit: CONVKIT_ISA=%s is not one of scalar, avx2, avx512, neon; using %s\n", requested,
               isa_name(best));
  return best;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvx512:
      return "avx512";
    case Isa::kNeon:
      return "neon";
    case Isa::kScalar:
    default:
      return "scalar";
  }
}

bool isa_supported(Isa isa) {
  if (!isa_compiled(isa)) return false;
  const CpuFeatures& features = cpu_features();
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
      return features.avx2_fma;
    case Isa::kAvx512:
      return features.avx512;
    case Isa::kNeon:
      return features.neon;
    default:
      return false;
  }
}

Isa active_isa() {
  static const Isa isa = choose_isa();
  return isa;
}

const char* active_isa_name() { return isa_name(active_isa()); }

}  // namespace convkit
