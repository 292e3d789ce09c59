// Bytes through each backend: full-duplex random streams, half-close each way, RST each way.
// The same expectations as tests/integration (which runs io_uring in-process), here against
// the real binary for every backend.
#include <cstdlib>
#include <cstring>
#include <future>
#include <mutex>

#include "backends/backend_fixture.h"

namespace ringway::itest {
namespace {

using Streams = BackendTest;


TEST_P(Streams, RandomStreamsBothWaysArriveIntact) {
  SKIP_IF_UNAVAILABLE();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed) + " (rerun with RINGWAY_IT_SEED=" + hex64(seed) + ")");
  auto records = std::make_shared<std::vector<handlers::DuplexRecord>>();
  auto mu = std::make_shared<std::mutex>();
  Backend be(handlers::duplex(records, mu));
  ProxyConfig pc;
  pc.endpoints = {be.address()};
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");

  constexpr int Conns = 3;
  std::vector<std::future<std::string>> clients;
  for (int i = 0; i < Conns; ++i) {
    const uint64_t s = mix(seed + static_cast<uint64_t>(i));
    // Lengths not multiples of any buffer size.
    const uint64_t up = scaled(3 * MiB) + s % (256 * KiB);
    const uint64_t down = scaled(2 * MiB) + (s >> 20) % (256 * KiB);
    clients.push_back(std::async(std::launch::async, [&proxy, s, up, down] {
      return runDuplexClient(proxy.port(), s, up, down, 60s);
    }));
  }
  for (int i = 0; i < Conns; ++i)
    EXPECT_EQ(clients[static_cast<std::size_t>(i)].get(), "") << "connection " << i;
  ASSERT_TRUE(waitFor([&] { return be.finished() == Conns; }, 10s))
      << "backend handlers finished: " << be.finished() << " of " << Conns;
  std::lock_guard<std::mutex> g(*mu);
  for (const auto& r : *records) {
    EXPECT_TRUE(r.intact) << r.report;
    EXPECT_EQ(r.pump.sendErr, 0) << std::strerror(r.pump.sendErr);
    EXPECT_EQ(r.pump.read.end, End::Eof) << toString(r.pump.read.end);
  }
  EXPECT_NOTHING_LEFT_OPEN(proxy);
}

TEST_P(Streams, ClientFinReachesUpstreamWhichStillAnswers) {
  SKIP_IF_UNAVAILABLE();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed));
  const uint64_t aSeed = mix(seed), bSeed = mix(seed + 1);
  const uint64_t aLen = scaled(512 * KiB) + seed % 4096, bLen = scaled(512 * KiB) + seed % 777;
  std::promise<std::string> upstreamSide;
  auto upstreamResult = upstreamSide.get_future();
  Backend be([&, aSeed, bSeed, aLen, bLen](int fd) {
    // All of a up to the client's FIN first; only then the answer b.
    StreamChecker in("client->upstream", aSeed, aLen), none("none", 0, 0);
    PumpOptions o;
    o.finAfterSend = false;
    PumpResult r = pump(fd, RandomStream(0), 0, in, Deadline(30s), o);
    std::string problems;
    if (r.read.end != End::Eof)
      problems += std::string("upstream did not see the client's FIN: ") + toString(r.read.end);
    if (!in.intact()) problems += in.report();
    if (problems.empty()) {
      PumpOptions o2;
      o2.readToEof = false;
      PumpResult w = pump(fd, RandomStream(bSeed), bLen, none, Deadline(30s), o2);
      if (w.sendErr != 0) problems += std::string("answer after FIN: ") + std::strerror(w.sendErr);
    }
    upstreamSide.set_value(problems);
  });
  ProxyConfig pc;
  pc.endpoints = {be.address()};
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  StreamChecker in("upstream->client", bSeed, bLen);
  PumpResult r = pump(c.get(), RandomStream(aSeed), aLen, in, Deadline(60s));
  ASSERT_EQ(upstreamResult.wait_for(30s), std::future_status::ready) << "upstream never finished";
  EXPECT_EQ(upstreamResult.get(), "");
  EXPECT_EQ(r.sendErr, 0) << std::strerror(r.sendErr);
  EXPECT_EQ(r.read.end, End::Eof) << toString(r.read.end);
  EXPECT_TRUE(in.intact()) << in.report();
  EXPECT_NOTHING_LEFT_OPEN(proxy);
}

TEST_P(Streams, UpstreamFinReachesClientWhichStillSends) {
  SKIP_IF_UNAVAILABLE();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed));
  const uint64_t aSeed = mix(seed), bSeed = mix(seed + 1);
  const uint64_t aLen = scaled(512 * KiB) + seed % 999, bLen = scaled(512 * KiB) + seed % 4097;
  std::promise<std::string> upstreamSide;
  auto upstreamResult = upstreamSide.get_future();
  Backend be([&, aSeed, bSeed, aLen, bLen](int fd) {
    // All of b and FIN at once, then read what the client sends after that.
    StreamChecker none("none", 0, 0), in("client->upstream", aSeed, aLen);
    PumpOptions o;
    o.readToEof = false;
    PumpResult w = pump(fd, RandomStream(bSeed), bLen, none, Deadline(30s), o);
    std::string problems;
    if (w.sendErr != 0) problems += std::string("upstream send: ") + std::strerror(w.sendErr);
    PumpOptions o2;
    o2.finAfterSend = false;
    PumpResult r = pump(fd, RandomStream(0), 0, in, Deadline(30s), o2);
    if (r.read.end != End::Eof)
      problems += std::string(" upstream read after its FIN: ") + toString(r.read.end);
    if (!in.intact()) problems += in.report();
    upstreamSide.set_value(problems);
  });
  ProxyConfig pc;
  pc.endpoints = {be.address()};
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  StreamChecker in("upstream->client", bSeed, bLen), none("none", 0, 0);
  PumpOptions o;
  o.finAfterSend = false;
  PumpResult r = pump(c.get(), RandomStream(0), 0, in, Deadline(30s), o);
  EXPECT_EQ(r.read.end, End::Eof) << "client did not see the upstream's FIN";
  EXPECT_TRUE(in.intact()) << in.report();
  PumpOptions o2;
  o2.readToEof = false;
  PumpResult w = pump(c.get(), RandomStream(aSeed), aLen, none, Deadline(30s), o2);
  EXPECT_EQ(w.sendErr, 0) << "client send after the upstream's FIN: " << std::strerror(w.sendErr);
  ASSERT_EQ(upstreamResult.wait_for(30s), std::future_status::ready) << "upstream never finished";
  EXPECT_EQ(upstreamResult.get(), "");
  // Both FINs passed: the proxy closes the client's socket as well.
  EXPECT_EQ(readToEnd(c.get(), Deadline(10s)).end, End::Eof);
  EXPECT_NOTHING_LEFT_OPEN(proxy);
}

TEST_P(Streams, UpstreamResetReachesClient) {
  SKIP_IF_UNAVAILABLE();
  Backend be(handlers::resetter(5));
  ProxyConfig pc;
  pc.endpoints = {be.address()};
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  for (int i = 0; i < 3; ++i) {
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    ASSERT_EQ(sendAll(c.get(), "hello", 5, Deadline(5s)), 0);
    const ReadEnd r = readToEnd(c.get(), Deadline(10s));
    EXPECT_EQ(r.end, End::Reset) << "connection " << i << ": client saw " << toString(r.end)
                                 << " instead of ECONNRESET";
  }
}

TEST_P(Streams, ClientResetReachesUpstream) {
  SKIP_IF_UNAVAILABLE();
  std::mutex mu;
  std::vector<ReadEnd> seen;
  std::atomic<int> greeted{0};
  Backend be([&](int fd) {
    char hello[5];
    std::size_t got = 0;
    readExact(fd, hello, 5, Deadline(10s), &got);
    ++greeted;
    const ReadEnd r = readToEndOrReset(fd, Deadline(5s));
    std::lock_guard<std::mutex> g(mu);
    seen.push_back(r);
  });
  ProxyConfig pc;
  pc.endpoints = {be.address()};
  ProxyProcess proxy;
  ASSERT_EQ(start(proxy, pc), "");
  constexpr int N = 3;
  for (int i = 0; i < N; ++i) {
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    ASSERT_EQ(sendAll(c.get(), "hello", 5, Deadline(5s)), 0);
    ASSERT_TRUE(waitFor([&] { return greeted.load() == i + 1; }, 10s)) << "hello never arrived";
    resetClose(c);
  }
  ASSERT_TRUE(waitFor([&] { return be.finished() == N; }, 15s));
  std::lock_guard<std::mutex> g(mu);
  for (const ReadEnd& r : seen)
    EXPECT_EQ(r.end, End::Reset) << "upstream saw " << toString(r.end)
                                 << " instead of ECONNRESET after the client's RST";
}

INSTANTIATE_FOR_BACKENDS(Streams);

}  // namespace
}  // namespace ringway::itest
