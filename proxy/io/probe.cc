#include "io/probe.h"

#include <liburing.h>

#include <cstring>

namespace ringway::io {

const ProbeResult& probe() {
  static const ProbeResult result = [] {
    ProbeResult r;
    io_uring ring{};
    int rc = io_uring_queue_init(8, &ring, 0);
    if (rc < 0) {
      r.why = std::string("io_uring_queue_init: ") + std::strerror(-rc);
      return r;
    }
    io_uring_probe* p = io_uring_get_probe_ring(&ring);
    if (p == nullptr) {
      r.why = "io_uring_get_probe_ring failed";
      io_uring_queue_exit(&ring);
      return r;
    }
    const struct {
      int op;
      const char* name;
    } need[] = {{IORING_OP_ACCEPT, "ACCEPT"},     {IORING_OP_RECV, "RECV"},
                {IORING_OP_SENDMSG, "SENDMSG"},   {IORING_OP_CONNECT, "CONNECT"},
                {IORING_OP_LINK_TIMEOUT, "LINK_TIMEOUT"}, {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
                {IORING_OP_SHUTDOWN, "SHUTDOWN"}, {IORING_OP_TIMEOUT, "TIMEOUT"},
                {IORING_OP_READ, "READ"},         {IORING_OP_PROVIDE_BUFFERS, "PROVIDE_BUFFERS"}};
    for (const auto& n : need) {
      if (!io_uring_opcode_supported(p, n.op)) {
        r.why = std::string("kernel lacks IORING_OP_") + n.name;
        break;
      }
    }
    io_uring_free_probe(p);
    if (r.why.empty()) {
      // Registered buffer rings (5.19) and multishot recv (6.0) have no opcode of their own.
      io_uring_buf_reg reg{};
      alignas(4096) static io_uring_buf bufs[8];
      reg.ring_addr = reinterpret_cast<uintptr_t>(bufs);
      reg.ring_entries = 8;
      reg.bgid = 1;
      rc = io_uring_register_buf_ring(&ring, &reg, 0);
      if (rc < 0) {
        r.why = std::string("io_uring_register_buf_ring: ") + std::strerror(-rc);
      } else {
        io_uring_unregister_buf_ring(&ring, 1);
        r.ok = true;
      }
    }
    io_uring_queue_exit(&ring);
    return r;
  }();
  return result;
}

}  // namespace ringway::io
