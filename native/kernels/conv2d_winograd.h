// 3x3 stride-1 conv2d by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, 2016):
// each 2x2 block of output pixels is A^T [sum over ci of (G g G^T) . (B^T d B)] A, where d
// is the 4x4 input patch under the block and g a 3x3 filter. The 16 products per channel
// pair replace the direct form's 36 (2.25x fewer multiply-adds); the transforms are
// additions only, and G's halves are exact in float.
//
// Tiles are processed in blocks of a few dozen: the block's input transforms V[16][tile][ci],
// then, for each of the 16 elements, one GEMM V[xi] (tiles x c) times the transformed
// filter U[xi] (c x oc) with the sgemm micro-kernel, then the output transforms (with the
// bias and relu epilogue). A block's V and M stay in L2. Every tile is computed the same
// way whichever thread takes its block, so every thread count gives the same bits.
//
// The input gradient of a 3x3 stride-1 conv is a 3x3 stride-1 conv of dy (conv2d_stride1.h),
// so it takes the same path with the filter rotated and its channel axes swapped.
// AVX-512 only: the transforms are in native/kernels/avx512/conv_winograd.cc.
#pragma once

#include "kernels.h"

namespace convkit {

// Whether the Winograd path handles `s` and measured faster there: AVX-512 active, a 3x3
// kernel, stride 1, no dilation, no groups, and enough channels on both sides of the GEMM
// (c and oc for the forward pass; oc and c for the input gradient).
bool conv_forward_winograd_preferred(const Conv2dShape& s);
bool conv_backward_input_winograd_preferred(const Conv2dShape& s);
// The filter gradient: x's tiles transformed as in the forward pass, dy's 2x2 blocks by
// D = A dY A^T, and dU[xi] = sum over tiles of D[xi]^T V[xi] (output channels by input
// channels) in a fixed number of chunks summed in order; dw = G^T dU G. Taken from 16
// input channels with at most a quarter of the last 32-wide panel padding, output channels
// that fill the micro-kernel's 14-row tiles to within an eighth (28, 64, 70, 128, ...),
// and while the chunk partials stay small.
bool conv_backward_filter_winograd_preferred(const Conv2dShape& s);

// Same contracts as conv2d_forward and conv2d_backward_input, for shapes that pass the
// predicates above. They return false when their workspace cannot be allocated, with the
// output possibly part written; the caller then computes all of it on another path. A
// FiniteCheck given is covered when they return true: each image is checked by the block
// that holds its first tile.
bool conv2d_forward_winograd(const Conv2dShape& s, const float* x, const float* w, float* y,
                             const ConvEpilogue& epilogue, FiniteCheck* x_check);
bool conv2d_backward_input_winograd(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                    FiniteCheck* dy_check);
bool conv2d_backward_filter_winograd(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                     FiniteCheck* x_check, FiniteCheck* dy_check);

}  // namespace convkit
