// Bytes through the in-process proxy: full-duplex random streams, many connections at once,
// half-close in each direction, RST propagation.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "integration/support.h"

namespace ringway::itest {
namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * 1024;

struct StreamParam {
  unsigned workers;
  const char* zerocopy; // io.zerocopy_threshold
  bool splice;          // io.splice (SEND_ZC applies to the buffer path only)
};

std::string paramName(const ::testing::TestParamInfo<StreamParam>& i) {
  return std::to_string(i.param.workers) + "Workers" +
         (std::strcmp(i.param.zerocopy, "off") == 0 ? "" : "ZeroCopy") +
         (i.param.splice ? "" : "Buffers");
}

// Workers x io.splice, for the suites that run on both L4 paths.
using PathParam = std::tuple<unsigned, bool>;
void applyPath(ProxyConfig& pc, const PathParam& p) {
  pc.workers = std::get<0>(p);
  pc.splice = std::get<1>(p) ? "true" : "false";
}
std::string pathName(const ::testing::TestParamInfo<PathParam>& i) {
  return std::to_string(std::get<0>(i.param)) + "Workers" + (std::get<1>(i.param) ? "" : "Buffers");
}
const auto BothPaths = ::testing::Combine(::testing::Values(1u, 2u), ::testing::Bool());

// ---------------------------------------------------------------------------------------
// 1. Full duplex: the client sends X while the upstream sends Y, on several connections.

class Bidirectional : public ::testing::TestWithParam<StreamParam> {};

TEST_P(Bidirectional, RandomStreamsBothWaysArriveIntact) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed) + " (rerun with RINGWAY_IT_SEED=" + hex64(seed) + ")");
  auto records = std::make_shared<std::vector<handlers::DuplexRecord>>();
  auto mu = std::make_shared<std::mutex>();
  Backend backend(handlers::duplex(records, mu));
  ProxyConfig pc;
  pc.workers = GetParam().workers;
  pc.zerocopy = GetParam().zerocopy;
  pc.splice = GetParam().splice ? "true" : "false";
  pc.endpoints = {backend.address()};
  InProcessProxy proxy(pc);

  constexpr int Conns = 3;
  std::vector<std::future<std::string>> clients;
  std::vector<uint64_t> seeds;
  for (int i = 0; i < Conns; ++i) {
    const uint64_t s = mix(seed + static_cast<uint64_t>(i));
    // Several MiB each way, lengths not multiples of anything.
    const uint64_t up = scaled(6 * MiB) + s % (256 * KiB);
    const uint64_t down = scaled(5 * MiB) + (s >> 20) % (256 * KiB);
    seeds.push_back(s);
    clients.push_back(std::async(std::launch::async, [&proxy, s, up, down] {
      return runDuplexClient(proxy.port(), s, up, down, 60s);
    }));
  }
  for (int i = 0; i < Conns; ++i) {
    const std::string problems = clients[static_cast<std::size_t>(i)].get();
    EXPECT_EQ(problems, "") << "connection " << i << " (stream seed " << hex64(seeds[i]) << ")";
  }
  // Which path carried the bytes: kernel pipes, or the buffer pool.
  if (GetParam().splice) {
    EXPECT_GT(proxy.splicedBytes(), 0u) << "io.splice is on, yet nothing was spliced\n"
                                        << proxy.stats();
  } else {
    EXPECT_EQ(proxy.splicedBytes(), 0u) << "io.splice is off, yet bytes were spliced\n"
                                        << proxy.stats();
  }
  if (std::strcmp(GetParam().zerocopy, "off") != 0) {
    EXPECT_GT(proxy.zeroCopySends(), 0u) << "zerocopy_threshold is set, yet no SEND_ZC was issued\n"
                                         << proxy.stats();
  }
  ASSERT_TRUE(waitFor([&] { return backend.finished() == Conns; }, 10s))
      << "backend handlers finished: " << backend.finished() << " of " << Conns;
  std::lock_guard<std::mutex> g(*mu);
  ASSERT_EQ(records->size(), static_cast<std::size_t>(Conns));
  for (const auto& r : *records) {
    EXPECT_TRUE(r.intact) << r.report;
    EXPECT_EQ(r.pump.sendErr, 0) << "backend send: " << std::strerror(r.pump.sendErr) << " after "
                                 << r.pump.sent << " of " << r.header.down << " bytes";
    EXPECT_EQ(r.pump.read.end, End::Eof) << "backend read ended with " << toString(r.pump.read.end);
  }
}

INSTANTIATE_TEST_SUITE_P(Workers, Bidirectional,
                         ::testing::Values(StreamParam{1, "off", true}, StreamParam{2, "off", true},
                                           StreamParam{1, "off", false},
                                           StreamParam{2, "off", false},
                                           StreamParam{1, "4KiB", false},
                                           StreamParam{2, "4KiB", false}),
                         paramName);

// ---------------------------------------------------------------------------------------
// 2. Many connections at once, each with a small random payload, echoed and checked.

class ManyConnections : public ::testing::TestWithParam<PathParam> {};

TEST_P(ManyConnections, EveryConnectionEchoesItsOwnPayload) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed) + " (rerun with RINGWAY_IT_SEED=" + hex64(seed) + ")");
  // Four descriptors per connection live in this process: client, proxy's two, echo's.
  std::size_t n = 1000;
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < n * 4 + 256) {
    n = rl.rlim_cur > 512 ? (rl.rlim_cur - 256) / 4 : 64;
    std::printf("note: RLIMIT_NOFILE %llu: using %zu connections\n",
                static_cast<unsigned long long>(rl.rlim_cur), n);
  }
  EchoServer echo;
  ProxyConfig pc;
  applyPath(pc, GetParam());
  pc.endpoints = {echo.address()};
  InProcessProxy proxy(pc);
  const ManyResult r = exchangeMany(proxy.port(), n, seed, 8 * KiB, 30s);
  EXPECT_EQ(r.failures, "") << "of " << n << " connections; connected " << r.connected << ", done "
                            << r.done << ", echo accepted " << echo.accepted() << "\n"
                            << proxy.stats();
}

INSTANTIATE_TEST_SUITE_P(Workers, ManyConnections, BothPaths, pathName);

// ---------------------------------------------------------------------------------------
// 3. Half-close: a FIN goes through, the other direction stays open.

class HalfClose : public ::testing::TestWithParam<PathParam> {
protected:
  void SetUp() override {
    seed_ = testSeed();
    aLen_ = scaled(1 * MiB) + seed_ % (64 * KiB);
    bLen_ = scaled(1 * MiB) + (seed_ >> 24) % (64 * KiB);
  }
  uint64_t seed_ = 0, aLen_ = 0, bLen_ = 0; // a: client -> upstream, b: upstream -> client
};

TEST_P(HalfClose, ClientFinReachesUpstreamWhichStillAnswers) {
  REQUIRE_URING();
  SCOPED_TRACE("seed=" + hex64(seed_) + " (rerun with RINGWAY_IT_SEED=" + hex64(seed_) + ")");
  const uint64_t aSeed = mix(seed_), bSeed = mix(seed_ + 1), aLen = aLen_, bLen = bLen_;
  std::promise<std::string> upstreamSide;
  auto upstreamResult = upstreamSide.get_future();
  Backend backend([&, aSeed, bSeed, aLen, bLen](int fd) {
    // Read all of a up to the client's FIN first; only then answer with b.
    StreamChecker in("client->upstream", aSeed, aLen);
    StreamChecker none("none", 0, 0);
    PumpOptions o;
    o.finAfterSend = false;
    PumpResult r = pump(fd, RandomStream(0), 0, in, Deadline(30s), o);
    std::string problems;
    if (r.read.end != End::Eof)
      problems +=
          std::string("upstream did not see the client's FIN: ") + toString(r.read.end) + "\n";
    if (!in.intact())
      problems += in.report() + "\n";
    if (problems.empty()) {
      PumpOptions o2;
      o2.readToEof = false; // we already saw EOF
      PumpResult w = pump(fd, RandomStream(bSeed), bLen, none, Deadline(30s), o2);
      if (w.sendErr != 0)
        problems += std::string("upstream's answer after the FIN failed: ") +
                    std::strerror(w.sendErr) + " after " + std::to_string(w.sent) + " bytes\n";
    }
    upstreamSide.set_value(problems);
  });
  ProxyConfig pc;
  applyPath(pc, GetParam());
  pc.endpoints = {backend.address()};
  InProcessProxy proxy(pc);

  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  StreamChecker in("upstream->client", bSeed, bLen);
  PumpResult r = pump(c.get(), RandomStream(aSeed), aLen, in, Deadline(60s));
  ASSERT_EQ(upstreamResult.wait_for(30s), std::future_status::ready) << "upstream never finished";
  EXPECT_EQ(upstreamResult.get(), "");
  EXPECT_EQ(r.sendErr, 0) << std::strerror(r.sendErr);
  EXPECT_EQ(r.read.end, End::Eof) << toString(r.read.end);
  EXPECT_TRUE(in.intact()) << in.report();
}

TEST_P(HalfClose, UpstreamFinReachesClientWhichStillSends) {
  REQUIRE_URING();
  SCOPED_TRACE("seed=" + hex64(seed_) + " (rerun with RINGWAY_IT_SEED=" + hex64(seed_) + ")");
  const uint64_t aSeed = mix(seed_), bSeed = mix(seed_ + 1), aLen = aLen_, bLen = bLen_;
  std::promise<std::string> upstreamSide;
  auto upstreamResult = upstreamSide.get_future();
  Backend backend([&, aSeed, bSeed, aLen, bLen](int fd) {
    // Send all of b and FIN at once, then read what the client sends after that.
    StreamChecker none("none", 0, 0);
    PumpOptions o;
    o.readToEof = false;
    PumpResult w = pump(fd, RandomStream(bSeed), bLen, none, Deadline(30s), o);
    std::string problems;
    if (w.sendErr != 0)
      problems += std::string("upstream send: ") + std::strerror(w.sendErr) + "\n";
    StreamChecker in("client->upstream", aSeed, aLen);
    PumpOptions o2;
    o2.finAfterSend = false;
    PumpResult r = pump(fd, RandomStream(0), 0, in, Deadline(30s), o2);
    if (r.read.end != End::Eof)
      problems += std::string("upstream read after its FIN ended with ") + toString(r.read.end) +
                  (r.read.err ? std::string(" (") + std::strerror(r.read.err) + ")" : "") + "\n";
    if (!in.intact())
      problems += in.report() + "\n";
    upstreamSide.set_value(problems);
  });
  ProxyConfig pc;
  applyPath(pc, GetParam());
  pc.endpoints = {backend.address()};
  InProcessProxy proxy(pc);

  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  // First everything from upstream, up to its FIN ...
  StreamChecker in("upstream->client", bSeed, bLen);
  PumpOptions o;
  o.finAfterSend = false;
  PumpResult r = pump(c.get(), RandomStream(0), 0, in, Deadline(30s), o);
  EXPECT_EQ(r.read.end, End::Eof) << "client did not see the upstream's FIN: "
                                  << toString(r.read.end);
  EXPECT_TRUE(in.intact()) << in.report();
  // ... then the client's whole stream the other way, and its FIN.
  StreamChecker none("none", 0, 0);
  PumpOptions o2;
  o2.readToEof = false;
  PumpResult w = pump(c.get(), RandomStream(aSeed), aLen, none, Deadline(30s), o2);
  EXPECT_EQ(w.sendErr, 0) << "client send after the upstream's FIN: " << std::strerror(w.sendErr)
                          << " after " << w.sent << " of " << aLen << " bytes";
  ASSERT_EQ(upstreamResult.wait_for(30s), std::future_status::ready) << "upstream never finished";
  EXPECT_EQ(upstreamResult.get(), "");
  // Both FINs passed: the proxy closes the client's socket as well.
  EXPECT_EQ(readToEnd(c.get(), Deadline(10s)).end, End::Eof);
}

INSTANTIATE_TEST_SUITE_P(Workers, HalfClose, BothPaths, pathName);

// ---------------------------------------------------------------------------------------
// 4. RST on one side becomes RST on the other.

class ResetPropagation : public ::testing::TestWithParam<PathParam> {};

TEST_P(ResetPropagation, UpstreamResetReachesClient) {
  REQUIRE_URING();
  Backend backend(handlers::resetter(5));
  ProxyConfig pc;
  applyPath(pc, GetParam());
  pc.endpoints = {backend.address()};
  InProcessProxy proxy(pc);
  for (int i = 0; i < 4; ++i) { // a few, so both workers get some with 2
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    ASSERT_EQ(sendAll(c.get(), "hello", 5, Deadline(5s)), 0);
    const ReadEnd r = readToEnd(c.get(), Deadline(10s));
    EXPECT_EQ(r.end, End::Reset) << "connection " << i << ": client saw " << toString(r.end)
                                 << (r.err ? std::string(" ") + std::strerror(r.err) : "")
                                 << " instead of ECONNRESET";
  }
}

TEST_P(ResetPropagation, ClientResetReachesUpstream) {
  REQUIRE_URING();
  std::mutex mu;
  std::vector<ReadEnd> seen;
  std::atomic<int> greeted{0};
  Backend backend([&](int fd) {
    char hello[5];
    std::size_t got = 0;
    readExact(fd, hello, 5, Deadline(10s), &got);
    ++greeted;
    const ReadEnd r = readToEndOrReset(fd, Deadline(5s));
    std::lock_guard<std::mutex> g(mu);
    seen.push_back(r);
  });
  ProxyConfig pc;
  applyPath(pc, GetParam());
  pc.endpoints = {backend.address()};
  InProcessProxy proxy(pc);
  constexpr int N = 4;
  for (int i = 0; i < N; ++i) {
    Fd c = connectLoopback(proxy.port());
    ASSERT_TRUE(c);
    ASSERT_EQ(sendAll(c.get(), "hello", 5, Deadline(5s)), 0);
    ASSERT_TRUE(waitFor([&] { return greeted.load() == i + 1; }, 10s)) << "hello never arrived";
    resetClose(c);
  }
  ASSERT_TRUE(waitFor([&] { return backend.finished() == N; }, 15s));
  std::lock_guard<std::mutex> g(mu);
  for (const ReadEnd& r : seen)
    EXPECT_EQ(r.end, End::Reset) << "upstream saw " << toString(r.end)
                                 << (r.err ? std::string(" ") + std::strerror(r.err) : "")
                                 << " instead of ECONNRESET after the client's RST";
}

// The client resets while the upstream is streaming to it: the upstream's sends must fail
// soon rather than the proxy holding the connection open.
TEST_P(ResetPropagation, ClientResetStopsUpstreamStream) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed));
  std::promise<PumpResult> upstreamSide;
  auto upstreamResult = upstreamSide.get_future();
  Backend backend([&](int fd) {
    StreamChecker none("none", 0, 0);
    PumpOptions o;
    o.finAfterSend = false;
    o.readToEof = false;
    upstreamSide.set_value(pump(fd, RandomStream(seed), 1ULL << 40, none, Deadline(20s), o));
  });
  ProxyConfig pc;
  applyPath(pc, GetParam());
  pc.endpoints = {backend.address()};
  InProcessProxy proxy(pc);
  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  std::vector<uint8_t> buf(1 * MiB);
  std::size_t got = 0;
  readExact(c.get(), buf.data(), buf.size(), Deadline(10s), &got);
  ASSERT_EQ(got, buf.size());
  resetClose(c);
  ASSERT_EQ(upstreamResult.wait_for(30s), std::future_status::ready);
  const PumpResult r = upstreamResult.get();
  EXPECT_TRUE(r.sendErr == ECONNRESET || r.sendErr == EPIPE)
      << "upstream send ended with " << (r.sendErr ? std::strerror(r.sendErr) : "no error")
      << " after " << r.sent << " bytes; expected ECONNRESET/EPIPE once the client reset";
}

// The mirror: the upstream resets while the client is streaming to it; the client's sends
// must fail soon.
TEST_P(ResetPropagation, UpstreamResetStopsClientStream) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed));
  Backend backend(handlers::resetter(1 * MiB));
  ProxyConfig pc;
  applyPath(pc, GetParam());
  pc.endpoints = {backend.address()};
  InProcessProxy proxy(pc);
  Fd c = connectLoopback(proxy.port());
  ASSERT_TRUE(c);
  StreamChecker none("none", 0, 0);
  PumpOptions o;
  o.finAfterSend = false;
  o.readToEof = false;
  const PumpResult r = pump(c.get(), RandomStream(seed), 1ULL << 40, none, Deadline(20s), o);
  EXPECT_TRUE(r.sendErr == ECONNRESET || r.sendErr == EPIPE)
      << "client send ended with " << (r.sendErr ? std::strerror(r.sendErr) : "no error")
      << " after " << r.sent << " bytes; expected ECONNRESET/EPIPE once the upstream reset";
}

INSTANTIATE_TEST_SUITE_P(Workers, ResetPropagation, BothPaths, pathName);

} // namespace
} // namespace ringway::itest
