// Accepting under pressure, on the real binary: a burst of hundreds of queued connections
// accepted in one batch, and running out of descriptors (EMFILE).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>

#include <cstring>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "integration/proxy_process.h"
#include "integration/support.h"
#include "support/eintr.h"

namespace ringway::itest {
namespace {

std::string describe(const ReadEnd& r) {
  return std::string(toString(r.end)) +
         (r.err ? std::string(" (") + std::strerror(r.err) + ")" : "");
}

// 'T' once SIGSTOP has taken effect.
bool stopped(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(f, stat);
  const auto at = stat.rfind(')');
  return at != std::string::npos && at + 2 < stat.size() && stat[at + 2] == 'T';
}

// ---------------------------------------------------------------------------------------
// A burst: the proxy is stopped (SIGSTOP) while hundreds of clients connect, so on SIGCONT
// its accept completes them all in one batch and it starts hundreds of upstream connects
// before it next submits.

class AcceptBurst : public ::testing::TestWithParam<unsigned> {};

TEST_P(AcceptBurst, HundredsOfConnectionsAcceptedAtOnceAreAllServed) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed) + " (rerun with RINGWAY_IT_SEED=" + hex64(seed) + ")");
  EchoServer echo;
  ProxyConfig pc;
  pc.workers = GetParam();
  pc.endpoints = {echo.address()};
  ProxyProcess proxy;
  ASSERT_EQ(proxy.start(pc.yaml()), "");
  proxy.signal(SIGSTOP);
  ASSERT_TRUE(waitFor([&] { return stopped(proxy.pid()); }, 5s));
  const std::size_t n = 700;
  const ManyResult r =
      exchangeMany(proxy.port(), n, seed, 4096, 30s, [&] { proxy.signal(SIGCONT); });
  proxy.signal(SIGCONT); // in case the connects never completed
  EXPECT_EQ(r.failures, "") << "connected " << r.connected << ", done " << r.done
                            << ", echo accepted " << echo.accepted() << "\nlog:\n"
                            << proxy.logTail();
  EXPECT_TRUE(proxy.running()) << proxy.logTail();
  EXPECT_EQ(proxy.stop(), 0) << proxy.logTail();
}

TEST_P(AcceptBurst, HundredsOfConnectsToADeadEndpointAllTimeOut) {
  REQUIRE_URING();
  BlackHole hole;
  ASSERT_EQ(hole.problem(), "") << "cannot build an endpoint that drops SYNs";
  ProxyConfig pc;
  pc.workers = GetParam();
  pc.endpoints = {hole.address()};
  pc.connectTimeout = "300ms";
  ProxyProcess proxy;
  ASSERT_EQ(proxy.start(pc.yaml()), "");
  proxy.signal(SIGSTOP);
  ASSERT_TRUE(waitFor([&] { return stopped(proxy.pid()); }, 5s));
  constexpr std::size_t N = 600;
  std::vector<Fd> clients;
  for (std::size_t i = 0; i < N; ++i) {
    int err = 0;
    clients.push_back(connectLoopback(proxy.port(), 5s, &err));
    ASSERT_TRUE(clients.back()) << "client " << i << ": " << std::strerror(err);
  }
  proxy.signal(SIGCONT);
  // Every upstream connect times out after 300 ms, so every client is closed soon after; a
  // connect that lost its timeout would hang for the kernel's SYN retries (minutes).
  Deadline d(20s);
  std::size_t open = 0;
  std::string first;
  for (std::size_t i = 0; i < N; ++i) {
    const ReadEnd r = readToEnd(clients[i].get(), d);
    if (r.end == End::Eof)
      continue;
    if (++open == 1)
      first = "client " + std::to_string(i) + ": " + describe(r);
  }
  EXPECT_EQ(open, 0u) << "clients not closed within 20 s of a 300 ms connect timeout; first: "
                      << first;
  EXPECT_TRUE(proxy.running()) << proxy.logTail();
  EXPECT_EQ(proxy.stop(), 0) << proxy.logTail();
}

INSTANTIATE_TEST_SUITE_P(Workers, AcceptBurst, ::testing::Values(1u, 2u),
                         [](const auto& i) { return std::to_string(i.param) + "Workers"; });

// ---------------------------------------------------------------------------------------
// EMFILE: the binary runs with a small RLIMIT_NOFILE. Both parities of free descriptors are
// covered (each session takes two: client and upstream).

class Emfile : public ::testing::TestWithParam<rlim_t> {};

TEST_P(Emfile, ExistingConnectionsKeepWorkingAndAcceptsResume) {
  REQUIRE_URING();
  // UBSan's vptr check reads memory through a pipe() (sanitizer_common's
  // IsAccessibleMemoryRange); with no descriptor left that fails, and the first virtual call
  // of a kind made during EMFILE aborts with "invalid vptr" (not suppressible: the dynamic
  // type is unknown then). The plain build runs this test.
  if (sanitized())
    GTEST_SKIP() << "UBSan's vptr check needs free descriptors";
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed) + " RLIMIT_NOFILE=" + std::to_string(GetParam()));
  EchoServer echo;
  ProxyConfig pc;
  pc.workers = 1;
  pc.endpoints = {echo.address()};
  pc.admin = R"({ address: "127.0.0.1:0" })";
  ProxyProcess proxy;
  ProxyProcess::Options o;
  o.nofile = GetParam();
  ASSERT_EQ(proxy.start(pc.yaml(), o), "");
  ASSERT_TRUE(proxy.waitLog("admin listening on", 10s)) << proxy.logTail();
  std::smatch am;
  const std::string startLog = proxy.log();
  ASSERT_TRUE(
      std::regex_search(startLog, am, std::regex(R"(admin listening on 127\.0\.0\.1:([0-9]+))")))
      << startLog;
  const auto adminPort = static_cast<uint16_t>(std::stoi(am[1]));
  const int baseFds = proxy.openFds();
  SCOPED_TRACE("descriptors in use at start: " + std::to_string(baseFds));
  const RandomStream s(seed);

  // Sessions that exist before the burst.
  std::vector<Fd> existing;
  for (int i = 0; i < 8; ++i) {
    existing.push_back(connectLoopback(proxy.port()));
    ASSERT_TRUE(existing.back());
    ASSERT_EQ(echoRoundTrip(existing.back().get(), s, 0, 1000, Deadline(10s)), "")
        << "existing " << i << "\n"
        << proxy.logTail();
  }
  // The burst: more clients than descriptors. The kernel completes their handshakes; the
  // proxy can serve only some.
  std::vector<Fd> burst;
  for (int i = 0; i < 60; ++i) {
    burst.push_back(connectLoopback(proxy.port()));
    ASSERT_TRUE(burst.back()) << "burst client " << i;
  }
  ASSERT_TRUE(proxy.waitLog("pausing accepts", 10s))
      << "no 'pausing accepts' line; descriptors in use: " << proxy.openFds() << "\n"
      << proxy.logTail();
  // Accepts are retried every ~100 ms while the burst lasts: still one line for it.
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(proxy.countLog("pausing accepts"), 1) << proxy.logTail();
  // The admin thread runs out of descriptors too: a scrape attempt is not accepted, and the
  // admin listener neither spins nor logs per retry (one line per burst there as well).
  std::vector<Fd> scrapes;
  for (int i = 0; i < 3; ++i)
    scrapes.push_back(connectLoopback(adminPort));
  ASSERT_TRUE(proxy.waitLog("admin: accept", 10s)) << proxy.logTail();
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(proxy.countLog("admin: accept"), 1) << proxy.logTail();
  scrapes.clear();
  for (std::size_t i = 0; i < existing.size(); ++i)
    EXPECT_EQ(echoRoundTrip(existing[i].get(), s, 1000, 5000, Deadline(10s)), "")
        << "existing " << i << " during the burst\n"
        << proxy.logTail();
  EXPECT_TRUE(proxy.running()) << proxy.logTail();

  // The burst ends: its clients go away. Those still queued are accepted (and found closed)
  // first, which may briefly fill the table again; once that settled, new clients are served.
  burst.clear();
  const int settled = baseFds + 2 * static_cast<int>(existing.size()) + 2;
  EXPECT_TRUE(waitFor(
      [&] { return acceptQueueLength(proxy.port()) == 0 && proxy.openFds() <= settled; }, 10s))
      << "after the burst's clients closed: " << acceptQueueLength(proxy.port())
      << " still queued, " << proxy.openFds() << " descriptors in use (expected at most " << settled
      << ")\n"
      << proxy.logTail();
  for (int i = 0; i < 8; ++i) {
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    EXPECT_EQ(echoRoundTrip(c.get(), s, 0, 1000, Deadline(15s)), "")
        << "new client " << i << " after the burst\n"
        << proxy.logTail();
  }
  EXPECT_GE(proxy.countLog("accepting again"), 1) << proxy.logTail();
  {
    // The admin endpoint answers again once descriptors are back.
    Fd a = connectLoopback(adminPort);
    ASSERT_TRUE(a);
    const timeval tv{5, 0}; // bounded: a silent admin fails the test, never hangs it
    ASSERT_EQ(::setsockopt(a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
    const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    ASSERT_EQ(::send(a.get(), req.data(), req.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(req.size()));
    std::string got;
    char buf[512];
    for (ssize_t n;
         (n = testsupport::retryEintr([&] { return ::recv(a.get(), buf, sizeof buf, 0); })) > 0;)
      got.append(buf, static_cast<std::size_t>(n));
    EXPECT_THAT(got, ::testing::StartsWith("HTTP/1.1 200")) << proxy.logTail();
  }
  for (std::size_t i = 0; i < existing.size(); ++i)
    EXPECT_EQ(echoRoundTrip(existing[i].get(), s, 6000, 1000, Deadline(10s)), "")
        << "existing " << i << " after the burst";
  // A second burst is a new burst: one more line.
  for (int i = 0; i < 60; ++i)
    burst.push_back(connectLoopback(proxy.port()));
  EXPECT_TRUE(proxy.waitLog("pausing accepts", 10s, 2)) << proxy.logTail();
  burst.clear();
  existing.clear();
  EXPECT_EQ(proxy.stop(), 0) << proxy.logTail();
}

INSTANTIATE_TEST_SUITE_P(Limits, Emfile, ::testing::Values(rlim_t{64}, rlim_t{65}),
                         [](const auto& i) { return "Nofile" + std::to_string(i.param); });

} // namespace
} // namespace ringway::itest
