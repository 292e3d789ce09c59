// Names for io_uring opcodes, as metric label values. Only the opcodes ringway issues (or
// may issue soon) have a name; the rest are folded into "other" by the caller, which keeps
// the `op` label bounded and stable across kernel header versions.
#pragma once

namespace ringway::metrics {

// "recv", "sendmsg_zc", ... for a known IORING_OP_* value; nullptr otherwise.
const char* uringOpName(unsigned op);

} // namespace ringway::metrics
