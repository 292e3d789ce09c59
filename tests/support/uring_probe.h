// io::probe() for tests, made on a thread of its own.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "io/probe.h"

namespace ringway::testsupport {

// The first call runs io::probe() on a short-lived thread, then every call returns its result.
// Why not on the test's thread: the kernel tears a closed io_uring down later, on a kworker
// (io_ring_exit_work, ~10-25 ms after close here, later under load), and then interrupts every
// thread that created or used that ring with task work (TWA_SIGNAL). On that thread a blocking
// socket call with SO_RCVTIMEO/SO_SNDTIMEO returns EINTR instead of being restarted: the flaky
// first handshake of AdminTlsMetrics.HandshakesFailuresAndSniMisses (SSL_ERROR_WANT_READ,
// errno EINTR, ~1 ms after the proxy started). A thread that has exited is off the ring's
// list, so nothing of the test is interrupted.
const io::ProbeResult& uringProbe();

} // namespace ringway::testsupport

// In a test or its SetUp: skips it when the kernel cannot run io_uring (REQUIRE_URING), or when
// `backend` is "io_uring" and it cannot (REQUIRE_BACKEND, for tests run on every backend).
#define REQUIRE_URING()                                                                            \
  do {                                                                                             \
    if (!::ringway::testsupport::uringProbe().ok)                                                  \
      GTEST_SKIP() << ::ringway::testsupport::uringProbe().why;                                    \
  } while (0)

#define REQUIRE_BACKEND(backend)                                                                   \
  do {                                                                                             \
    if (std::string(backend) == "io_uring" && !::ringway::testsupport::uringProbe().ok)            \
      GTEST_SKIP() << ::ringway::testsupport::uringProbe().why;                                    \
  } while (0)
