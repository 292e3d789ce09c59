// When the upstream is not there: refused connects, connect timeouts; and idle timeouts.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "integration/proxy_process.h"
#include "integration/support.h"

namespace ringway::itest {
namespace {

std::string describe(const ReadEnd& r) {
  return std::string(toString(r.end)) +
         (r.err ? std::string(" (") + std::strerror(r.err) + ")" : "");
}

// ---------------------------------------------------------------------------------------
// 5. Refused: nobody listens at the endpoint.

class UpstreamRefused : public ::testing::TestWithParam<unsigned> {};

TEST_P(UpstreamRefused, ClientIsClosedPromptly) {
  REQUIRE_URING();
  ProxyConfig pc;
  pc.workers = GetParam();
  pc.endpoints = {loopback(unusedPort())};
  InProcessProxy proxy(pc);
  for (int i = 0; i < 4; ++i) {
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    const ReadEnd r = readToEnd(c.get(), Deadline(10s));
    EXPECT_EQ(r.end, End::Eof) << "connection " << i << ": expected the proxy's FIN, got "
                               << describe(r);
  }
}

TEST_P(UpstreamRefused, EveryEndpointIsTriedOnceThenTheClientIsClosed) {
  REQUIRE_URING();
  ProxyConfig pc;
  pc.workers = GetParam();
  pc.endpoints = {loopback(unusedPort()), loopback(unusedPort()), loopback(unusedPort())};
  InProcessProxy proxy(pc);
  for (int i = 0; i < 4; ++i) {
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    const ReadEnd r = readToEnd(c.get(), Deadline(10s));
    EXPECT_EQ(r.end, End::Eof) << "connection " << i << ": " << describe(r);
  }
}

TEST_P(UpstreamRefused, NextEndpointServesWhenTheFirstRefuses) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed));
  EchoServer echo;
  ProxyConfig pc;
  pc.workers = GetParam();
  pc.endpoints = {loopback(unusedPort()), echo.address()};
  InProcessProxy proxy(pc);
  constexpr int N = 8; // round robin: about half start with the dead endpoint
  for (int i = 0; i < N; ++i) {
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    const std::size_t n = 1 + mix(seed + static_cast<uint64_t>(i)) % 20000;
    EXPECT_EQ(echoRoundTrip(c.get(), RandomStream(mix(seed ^ static_cast<uint64_t>(i))), 0, n,
                            Deadline(10s)),
              "")
        << "connection " << i << ", " << n << " bytes";
  }
  EXPECT_EQ(echo.accepted(), N);
}

INSTANTIATE_TEST_SUITE_P(Workers, UpstreamRefused, ::testing::Values(1u, 2u),
                         [](const auto& i) { return std::to_string(i.param) + "Workers"; });

// ---------------------------------------------------------------------------------------
// 6. Connect timeout: the endpoint's accept queue is full, its SYNs are dropped.

class ConnectTimeout : public ::testing::TestWithParam<unsigned> {};

TEST_P(ConnectTimeout, ClientIsClosedAndTheLogSaysTimedOut) {
  REQUIRE_URING();
  BlackHole hole;
  ASSERT_EQ(hole.problem(), "") << "cannot build an endpoint that drops SYNs";
  ProxyConfig pc;
  pc.workers = GetParam();
  pc.endpoints = {hole.address()};
  pc.connectTimeout = "300ms";
  ProxyProcess proxy;
  ASSERT_EQ(proxy.start(pc.yaml()), "");
  constexpr int N = 4;
  for (int i = 0; i < N; ++i) {
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    const ReadEnd r = readToEnd(c.get(), Deadline(10s));
    EXPECT_EQ(r.end, End::Eof) << "connection " << i << ": " << describe(r) << "\n"
                               << proxy.logTail();
  }
  EXPECT_TRUE(proxy.waitLog("timed out", 5s, N))
      << "expected " << N << " connect-failure lines saying 'timed out'; log:\n"
      << proxy.logTail();
  EXPECT_EQ(proxy.stop(), 0) << proxy.logTail();
}

INSTANTIATE_TEST_SUITE_P(Workers, ConnectTimeout, ::testing::Values(1u, 2u),
                         [](const auto& i) { return std::to_string(i.param) + "Workers"; });

// ---------------------------------------------------------------------------------------
// 7. Idle timeout: a silent connection is closed, a busy one is not.

class IdleTimeout : public ::testing::TestWithParam<unsigned> {};

TEST_P(IdleTimeout, SilentConnectionIsClosedBusyOneStays) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed));
  EchoServer echo;
  ProxyConfig pc;
  pc.workers = GetParam();
  pc.endpoints = {echo.address()};
  pc.idleTimeout = "500ms";
  InProcessProxy proxy(pc);

  Fd busy = connectLoopback(proxy.port());
  Fd silent = connectLoopback(proxy.port());
  ASSERT_TRUE(busy && silent);
  ASSERT_TRUE(waitFor([&] { return echo.accepted() == 2; }, 5s)) << "upstreams not connected";
  setNonBlocking(silent.get(), true);
  // Keep `busy` talking (every 50 ms, well inside 500 ms) until `silent` is closed and for at
  // least three idle periods in all.
  const RandomStream s(seed);
  const auto start = Clock::now();
  Deadline d(20s);
  ReadEnd silentEnd;
  uint64_t off = 0;
  while (!d.expired()) {
    const std::string e = echoRoundTrip(busy.get(), s, off, 16, Deadline(5s));
    ASSERT_EQ(e, "") << "busy connection broke after " << off << " bytes, "
                     << std::chrono::duration_cast<Ms>(Clock::now() - start).count() << " ms";
    off += 16;
    if (silentEnd.end == End::Open) {
      char c;
      const ssize_t k = ::recv(silent.get(), &c, 1, MSG_DONTWAIT);
      if (k == 0)
        silentEnd.end = End::Eof;
      else if (k > 0)
        silentEnd.end = End::Error;
      else if (errno != EAGAIN)
        silentEnd = {errno == ECONNRESET ? End::Reset : End::Error, errno};
    }
    if (silentEnd.end != End::Open && Clock::now() - start > 1500ms)
      break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(silentEnd.end, End::Eof) << "the silent connection: " << describe(silentEnd)
                                     << " (expected closed by the 500ms idle timeout)";
  // The idle close covers the upstream side too.
  EXPECT_TRUE(waitFor([&] { return echo.open() == 1; }, 5s))
      << "echo still has " << echo.open() << " connections; expected only the busy one";
  EXPECT_EQ(echoRoundTrip(busy.get(), s, off, 1000, Deadline(5s)), "");
}

INSTANTIATE_TEST_SUITE_P(Workers, IdleTimeout, ::testing::Values(1u, 2u),
                         [](const auto& i) { return std::to_string(i.param) + "Workers"; });

} // namespace
} // namespace ringway::itest
