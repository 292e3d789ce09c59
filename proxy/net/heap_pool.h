// HeapPool: heap blocks for the bytes the HTTP proxy writes itself (rewritten heads, error
// pages, direct responses, copies at a pipelining boundary), handed to a Stream as BufferRefs
// like received buffers. One per listener and worker; blocks are reused through free lists, so
// the steady state allocates nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "io/buffer.h"

namespace ringway::net {

class HeapPool final : public io::BufferPool {
 public:
  static constexpr uint32_t SmallSize = 4 * 1024;   // a rewritten head, an error page
  static constexpr uint32_t LargeSize = 64 * 1024;  // a big head, a copied buffer
  HeapPool() = default;
  ~HeapPool();
  HeapPool(const HeapPool&) = delete;
  HeapPool& operator=(const HeapPool&) = delete;

  struct Block {
    uint32_t id;
    char* data;
    uint32_t capacity;
  };
  // A block of at least `size` bytes (a 4 KiB or 64 KiB class, exact above that).
  Block acquire(std::size_t size);
  // Hand the first `len` bytes of a block out as a BufferRef; dropping it returns the block.
  io::BufferRef ref(const Block& b, uint32_t len) { return io::BufferRef(this, b.id, b.data, len); }
  // Returns a block that was never handed out.
  void release(uint32_t id) override;
  // A copy of s in one BufferRef.
  io::BufferRef copy(std::string_view s);

  std::size_t blocksInUse() const { return inUse_; }

 private:
  struct Slot {
    char* data = nullptr;
    uint32_t capacity = 0;
  };
  static constexpr std::size_t KeepSmall = 1024;  // free blocks kept per class
  static constexpr std::size_t KeepLarge = 32;

  std::vector<Slot> slots_;
  std::vector<uint32_t> freeSmall_, freeLarge_, freeSlots_;  // freeSlots_: no memory
  std::size_t inUse_ = 0;
};

}  // namespace ringway::net
