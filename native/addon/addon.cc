// The only file that knows N-API. It checks every argument before any kernel touches
// memory, turns check failures into JS errors with a `code`, and runs plans on a
// background thread of its own (not libuv's pool, which fs and dns need).
#include <napi.h>

#include <cmath>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cpu.h"
#include "kernel_table.h"
#include "kernels.h"
#include "plan.h"
#include "thread_pool.h"

namespace convkit {
namespace {

Napi::Error make_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

[[noreturn]] void throw_error(Napi::Env env, const std::string& code, const std::string& message) {
  throw make_error(env, code, message);
}

// Background threads per addon instance (per JS context) that run plan jobs. Several, so
// that one model's long training step does not hold up another model's predictions; a
// single plan never has two jobs at once (the busy flag), so each plan's jobs stay ordered.
class PlanThreads {
 public:
  explicit PlanThreads(int count) {
    for (int i = 0; i < count; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~PlanThreads() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  void post(std::function<void()> job) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      jobs_.push_back(std::move(job));
    }
    wake_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      job();
    }
  }
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Enough for a few models at once (a service predicting while another model trains).
constexpr int kPlanThreads = 4;

struct AddonData {
  std::unique_ptr<PlanThreads> plan_threads;
  Napi::FunctionReference plan_constructor;
};

float* float32_data(Napi::Env env, const Napi::Value& value, const std::string& name, int64_t* length) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_error(env, "E_ARG", name + " must be a Float32Array");
  Napi::Float32Array array = value.As<Napi::Float32Array>();
  *length = static_cast<int64_t>(array.ElementLength());
  return array.Data();
}

int32_t int32_arg(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber()) throw_error(env, "E_ARG", name + " must be a number");
  const double v = value.As<Napi::Number>().DoubleValue();
  if (!(v == std::floor(v)) || v < -2147483648.0 || v > 2147483647.0)
    throw_error(env, "E_ARG", name + " must be a 32-bit integer, got " + std::to_string(v));
  return static_cast<int32_t>(v);
}

// A JS array of numbers, or an Int32Array / Float32Array, into a fixed-size C array.
template <typename T>
int read_numbers(Napi::Env env, const Napi::Value& value, const std::string& name, T* out, int capacity) {
  if (value.IsUndefined() || value.IsNull()) return 0;
  if (value.IsTypedArray()) {
    Napi::TypedArray typed = value.As<Napi::TypedArray>();
    const size_t n = typed.ElementLength();
    if (n > static_cast<size_t>(capacity)) throw_error(env, "E_ARG", name + " has too many elements");
    if (typed.TypedArrayType() == napi_int32_array) {
      const int32_t* data = value.As<Napi::Int32Array>().Data();
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(data[i]);
    } else if (typed.TypedArrayType() == napi_float32_array) {
      const float* data = value.As<Napi::Float32Array>().Data();
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(data[i]);
    } else {
      throw_error(env, "E_ARG", name + " must be an array of numbers, an Int32Array or a Float32Array");
    }
    return static_cast<int>(n);
  }
  if (!value.IsArray()) throw_error(env, "E_ARG", name + " must be an array of numbers");
  Napi::Array array = value.As<Napi::Array>();
  const uint32_t n = array.Length();
  if (n > static_cast<uint32_t>(capacity)) throw_error(env, "E_ARG", name + " has too many elements");
  for (uint32_t i = 0; i < n; ++i) {
    const std::string item = name + "[" + std::to_string(i) + "]";
    if constexpr (std::is_same_v<T, int32_t>) {
      out[i] = int32_arg(env, array.Get(i), item);
    } else {
      Napi::Value v = array.Get(i);
      if (!v.IsNumber()) throw_error(env, "E_ARG", item + " must be a number");
      out[i] = static_cast<T>(v.As<Napi::Number>().DoubleValue());
    }
  }
  return static_cast<int>(n);
}

Napi::Value KernelNames(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array names = Napi::Array::New(env, kernel_count());
  for (int i = 0; i < kernel_count(); ++i) names.Set(i, Napi::String::New(env, kernel_info(i).name));
  return names;
}

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("isa", Napi::String::New(env, active_isa_name()));
  out.Set("threads", Napi::Number::New(env, thread_count()));
  return out;
}

// runKernel(id, buffers: Float32Array[], ints, floats): checks everything, then runs synchronously.
Napi::Value RunKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int32_t id = int32_arg(env, info[0], "kernel id");
  if (id < 0 || id >= kernel_count()) throw_error(env, "E_ARG", "unknown kernel id " + std::to_string(id));
  const KernelInfo& kernel = kernel_info(id);
  const std::string prefix = std::string(kernel.name) + ": ";
  if (!info[1].IsArray()) throw_error(env, "E_ARG", prefix + "buffers must be an array of Float32Array");
  Napi::Array buffer_array = info[1].As<Napi::Array>();
  const uint32_t num_buffers = buffer_array.Length();
  if (num_buffers != static_cast<uint32_t>(kernel.num_buffers))
    throw_error(env, "E_ARG", prefix + "expected " + std::to_string(kernel.num_buffers) + " buffers, got " +
                                  std::to_string(num_buffers));
  float* buffers[kMaxKernelBuffers] = {};
  int64_t lengths[kMaxKernelBuffers] = {};
  for (uint32_t i = 0; i < num_buffers; ++i)
    buffers[i] = float32_data(env, buffer_array.Get(i), prefix + "buffer '" + kernel.buffer_names[i] + "'", &lengths[i]);
  int32_t ints[kMaxKernelInts] = {};
  float floats[kMaxKernelFloats] = {};
  const int num_ints = read_numbers(env, info[2], prefix + "ints", ints, kMaxKernelInts);
  const int num_floats = read_numbers(env, info[3], prefix + "floats", floats, kMaxKernelFloats);
  CheckResult check = check_kernel_call(id, lengths, static_cast<int>(num_buffers), ints, num_ints, num_floats);
  if (!check.ok()) throw_error(env, check.code, check.message);
  auto throw_if_non_finite = [&](uint32_t i) {
    const int64_t j = find_non_finite(buffers[i], lengths[i]);
    if (j >= 0)
      throw_error(env, "E_VALUE", prefix + "buffer '" + kernel.buffer_names[i] + "' holds a non-finite value (" +
                                      std::to_string(buffers[i][j]) + ") at index " + std::to_string(j));
  };
  // Inputs the kernel checks as it reads them are scanned here only if it did not (the
  // path it took reads them another way); the others before the kernel runs. So a bad
  // value in a kernel-checked input is reported after the outputs were written: their
  // contents are then unspecified, as the ops document. An output that overlaps such an
  // input would overwrite it before the scan, so that input is scanned first.
  unsigned checked_while_running = kernel.checked_while_running & kernel.input_mask;
  for (uint32_t i = 0; i < num_buffers; ++i) {
    if (kernel.input_mask & (1u << i)) continue;
    for (uint32_t j = 0; j < num_buffers; ++j) {
      if (!(checked_while_running & (1u << j))) continue;
      const bool overlap = buffers[i] < buffers[j] + lengths[j] && buffers[j] < buffers[i] + lengths[i];
      if (overlap && lengths[i] > 0 && lengths[j] > 0) checked_while_running &= ~(1u << j);
    }
  }
  for (uint32_t i = 0; i < num_buffers; ++i) {
    if ((kernel.input_mask & (1u << i)) && !(checked_while_running & (1u << i))) throw_if_non_finite(i);
  }
  FiniteCheck checks[kMaxKernelBuffers];
  run_kernel(id, buffers, ints, floats, checked_while_running != 0 ? checks : nullptr);
  for (uint32_t i = 0; i < num_buffers; ++i) {
    if (!(checked_while_running & (1u << i))) continue;
    if (!checks[i].covered || checks[i].non_finite.load()) throw_if_non_finite(i);
  }
  return env.Undefined();
}

// findNonFinite(data: Float32Array): the index of the first NaN or infinity, or -1.
Napi::Value FindNonFinite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int64_t length = 0;
  const float* data = float32_data(env, info[0], "findNonFinite: data", &length);
  return Napi::Number::New(env, static_cast<double>(find_non_finite(data, length)));
}

// A plan bound to its two buffer spaces; keeps both alive while it exists.
class NativePlan : public Napi::ObjectWrap<NativePlan> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativePlan",
                       {InstanceMethod("run", &NativePlan::Run), InstanceMethod("runSync", &NativePlan::RunSync),
                        InstanceAccessor("size", &NativePlan::Size, nullptr)});
  }

  explicit NativePlan(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativePlan>(info) {
    Napi::Env env = info.Env();
    int64_t state_length = 0, work_length = 0;
    float* state = float32_data(env, info[0], "plan state", &state_length);
    float* work = float32_data(env, info[1], "plan work", &work_length);
    if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw_error(env, "E_ARG", "plan program must be an Int32Array");
    Napi::Int32Array program = info[2].As<Napi::Int32Array>();
    CheckResult check =
        plan_.build(program.Data(), static_cast<int64_t>(program.ElementLength()), state, state_length, work, work_length);
    if (!check.ok()) throw_error(env, check.code, check.message);
    state_ref_ = Napi::Persistent(info[0].As<Napi::Object>());
    work_ref_ = Napi::Persistent(info[1].As<Napi::Object>());
  }

 private:
  struct Job {
    NativePlan* plan;
    int begin, end;
    Napi::Promise::Deferred deferred;
    Napi::ThreadSafeFunction done;
  };

  void check_range(Napi::Env env, int begin, int end) {
    if (begin < 0 || end < begin || end > plan_.size())
      throw_error(env, "E_ARG", "plan range [" + std::to_string(begin) + ", " + std::to_string(end) +
                                    ") is outside [0, " + std::to_string(plan_.size()) + ")");
    if (busy_) throw_error(env, "E_STATE", "the plan is already running; wait for its promise");
  }

  Napi::Value RunSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int begin = int32_arg(env, info[0], "begin"), end = int32_arg(env, info[1], "end");
    check_range(env, begin, end);
    plan_.run(begin, end);
    return env.Undefined();
  }

  Napi::Value Run(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const int begin = int32_arg(env, info[0], "begin"), end = int32_arg(env, info[1], "end");
    check_range(env, begin, end);
    AddonData* data = env.GetInstanceData<AddonData>();
    busy_ = true;
    Ref();  // the plan (and so its buffers) outlives the job even if JS drops it
    Napi::Function noop = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
    auto* job = new Job{this, begin, end, Napi::Promise::Deferred::New(env),
                        Napi::ThreadSafeFunction::New(env, noop, "convkit.plan", 0, 1)};
    Napi::Value promise = job->deferred.Promise();
    data->plan_threads->post([job] {
      job->plan->plan_.run(job->begin, job->end);
      Napi::ThreadSafeFunction done = job->done;
      done.BlockingCall(job, [](Napi::Env env, Napi::Function, Job* finished) {
        finished->plan->busy_ = false;
        finished->plan->Unref();
        finished->deferred.Resolve(env.Undefined());
        delete finished;
      });
      done.Release();
    });
    return promise;
  }

  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), plan_.size()); }

  Plan plan_;
  bool busy_ = false;
  Napi::ObjectReference state_ref_, work_ref_;
};

Napi::Value CreatePlan(const Napi::CallbackInfo& info) {
  AddonData* data = info.Env().GetInstanceData<AddonData>();
  return data->plan_constructor.New({info[0], info[1], info[2]});
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto* data = new AddonData();
  data->plan_threads = std::make_unique<PlanThreads>(kPlanThreads);
  data->plan_constructor = Napi::Persistent(NativePlan::Define(env));
  env.SetInstanceData<AddonData>(data);
  exports.Set("kernelNames", Napi::Function::New(env, KernelNames));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("runKernel", Napi::Function::New(env, RunKernel));
  exports.Set("findNonFinite", Napi::Function::New(env, FindNonFinite));
  exports.Set("createPlan", Napi::Function::New(env, CreatePlan));
  return exports;
}

}  // namespace
}  // namespace convkit

static Napi::Object InitConvkit(Napi::Env env, Napi::Object exports) { return convkit::Init(env, exports); }

NODE_API_MODULE(convkit, InitConvkit)
