#include "io/buffer_ring.h"

#include <sys/mman.h>

#include <cerrno>

#include "io/assert.h"
#include "io/ring.h"

namespace ringway::io {

Result<BufferRing*> BufferRing::create(Ring& ring, uint16_t group, uint32_t count,
                                       uint32_t size) {
  if (count == 0 || (count & (count - 1)) != 0 || count > 32768) return Error{EINVAL, "count"};
  auto* b = new BufferRing();
  b->ring_ = &ring;
  b->group_ = group;
  b->count_ = count;
  b->size_ = size;
  b->ringBytes_ = count * sizeof(io_uring_buf);
  void* r = mmap(nullptr, b->ringBytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1,
                 0);
  if (r == MAP_FAILED) {
    delete b;
    return Error{errno, "mmap buffer ring"};
  }
  b->br_ = static_cast<io_uring_buf_ring*>(r);
  // One block for all buffers: contiguous, page aligned, touched only when used.
  b->memBytes_ = static_cast<std::size_t>(count) * size;
  void* m = mmap(nullptr, b->memBytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1,
                 0);
  if (m == MAP_FAILED) {
    delete b;
    return Error{errno, "mmap buffers"};
  }
  b->mem_ = static_cast<char*>(m);
  io_uring_buf_reg reg{};
  reg.ring_addr = reinterpret_cast<uintptr_t>(b->br_);
  reg.ring_entries = count;
  reg.bgid = group;
  int rc = io_uring_register_buf_ring(ring.raw(), &reg, 0);
  if (rc < 0) {
    delete b;
    return Error{-rc, "io_uring_register_buf_ring"};
  }
  io_uring_buf_ring_init(b->br_);
  b->mask_ = io_uring_buf_ring_mask(count);
  for (uint32_t i = 0; i < count; ++i)
    io_uring_buf_ring_add(b->br_, b->mem_ + static_cast<std::size_t>(i) * size, size,
                          static_cast<unsigned short>(i), b->mask_, static_cast<int>(i));
  io_uring_buf_ring_advance(b->br_, static_cast<int>(count));
  b->free_ = count;
  return b;
}

BufferRing::~BufferRing() {
  if (ring_ != nullptr && mask_ != 0) io_uring_unregister_buf_ring(ring_->raw(), group_);
  if (mem_ != nullptr) munmap(mem_, memBytes_);
  if (br_ != nullptr) munmap(br_, ringBytes_);
}

BufferRef BufferRing::take(uint32_t id, uint32_t len) {
  RINGWAY_ASSERT(id < count_ && len <= size_ && free_ > 0);
  --free_;
  return BufferRef(this, id, mem_ + static_cast<std::size_t>(id) * size_, len);
}

void BufferRing::release(uint32_t id) {
  RINGWAY_ASSERT(id < count_);
  io_uring_buf_ring_add(br_, mem_ + static_cast<std::size_t>(id) * size_, size_,
                        static_cast<unsigned short>(id), mask_, 0);
  io_uring_buf_ring_advance(br_, 1);
  ++free_;
  ++returned_;
}

}  // namespace ringway::io
