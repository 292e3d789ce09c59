// SendQueue: the buffers a stream has yet to send, in order, plus the iovecs of the send in
// flight. Both backends use it. Only a stream with bytes queued holds one (taken from its
// loop's free list), so an idle connection does not pay for it.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "io/buffer.h"

namespace ringway::io {

struct SendQueue {
  static constexpr unsigned MaxIov = 16;  // buffers gathered into one send
  std::vector<BufferRef> q;  // ring buffer, capacity a power of two
  unsigned head = 0;
  unsigned count = 0;
  std::size_t bytes = 0;
  iovec iov[MaxIov]{};
  msghdr msg{};
  int zcResult = 0;  // SEND_ZC: bytes reported by the first CQE, applied on the last
  bool zc = false;

  SendQueue() : q(16) {}
  BufferRef& at(unsigned i) { return q[(head + i) & (q.size() - 1)]; }
  void push(BufferRef b) {
    if (count == q.size()) grow();
    bytes += b.size();
    at(count++) = std::move(b);
  }
  void popFront() {
    at(0).reset();
    head = (head + 1) & (q.size() - 1);
    --count;
  }
  void clear() {
    while (count > 0) popFront();
    bytes = 0;
    head = 0;
  }
  // Fill iov/msg from the front of the queue; returns the bytes covered.
  std::size_t gather() {
    const unsigned n = std::min<unsigned>(count, MaxIov);
    std::size_t total = 0;
    for (unsigned i = 0; i < n; ++i) {
      BufferRef& b = at(i);
      iov[i] = {b.data(), b.size()};
      total += b.size();
    }
    msg = {};
    msg.msg_iov = iov;
    msg.msg_iovlen = n;
    return total;
  }
  // n bytes went out: return the buffers fully sent, trim the first partly sent one.
  void consume(std::size_t n) {
    bytes -= n;
    while (n > 0) {
      BufferRef& b = at(0);
      if (n >= b.size()) {
        n -= b.size();
        popFront();
      } else {
        b.consume(static_cast<uint32_t>(n));
        n = 0;
      }
    }
  }

 private:
  void grow() {
    std::vector<BufferRef> n(q.size() * 2);
    for (unsigned i = 0; i < count; ++i) n[i] = std::move(at(i));
    q.swap(n);
    head = 0;
  }
};

}  // namespace ringway::io
