// The kernel contract in C++: pure functions over pointers, no N-API, no allocation per
// element, no argument checks (the runtime checks every call before it gets here).
// Semantics are those documented in lib/backend/kernels.ts; both backends must agree.
#pragma once

#include <cstdint>

namespace convkit {

// conv2d: x [n,h,w,c] NHWC, w [kh,kw,c/groups,oc] HWIO, y [n,oh,ow,oc].
struct Conv2dShape {
  int n, h, w, c, oc, kh, kw;
  int stride_h, stride_w, dilation_h, dilation_w;
  int pad_top, pad_left;
  int oh, ow;
  int groups;
};

// pool2d: x [n,h,w,c], y [n,oh,ow,c], window ph x pw.
struct Pool2dShape {
  int n, h, w, c, ph, pw;
  int stride_h, stride_w;
  int pad_top, pad_left;
  int oh, ow;
};

// c[m,n] = op(a) * op(b); a is [m,k] (or [k,m] when trans_a), b is [k,n] (or [n,k] when trans_b).
void matmul(int m, int n, int k, bool trans_a, bool trans_b, const float* a, const float* b, float* c);

void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, float* y);
void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx);
void conv2d_backward_filter(const Conv2dShape& s, const float* x, const float* dy, float* dw);

void max_pool2d_forward(const Pool2dShape& s, const float* x, float* y);
void max_pool2d_backward(const Pool2dShape& s, const float* x, const float* dy, float* dx);
void avg_pool2d_forward(const Pool2dShape& s, const float* x, float* y);
void avg_pool2d_backward(const Pool2dShape& s, const float* dy, float* dx);

// y may alias x.
void bias_add(int64_t rows, int channels, const float* x, const float* bias, float* y);
void bias_add_grad(int64_t rows, int channels, const float* dy, float* dbias);

// y may alias x.
void relu_forward(int64_t size, const float* x, float* y);
void relu_backward(int64_t size, const float* y, const float* dy, float* dx);

// y may alias a or b.
void add(int64_t size, const float* a, const float* b, float* y);

// loss[0] = mean cross-entropy; dlogits = (softmax - onehot) / rows.
void softmax_cross_entropy(int rows, int classes, const float* logits, const float* labels, float* loss, float* dlogits);

// hyper = [lr, momentum, weight_decay].
void sgd_momentum(int64_t size, float* param, const float* grad, float* velocity, const float* hyper);

}  // namespace convkit
