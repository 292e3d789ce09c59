// Per worker and listener counters; written by the worker (relaxed load + store), read at
// scrape time by any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "net/tls_stats.h"

namespace ringway::net {

struct ListenerStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> active{0};          // gauge
  std::atomic<uint64_t> bytesIn{0};         // from clients
  std::atomic<uint64_t> bytesOut{0};        // to clients
  std::atomic<uint64_t> acceptErrors{0};
  std::atomic<uint64_t> connectErrors{0};   // upstream refused, unreachable, ...
  std::atomic<uint64_t> connectTimeouts{0};
  std::atomic<uint64_t> idleTimeouts{0};
  std::atomic<uint64_t> resets{0};          // RSTs seen on either side
  std::atomic<uint64_t> upstreamActive{0};  // gauge
  TlsStats tls;                             // listeners or clusters with tls only
};

}  // namespace ringway::net
