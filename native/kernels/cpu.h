// Run-time CPU feature detection and the instruction-set choice, made once per process.
// Per-ISA micro-kernels are compiled with their own flags; nothing may call one unless
// isa_supported() says the CPU and the OS (register state saved on context switch) allow it.
#pragma once

namespace convkit {

enum class Isa : int { kScalar = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3 };

// "scalar", "avx2", "avx512", "neon".
const char* isa_name(Isa isa);

// True when this build contains the ISA's kernels and the CPU and OS can run them.
bool isa_supported(Isa isa);

// The best supported ISA, unless CONVKIT_ISA=scalar|avx2|avx512|neon forces another; an
// unknown or unsupported value falls back to the best one with a note on stderr.
Isa active_isa();
const char* active_isa_name();

}  // namespace convkit
