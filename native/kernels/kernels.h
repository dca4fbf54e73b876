// The kernel contract in C++: pure functions over pointers, no N-API, no allocation per
// element, no argument checks (the runtime checks every call before it gets here).
// Semantics are those documented in lib/backend/kernels.ts; both backends must agree.
#pragma once

#include <atomic>
#include <cstdint>

namespace convkit {

// Eager calls refuse inputs that hold NaN or infinity. A kernel that reads an input image
// by image can check each image just before it uses it, while the image is on its way into
// cache anyway, instead of the call scanning the whole input first: one pass over memory
// instead of two (the separate scan was 4-7% of an eager conv2d step). A kernel given a
// FiniteCheck marks it covered only once it has checked every value of that input; the
// caller scans whatever was not covered. (GEMM operands are not checked this way: they
// stay in cache between a scan and the GEMM, and checks inside the GEMM measured no faster.)
struct FiniteCheck {
  std::atomic<bool> non_finite{false};
  bool covered = false;  // set on the calling thread after the work (and its threads) ended

  // Checks data[0, length) and notes a NaN or infinity there. Any thread may call it.
  void check(const float* data, int64_t length);
};

// The two steps of a kernel's checking, for a FiniteCheck that may be null (not asked for).
inline void check_finite(FiniteCheck* check, const float* data, int64_t length) {
  if (check != nullptr) check->check(data, length);
}
inline void mark_covered(FiniteCheck* check) {
  if (check != nullptr) check->covered = true;
}

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

// Bias and relu applied to a convolution's output as each part of it is produced (while
// it is in cache): conv2d_bias_activation's epilogue. No bias: nothing is applied.
struct ConvEpilogue {
  const float* bias = nullptr;  // [oc]
  bool relu = false;
};

// The FiniteCheck arguments, when given, check that input image by image where the path
// taken reads it that way (see FiniteCheck); other paths leave them uncovered.
void conv2d_forward(const Conv2dShape& s, const float* x, const float* w, float* y,
                    const ConvEpilogue& epilogue = ConvEpilogue{}, FiniteCheck* x_check = nullptr);
void conv2d_backward_input(const Conv2dShape& s, const float* dy, const float* w, float* dx,
                           FiniteCheck* dy_check = nullptr);
void conv2d_backward_filter(const Conv2dShape& s, const float* x, const float* dy, float* dw,
                            FiniteCheck* x_check = nullptr, FiniteCheck* dy_check = nullptr);

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
// y = max(a + b, 0) (a residual connection and the relu after it); y may alias a or b.
void add_relu(int64_t size, const float* a, const float* b, float* y);

// Fused epilogues. conv2d_bias_activation: y = conv2d(x, w) + bias, then relu when `relu`,
// applied to each block of images while its output is in cache; y must not alias x.
// matmul_bias_activation: c = op(a) op(b) + bias (per column), then relu when `relu`.
// relu_backward_bias_grad: dx = y > 0 ? dy : 0 and dbias = column sums of dx in one pass;
// dx may alias dy.
void conv2d_bias_activation(const Conv2dShape& s, bool relu, const float* x, const float* w, const float* bias,
                            float* y);
void matmul_bias_activation(int m, int n, int k, bool trans_a, bool trans_b, bool relu, const float* a, const float* b,
                            const float* bias, float* c);
void relu_backward_bias_grad(int64_t rows, int channels, const float* y, const float* dy, float* dx, float* dbias);

// y[r, c] = y[r, c] + bias[c], then max(., 0) when relu, for rows [0, rows): one
// thread's share of an epilogue.
void bias_activation_rows(int64_t rows, int channels, const float* bias, bool relu, float* y);

// loss[0] = mean cross-entropy; dlogits = (softmax - onehot) / rows.
void softmax_cross_entropy(int rows, int classes, const float* logits, const float* labels, float* loss, float* dlogits);

// hyper = [lr, momentum, weight_decay].
void sgd_momentum(int64_t size, float* param, const float* grad, float* velocity, const float* hyper);

// conv3d: x [n,d,h,w,c] NDHWC, w [kd,kh,kw,c/groups,oc], y [n,od,oh,ow,oc].
struct Conv3dShape {
  int n, d, h, w, c, oc, kd, kh, kw;
  int stride_d, stride_h, stride_w, dilation_d, dilation_h, dilation_w;
  int pad_front, pad_top, pad_left;
  int od, oh, ow;
  int groups;
};

// pool3d: x [n,d,h,w,c], y [n,od,oh,ow,c], window pd x ph x pw.
struct Pool3dShape {
  int n, d, h, w, c, pd, ph, pw;
  int stride_d, stride_h, stride_w;
  int pad_front, pad_top, pad_left;
  int od, oh, ow;
};

void conv3d_forward(const Conv3dShape& s, const float* x, const float* w, float* y);
void conv3d_backward_input(const Conv3dShape& s, const float* dy, const float* w, float* dx);
void conv3d_backward_filter(const Conv3dShape& s, const float* x, const float* dy, float* dw);

void max_pool3d_forward(const Pool3dShape& s, const float* x, float* y);
void max_pool3d_backward(const Pool3dShape& s, const float* x, const float* dy, float* dx);
void avg_pool3d_forward(const Pool3dShape& s, const float* x, float* y);
void avg_pool3d_backward(const Pool3dShape& s, const float* dy, float* dx);
void l2_pool3d_forward(const Pool3dShape& s, const float* x, float* y);
void l2_pool3d_backward(const Pool3dShape& s, const float* x, const float* y, const float* dy, float* dx);

// The index of the first NaN or infinity in data[0, length), or -1 when every value is
// finite (native/kernels/scan.cc). Large arrays are split over the pool.
int64_t find_non_finite(const float* data, int64_t length);

// Batch norm over `rows` rows of `channels` (rows = batch * spatial positions).
// With relu set, train writes y = max(bn(x), 0), and backward takes that y (relu_output,
// else null) and uses dy only where y > 0: batch norm and the relu after it in the passes
// batch norm makes anyway, without a pass of their own.
void batch_norm_train(int64_t rows, int channels, float eps, float momentum, const float* x, const float* gamma,
                      const float* beta, float* y, float* mean, float* inv_std, float* running_mean, float* running_var,
                      bool relu = false);
void batch_norm_backward(int64_t rows, int channels, const float* x, const float* gamma, const float* mean,
                         const float* inv_std, const float* dy, float* dx, float* dgamma, float* dbeta,
                         const float* relu_output = nullptr);
void batch_norm_inference(int64_t rows, int channels, float eps, const float* x, const float* gamma, const float* beta,
                          const float* running_mean, const float* running_var, float* y);

// Activation kinds, in the order of ACTIVATION_KINDS in lib/backend/kernels.ts.
enum class ActivationKind : int { kRelu = 0, kLeakyRelu = 1, kElu = 2, kGelu = 3, kSigmoid = 4, kTanh = 5 };
constexpr int kActivationKindCount = 6;
// y may alias x.
void activation_forward(int64_t size, ActivationKind kind, float alpha, const float* x, float* y);
void activation_backward(int64_t size, ActivationKind kind, float alpha, const float* x, const float* y, const float* dy,
                         float* dx);

void softmax_forward(int rows, int classes, const float* x, float* y);
void softmax_backward(int rows, int classes, const float* y, const float* dy, float* dx);

// y may alias a or b.
void mul(int64_t size, const float* a, const float* b, float* y);

// y[r, offset + j] = x[r, j]; other columns of y untouched.
void scatter_columns(int64_t rows, int width, int y_width, int offset, const float* x, float* y);
// x[r, j] = y[r, offset + j].
void gather_columns(int64_t rows, int width, int y_width, int offset, const float* y, float* x);

void softmax_cross_entropy_dense(int rows, int classes, const float* logits, const float* targets, float* loss,
                                 float* dlogits);
void sigmoid_cross_entropy(int64_t size, const float* logits, const float* targets, float* loss, float* dlogits);
void mean_squared_error(int64_t size, const float* pred, const float* targets, float* loss, float* dpred);
void smooth_l1(int64_t size, float beta, const float* pred, const float* targets, float* loss, float* dpred);

// hyper = [lr, momentum, weight_decay].
void sgd_nesterov(int64_t size, float* param, const float* grad, float* velocity, const float* hyper);
// hyper = [lr, beta1, beta2, eps, weight_decay, decoupled, bias_correction1, bias_correction2].
void adam(int64_t size, float* param, const float* grad, float* m, float* v, const float* hyper);

void sum_squares(int64_t size, const float* x, float* out);
void clip_by_global_norm(int count, int64_t size, float max_norm, const float* norms, float* grad);

}  // namespace convkit
