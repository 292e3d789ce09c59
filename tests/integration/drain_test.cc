// SIGTERM/SIGINT on the real binary: drain, drain timeout, second signal.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "integration/proxy_process.h"
#include "integration/support.h"

namespace ringway::itest {
namespace {

std::string describe(const ReadEnd& r) {
  return std::string(toString(r.end)) +
         (r.err ? std::string(" (") + std::strerror(r.err) + ")" : "");
}

// After SIGTERM the listeners close: a connect is refused. The close is asynchronous, so a
// connect may still land in the queue of a closing listener; retry until refused.
std::string waitRefused(uint16_t port, Ms limit) {
  Deadline d(limit);
  std::string last;
  while (!d.expired()) {
    int err = 0;
    Fd c = connectLoopback(port, 1s, &err);
    if (!c && err == ECONNREFUSED)
      return "";
    last = c ? "connect succeeded" : std::string("connect: ") + std::strerror(err);
    std::this_thread::sleep_for(20ms);
  }
  return "new connects were not refused; last attempt: " + last;
}

class Drain : public ::testing::TestWithParam<unsigned> {
protected:
  ProxyConfig config(const std::string& drainTimeout) {
    ProxyConfig pc;
    pc.workers = GetParam();
    pc.endpoints = {echo_.address()};
    pc.drainTimeout = drainTimeout;
    return pc;
  }
  EchoServer echo_;
};

TEST_P(Drain, OpenConnectionKeepsWorkingNewOnesAreRefusedExitAfterItCloses) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed));
  ProxyProcess proxy;
  ASSERT_EQ(proxy.start(config("30s").yaml()), "");
  const RandomStream s(seed);
  // A few open connections, so with two workers both are likely to hold one.
  std::vector<Fd> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(connectLoopback(proxy.port()));
    ASSERT_TRUE(open.back());
    ASSERT_EQ(echoRoundTrip(open.back().get(), s, 0, 1000, Deadline(10s)), "");
  }

  proxy.signal(SIGTERM);
  ASSERT_TRUE(proxy.waitLog("draining", 10s)) << proxy.logTail();
  EXPECT_EQ(waitRefused(proxy.port(), 10s), "") << proxy.logTail();
  uint64_t off = 1000;
  for (auto& c : open) {
    EXPECT_EQ(echoRoundTrip(c.get(), s, off, 100000, Deadline(10s)), "")
        << "an open connection stopped working during the drain\n"
        << proxy.logTail();
    off += 100000;
  }
  EXPECT_TRUE(proxy.running()) << "exited while connections were open; log:\n" << proxy.logTail();

  // Close them one by one (FIN, then the proxy's FIN back); then the process ends by itself.
  for (auto& c : open) {
    ::shutdown(c.get(), SHUT_WR);
    EXPECT_EQ(readToEnd(c.get(), Deadline(10s)).end, End::Eof);
    c.reset();
  }
  const auto code = proxy.waitExit(15s);
  ASSERT_TRUE(code.has_value()) << "still running after its last connection closed; log:\n"
                                << proxy.logTail();
  EXPECT_EQ(*code, 0) << proxy.logTail();
}

TEST_P(Drain, DrainTimeoutClosesWhatIsStillOpenThenExits) {
  REQUIRE_URING();
  ProxyProcess proxy;
  ASSERT_EQ(proxy.start(config("500ms").yaml()), "");
  std::vector<Fd> open;
  for (int i = 0; i < 4; ++i) {
    open.push_back(connectLoopback(proxy.port()));
    ASSERT_TRUE(open.back());
    ASSERT_EQ(echoRoundTrip(open.back().get(), RandomStream(i), 0, 100, Deadline(10s)), "");
  }
  proxy.signal(SIGTERM);
  for (auto& c : open) {
    const ReadEnd r = readToEnd(c.get(), Deadline(15s));
    EXPECT_TRUE(r.end == End::Eof || r.end == End::Reset)
        << "a connection left open was not closed at the drain timeout: " << describe(r);
  }
  const auto code = proxy.waitExit(15s);
  ASSERT_TRUE(code.has_value()) << "still running after the drain timeout; log:\n"
                                << proxy.logTail();
  EXPECT_EQ(*code, 0) << proxy.logTail();
  EXPECT_GE(proxy.countLog("drain timeout"), 1) << proxy.logTail();
}

TEST_P(Drain, SecondSignalStopsAtOnce) {
  REQUIRE_URING();
  ProxyProcess proxy;
  ASSERT_EQ(proxy.start(config("30s").yaml()), "");
  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  ASSERT_EQ(echoRoundTrip(c.get(), RandomStream(1), 0, 100, Deadline(10s)), "");
  proxy.signal(SIGTERM);
  ASSERT_TRUE(proxy.waitLog("draining", 10s)) << proxy.logTail();
  proxy.signal(SIGINT);
  const auto code = proxy.waitExit(10s); // far below the 30s drain timeout
  ASSERT_TRUE(code.has_value()) << "a second signal did not stop it; log:\n" << proxy.logTail();
  EXPECT_EQ(*code, 0) << proxy.logTail();
  const ReadEnd r = readToEnd(c.get(), Deadline(5s));
  EXPECT_TRUE(r.end == End::Eof || r.end == End::Reset) << describe(r);
}

INSTANTIATE_TEST_SUITE_P(Workers, Drain, ::testing::Values(1u, 2u),
                         [](const auto& i) { return std::to_string(i.param) + "Workers"; });

} // namespace
} // namespace ringway::itest
