// conv2d filter gradient straight from NHWC x and dy, for output channels in whole
// vectors of 16 (up to 64) and input channels in blocks of 8 (AVX-512 only): the 3x3
// layers of ResNet-8 and ConvNet-M past their first, and ResNet-8's stride-2 3x3 and 1x1
// downsampling layers. For a block of 16 output channels,
//   dw[ky, kx, ci, o] = sum over input pixels p of x[p, ci] * dy[p shifted back by the tap, o]
// is accumulated in registers for 8 input channels and up to 3 taps of a kernel row, over
// all of an image's pixels: x is read in place, each broadcast of it feeding every tap of
// the call, and dy from a copy of the block with zero-padded rows, so no tap needs a
// bounds test. At stride 1 a call's taps are consecutive; at stride s they are s apart
// (the taps whose input columns share a phase mod s), and the call walks x s pixels at a
// time. No im2col matrix, no planar copy of x, every vector lane a real output channel.
// Per chunk of images a partial dw, added in chunk order.
#pragma once

#include "kernels.h"

namespace convkit {

// Whether the path handles `s`: AVX-512 active, any stride, no dilation or groups, oc a
// multiple of 16 up to 64, c a multiple of 8, one image's padded dy within
// kMaxScratchFloats.
bool conv_backward_filter16_preferred(const Conv2dShape& s);

// The conv2d_backward_filter contract for shapes that pass the predicate; false (dw
// unwritten) when its workspace cannot be allocated. The FiniteChecks given are covered
// when it returns true: each image's x and dy are checked just before the image's taps.
bool conv2d_backward_filter16(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                              FiniteCheck* x_check, FiniteCheck* dy_check);

}  // namespace convkit
