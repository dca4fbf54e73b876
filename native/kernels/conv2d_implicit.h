// Stride-1 conv2d as GEMM without im2col: the micro-kernel reads its A operand in place
// from a zero-padded copy of each input image, the size of the image plus its border.
//
// With stride 1, output pixel (oy, ox) reads padded-input rows oy + ky*dh, columns
// ox + kx. Number the pixels of a virtual output grid Wp = ow + kw - 1 wide as
// q = oy*Wp + ox (its last kw - 1 columns are computed and thrown away) and lay the
// padded image out P[row][col][ci] with rows Wp wide. Moving kx columns right is moving
// kx grid pixels on, so the taps (kx, ci) of kernel row ky for pixel q are one
// contiguous run of kw*C floats at P + (q + ky*dh*Wp)*C, consecutive pixels C floats
// apart: the kh kernel rows, kh such runs, make the whole sum over taps (one call of a
// segmented micro-kernel, or one call per row summed in place). Tiles of whole output rows are written straight to the output.
//
// The filter gradient uses a row-expanded copy instead, R[q][ky][ci] =
// xpad[oy + ky*dh][ox][ci] (kh times the input): there the taps are the micro-kernel's
// rows, and R gives every pixel's kh*kw*C taps as one contiguous run.
//
// The input gradient of a stride-1 conv is the same computation on dy, padded by the
// kernel's extent less the forward padding, with the filter rotated 180 degrees and its
// channel axes swapped, so one driver serves conv2d_forward and conv2d_backward_input.
#pragma once

#include "kernels.h"

namespace convkit {

// Whether the implicit path handles `s` (stride 1, no groups, no column dilation, at
// least one image per thread) and measured faster there than im2col: layers whose
// im2col input has few channels (c for the forward pass, oc for the input gradient), where
// im2col copies more than the GEMM computes.
bool conv_forward_implicit_preferred(const Conv2dShape& s);
bool conv_backward_input_implicit_preferred(const Conv2dShape& s);
bool conv_backward_filter_implicit_preferred(const Conv2dShape& s);

// Same contracts as conv2d_forward and conv2d_backward_input, for shapes that pass the
// predicates above. They return false, having written nothing, when the packed filter's
// workspace cannot be allocated; the caller then takes its usual path.
// A FiniteCheck given is covered when they return true: each image is checked just before
// its padded copy is made.
bool conv2d_forward_implicit(const Conv2dShape& s, const float* x, const float* w, float* y,
                             const ConvEpilogue& epilogue, FiniteCheck* x_check);
bool conv2d_backward_input_implicit(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                                    FiniteCheck* dy_check);

// The filter gradient reads R as the micro-kernel's A in place too, transposed (taps as
// rows, one row per float, pixels as k, kh*C floats apart), against dy laid out on the
// virtual grid (zero in its discarded columns). Images go in a fixed number of chunks,
// each summed into its own partial, and the partials are added in order: every thread
// count gives the same bits. The FiniteChecks given are covered when it returns true.
bool conv2d_backward_filter_implicit(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                                     FiniteCheck* x_check, FiniteCheck* dy_check);

}  // namespace convkit
