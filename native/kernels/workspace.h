// Per-thread scratch memory for kernels: one buffer per slot and thread, grown on first
// use and kept, so a kernel allocates nothing in steady state.
#pragma once

#include <cstddef>

namespace convkit {

enum class WorkspaceSlot : int {
  kGemmPackedA,
  kGemmPackedB,
  kConvColumns,   // im2col rows of one chunk
  kConvPartials,  // per-thread partial filter gradients
  kConvWeights,   // conv weights packed once per call for the GEMM, shared by all threads
  kConvGradientPanels,  // one image's output gradient in micro-kernel panels
  kConvBias,            // a conv's bias padded for a micro-kernel epilogue, shared by all threads
  kCount
};

// A 64-byte aligned buffer of at least `floats` floats, owned by the calling thread; its
// contents are undefined. nullptr when memory runs out: callers then take a path that
// needs no workspace.
float* thread_workspace(WorkspaceSlot slot, size_t floats);

}  // namespace convkit
