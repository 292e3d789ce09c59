// BufferRing: a provided-buffer ring registered with one io_uring; recv picks buffers from
// it, so an idle connection holds none.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "io/buffer.h"
#include "io/result.h"

// liburing 2.3 predates receive bundles (kernel 6.10 uapi).
#ifndef IORING_RECVSEND_BUNDLE
#define IORING_RECVSEND_BUNDLE (1U << 4)
#endif

namespace ringway::io {

class Ring;

class BufferRing final : public BufferPool {
 public:
  // count must be a power of two. liburing 2.3 lacks io_uring_setup_buf_ring(): mmap the
  // ring ourselves and register it.
  static Result<BufferRing*> create(Ring& ring, uint16_t group, uint32_t count, uint32_t size);
  ~BufferRing();
  BufferRing(const BufferRing&) = delete;
  BufferRing& operator=(const BufferRing&) = delete;

  uint16_t group() const { return group_; }
  uint32_t bufferSize() const { return size_; }
  uint32_t count() const { return count_; }
  uint32_t freeCount() const { return free_; }
  // Returns made since the last call: the loop re-arms starved receives only when some
  // buffers came back.
  uint32_t takeReturned() { return std::exchange(returned_, 0); }

  // The kernel handed buffer `id` to a recv with `len` bytes in it.
  BufferRef take(uint32_t id, uint32_t len);
  // A bundle recv (IORING_RECVSEND_BUNDLE) that reported `first` filled the buffers that sat
  // in consecutive ring slots from first's slot on, each full but the last: the i-th of them.
  uint32_t bundleId(uint32_t first, uint32_t i) const {
    return slotId_[(slotOf_[first] + i) & (kSlotSpan * count_ - 1)];
  }
  void release(uint32_t id) override;

  // Does this kernel fill several buffers per recv CQE (bundles, 6.10+) and end a multishot
  // recv after a byte count (6.16+)? Tried once per process with a real recv on a socketpair.
  static bool bundlesSupported();

 private:
  BufferRing() = default;
  Ring* ring_ = nullptr;
  io_uring_buf_ring* br_ = nullptr;
  char* mem_ = nullptr;
  std::size_t ringBytes_ = 0;
  std::size_t memBytes_ = 0;
  uint16_t group_ = 0;
  uint32_t count_ = 0;
  uint32_t size_ = 0;
  uint32_t free_ = 0;
  uint32_t returned_ = 0;
  uint32_t tail_ = 0;  // slots ever filled: where the next returned buffer goes
  int mask_ = 0;
  // Which buffer went into which slot, to name a bundle's buffers. The ring itself is reused
  // after count returns; this record after kSlotSpan x count. A bundle's CQE is handled in the
  // reap after the kernel took its slots, and until then at most a few ring-fulls are refilled
  // (one by the enter that took them, one by handlers of the same reap, one by a submit made
  // from a handler when the SQ was full): its slots are still named right.
  static constexpr uint32_t kSlotSpan = 4;
  std::unique_ptr<uint16_t[]> slotId_;
  std::unique_ptr<uint32_t[]> slotOf_;  // by buffer id: the slot it was last put in
};

}  // namespace ringway::io
