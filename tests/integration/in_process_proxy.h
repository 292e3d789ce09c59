// The proxy in this process: a config builder and a core::Server on it.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "integration/common.h"

namespace ringway::core {
class Server;
}

namespace ringway::itest {

// ---------------------------------------------------------------------------------------
// The proxy

// Builds a ringway.yaml with one tcp listener "raw" on 127.0.0.1:0 and one cluster "be".
struct ProxyConfig {
  unsigned workers = 1;
  std::vector<std::string> endpoints; // "127.0.0.1:PORT"
  std::string connectTimeout = "1s";
  std::string idleTimeout = "60s";
  std::string drainTimeout = "30s";
  std::string zerocopy = "off";
  std::string splice = "true"; // io.splice: L4 relays through kernel pipes
  std::string bufferSize = "16KiB";
  unsigned buffersPerWorker = 512;
  std::string maxInflight = "256KiB";
  std::string admin = "off"; // the YAML value of `admin:`
  std::string yaml() const;
};

// A core::Server running in this process on the config above.
class InProcessProxy {
public:
  explicit InProcessProxy(const ProxyConfig& c);
  ~InProcessProxy();
  uint16_t port() const { return port_; }
  core::Server& server() { return *server_; }
  // Free buffers of each worker's pool, as the loops last published them.
  std::vector<uint64_t> buffersFree() const;
  // Waits until every worker's pool is entirely free again (all connections are gone);
  // returns "" or the pools' state.
  std::string waitPoolsFree(Ms limit) const;
  // Zero-copy sends issued, summed over the workers.
  uint64_t zeroCopySends() const;
  // Bytes relayed by splice(2), summed over the workers.
  uint64_t splicedBytes() const;
  // Per worker: loop and ring counters, for failure messages.
  std::string stats() const;

private:
  std::unique_ptr<core::Server> server_;
  uint16_t port_ = 0;
  unsigned buffers_ = 0;
};

// "/proc/PID/status" VmRSS in KiB, or -1.
long rssKiB(pid_t pid);

} // namespace ringway::itest
