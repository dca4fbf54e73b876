#include "kernel_table.h"

#include <algorithm>
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
  kConv3d,
  kConv3dBackwardInput,
  kConv3dBackwardFilter,
  kMaxPool3d,
  kMaxPool3dBackward,
  kAvgPool3d,
  kAvgPool3dBackward,
  kL2Pool3d,
  kL2Pool3dBackward,
  kBatchNormTrain,
  kBatchNormBackward,
  kBatchNormInference,
  kActivation,
  kActivationBackward,
  kSoftmax,
  kSoftmaxBackward,
  kMul,
  kScatterColumns,
  kGatherColumns,
  kSoftmaxCrossEntropyDense,
  kSigmoidCrossEntropy,
  kMeanSquaredError,
  kSmoothL1,
  kSgdNesterov,
  kAdam,
  kSumSquares,
  kClipByGlobalNorm,
  kConv2dBiasActivation,
  kMatmulBiasActivation,
  kReluBackwardBiasGrad,
  kAddRelu,
  kBatchNormReluTrain,
  kBatchNormReluBackward,
  kKernelCount
};

constexpr int kConvInts = 16;
constexpr int kPoolInts = 12;
constexpr int kConv3dInts = 22;
constexpr int kPool3dInts = 17;

const KernelInfo kKernels[kKernelCount] = {
    {"matmul", 3, 5, 0, 0b011, {"a", "b", "c"}},
    {"conv2d", 3, kConvInts, 0, 0b011, {"x", "w", "y"}, 0b001},
    {"conv2dBackwardInput", 3, kConvInts, 0, 0b011, {"dy", "w", "dx"}, 0b001},
    {"conv2dBackwardFilter", 3, kConvInts, 0, 0b011, {"x", "dy", "dw"}, 0b011},
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
    {"conv3d", 3, kConv3dInts, 0, 0b011, {"x", "w", "y"}},
    {"conv3dBackwardInput", 3, kConv3dInts, 0, 0b011, {"dy", "w", "dx"}},
    {"conv3dBackwardFilter", 3, kConv3dInts, 0, 0b011, {"x", "dy", "dw"}},
    {"maxPool3d", 2, kPool3dInts, 0, 0b01, {"x", "y"}},
    {"maxPool3dBackward", 3, kPool3dInts, 0, 0b011, {"x", "dy", "dx"}},
    {"avgPool3d", 2, kPool3dInts, 0, 0b01, {"x", "y"}},
    {"avgPool3dBackward", 2, kPool3dInts, 0, 0b01, {"dy", "dx"}},
    {"l2Pool3d", 2, kPool3dInts, 0, 0b01, {"x", "y"}},
    {"l2Pool3dBackward", 4, kPool3dInts, 0, 0b0111, {"x", "y", "dy", "dx"}},
    {"batchNormTrain", 8, 2, 2, 0b11000111, {"x", "gamma", "beta", "y", "mean", "invStd", "runningMean", "runningVar"}},
    {"batchNormBackward", 8, 2, 0, 0b00011111, {"x", "gamma", "mean", "invStd", "dy", "dx", "dgamma", "dbeta"}},
    {"batchNormInference", 6, 2, 1, 0b011111, {"x", "gamma", "beta", "runningMean", "runningVar", "y"}},
    {"activation", 2, 2, 1, 0b01, {"x", "y"}},
    {"activationBackward", 4, 2, 1, 0b0111, {"x", "y", "dy", "dx"}},
    {"softmax", 2, 2, 0, 0b01, {"x", "y"}},
    {"softmaxBackward", 3, 2, 0, 0b011, {"y", "dy", "dx"}},
    {"mul", 3, 1, 0, 0b011, {"a", "b", "y"}},
    {"scatterColumns", 2, 4, 0, 0b11, {"x", "y"}},
    {"gatherColumns", 2, 4, 0, 0b01, {"y", "x"}},
    {"softmaxCrossEntropyDense", 4, 2, 0, 0b0011, {"pred", "target", "loss", "dpred"}},
    {"sigmoidCrossEntropy", 4, 1, 0, 0b0011, {"pred", "target", "loss", "dpred"}},
    {"meanSquaredError", 4, 1, 0, 0b0011, {"pred", "target", "loss", "dpred"}},
    {"smoothL1", 4, 1, 1, 0b0011, {"pred", "target", "loss", "dpred"}},
    {"sgdNesterov", 4, 1, 0, 0b1111, {"param", "grad", "velocity", "hyper"}},
    {"adam", 5, 1, 0, 0b11111, {"param", "grad", "m", "v", "hyper"}},
    {"sumSquares", 2, 1, 0, 0b01, {"x", "out"}},
    {"clipByGlobalNorm", 2, 2, 1, 0b11, {"norms", "grad"}},
    {"conv2dBiasActivation", 4, kConvInts + 1, 0, 0b0111, {"x", "w", "bias", "y"}},
    {"matmulBiasActivation", 4, 6, 0, 0b0111, {"a", "b", "bias", "c"}},
    {"reluBackwardBiasGrad", 4, 2, 0, 0b0011, {"y", "dy", "dx", "dbias"}},
    {"addRelu", 3, 1, 0, 0b011, {"a", "b", "y"}},
    {"batchNormReluTrain", 8, 2, 2, 0b11000111, {"x", "gamma", "beta", "y", "mean", "invStd", "runningMean", "runningVar"}},
    {"batchNormReluBackward",
     9,
     2,
     0,
     0b000111111,
     {"x", "gamma", "mean", "invStd", "y", "dy", "dx", "dgamma", "dbeta"}},
};

const char* const kConvIntNames[kConvInts] = {"n",         "h",         "w",      "c",       "oc",      "kh",
                                              "kw",        "strideH",   "strideW", "dilationH", "dilationW", "padTop",
                                              "padLeft",   "oh",        "ow",     "groups"};
const char* const kPoolIntNames[kPoolInts] = {"n",       "h",       "w",       "c",      "ph", "pw",
                                              "strideH", "strideW", "padTop", "padLeft", "oh", "ow"};

const char* const kConv3dIntNames[kConv3dInts] = {
    "n",         "d",         "h",         "w",         "c",        "oc",     "kd",      "kh",
    "kw",        "strideD",   "strideH",   "strideW",   "dilationD", "dilationH", "dilationW", "padFront",
    "padTop",    "padLeft",   "od",        "oh",        "ow",       "groups"};
const char* const kPool3dIntNames[kPool3dInts] = {"n",       "d",       "h",        "w",      "c",       "pd",
                                                  "ph",      "pw",      "strideD",  "strideH", "strideW", "padFront",
                                                  "padTop",  "padLeft", "od",       "oh",     "ow"};

Conv3dShape conv3d_shape(const int32_t* p) {
  return Conv3dShape{p[0],  p[1],  p[2],  p[3],  p[4],  p[5],  p[6],  p[7],  p[8],  p[9],  p[10],
                     p[11], p[12], p[13], p[14], p[15], p[16], p[17], p[18], p[19], p[20], p[21]};
}

Pool3dShape pool3d_shape(const int32_t* p) {
  return Pool3dShape{p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15], p[16]};
}

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
  int64_t expected[kMaxKernelBuffers] = {};
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
    case kConv2dBackwardFilter:
    case kConv2dBiasActivation: {
      if (id == kConv2dBiasActivation && ints[kConvInts] != 0 && ints[kConvInts] != 1)
        return fail("E_ARG", std::string(k.name) + ": relu must be 0 or 1, got " + std::to_string(ints[kConvInts]));
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
      } else if (id == kConv2dBiasActivation) {
        expected[0] = x, expected[1] = w, expected[2] = s.oc, expected[3] = y;
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
    case kAddRelu:
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
    case kConv3d:
    case kConv3dBackwardInput:
    case kConv3dBackwardFilter: {
      // Everything positive except the three paddings (indices 15..17).
      if (!check_at_least(k, ints, kConv3dIntNames, 0, 15, 1, &result)) return result;
      if (!check_at_least(k, ints, kConv3dIntNames, 15, 3, 0, &result)) return result;
      if (!check_at_least(k, ints, kConv3dIntNames, 18, 4, 1, &result)) return result;
      const Conv3dShape s = conv3d_shape(ints);
      if (s.c % s.groups != 0 || s.oc % s.groups != 0)
        return fail("E_ARG", std::string(k.name) + ": channels in (" + std::to_string(s.c) + ") and out (" +
                                 std::to_string(s.oc) + ") must both be divisible by groups (" +
                                 std::to_string(s.groups) + ")");
      int64_t x = 0, w = 0, y = 0;
      sizes_fit = product({s.n, s.d, s.h, s.w, s.c}, &x) && product({s.kd, s.kh, s.kw, s.c / s.groups, s.oc}, &w) &&
                  product({s.n, s.od, s.oh, s.ow, s.oc}, &y);
      if (id == kConv3d) {
        expected[0] = x, expected[1] = w, expected[2] = y;
      } else if (id == kConv3dBackwardInput) {
        expected[0] = y, expected[1] = w, expected[2] = x;
      } else {
        expected[0] = x, expected[1] = y, expected[2] = w;
      }
      break;
    }
    case kMaxPool3d:
    case kMaxPool3dBackward:
    case kAvgPool3d:
    case kAvgPool3dBackward:
    case kL2Pool3d:
    case kL2Pool3dBackward: {
      if (!check_at_least(k, ints, kPool3dIntNames, 0, 11, 1, &result)) return result;
      if (!check_at_least(k, ints, kPool3dIntNames, 11, 3, 0, &result)) return result;
      if (!check_at_least(k, ints, kPool3dIntNames, 14, 3, 1, &result)) return result;
      const Pool3dShape s = pool3d_shape(ints);
      int64_t x = 0, y = 0;
      sizes_fit = product({s.n, s.d, s.h, s.w, s.c}, &x) && product({s.n, s.od, s.oh, s.ow, s.c}, &y);
      if (id == kMaxPool3d || id == kAvgPool3d || id == kL2Pool3d) {
        expected[0] = x, expected[1] = y;
      } else if (id == kMaxPool3dBackward) {
        expected[0] = x, expected[1] = y, expected[2] = x;
      } else if (id == kAvgPool3dBackward) {
        expected[0] = y, expected[1] = x;
      } else {
        expected[0] = x, expected[1] = y, expected[2] = y, expected[3] = x;
      }
      break;
    }
    case kBatchNormTrain:
    case kBatchNormBackward:
    case kBatchNormInference:
    case kBatchNormReluTrain:
    case kBatchNormReluBackward: {
      static const char* const names[] = {"rows", "channels"};
      if (!check_at_least(k, ints, names, 0, 2, 1, &result)) return result;
      int64_t xy = 0;
      sizes_fit = product({ints[0], ints[1]}, &xy);
      const int64_t c = ints[1];
      if (id == kBatchNormTrain || id == kBatchNormReluTrain) {
        const int64_t lengths[] = {xy, c, c, xy, c, c, c, c};
        std::copy(lengths, lengths + 8, expected);
      } else if (id == kBatchNormBackward) {
        const int64_t lengths[] = {xy, c, c, c, xy, xy, c, c};
        std::copy(lengths, lengths + 8, expected);
      } else if (id == kBatchNormReluBackward) {
        const int64_t lengths[] = {xy, c, c, c, xy, xy, xy, c, c};
        std::copy(lengths, lengths + 9, expected);
      } else {
        const int64_t lengths[] = {xy, c, c, c, c, xy};
        std::copy(lengths, lengths + 6, expected);
      }
      break;
    }
    case kActivation:
    case kActivationBackward: {
      static const char* const names[] = {"size", "kind"};
      if (!check_at_least(k, ints, names, 0, 1, 1, &result)) return result;
      if (ints[1] < 0 || ints[1] >= kActivationKindCount)
        return fail("E_ARG", std::string(k.name) + ": kind must be an activation code in [0, " +
                                 std::to_string(kActivationKindCount) + "), got " + std::to_string(ints[1]));
      for (int i = 0; i < k.num_buffers; ++i) expected[i] = ints[0];
      break;
    }
    case kSoftmax:
    case kSoftmaxBackward:
    case kSoftmaxCrossEntropyDense: {
      static const char* const names[] = {"rows", "classes"};
      if (!check_at_least(k, ints, names, 0, 2, 1, &result)) return result;
      int64_t size = 0;
      sizes_fit = product({ints[0], ints[1]}, &size);
      for (int i = 0; i < k.num_buffers; ++i) expected[i] = size;
      if (id == kSoftmaxCrossEntropyDense) expected[2] = 1;
      break;
    }
    case kMul:
    case kSigmoidCrossEntropy:
    case kMeanSquaredError:
    case kSmoothL1:
    case kSgdNesterov:
    case kAdam:
    case kSumSquares: {
      static const char* const names[] = {"size"};
      if (!check_at_least(k, ints, names, 0, 1, 1, &result)) return result;
      for (int i = 0; i < k.num_buffers; ++i) expected[i] = ints[0];
      if (id == kSigmoidCrossEntropy || id == kMeanSquaredError || id == kSmoothL1) expected[2] = 1;
      if (id == kSgdNesterov) expected[3] = 3;
      if (id == kAdam) expected[4] = 8;
      if (id == kSumSquares) expected[1] = 1;
      break;
    }
    case kScatterColumns:
    case kGatherColumns: {
      static const char* const names[] = {"rows", "width", "yWidth", "offset"};
      if (!check_at_least(k, ints, names, 0, 3, 1, &result)) return result;
      if (!check_at_least(k, ints, names, 3, 1, 0, &result)) return result;
      if (int64_t{ints[3]} + ints[1] > ints[2])
        return fail("E_ARG", std::string(k.name) + ": columns [" + std::to_string(ints[3]) + ", " +
                                 std::to_string(int64_t{ints[3]} + ints[1]) + ") do not fit in " + std::to_string(ints[2]));
      int64_t narrow = 0, wide = 0;
      sizes_fit = product({ints[0], ints[1]}, &narrow) && product({ints[0], ints[2]}, &wide);
      if (id == kScatterColumns) {
        expected[0] = narrow, expected[1] = wide;
      } else {
        expected[0] = wide, expected[1] = narrow;
      }
      break;
    }
    case kClipByGlobalNorm: {
      static const char* const names[] = {"count", "size"};
      if (!check_at_least(k, ints, names, 0, 2, 1, &result)) return result;
      expected[0] = ints[0], expected[1] = ints[1];
      break;
    }
    case kMatmulBiasActivation: {
      static const char* const names[] = {"m", "n", "k", "transA", "transB", "relu"};
      if (!check_at_least(k, ints, names, 0, 3, 1, &result)) return result;
      for (int i = 3; i < 6; ++i)
        if (ints[i] != 0 && ints[i] != 1)
          return fail("E_ARG", std::string(k.name) + ": " + names[i] + " must be 0 or 1, got " + std::to_string(ints[i]));
      sizes_fit = product({ints[0], ints[2]}, &expected[0]) && product({ints[2], ints[1]}, &expected[1]) &&
                  product({ints[0], ints[1]}, &expected[3]);
      expected[2] = ints[1];
      break;
    }
    case kReluBackwardBiasGrad: {
      static const char* const names[] = {"rows", "channels"};
      if (!check_at_least(k, ints, names, 0, 2, 1, &result)) return result;
      sizes_fit = product({ints[0], ints[1]}, &expected[0]);
      expected[1] = expected[2] = expected[0], expected[3] = ints[1];
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

void run_kernel(int id, float* const* b, const int32_t* p, const float* f, FiniteCheck* checks) {
  // The check of buffer i, or null.
  auto check = [&](int i) -> FiniteCheck* { return checks != nullptr ? &checks[i] : nullptr; };
  switch (id) {
    case kMatmul:
      matmul(p[0], p[1], p[2], p[3] != 0, p[4] != 0, b[0], b[1], b[2]);
      break;
    case kConv2d:
      conv2d_forward(conv_shape(p), b[0], b[1], b[2], ConvEpilogue{}, check(0));
      break;
    case kConv2dBackwardInput:
      conv2d_backward_input(conv_shape(p), b[0], b[1], b[2], check(0));
      break;
    case kConv2dBackwardFilter:
      conv2d_backward_filter(conv_shape(p), b[0], b[1], b[2], check(0), check(1));
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
    case kAddRelu:
      add_relu(p[0], b[0], b[1], b[2]);
      break;
    case kSoftmaxCrossEntropy:
      softmax_cross_entropy(p[0], p[1], b[0], b[1], b[2], b[3]);
      break;
    case kSgdMomentum:
      sgd_momentum(p[0], b[0], b[1], b[2], b[3]);
      break;
    case kConv3d:
      conv3d_forward(conv3d_shape(p), b[0], b[1], b[2]);
      break;
    case kConv3dBackwardInput:
      conv3d_backward_input(conv3d_shape(p), b[0], b[1], b[2]);
      break;
    case kConv3dBackwardFilter:
      conv3d_backward_filter(conv3d_shape(p), b[0], b[1], b[2]);
      break;
    case kMaxPool3d:
      max_pool3d_forward(pool3d_shape(p), b[0], b[1]);
      break;
    case kMaxPool3dBackward:
      max_pool3d_backward(pool3d_shape(p), b[0], b[1], b[2]);
      break;
    case kAvgPool3d:
      avg_pool3d_forward(pool3d_shape(p), b[0], b[1]);
      break;
    case kAvgPool3dBackward:
      avg_pool3d_backward(pool3d_shape(p), b[0], b[1]);
      break;
    case kL2Pool3d:
      l2_pool3d_forward(pool3d_shape(p), b[0], b[1]);
      break;
    case kL2Pool3dBackward:
      l2_pool3d_backward(pool3d_shape(p), b[0], b[1], b[2], b[3]);
      break;
    case kBatchNormTrain:
      batch_norm_train(p[0], p[1], f[0], f[1], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
      break;
    case kBatchNormBackward:
      batch_norm_backward(p[0], p[1], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]);
      break;
    case kBatchNormReluTrain:
      batch_norm_train(p[0], p[1], f[0], f[1], b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], true);
      break;
    case kBatchNormReluBackward:  // x, gamma, mean, invStd, y, dy, dx, dgamma, dbeta
      batch_norm_backward(p[0], p[1], b[0], b[1], b[2], b[3], b[5], b[6], b[7], b[8], b[4]);
      break;
    case kBatchNormInference:
      batch_norm_inference(p[0], p[1], f[0], b[0], b[1], b[2], b[3], b[4], b[5]);
      break;
    case kActivation:
      activation_forward(p[0], static_cast<ActivationKind>(p[1]), f[0], b[0], b[1]);
      break;
    case kActivationBackward:
      activation_backward(p[0], static_cast<ActivationKind>(p[1]), f[0], b[0], b[1], b[2], b[3]);
      break;
    case kSoftmax:
      softmax_forward(p[0], p[1], b[0], b[1]);
      break;
    case kSoftmaxBackward:
      softmax_backward(p[0], p[1], b[0], b[1], b[2]);
      break;
    case kMul:
      mul(p[0], b[0], b[1], b[2]);
      break;
    case kScatterColumns:
      scatter_columns(p[0], p[1], p[2], p[3], b[0], b[1]);
      break;
    case kGatherColumns:
      gather_columns(p[0], p[1], p[2], p[3], b[0], b[1]);
      break;
    case kSoftmaxCrossEntropyDense:
      softmax_cross_entropy_dense(p[0], p[1], b[0], b[1], b[2], b[3]);
      break;
    case kSigmoidCrossEntropy:
      sigmoid_cross_entropy(p[0], b[0], b[1], b[2], b[3]);
      break;
    case kMeanSquaredError:
      mean_squared_error(p[0], b[0], b[1], b[2], b[3]);
      break;
    case kSmoothL1:
      smooth_l1(p[0], f[0], b[0], b[1], b[2], b[3]);
      break;
    case kSgdNesterov:
      sgd_nesterov(p[0], b[0], b[1], b[2], b[3]);
      break;
    case kAdam:
      adam(p[0], b[0], b[1], b[2], b[3], b[4]);
      break;
    case kSumSquares:
      sum_squares(p[0], b[0], b[1]);
      break;
    case kClipByGlobalNorm:
      clip_by_global_norm(p[0], p[1], f[0], b[0], b[1]);
      break;
    case kConv2dBiasActivation:
      conv2d_bias_activation(conv_shape(p), p[kConvInts] != 0, b[0], b[1], b[2], b[3]);
      break;
    case kMatmulBiasActivation:
      matmul_bias_activation(p[0], p[1], p[2], p[3] != 0, p[4] != 0, p[5] != 0, b[0], b[1], b[2], b[3]);
      break;
    case kReluBackwardBiasGrad:
      relu_backward_bias_grad(int64_t{p[0]}, p[1], b[0], b[1], b[2], b[3]);
      break;
    default:
      break;
  }
}

}  // namespace convkit
