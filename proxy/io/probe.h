// Probe io_uring once per process: can we build a ring and do the ops ringway uses?
#pragma once

#include <string>

namespace ringway::io {

struct ProbeResult {
  bool ok = false;
  std::string why;  // when !ok: what failed, e.g. "io_uring_setup: Operation not permitted"
};

const ProbeResult& probe();

}  // namespace ringway::io
