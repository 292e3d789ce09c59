// The kernel's UAPI header, not liburing's: only the opcode numbers are needed, and they are
// ABI (liburing's copy of this enum has the same values).
#include "metrics/uring_ops.h"

#include <linux/io_uring.h>

namespace ringway::metrics {

const char* uringOpName(unsigned op) {
  switch (op) {
  case IORING_OP_NOP:
    return "nop";
  case IORING_OP_READ:
    return "read";
  case IORING_OP_WRITEV: // access logs (Loop::writeFile)
    return "writev";
  case IORING_OP_SENDMSG:
    return "sendmsg";
  case IORING_OP_SENDMSG_ZC:
    return "sendmsg_zc";
  case IORING_OP_SEND_ZC:
    return "send_zc";
  case IORING_OP_RECV:
    return "recv";
  case IORING_OP_SEND:
    return "send";
  case IORING_OP_ACCEPT:
    return "accept";
  case IORING_OP_CONNECT:
    return "connect";
  case IORING_OP_SHUTDOWN:
    return "shutdown";
  case IORING_OP_TIMEOUT:
    return "timeout";
  case IORING_OP_LINK_TIMEOUT:
    return "link_timeout";
  case IORING_OP_ASYNC_CANCEL:
    return "async_cancel";
  case IORING_OP_CLOSE:
    return "close";
  case IORING_OP_POLL_ADD:
    return "poll_add";
  case IORING_OP_MSG_RING:
    return "msg_ring";
  case IORING_OP_PROVIDE_BUFFERS:
    return "provide_buffers";
  default:
    return nullptr;
  }
}

} // namespace ringway::metrics
