#include "workspace.h"

#include <new>

namespace convkit {
namespace {

constexpr std::align_val_t kWorkspaceAlignment{64};

struct Buffer {
  float* data = nullptr;
  size_t capacity = 0;
};

struct ThreadBuffers {
  Buffer slots[static_cast<int>(WorkspaceSlot::kCount)];
  ~ThreadBuffers() {
    for (Buffer& buffer : slots) ::operator delete[](buffer.data, kWorkspaceAlignment);
  }
};

thread_local ThreadBuffers thread_buffers;

}  // namespace

float* thread_workspace(WorkspaceSlot slot, size_t floats) {
  Buffer& buffer = thread_buffers.slots[static_cast<int>(slot)];
  if (floats <= buffer.capacity) return buffer.data;
  // Grow by half again, so a slowly growing sequence of shapes does not reallocate each call.
  size_t capacity = buffer.capacity + buffer.capacity / 2;
  if (capacity < floats) capacity = floats;
  capacity = (capacity + 15) & ~size_t{15};  // whole cache lines
  float* data = static_cast<float*>(::operator new[](capacity * sizeof(float), kWorkspaceAlignment, std::nothrow));
  if (data == nullptr) return nullptr;
  ::operator delete[](buffer.data, kWorkspaceAlignment);
  buffer.data = data;
  buffer.capacity = capacity;
  return data;
}

}  // namespace convkit
