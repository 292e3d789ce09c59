// Completion: what an SQE's user_data points at.
#pragma once

#include <cstdint>

namespace ringway::io {

// user_data = Completion* | tag. The tag (0..7, objects are 8-aligned) tells which of an
// owner's ops finished, so one object can own several ops without a Completion
// sub-object (vtable + back pointer) per op: that keeps an idle connection small.
// user_data 0 means nobody waits (cancels, link timeouts).
class Completion {
 public:
  virtual void onComplete(int res, uint32_t flags, unsigned tag) = 0;

 protected:
  ~Completion() = default;
};

inline uint64_t userData(Completion* c, unsigned tag) {
  return reinterpret_cast<uintptr_t>(c) | tag;
}

}  // namespace ringway::io
