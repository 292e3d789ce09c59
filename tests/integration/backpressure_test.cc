// Backpressure: a slow or stalled reader on one side must not make the proxy hold more than
// max_inflight_per_connection per direction, starve other connections, or grow its memory.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "integration/proxy_process.h"
#include "integration/support.h"

namespace ringway::itest {
namespace {

constexpr uint64_t KiB = 1024, MiB = 1024 * 1024;

// ---------------------------------------------------------------------------------------
// In process: upstreams stop reading; what the proxy holds is visible in its buffer pool.

struct StallParam {
  unsigned workers;
  unsigned stalled; // connections whose upstream stops reading
  bool splice;      // io.splice: bytes wait in kernel pipes, the pool stays untouched
};

class StalledUpstream : public ::testing::TestWithParam<StallParam> {};

// Each client pushes until everything on the way is full; then the buffers held are counted
// and another connection must still be served. With 7 stalled connections on one worker the
// configured bound (7 x 256 KiB = 112 buffers of 16 KiB) leaves 16 of the 128 for others.
TEST_P(StalledUpstream, HoldsABoundedShareOfThePoolAndOthersAreServed) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed) + " (rerun with RINGWAY_IT_SEED=" + hex64(seed) + ")");
  const unsigned stalled = GetParam().stalled;
  constexpr unsigned Pool = 128;              // 16 KiB buffers per worker: 2 MiB
  constexpr uint64_t MaxInflight = 256 * KiB; // = 16 full buffers
  const uint64_t cap = 64 * MiB;              // far more than the kernel buffers on the way hold
  auto streamSeed = [seed](uint64_t i) { return mix(seed + i); };
  std::atomic<bool> gate{false};
  struct SlowResult {
    uint64_t index = 0;
    uint64_t received = 0;
    bool matches = false;
    std::string report;
  };
  std::mutex mu;
  std::vector<SlowResult> slowResults;
  // The first byte picks the role: 'S' + 8-byte index reads nothing until the gate opens,
  // then checks the whole stream; 'E' echoes.
  Backend backend([&](int fd) {
    char role = 0;
    std::size_t got = 0;
    readExact(fd, &role, 1, Deadline(10s), &got);
    if (role == 'E') {
      std::vector<uint8_t> buf(64 * KiB);
      for (;;) {
        const ssize_t k = ::recv(fd, buf.data(), buf.size(), 0);
        if (k <= 0 || sendAll(fd, buf.data(), static_cast<std::size_t>(k), Deadline(10s)) != 0)
          return;
      }
    }
    uint64_t index = 0;
    readExact(fd, &index, sizeof index, Deadline(10s), &got);
    // The client stops where its sends stalled; how much that was, it tells afterwards.
    StreamChecker in("client->upstream #" + std::to_string(index), streamSeed(index), cap);
    SlowResult result{index, 0, false, "gate never opened"};
    if (waitFor([&] { return gate.load(); }, 60s)) {
      PumpOptions o;
      o.finAfterSend = false;
      const PumpResult r = pump(fd, RandomStream(0), 0, in, Deadline(60s), o);
      result.received = in.received();
      result.matches = in.matchesSoFar() && r.read.end == End::Eof;
      result.report = in.report() + ", read ended " + toString(r.read.end);
    }
    std::lock_guard<std::mutex> g(mu);
    slowResults.push_back(result);
  });
  ProxyConfig pc;
  pc.workers = GetParam().workers;
  pc.splice = GetParam().splice ? "true" : "false";
  pc.endpoints = {backend.address()};
  pc.buffersPerWorker = Pool;
  pc.maxInflight = "256KiB";
  InProcessProxy proxy(pc);

  std::vector<Fd> slow;
  std::vector<uint64_t> sent(stalled, 0);
  for (uint64_t i = 0; i < stalled; ++i) {
    slow.push_back(connectLoopback(proxy.port()));
    ASSERT_TRUE(slow.back());
    char hello[9] = {'S'};
    std::memcpy(hello + 1, &i, sizeof i);
    ASSERT_EQ(sendAll(slow.back().get(), hello, sizeof hello, Deadline(5s)), 0);
    setNonBlocking(slow.back().get(), true);
  }
  // Push on every connection until nothing moves for half a second.
  std::vector<uint8_t> chunk(256 * KiB);
  auto fillUntilStalled = [&]() -> std::string {
    for (;;) {
      std::vector<pollfd> p;
      for (auto& f : slow)
        p.push_back({f.get(), POLLOUT, 0});
      if (::poll(p.data(), p.size(), 500) == 0)
        return ""; // all stalled
      for (std::size_t i = 0; i < stalled; ++i) {
        if (!(p[i].revents & POLLOUT))
          continue;
        const std::size_t n =
            static_cast<std::size_t>(std::min<uint64_t>(chunk.size(), cap - sent[i]));
        RandomStream(streamSeed(i)).fill(sent[i], chunk.data(), n);
        const ssize_t w = ::send(slow[i].get(), chunk.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && errno != EAGAIN)
          return std::string("send: ") + std::strerror(errno);
        if (w > 0)
          sent[i] += static_cast<uint64_t>(w);
        if (sent[i] == cap)
          return "the kernel absorbed " + std::to_string(cap) +
                 " bytes without the upstream reading: cannot test backpressure";
      }
    }
  };
  ASSERT_EQ(fillUntilStalled(), "");
  std::this_thread::sleep_for(300ms); // the loops publish buffersFree on their 100 ms tick
  uint64_t held = 0;
  for (uint64_t f : proxy.buffersFree())
    held += Pool - f;
  std::printf("%u stalled connection(s) hold %llu buffers (%u per worker)\n", stalled,
              static_cast<unsigned long long>(held), Pool);
  if (GetParam().splice) {
    // A splice relay's bytes wait in its pipe (at most max_inflight_per_connection) and the
    // sockets: none in the pool.
    EXPECT_EQ(held, 0u) << "splice relays hold pool buffers\n" << proxy.stats();
    EXPECT_GT(proxy.splicedBytes(), 0u) << proxy.stats();
  } else if (stalled == 1) {
    // The queue toward the upstream stops reading at 256 KiB (16 buffers here); what was in
    // flight then may come on top. Allow as much again, and a little.
    EXPECT_LE(held, 2 * (MaxInflight / (16 * KiB)) + 8)
        << "max_inflight_per_connection is 256 KiB (16 buffers), yet one connection into a "
           "stalled upstream holds "
        << held << " buffers of 16 KiB\n"
        << proxy.stats();
  }

  // Another connection is still served (with one worker, by the same worker).
  {
    Fd other = connectLoopback(proxy.port());
    ASSERT_TRUE(other);
    ASSERT_EQ(sendAll(other.get(), "E", 1, Deadline(5s)), 0);
    EXPECT_EQ(echoRoundTrip(other.get(), RandomStream(seed + 1), 0, 1 * MiB, Deadline(15s)), "")
        << "a connection was starved while " << stalled << " upstream(s) are stalled\n"
        << proxy.stats();
  }

  // The clients end their streams where they stalled and the upstreams read again: every
  // byte accepted arrives, in order.
  for (auto& f : slow)
    ::shutdown(f.get(), SHUT_WR);
  gate = true;
  ASSERT_TRUE(waitFor([&] { return backend.finished() == static_cast<int>(stalled) + 1; }, 60s))
      << "upstreams never finished";
  {
    std::lock_guard<std::mutex> g(mu);
    ASSERT_EQ(slowResults.size(), stalled);
    for (const auto& r : slowResults) {
      EXPECT_TRUE(r.matches) << r.report;
      EXPECT_EQ(r.received, sent[r.index]) << r.report;
    }
  }
  for (auto& f : slow)
    EXPECT_EQ(readToEnd(f.get(), Deadline(10s)).end, End::Eof);
  slow.clear();
  EXPECT_EQ(proxy.waitPoolsFree(5s), "");
}

INSTANTIATE_TEST_SUITE_P(Workers, StalledUpstream,
                         ::testing::Values(StallParam{1, 1, false}, StallParam{2, 1, false},
                                           StallParam{1, 7, false}, StallParam{1, 1, true},
                                           StallParam{1, 7, true}),
                         [](const auto& i) {
                           return std::to_string(i.param.workers) + "Workers" +
                                  std::to_string(i.param.stalled) + "Stalled" +
                                  (i.param.splice ? "" : "Buffers");
                         });

// A slowly reading upstream: each time it takes a little, the proxy's queue toward it drops
// below half and reading from the client resumes. The queue (and so the pool) must stay near
// max_inflight_per_connection through every such cycle, not only once reading has stopped.

class SlowUpstream : public ::testing::TestWithParam<std::tuple<unsigned, bool>> {};

TEST_P(SlowUpstream, PoolUseStaysNearTheLimitThroughResumeCycles) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed) + " (rerun with RINGWAY_IT_SEED=" + hex64(seed) + ")");
  constexpr unsigned Pool = 128;
  const uint64_t volume = scaled(8 * MiB) + seed % (64 * KiB);
  PumpOptions slow;
  slow.readChunk = 16 * KiB;
  slow.readPause = std::chrono::microseconds(500);
  auto records = std::make_shared<std::vector<handlers::DuplexRecord>>();
  auto mu = std::make_shared<std::mutex>();
  Backend backend(handlers::duplex(records, mu, slow));
  ProxyConfig pc;
  pc.workers = std::get<0>(GetParam());
  const bool splice = std::get<1>(GetParam());
  pc.splice = splice ? "true" : "false";
  pc.endpoints = {backend.address()};
  pc.buffersPerWorker = Pool;
  pc.maxInflight = "256KiB";
  InProcessProxy proxy(pc);
  // buffersFree reads 0 until a loop publishes it after its first events.
  ASSERT_EQ(proxy.waitPoolsFree(5s), "");

  std::atomic<bool> done{false};
  uint64_t peak = 0;
  std::thread sampler([&] {
    while (!done.load()) {
      for (uint64_t f : proxy.buffersFree())
        peak = std::max<uint64_t>(peak, Pool - f);
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
  });
  const std::string problems = runDuplexClient(proxy.port(), seed, volume, 0, 60s);
  done = true;
  sampler.join();
  EXPECT_EQ(problems, "");
  ASSERT_TRUE(waitFor([&] { return backend.finished() == 1; }, 10s));
  {
    std::lock_guard<std::mutex> g(*mu);
    for (const auto& r : *records)
      EXPECT_TRUE(r.intact) << r.report;
  }
  std::printf("slow upstream: peak %llu of %u buffers held\n",
              static_cast<unsigned long long>(peak), Pool);
  // Splice: the bytes wait in the relay's pipe, never in the pool. Buffers: 256 KiB is 16 full
  // buffers; allow as much again in flight, and a little.
  const uint64_t bound = splice ? 0 : 2u * 16u + 8u;
  EXPECT_LE(peak, bound) << "one connection with max_inflight_per_connection 256 KiB held "
                                 << peak << " of " << Pool << " buffers of 16 KiB at some point\n"
                                 << proxy.stats();
  EXPECT_EQ(proxy.waitPoolsFree(5s), "");
}

INSTANTIATE_TEST_SUITE_P(Workers, SlowUpstream,
                         ::testing::Combine(::testing::Values(1u, 2u), ::testing::Bool()),
                         [](const auto& i) {
                           return std::to_string(std::get<0>(i.param)) + "Workers" +
                                  (std::get<1>(i.param) ? "" : "Buffers");
                         });

// ---------------------------------------------------------------------------------------
// The real binary: 64 MiB through a slow reader; its RSS stays within the buffer pools plus
// a margin, and the data arrives intact.

enum class Direction { Upload, Download };

class SlowReaderRss : public ::testing::TestWithParam<std::tuple<Direction, bool>> {};

TEST_P(SlowReaderRss, MemoryStaysBoundedAndDataArrivesIntact) {
  REQUIRE_URING();
  const uint64_t seed = testSeed();
  SCOPED_TRACE("seed=" + hex64(seed) + " (rerun with RINGWAY_IT_SEED=" + hex64(seed) + ")");
  const bool upload = std::get<0>(GetParam()) == Direction::Upload;
  const uint64_t volume = scaled(64 * MiB) + seed % (64 * KiB);
  PumpOptions slow;
  slow.readChunk = 64 * KiB;
  slow.readPause = std::chrono::microseconds(300);
  auto records = std::make_shared<std::vector<handlers::DuplexRecord>>();
  auto mu = std::make_shared<std::mutex>();
  Backend backend(handlers::duplex(records, mu, upload ? slow : PumpOptions{}));
  ProxyConfig pc;
  pc.workers = 2;
  pc.splice = std::get<1>(GetParam()) ? "true" : "false";
  pc.endpoints = {backend.address()};
  ProxyProcess proxy;
  ASSERT_EQ(proxy.start(pc.yaml()), "");
  // Warm up (first allocations, a few buffers touched), then measure from there.
  ASSERT_EQ(runDuplexClient(proxy.port(), seed + 1, 256 * KiB, 256 * KiB, 20s), "");
  const long base = proxy.rss();
  ASSERT_GT(base, 0);

  std::atomic<bool> done{false};
  std::atomic<long> peak{base};
  std::thread sampler([&] {
    while (!done.load()) {
      const long r = proxy.rss();
      if (r > peak.load())
        peak = r;
      std::this_thread::sleep_for(10ms);
    }
  });
  const std::string problems =
      runDuplexClient(proxy.port(), seed, upload ? volume : 0, upload ? 0 : volume, 120s,
                      upload ? PumpOptions{} : slow);
  done = true;
  sampler.join();
  EXPECT_EQ(problems, "");
  ASSERT_TRUE(waitFor([&] { return backend.finished() == 2; }, 10s));
  {
    std::lock_guard<std::mutex> g(*mu);
    for (const auto& r : *records)
      EXPECT_TRUE(r.intact) << r.report;
  }
  std::printf("RSS %ld KiB at start, peak %ld KiB (+%ld KiB) for %llu bytes\n", base, peak.load(),
              peak.load() - base, static_cast<unsigned long long>(volume));
  // Both pools (2 workers x 512 x 16 KiB) may get touched; beyond that, a margin.
  const long poolKiB = 2 * 512 * 16;
  const long marginKiB = (sanitized() ? 48 : 16) * 1024;
  EXPECT_LT(peak.load() - base, poolKiB + marginKiB)
      << "RSS grew from " << base << " KiB to " << peak.load() << " KiB while " << volume
      << " bytes went " << (upload ? "up" : "down") << " through a slow reader";
  EXPECT_EQ(proxy.stop(), 0) << proxy.logTail();
}

INSTANTIATE_TEST_SUITE_P(Directions, SlowReaderRss,
                         ::testing::Combine(::testing::Values(Direction::Upload,
                                                              Direction::Download),
                                            ::testing::Bool()),
                         [](const auto& i) {
                           return std::string(std::get<0>(i.param) == Direction::Upload
                                                  ? "Upload"
                                                  : "Download") +
                                  (std::get<1>(i.param) ? "" : "Buffers");
                         });

} // namespace
} // namespace ringway::itest
