// The one persistent pool of native worker threads behind parallel_for (parallel.h).
#pragma once

#include "parallel.h"

namespace convkit {

// Sets the threads parallel_for uses from now on (at least 1), starting workers as
// needed; for tests and benchmarks that compare thread counts in one process. Waits for
// a region in flight to finish.
void set_thread_count(int threads);

// The count chosen at start-up: CONVKIT_NUM_THREADS when it is a positive integer, else
// the CPUs in this process's affinity mask, else std::thread::hardware_concurrency().
int default_thread_count();

}  // namespace convkit
