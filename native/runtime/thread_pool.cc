// A persistent pool: workers wait for a numbered job, run their fixed chunk (or claim
// blocks of a dynamic job until none is left) and count down. One region runs at a time;
// a caller that finds the pool taken runs its chunks inline, so concurrent addon
// instances (worker_threads) and nested calls never deadlock.
#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

namespace convkit {
namespace {

constexpr int kMaxThreads = 256;
// Workers and the waiting caller spin this long before sleeping. The parallel regions of
// a training step are separated by serial code (packing, per-channel finishing, the
// TypeScript between steps) that often outlasts 50 us, and a worker that had gone to sleep
// took a futex wake per region, slow on a virtual machine: at 2 threads a 50 us spin left
// each thread idle a fifth of a ResNet-8 step, and 2 ms measured 1.1-1.3x faster on ResNet-8
// and 2.1-2.4x on LeNet-5 (a worker that has nothing to do burns at most 2 ms of a CPU).
constexpr std::chrono::microseconds kSpinTime(2000);
// After this long the spin yields the CPU on every check, so a thread that has work (Node's
// event loop above all) gets it at once rather than after a time slice.
constexpr std::chrono::microseconds kPauseTime(50);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

// Spins until done() or kSpinTime has passed; returns done().
template <typename Done>
bool spin_until(const Done& done) {
  const auto start = std::chrono::steady_clock::now();
  const auto yield_from = start + kPauseTime, deadline = start + kSpinTime;
  bool yielding = false;
  for (int i = 1;; ++i) {
    if (done()) return true;
    if (yielding) {
      std::this_thread::yield();
    } else {
      cpu_relax();
    }
    if ((i & 63) == 0 || yielding) {
      const auto now = std::chrono::steady_clock::now();
      if (now > deadline) return done();
      yielding = now > yield_from;
    }
  }
}

inline int64_t chunk_begin(int64_t count, int chunk, int chunks) { return count * chunk / chunks; }

class ThreadPool {
 public:
  explicit ThreadPool(int threads) { resize(threads); }

  int size() const { return active_.load(std::memory_order_relaxed); }

  void resize(int threads) {
    if (threads < 1) threads = 1;
    if (threads > kMaxThreads) threads = kMaxThreads;
    std::lock_guard<std::mutex> region(region_mutex_);
    while (static_cast<int>(workers_.size()) < threads - 1) {
      const int index = static_cast<int>(workers_.size()) + 1;  // the caller runs chunk 0
      // The worker must count jobs from now, not from whenever its thread starts running.
      const uint64_t start = generation_.load(std::memory_order_relaxed);
      workers_.emplace_back([this, index, start] { work(index, start); });
    }
    active_.store(threads, std::memory_order_relaxed);
  }

  // grain 0: the static split; grain > 0: blocks of `grain` items claimed in turn.
  void run(int64_t count, int64_t grain, ParallelTask task, void* context) {
    if (count <= 0) return;
    const int chunks = size();
    if (chunks == 1 || count == 1 || (grain > 0 && grain >= count) || !region_mutex_.try_lock()) {
      run_inline(count, chunks, grain, task, context);
      return;
    }
    next_block_.store(0, std::memory_order_relaxed);
    job_ = Job{task, context, count, chunks, grain, &next_block_};
    // Every worker acknowledges every job, even one beyond `chunks`, so none still reads
    // job_ when the next region rewrites it.
    remaining_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    run_chunk(job_, 0);
    if (!spin_until([this] { return remaining_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(wake_mutex_);
      done_.wait(lock, [this] { return remaining_.load(std::memory_order_acquire) == 0; });
    }
    region_mutex_.unlock();
  }

 private:
  struct Job {
    ParallelTask task = nullptr;
    void* context = nullptr;
    int64_t count = 0;
    int chunks = 1;
    int64_t grain = 0;                          // > 0: blocks claimed from *next_block
    std::atomic<int64_t>* next_block = nullptr;  // the next unclaimed item
  };

  // Thread `chunk`'s part of a job: its fixed chunk, or blocks until none is left.
  static void run_chunk(const Job& job, int chunk) {
    if (job.grain > 0) {
      for (;;) {
        const int64_t begin = job.next_block->fetch_add(job.grain, std::memory_order_relaxed);
        if (begin >= job.count) return;
        job.task(job.context, begin, std::min(begin + job.grain, job.count));
      }
    }
    const int64_t begin = chunk_begin(job.count, chunk, job.chunks);
    const int64_t end = chunk_begin(job.count, chunk + 1, job.chunks);
    if (begin < end) job.task(job.context, begin, end);
  }

  // On the calling thread: the same chunks, or the same blocks, in order.
  static void run_inline(int64_t count, int chunks, int64_t grain, ParallelTask task, void* context) {
    if (grain > 0) {
      for (int64_t begin = 0; begin < count; begin += grain) task(context, begin, std::min(begin + grain, count));
      return;
    }
    const Job job{task, context, count, chunks, 0, nullptr};
    for (int chunk = 0; chunk < chunks; ++chunk) run_chunk(job, chunk);
  }

  void work(int index, uint64_t seen) {
    for (;;) {
      if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
        std::unique_lock<std::mutex> lock(wake_mutex_);
        wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
      }
      seen = generation_.load(std::memory_order_acquire);
      const Job job = job_;
      if (index < job.chunks) run_chunk(job, index);
      if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lock(wake_mutex_);
        done_.notify_one();
      }
    }
  }

  std::mutex region_mutex_;  // held by the caller of the region in flight
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> remaining_{0};
  std::atomic<int> active_{1};
  Job job_;  // written before generation_ is bumped, read after
  std::atomic<int64_t> next_block_{0};  // a dynamic job's next unclaimed item
  std::vector<std::thread> workers_;
};

int parse_thread_count(const char* text) {
  if (text == nullptr || text[0] == '\0') return 0;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0' || value < 1 || value > kMaxThreads) {
    std::fprintf(stderr, "convkit: CONVKIT_NUM_THREADS=%s is not an integer in 1..%d; ignoring it\n", text, kMaxThreads);
    return 0;
  }
  return static_cast<int>(value);
}

int available_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int count = CPU_COUNT(&set);
    if (count > 0) return count;
  }
#endif
  const unsigned count = std::thread::hardware_concurrency();
  return count > 0 ? static_cast<int>(count) : 1;
}

ThreadPool& pool() {
  // Never destroyed: workers live as long as the process, and joining them from a static
  // destructor would race the other static destructors of the host (Node).
  static ThreadPool* const instance = new ThreadPool(default_thread_count());
  return *instance;
}

}  // namespace

int default_thread_count() {
  static const int count = [] {
    const int requested = parse_thread_count(std::getenv("CONVKIT_NUM_THREADS"));
    const int threads = requested > 0 ? requested : available_cpus();
    return threads < kMaxThreads ? threads : kMaxThreads;
  }();
  return count;
}

void set_thread_count(int threads) { pool().resize(threads); }

int thread_count() { return pool().size(); }

void parallel_for(int64_t count, ParallelTask task, void* context) { pool().run(count, 0, task, context); }

void parallel_for_dynamic(int64_t count, int64_t grain, ParallelTask task, void* context) {
  pool().run(count, grain > 0 ? grain : 1, task, context);
}

}  // namespace convkit
