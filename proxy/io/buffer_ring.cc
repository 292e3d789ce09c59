#include "io/buffer_ring.h"

#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
  b->slotId_.reset(new uint16_t[kSlotSpan * count]());
  b->slotOf_.reset(new uint32_t[count]());
  for (uint32_t i = 0; i < count; ++i) {
    io_uring_buf_ring_add(b->br_, b->mem_ + static_cast<std::size_t>(i) * size, size,
                          static_cast<unsigned short>(i), b->mask_, static_cast<int>(i));
    b->slotId_[i] = static_cast<uint16_t>(i);
    b->slotOf_[i] = i;
  }
  io_uring_buf_ring_advance(b->br_, static_cast<int>(count));
  b->tail_ = count;
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
  slotId_[tail_ & (kSlotSpan * count_ - 1)] = static_cast<uint16_t>(id);
  slotOf_[id] = tail_++;
  ++free_;
  ++returned_;
}

bool BufferRing::bundlesSupported() {
  static const bool ok = [] {
    io_uring ring{};
    if (io_uring_queue_init(4, &ring, 0) < 0) return false;
    bool result = false;
    // Four 4-byte buffers, 12 bytes waiting, a multishot bundle recv capped at 8 bytes in all:
    // one CQE with 8 bytes in two buffers that ends the recv (no F_MORE). A kernel without
    // bundles rejects the flag or fills one buffer; one without the cap (6.16) rejects a
    // multishot length or goes on.
    void* ringMem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (ringMem == MAP_FAILED) {
      io_uring_queue_exit(&ring);
      return false;
    }
    static char mem[4][4];
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<uintptr_t>(ringMem);
    reg.ring_entries = 4;
    reg.bgid = 7;
    int sv[2] = {-1, -1};
    if (io_uring_register_buf_ring(&ring, &reg, 0) == 0) {
      auto* br = static_cast<io_uring_buf_ring*>(ringMem);
      io_uring_buf_ring_init(br);
      for (int i = 0; i < 4; ++i)
        io_uring_buf_ring_add(br, mem[i], 4, static_cast<unsigned short>(i),
                              io_uring_buf_ring_mask(4), i);
      io_uring_buf_ring_advance(br, 4);
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0 &&
          ::write(sv[0], "0123456789ab", 12) == 12) {
        io_uring_sqe* s = io_uring_get_sqe(&ring);
        io_uring_prep_recv_multishot(s, sv[1], nullptr, 0, 0);
        s->len = 8;
        s->ioprio |= IORING_RECVSEND_BUNDLE;
        const uint32_t total = 8;
        std::memcpy(&s->addr_len, &total, sizeof total);  // optlen: see UringStream::arm
        s->flags |= IOSQE_BUFFER_SELECT;
        s->buf_group = 7;
        io_uring_cqe* c = nullptr;
        if (io_uring_submit_and_wait(&ring, 1) >= 0 && io_uring_peek_cqe(&ring, &c) == 0) {
          result = c->res == 8 && (c->flags & IORING_CQE_F_BUFFER) != 0 &&
                   (c->flags & IORING_CQE_F_MORE) == 0 &&
                   (c->flags >> IORING_CQE_BUFFER_SHIFT) == 0;
          io_uring_cqe_seen(&ring, c);
        }
      }
      io_uring_unregister_buf_ring(&ring, 7);
    }
    if (sv[0] >= 0) ::close(sv[0]);
    if (sv[1] >= 0) ::close(sv[1]);
    io_uring_queue_exit(&ring);
    munmap(ringMem, 4096);
    return result;
  }();
  return ok;
}

}  // namespace ringway::io
