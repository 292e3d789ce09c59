// Tests parameterized over ringway's backends: each runs the real binary with
// `--backend io_uring|epoll|threads` (the threads backend has no in-process Server), on
// loopback, with the integration tests' random streams and backends.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <cstdlib>
#include <optional>

#include <string>
#include <vector>

#include "integration/proxy_process.h"
#include "integration/support.h"
#include "support/uring_probe.h"

namespace ringway::itest {

constexpr uint64_t KiB = 1024, MiB = 1024 * 1024;

inline const std::vector<std::string>& allBackends() {
  static const std::vector<std::string> v = {"io_uring", "epoll", "threads"};
  return v;
}

class BackendTest : public ::testing::TestWithParam<std::string> {
 protected:
  const std::string& backend() const { return GetParam(); }
  // io_uring where the kernel (or seccomp) refuses it: skip with the probe's reason.
  bool unavailable() const { return backend() == "io_uring" && !testsupport::uringProbe().ok; }
  // Starts ringway on pc with --backend; "" or why it failed. Checks the log names the backend.
  std::string start(ProxyProcess& p, const ProxyConfig& pc,
                    std::vector<std::string> extraArgs = {}) const {
    ProxyProcess::Options o;
    o.args = {"--backend", backend()};
    o.args.insert(o.args.end(), extraArgs.begin(), extraArgs.end());
    std::string why = p.start(pc.yaml(), o);
    if (!why.empty()) return why;
    const std::string want = backend() == "threads" ? "serving with threads" : "(" + backend() + ")";
    if (p.log().find(want) == std::string::npos)
      return "the log does not say '" + want + "':\n" + p.logTail();
    return "";
  }
};

// After a test's connections have all ended: SIGTERM must find nothing open, so the proxy
// exits 0 at once rather than after drain_timeout.
#define EXPECT_NOTHING_LEFT_OPEN(proxy)                                                      \
  do {                                                                                       \
    (proxy).signal(SIGTERM);                                                                 \
    const std::optional<int> rc = (proxy).waitExit(5s);                                      \
    EXPECT_EQ(rc, std::optional<int>(0))                                                     \
        << "a connection was still open at SIGTERM (" << (proxy).openFds() << " fds):\n"     \
        << (proxy).logTail();                                                                \
  } while (0)

#define SKIP_IF_UNAVAILABLE()                                                        \
  do {                                                                               \
    if (unavailable())                                                               \
      GTEST_SKIP() << "io_uring unavailable: " << testsupport::uringProbe().why;     \
  } while (0)

inline std::string backendName(const ::testing::TestParamInfo<std::string>& i) {
  return i.param == "io_uring" ? "IoUring" : i.param == "epoll" ? "Epoll" : "Threads";
}

#define INSTANTIATE_FOR_BACKENDS(Suite) \
  INSTANTIATE_TEST_SUITE_P(Backends, Suite, ::testing::ValuesIn(allBackends()), backendName)

}  // namespace ringway::itest
