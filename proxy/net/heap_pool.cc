#include "net/heap_pool.h"

#include <cstdlib>
#include <cstring>

#include "io/assert.h"

namespace ringway::net {

HeapPool::~HeapPool() {
  RINGWAY_ASSERT(inUse_ == 0);  // every BufferRef came back before the listener went
  for (Slot& s : slots_) std::free(s.data);
}

HeapPool::Block HeapPool::acquire(std::size_t size) {
  std::vector<uint32_t>* list = nullptr;
  uint32_t cap = 0;
  if (size <= SmallSize) {
    list = &freeSmall_;
    cap = SmallSize;
  } else if (size <= LargeSize) {
    list = &freeLarge_;
    cap = LargeSize;
  } else {
    RINGWAY_ASSERT(size <= UINT32_MAX);
    cap = static_cast<uint32_t>(size);
  }
  ++inUse_;
  if (list != nullptr && !list->empty()) {
    const uint32_t id = list->back();
    list->pop_back();
    return {id, slots_[id].data, cap};
  }
  uint32_t id;
  if (!freeSlots_.empty()) {
    id = freeSlots_.back();
    freeSlots_.pop_back();
  } else {
    id = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[id];
  s.data = static_cast<char*>(std::malloc(cap));
  RINGWAY_ASSERT(s.data != nullptr);
  s.capacity = cap;
  return {id, s.data, cap};
}

void HeapPool::release(uint32_t id) {
  RINGWAY_ASSERT(id < slots_.size() && inUse_ > 0);
  --inUse_;
  Slot& s = slots_[id];
  if (s.capacity == SmallSize && freeSmall_.size() < KeepSmall) {
    freeSmall_.push_back(id);
    return;
  }
  if (s.capacity == LargeSize && freeLarge_.size() < KeepLarge) {
    freeLarge_.push_back(id);
    return;
  }
  std::free(s.data);
  s = Slot{};
  freeSlots_.push_back(id);
}

io::BufferRef HeapPool::copy(std::string_view s) {
  const Block b = acquire(s.size());
  if (!s.empty()) std::memcpy(b.data, s.data(), s.size());
  return ref(b, static_cast<uint32_t>(s.size()));
}

}  // namespace ringway::net
