// BufferRing: a provided-buffer ring registered with one io_uring; recv picks buffers from
// it, so an idle connection holds none.
#pragma once

#include <liburing.h>

#include <cstddef>
#include <cstdint>

#include "io/buffer.h"
#include "io/result.h"

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
  void release(uint32_t id) override;

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
  int mask_ = 0;
};

}  // namespace ringway::io
