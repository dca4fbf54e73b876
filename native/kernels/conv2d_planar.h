// Stride-1 conv2d for layers with few output channels, computed directly with vectors
// along output pixels (AVX-512 only): LeNet's 1 -> 6 and 6 -> 16 layers, 3-channel stems.
//
// A GEMM lowering puts the output channels in the vector lanes, so with 6 or 16 of them
// most of a 32-wide tile computes padding. Here each image is first copied to a planar,
// zero-padded layout P[ci][row][col], Wp = ow + (kw-1)*dw columns wide. Output pixel
// q = oy*Wp + ox of that grid (the last columns of each row are computed and thrown away)
// reads tap (ci, ky, kx) at P[q + offset(ci, ky, kx)], so 48 consecutive pixels of one tap
// are three vector loads, and every lane holds a real pixel. The filter gradient is the
// same access against dy made planar, summed over pixels.
#pragma once

#include "kernels.h"

namespace convkit {

// Whether the planar path handles `s` and measured faster there: AVX-512 active, stride
// 1, no groups, at least one image per thread, and fewer output channels (oc for the
// forward pass and the filter gradient, c for the input gradient) than a GEMM tile fills.
bool conv_forward_planar_preferred(const Conv2dShape& s);
bool conv_backward_input_planar_preferred(const Conv2dShape& s);
bool conv_backward_filter_planar_preferred(const Conv2dShape& s);

// Same contracts as conv2d_forward, conv2d_backward_input and conv2d_backward_filter, for
// shapes that pass the predicates above. They return false when their workspace cannot
// be allocated, with the output possibly part written; the caller then computes all of
// it on another path. A FiniteCheck given is covered when they return true: each image
// is checked just before its planar copy is made.
bool conv2d_forward_planar(const Conv2dShape& s, const float* x, const float* w, float* y,
                           const ConvEpilogue& epilogue, FiniteCheck* x_check);
bool conv2d_backward_input_planar(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                  FiniteCheck* dy_check);
bool conv2d_backward_filter_planar(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                   FiniteCheck* x_check, FiniteCheck* dy_check);

}  // namespace convkit
