#include "kernel_table.h"

#include <string>

#include "kernels.h"

namespace convkit {
namespace {

enum KernelId : int {
  kMatmul,
  kConv2d,
  kConv2dBackwardInput,
  kConv2dBackwardFilter,
  kMaxPool2d,
  kMaxPool2dBackward,
  kAvgPool2d,
  kAvgPool2dBackward,
  kBiasAdd,
  kBiasAddGrad,
  kRelu,
  kReluBackward,
  kAdd,
  kSoftmaxCrossEntropy,
  kSgdMomentum,
  kKernelCount
};

constexpr int kConvInts = 16;
constexpr int kPoolInts = 12;

const KernelInfo kKernels[kKernelCount] = {
    {"matmul", 3, 5, 0, 0b011, {"a", "b", "c"}},
    {"conv2d", 3, kConvInts, 0, 0b011, {"x", "w", "y"}},
    {"conv2dBackwardInput", 3, kConvInts, 0, 0b011, {"dy", "w", "dx"}},
    {"conv2dBackwardFilter", 3, kConvInts, 0, 0b011, {"x", "dy", "dw"}},
    {"maxPool2d", 2, kPoolInts, 0, 0b01, {"x", "y"}},
    {"maxPool2dBackward", 3, kPoolInts, 0, 0b011, {"x", "dy", "dx"}},
    {"avgPool2d", 2, kPoolInts, 0, 0b01, {"x", "y"}},
    {"avgPool2dBackward", 2, kPoolInts, 0, 0b01, {"dy", "dx"}},
    {"biasAdd", 3, 2, 0, 0b011, {"x", "bias", "y"}},
    {"biasAddGrad", 2, 2, 0, 0b01, {"dy", "dbias"}},
    {"relu", 2, 1, 0, 0b01, {"x", "y"}},
    {"reluBackward", 3, 1, 0, 0b011, {"y", "dy", "dx"}},
    {"add", 3, 1, 0, 0b011, {"a", "b", "y"}},
    {"softmaxCrossEntropy", 4, 2, 0, 0b0011, {"logits", "labels", "loss", "dlogits"}},
    {"sgdMomentum", 4, 1, 0, 0b1111, {"param", "grad", "velocity", "hyper"}},
};

const char* const kConvIntNames[kConvInts] = {"n",         "h",         "w",      "c",       "oc",      "kh",
                                              "kw",        "strideH",   "strideW", "dilationH", "dilationW", "padTop",
                                              "padLeft",   "oh",        "ow",     "groups"};
const char* const kPoolIntNames[kPoolInts] = {"n",       "h",       "w",       "c",      "ph", "pw",
                                              "strideH", "strideW", "padTop", "padLeft", "oh", "ow"};

Conv2dShape conv_shape(const int32_t* p) {
  return Conv2dShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15]};
}

Pool2dShape pool_shape(const int32_t* p) {
  return Pool2dShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11]};
}

CheckResult fail(const char* code, std::string message) { return CheckResult{code, std::move(message)}; }

// Checks ints[first..first+count) are >= minimum; names come from `names`.
bool check_at_least(const KernelInfo& k, const int32_t* ints, const char* const* names, int first, int count,
                    int32_t minimum, CheckResult* out) {
  for (int i = first; i < first + count; ++i) {
    if (ints[i] < minimum) {
      *out = fail("E_ARG", std::string(k.name) + ": " + names[i] + " must be " +
                               (minimum == 0 ? "non-negative" : "a positive integer") + ", got " +
                               std::to_string(ints[i]));
      return false;
    }
  }
  return true;
}

// Element counts are products of int32 values; cap every factor chain well below int64 overflow.
constexpr int64_t kMaxElements = int64_t{1} << 40;

bool product(std::initializer_list<int64_t> factors, int64_t* out) {
  int64_t p = 1;
  for (int64_t f : factors) {
    p *= f;
    if (p > kMaxElements) return false;
  }
  *out = p;
  return true;
}

}  // namespace

int kernel_count() { return kKernelCount; }

const KernelInfo& kernel_info(int id) { return kKernels[id]; }

CheckResult check_kernel_call(int id, const int64_t* buffer_lengths, int num_buffers, const int32_t* ints, int num_ints,
                              int num_floats) {
  if (id < 0 || id >= kKernelCount) return fail("E_ARG", "unknown kernel id " + std::to_string(id));
  const KernelInfo& k = kKernels[id];
  if (num_buffers != k.num_buffers)
    return fail("E_ARG", std::string(k.name) + ": expected " + std::to_string(k.num_buffers) + " buffers, got " +
                             std::to_string(num_buffers));
  if (num_ints != k.num_ints)
    return fail("E_ARG", std::string(k.name) + ": expected " + std::to_string(k.num_ints) +
                             " integer parameters, got " + std::to_string(num_ints));
  if (num_floats != k.num_floats)
    return fail("E_ARG", std::string(k.name) + ": expected " + std::to_string(k.num_floats) +
                             " float parameters, got " + std::to_string(num_floats));

  CheckResult result;
  int64_t expected[kMaxKernelBuffers] = {0, 0, 0, 0};
  bool sizes_fit = true;
  switch (id) {
    case kMatmul: {
      static const char* const names[] = {"m", "n", "k", "transA", "transB"};
      if (!check_at_least(k, ints, names, 0, 3, 1, &result)) return result;
      for (int i = 3; i < 5; ++i)
        if (ints[i] != 0 && ints[i] != 1)
          return fail("E_ARG", std::string("matmul: ") + names[i] + " must be 0 or 1, got " + std::to_string(ints[i]));
      sizes_fit = product({ints[0], ints[2]}, &expected[0]) && product({ints[2], ints[1]}, &expected[1]) &&
                  product({ints[0], ints[1]}, &expected[2]);
      break;
    }
    case kConv2d:
    case kConv2dBackwardInput:
    case kConv2dBackwardFilter: {
      // Everything positive except the two paddings (indices 11, 12).
      if (!check_at_least(k, ints, kConvIntNames, 0, 11, 1, &result)) return result;
      if (!check_at_least(k, ints, kConvIntNames, 11, 2, 0, &result)) return result;
      if (!check_at_least(k, ints, kConvIntNames, 13, 3, 1, &result)) return result;
      const Conv2dShape s = conv_shape(ints);
      if (s.c % s.groups != 0 || s.oc % s.groups != 0)
        return fail("E_ARG", std::string(k.name) + ": channels in (" + std::to_string(s.c) + ") and out (" +
                                 std::to_string(s.oc) + ") must both be divisible by groups (" +
                                 std::to_string(s.groups) + ")");
      int64_t x = 0, w = 0, y = 0;
      sizes_fit = product({s.n, s.h, s.w, s.c}, &x) && product({s.kh, s.kw, s.c / s.groups, s.oc}, &w) &&
                  product({s.n, s.oh, s.ow, s.oc}, &y);
      if (id == kConv2d) {
        expected[0] = x, expected[1] = w, expected[2] = y;
      } else if (id == kConv2dBackwardInput) {
        expected[0] = y, expected[1] = w, expected[2] = x;
      } else {
        expected[0] = x, expected[1] = y, expected[2] = w;
      }
      break;
    }
    case kMaxPool2d:
    case kMaxPool2dBackward:
    case kAvgPool2d:
    case kAvgPool2dBackward: {
      if (!check_at_least(k, ints, kPoolIntNames, 0, 8, 1, &result)) return result;
      if (!check_at_least(k, ints, kPoolIntNames, 8, 2, 0, &result)) return result;
      if (!check_at_least(k, ints, kPoolIntNames, 10, 2, 1, &result)) return result;
      const Pool2dShape s = pool_shape(ints);
      int64_t x = 0, y = 0;
      sizes_fit = product({s.n, s.h, s.w, s.c}, &x) && product({s.n, s.oh, s.ow, s.c}, &y);
      if (id == kMaxPool2d || id == kAvgPool2d) {
        expected[0] = x, expected[1] = y;
      } else if (id == kMaxPool2dBackward) {
        expected[0] = x, expected[1] = y, expected[2] = x;
      } else {
        expected[0] = y, expected[1] = x;
      }
      break;
    }
    case kBiasAdd:
    case kBiasAddGrad: {
      static const char* const names[] = {"rows", "channels"};
      if (!check_at_least(k, ints, names, 0, 2, 1, &result)) return result;
      int64_t xy = 0;
      sizes_fit = product({ints[0], ints[1]}, &xy);
      if (id == kBiasAdd) {
        expected[0] = xy, expected[1] = ints[1], expected[2] = xy;
      } else {
        expected[0] = xy, expected[1] = ints[1];
      }
      break;
    }
    case kRelu:
    case kReluBackward:
    case kAdd:
    case kSgdMomentum: {
      static const char* const names[] = {"size"};
      if (!check_at_least(k, ints, names, 0, 1, 1, &result)) return result;
      for (int i = 0; i < k.num_buffers; ++i) expected[i] = ints[0];
      if (id == kSgdMomentum) expected[3] = 3;
      break;
    }
    case kSoftmaxCrossEntropy: {
      static const char* const names[] = {"rows", "classes"};
      if (!check_at_least(k, ints, names, 0, 2, 1, &result)) return result;
      int64_t logits = 0;
      sizes_fit = product({ints[0], ints[1]}, &logits);
      expected[0] = logits, expected[1] = ints[0], expected[2] = 1, expected[3] = logits;
      break;
    }
    default:
      return fail("E_ARG", "unknown kernel id " + std::to_string(id));
  }
  if (!sizes_fit) return fail("E_SHAPE", std::string(k.name) + ": the parameters imply a buffer of over 2^40 elements");
  for (int i = 0; i < k.num_buffers; ++i) {
    if (buffer_lengths[i] != expected[i])
      return fail("E_SHAPE", std::string(k.name) + ": buffer '" + k.buffer_names[i] + "' must have " +
                                 std::to_string(expected[i]) + " elements, got " + std::to_string(buffer_lengths[i]));
  }
  return CheckResult{};
}

void run_kernel(int id, float* const* b, const int32_t* p, const float* /*floats*/) {
  switch (id) {
    case kMatmul:
      matmul(p[0], p[1], p[2], p[3] != 0, p[4] != 0, b[0], b[1], b[2]);
      break;
    case kConv2d:
      conv2d_forward(conv_shape(p), b[0], b[1], b[2]);
      break;
    case kConv2dBackwardInput:
      conv2d_backward_input(conv_shape(p), b[0], b[1], b[2]);
      break;
    case kConv2dBackwardFilter:
      conv2d_backward_filter(conv_shape(p), b[0], b[1], b[2]);
      break;
    case kMaxPool2d:
      max_pool2d_forward(pool_shape(p), b[0], b[1]);
      break;
    case kMaxPool2dBackward:
      max_pool2d_backward(pool_shape(p), b[0], b[1], b[2]);
      break;
    case kAvgPool2d:
      avg_pool2d_forward(pool_shape(p), b[0], b[1]);
      break;
    case kAvgPool2dBackward:
      avg_pool2d_backward(pool_shape(p), b[0], b[1]);
      break;
    case kBiasAdd:
      bias_add(int64_t{p[0]}, p[1], b[0], b[1], b[2]);
      break;
    case kBiasAddGrad:
      bias_add_grad(int64_t{p[0]}, p[1], b[0], b[1]);
      break;
    case kRelu:
      relu_forward(p[0], b[0], b[1]);
      break;
    case kReluBackward:
      relu_backward(p[0], b[0], b[1], b[2]);
      break;
    case kAdd:
      add(p[0], b[0], b[1], b[2]);
      break;
    case kSoftmaxCrossEntropy:
      softmax_cross_entropy(p[0], p[1], b[0], b[1], b[2], b[3]);
      break;
    case kSgdMomentum:
      sgd_momentum(p[0], b[0], b[1], b[2], b[3]);
      break;
    default:
      break;
  }
}

}  // namespace convkit
