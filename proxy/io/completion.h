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

// The tags the io_uring backend uses; CQE counters are kept per tag.
enum OpTag : unsigned {
  TagNone = 0,  // user_data 0: cancels, link timeouts
  TagRecv = 1,
  TagSend = 2,
  TagConnect = 3,
  TagShutdown = 4,
  TagAccept = 5,
  TagTick = 6,
  TagWake = 7,
};
inline const char* tagName(unsigned tag) {
  static const char* const names[] = {"other",  "recv",   "send", "connect",
                                      "shutdown", "accept", "timeout", "wake"};
  return tag < 8 ? names[tag] : "other";
}

inline uint64_t userData(Completion* c, unsigned tag) {
  return reinterpret_cast<uintptr_t>(c) | tag;
}

}  // namespace ringway::io
