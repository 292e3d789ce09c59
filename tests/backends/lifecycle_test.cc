// Each backend's connection lifecycle: refused upstreams, idle timeout, 200 connections at
// once, SIGTERM drain (with and without running into drain_timeout).
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "backends/backend_fixture.h"

namespace ringway::itest {
namespace {

using Lifecycle = BackendTest;

std::string describe(const ReadEnd& r) {
  return std::string(toString(r.end)) + (r.err ? std::string(" (") + std::strerror(r.err) + ")" : "");
}

TEST_P(Lifecycle, RefusedUpstreamClosesTheClient) {
  SKIP_IF_UNAVAILABLE();
  ProxyConfig pc;
  pc.endpoints = {loopback(unusedPort())};
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  for (int i = 0; i < 3; ++i) {
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    const ReadEnd r = readToEnd(c.get(), Deadline(10s));
    EXPECT_EQ(r.end, End::Eof) << "connection " << i << ": " << describe(r);
  }
  EXPECT_TRUE(proxy.waitLog("connect failed", 5s)) << proxy.logTail();
}

TEST_P(Lifecycle, NextEndpointServesWhenTheFirstRefuses) {
  SKIP_IF_UNAVAILABLE();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed));
  EchoServer echo;
  ProxyConfig pc;
  pc.endpoints = {loopback(unusedPort()), echo.address()};
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  for (int i = 0; i < 4; ++i) {  // round robin: every other client starts at the refusing one
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    EXPECT_EQ(echoRoundTrip(c.get(), RandomStream(mix(seed + i)), 0, 1000 + i, Deadline(10s)), "")
        << "connection " << i;
  }
}

TEST_P(Lifecycle, IdleConnectionIsClosed) {
  SKIP_IF_UNAVAILABLE();
  EchoServer echo;
  ProxyConfig pc;
  pc.endpoints = {echo.address()};
  pc.idleTimeout = "300ms";
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  ASSERT_EQ(echoRoundTrip(c.get(), RandomStream(7), 0, 100, Deadline(10s)), "");
  // Then nothing either way: the proxy closes both sides (FIN, not RST).
  const ReadEnd r = readToEnd(c.get(), Deadline(15s));
  EXPECT_EQ(r.end, End::Eof) << describe(r);
  EXPECT_TRUE(waitFor([&] { return echo.open() == 0; }, 10s)) << "upstream side still open";
}

TEST_P(Lifecycle, TwoHundredConnectionsAtOnce) {
  SKIP_IF_UNAVAILABLE();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed));
  EchoServer echo;
  ProxyConfig pc;
  pc.endpoints = {echo.address()};
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  constexpr std::size_t N = 200;
  std::vector<Fd> conns;
  for (std::size_t i = 0; i < N; ++i) {
    int err = 0;
    conns.push_back(connectLoopback(proxy.port(), 10s, &err));
    ASSERT_TRUE(conns.back()) << "connect " << i << ": " << std::strerror(err);
  }
  // Every connection sends first, so all 200 are in flight through the proxy at once.
  std::vector<uint64_t> lens(N);
  for (std::size_t i = 0; i < N; ++i) {
    lens[i] = 1 + mix(seed + i) % (8 * KiB);
    std::vector<uint8_t> out(lens[i]);
    RandomStream(mix(seed + i)).fill(0, out.data(), out.size());
    ASSERT_EQ(sendAll(conns[i].get(), out.data(), out.size(), Deadline(10s)), 0) << "conn " << i;
  }
  std::size_t bad = 0;
  for (std::size_t i = 0; i < N; ++i) {
    StreamChecker in("conn " + std::to_string(i), mix(seed + i), lens[i]);
    std::vector<uint8_t> buf(lens[i]);
    std::size_t got = 0;
    readExact(conns[i].get(), buf.data(), buf.size(), Deadline(20s), &got);
    in.feed(buf.data(), got);
    ::shutdown(conns[i].get(), SHUT_WR);
    const ReadEnd r = readToEnd(conns[i].get(), Deadline(10s));
    if ((!in.intact() || r.end != End::Eof) && ++bad <= 5)
      ADD_FAILURE() << "conn " << i << " ended " << describe(r) << ": " << in.report();
  }
  EXPECT_EQ(bad, 0u) << "of " << N << "; echo accepted " << echo.accepted();
}

TEST_P(Lifecycle, SigtermDrainsOpenConnectionsAndRefusesNewOnes) {
  SKIP_IF_UNAVAILABLE();
  EchoServer echo;
  ProxyConfig pc;
  pc.endpoints = {echo.address()};
  pc.drainTimeout = "30s";
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  ASSERT_EQ(echoRoundTrip(c.get(), RandomStream(1), 0, 500, Deadline(10s)), "");
  proxy.signal(SIGTERM);
  ASSERT_TRUE(proxy.waitLog("draining", 10s)) << proxy.logTail();
  // The listening socket closes: new clients are refused.
  EXPECT_TRUE(waitFor(
      [&] {
        int err = 0;
        Fd n = connectLoopback(proxy.port(), 2s, &err);
        return !n && err == ECONNREFUSED;
      },
      10s))
      << "new connections are still accepted while draining";
  // The open one goes on.
  EXPECT_EQ(echoRoundTrip(c.get(), RandomStream(1), 500, 3000, Deadline(10s)), "");
  EXPECT_TRUE(proxy.running()) << "exited before its last connection ended";
  ::shutdown(c.get(), SHUT_WR);
  EXPECT_EQ(readToEnd(c.get(), Deadline(10s)).end, End::Eof);
  EXPECT_EQ(proxy.waitExit(15s), std::optional<int>(0)) << proxy.logTail();
}

TEST_P(Lifecycle, DrainTimeoutClosesWhatIsLeft) {
  SKIP_IF_UNAVAILABLE();
  EchoServer echo;
  ProxyConfig pc;
  pc.endpoints = {echo.address()};
  pc.drainTimeout = "300ms";
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  ASSERT_EQ(echoRoundTrip(c.get(), RandomStream(2), 0, 100, Deadline(10s)), "");
  proxy.signal(SIGTERM);
  EXPECT_EQ(proxy.waitExit(15s), std::optional<int>(0)) << proxy.logTail();
  EXPECT_EQ(readToEnd(c.get(), Deadline(10s)).end, End::Eof);
  EXPECT_GE(proxy.countLog("drain timeout"), 1) << proxy.logTail();
}

// Clients that leave in the middle of a response (closing with unread data: the kernel
// sends RST) while the upstream keeps streaming: every session must end.
TEST_P(Lifecycle, ClientsLeavingMidResponseEndTheirSessions) {
  SKIP_IF_UNAVAILABLE();
  Backend be(handlers::source(11, 64 * MiB));
  ProxyConfig pc;
  pc.endpoints = {be.address()};
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  constexpr int N = 16;
  std::vector<Fd> conns;
  for (int i = 0; i < N; ++i) {
    conns.push_back(connectLoopback(proxy.port()));
    ASSERT_TRUE(conns.back());
  }
  std::vector<uint8_t> buf(64 * KiB);
  for (auto& c : conns) {
    std::size_t got = 0;
    readExact(c.get(), buf.data(), buf.size(), Deadline(10s), &got);
    ASSERT_EQ(got, buf.size());
  }
  conns.clear();
  ASSERT_TRUE(waitFor([&] { return be.finished() == N; }, 15s))
      << "upstream connections still open: " << N - be.finished();
  EXPECT_NOTHING_LEFT_OPEN(proxy);
}

INSTANTIATE_FOR_BACKENDS(Lifecycle);

}  // namespace
}  // namespace ringway::itest
