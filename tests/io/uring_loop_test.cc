#include "io/uring_loop.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "io/probe.h"

namespace ringway::io {
namespace {

struct HeapPool final : BufferPool {
  std::vector<std::vector<char>> bufs;
  unsigned outstanding = 0;
  BufferRef make(const char* p, std::size_t n) {
    bufs.emplace_back(p, p + n);
    ++outstanding;
    return BufferRef(this, static_cast<uint32_t>(bufs.size() - 1), bufs.back().data(),
                     static_cast<uint32_t>(n));
  }
  void release(uint32_t) override { --outstanding; }
};

// Collects what a stream receives; can hold on to buffers to starve the pool.
struct Sink final : StreamHandler, TickHandler {
  UringLoop* loop = nullptr;
  std::vector<char> got;
  std::vector<BufferRef> held;
  bool hold = false;
  std::size_t want = 0;
  int ticks = 0;
  int readEnd = 1;  // 1 = not yet
  int closed = 0;
  void onConnect(Stream&, int) override {}
  void onData(Stream&, BufferRef d) override {
    got.insert(got.end(), d.data(), d.data() + d.size());
    if (hold) held.push_back(std::move(d));
    if (got.size() >= want) loop->stop();
  }
  void onReadEnd(Stream&, int err) override {
    readEnd = err;
    loop->stop();
  }
  void onWritable(Stream&) override {}
  void onWriteError(Stream&, int) override {}
  void onClosed(Stream&) override {
    if (++closed == 2) loop->stop();
  }
  void onTick() override {
    if (++ticks % 3 == 0) held.clear();  // give the buffers back: starved recvs re-arm
    loop->stop();  // let the test look at its condition; its loops are bounded
  }
};

struct UringLoopTest : ::testing::Test {
  std::unique_ptr<UringLoop> loop;
  int sv[2] = {-1, -1};
  void SetUp() override {
    if (!probe().ok) GTEST_SKIP() << probe().why;
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
  }
  void make(uint32_t count, uint32_t size, std::size_t zc = 0) {
    UringOptions o;
    o.bufferCount = count;
    o.bufferSize = size;
    o.zerocopyThreshold = zc;
    auto r = UringLoop::create(o);
    ASSERT_TRUE(r.ok()) << r.error().what;
    loop.reset(r.value());
  }
};

// A connected TCP pair over 127.0.0.1 (SEND_ZC needs TCP; AF_UNIX refuses it).
void tcpPair(int sv[2]) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(l, 1), 0);
  ASSERT_EQ(getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
  sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  connect(sv[0], reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS on loopback is fine
  sv[1] = accept4(l, nullptr, nullptr, SOCK_NONBLOCK);
  ASSERT_GE(sv[1], 0);
  close(l);
}

std::vector<char> randomBytes(std::size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<char> v(n);
  for (auto& c : v) c = static_cast<char>(rng());
  return v;
}

TEST_F(UringLoopTest, GatheredWritesArriveInOrder) {
  make(64, 4096);
  HeapPool pool;
  Sink sink;
  sink.loop = loop.get();
  auto a = loop->stream(sv[0]);
  auto b = loop->stream(sv[1]);
  a->setHandler(&sink);
  b->setHandler(&sink);
  loop->setTick(10, sink);
  const auto data = randomBytes(300000, 42);
  // Many small pieces of varying size: several SENDMSGs of up to 16 iovecs each.
  for (std::size_t off = 0, i = 0; off < data.size(); ++i) {
    const std::size_t n = std::min<std::size_t>(data.size() - off, 100 + (i * 37) % 3000);
    a->write(pool.make(data.data() + off, n));
    off += n;
  }
  sink.want = data.size();
  b->readStart();
  for (int i = 0; i < 500 && sink.got.size() < data.size(); ++i) loop->run();
  ASSERT_EQ(sink.got.size(), data.size());
  EXPECT_EQ(sink.got, data);
  EXPECT_EQ(pool.outstanding, 0u);  // every buffer returned once its send completed
  a->close(CloseMode::Graceful);
  b->close(CloseMode::Now);
  for (int i = 0; i < 500 && sink.closed < 2; ++i) loop->run();  // until both onClosed
  EXPECT_EQ(sink.closed, 2);
}

TEST_F(UringLoopTest, StarvedReceiveReArmsWhenBuffersReturn) {
  make(8, 1024);  // 8 KiB in all
  HeapPool pool;
  Sink sink;
  sink.loop = loop.get();
  sink.hold = true;
  auto a = loop->stream(sv[0]);
  auto b = loop->stream(sv[1]);
  a->setHandler(&sink);
  b->setHandler(&sink);
  loop->setTick(10, sink);
  const auto data = randomBytes(40000, 7);
  a->write(pool.make(data.data(), data.size()));
  sink.want = data.size();
  b->readStart();
  for (int i = 0; i < 500 && sink.got.size() < data.size(); ++i) loop->run();
  ASSERT_EQ(sink.got.size(), data.size());
  EXPECT_EQ(sink.got, data);
  EXPECT_GE(loop->stats().enobufs.load(), 1u);
  sink.held.clear();
  a->close(CloseMode::Now);
  b->close(CloseMode::Now);
  for (int i = 0; i < 500 && sink.closed < 2; ++i) loop->run();
  EXPECT_EQ(sink.closed, 2);
}

TEST_F(UringLoopTest, ZeroCopySendsKeepBuffersUntilNotification) {
  close(sv[0]);
  close(sv[1]);
  tcpPair(sv);
  make(64, 4096, 1024);
  HeapPool pool;
  Sink sink;
  sink.loop = loop.get();
  auto a = loop->stream(sv[0]);
  auto b = loop->stream(sv[1]);
  a->setHandler(&sink);
  b->setHandler(&sink);
  loop->setTick(10, sink);
  const auto data = randomBytes(200000, 9);
  for (std::size_t off = 0; off < data.size(); off += 8192)
    a->write(pool.make(data.data() + off, std::min<std::size_t>(8192, data.size() - off)));
  sink.want = data.size();
  b->readStart();
  for (int i = 0; i < 500 && sink.got.size() < data.size(); ++i) loop->run();
  ASSERT_EQ(sink.got.size(), data.size());
  EXPECT_EQ(sink.got, data);
  EXPECT_GE(loop->stats().sendZc.load(), 1u);
  for (int i = 0; i < 500 && pool.outstanding > 0; ++i) loop->run();
  EXPECT_EQ(pool.outstanding, 0u);
  a->close(CloseMode::Now);
  b->close(CloseMode::Now);
  for (int i = 0; i < 500 && sink.closed < 2; ++i) loop->run();
  EXPECT_EQ(sink.closed, 2);
}

TEST_F(UringLoopTest, ShutdownWriteDeliversEofAfterQueuedData) {
  make(64, 4096);
  HeapPool pool;
  Sink sink;
  sink.loop = loop.get();
  auto a = loop->stream(sv[0]);
  auto b = loop->stream(sv[1]);
  a->setHandler(&sink);
  b->setHandler(&sink);
  loop->setTick(10, sink);
  const auto data = randomBytes(50000, 3);
  a->write(pool.make(data.data(), data.size()));
  a->shutdownWrite();
  sink.want = data.size() + 1;  // keep running until the EOF
  b->readStart();
  for (int i = 0; i < 500 && sink.readEnd == 1; ++i) loop->run();
  EXPECT_EQ(sink.readEnd, 0);
  EXPECT_EQ(sink.got, data);
  a->close(CloseMode::Now);
  b->close(CloseMode::Now);
  for (int i = 0; i < 500 && sink.closed < 2; ++i) loop->run();
  EXPECT_EQ(sink.closed, 2);
}

// What a batch queues on a stream leaves in one SENDMSG (an HTTP head, then its body), not
// one send for the first write and another for the rest once that completes.
TEST_F(UringLoopTest, WritesQueuedInOneBatchLeaveInOneSend) {
  make(64, 4096);
  HeapPool pool;
  Sink sink;
  sink.loop = loop.get();
  auto a = loop->stream(sv[0]);
  auto b = loop->stream(sv[1]);
  a->setHandler(&sink);
  b->setHandler(&sink);
  loop->setTick(10, sink);
  const auto data = randomBytes(3000, 21);
  a->write(pool.make(data.data(), 200));  // "head"
  a->write(pool.make(data.data() + 200, data.size() - 200));  // "body"
  sink.want = data.size();
  b->readStart();
  for (int i = 0; i < 500 && sink.got.size() < data.size(); ++i) loop->run();
  ASSERT_EQ(sink.got, data);
  EXPECT_EQ(loop->ringCounters()->sqesByOp[IORING_OP_SENDMSG].load(), 1u);
  a->close(CloseMode::Now);
  b->close(CloseMode::Now);
  for (int i = 0; i < 500 && sink.closed < 2; ++i) loop->run();
  EXPECT_EQ(sink.closed, 2);
}

struct ConnectCounterLite final : StreamHandler, TickHandler {
  UringLoop* loop = nullptr;
  int closed = 0;
  void onConnect(Stream&, int) override {}
  void onData(Stream&, BufferRef) override {}
  void onReadEnd(Stream&, int) override {}
  void onWritable(Stream&) override {}
  void onWriteError(Stream&, int) override {}
  void onClosed(Stream&) override { ++closed; }
  void onTick() override { loop->stop(); }
};

// A bulk sender's backlog arrives in CQEs of several buffers each (receive bundles), in order.
TEST_F(UringLoopTest, BundlesCarrySeveralBuffersPerCompletionInOrder) {
  close(sv[0]);
  close(sv[1]);
  tcpPair(sv);
  make(64, 4096);
  if (!loop->bundles()) GTEST_SKIP() << "kernel without receive bundles and a multishot byte cap";
  HeapPool pool;
  Sink sink;
  sink.loop = loop.get();
  auto a = loop->stream(sv[0]);
  auto b = loop->stream(sv[1]);
  a->setHandler(&sink);
  b->setHandler(&sink);
  loop->setTick(10, sink);
  const auto data = randomBytes(1000000, 11);
  for (std::size_t off = 0; off < data.size(); off += 60000)
    a->write(pool.make(data.data() + off, std::min<std::size_t>(60000, data.size() - off)));
  sink.want = data.size();
  b->readStart();
  for (int i = 0; i < 2000 && sink.got.size() < data.size(); ++i) loop->run();
  ASSERT_EQ(sink.got.size(), data.size());
  EXPECT_EQ(sink.got, data);
  const RingCounters& c = *loop->ringCounters();
  const uint64_t recvCqes = c.cqesByTag[TagRecv].load();
  std::printf("1 MB in %llu recv CQEs, %llu of them bundles carrying %llu buffers\n",
              static_cast<unsigned long long>(recvCqes),
              static_cast<unsigned long long>(c.recvBundles.load()),
              static_cast<unsigned long long>(c.recvBundleBuffers.load()));
  EXPECT_GE(c.recvBundles.load(), 1u);
  EXPECT_LT(recvCqes, data.size() / 4096);  // fewer CQEs than buffers filled
  a->close(CloseMode::Now);
  b->close(CloseMode::Now);
  for (int i = 0; i < 500 && sink.closed < 2; ++i) loop->run();
  EXPECT_EQ(sink.closed, 2);
}

// A handler's read budget caps what one receive may deliver: a relay whose other side has
// room for `limit` bytes gets at most that (rounded up to a buffer), however much waits.
struct BudgetSink final : StreamHandler, TickHandler {
  UringLoop* loop = nullptr;
  std::size_t limit = 0;
  std::size_t got = 0;
  std::vector<BufferRef> held;
  int closed = 0;
  std::size_t readBudget(Stream&) override { return got < limit ? limit - got : 1; }
  void onConnect(Stream&, int) override {}
  void onData(Stream& s, BufferRef d) override {
    got += d.size();
    held.push_back(std::move(d));
    if (got >= limit) s.readStop();  // the relay's queue is full
  }
  void onReadEnd(Stream&, int) override {}
  void onWritable(Stream&) override {}
  void onWriteError(Stream&, int) override {}
  void onClosed(Stream&) override { ++closed; }
  void onTick() override { loop->stop(); }
};

TEST_F(UringLoopTest, ReceiveStopsAtTheHandlersBudget) {
  close(sv[0]);
  close(sv[1]);
  tcpPair(sv);
  make(256, 4096);
  if (!loop->bundles()) GTEST_SKIP() << "kernel without receive bundles and a multishot byte cap";
  const auto data = randomBytes(900000, 5);
  std::size_t sent = 0;
  for (int i = 0; i < 200 && sent < data.size(); ++i) {  // fill the socket's backlog
    const ssize_t n = ::send(sv[0], data.data() + sent, data.size() - sent, MSG_DONTWAIT);
    if (n <= 0) break;
    sent += static_cast<std::size_t>(n);
  }
  ASSERT_GT(sent, 200000u);
  BudgetSink sink;
  sink.loop = loop.get();
  sink.limit = 50000;  // not a multiple of the buffer size
  auto b = loop->stream(sv[1]);
  b->setHandler(&sink);
  loop->setTick(10, sink);
  b->readStart();
  for (int i = 0; i < 20; ++i) loop->run();  // ~200 ms: time to overshoot, if it would
  std::printf("budget %zu: received %zu of %zu waiting\n", sink.limit, sink.got, sent);
  EXPECT_GE(sink.got, sink.limit);
  EXPECT_LT(sink.got, sink.limit + 4096) << "a receive went past the handler's budget";
  sink.held.clear();
  b->close(CloseMode::Now);
  for (int i = 0; i < 500 && sink.closed < 1; ++i) loop->run();
  EXPECT_EQ(sink.closed, 1);
  close(sv[0]);
}

// Closing many idle streams cancels each one's receive by its own user_data (O(1) in the
// kernel), not by fd (a walk over every armed request), and every close finishes.
TEST_F(UringLoopTest, ClosingManyIdleStreamsFinishesWithOneCancelEach) {
  make(64, 4096);
  ConnectCounterLite h;
  h.loop = loop.get();
  loop->setTick(10, h);
  constexpr int N = 500;
  std::vector<int> peers;
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < N; ++i) {
    int p[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, p), 0);
    peers.push_back(p[0]);
    streams.push_back(loop->stream(p[1]));
    streams.back()->setHandler(&h);
    streams.back()->readStart();
  }
  loop->run();  // arm them all
  const RingCounters& c = *loop->ringCounters();
  const uint64_t cancelsBefore = c.sqesByOp[IORING_OP_ASYNC_CANCEL].load();
  for (auto& s : streams) s->close(CloseMode::Now);
  for (int i = 0; i < 500 && h.closed < N; ++i) loop->run();
  EXPECT_EQ(h.closed, N);
  EXPECT_EQ(c.sqesByOp[IORING_OP_ASYNC_CANCEL].load() - cancelsBefore, static_cast<uint64_t>(N));
  for (int p : peers) close(p);
}

}  // namespace
}  // namespace ringway::io

namespace ringway::io {
namespace {

struct ConnectCounter final : StreamHandler, TickHandler {
  UringLoop* loop = nullptr;
  int ok = 0, failed = 0, closed = 0;
  void onConnect(Stream&, int err) override { (err == 0 ? ok : failed)++; }
  void onData(Stream&, BufferRef) override {}
  void onReadEnd(Stream&, int) override {}
  void onWritable(Stream&) override {}
  void onWriteError(Stream&, int) override {}
  void onClosed(Stream&) override { ++closed; }
  void onTick() override { loop->stop(); }
};

// More connects in one turn than the timespec stash holds: every connect must still carry its
// own linked timeout, and no half-prepared SQE may reach the kernel.
TEST(UringLoopConnect, ManyConnectsInOneTurnEachGetATimeout) {
  if (!probe().ok) GTEST_SKIP() << probe().why;
  auto r = UringLoop::create(UringOptions{});
  ASSERT_TRUE(r.ok());
  std::unique_ptr<UringLoop> loop(r.value());
  int l = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(l, 1024), 0);
  ASSERT_EQ(getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
  ConnectCounter h;
  h.loop = loop.get();
  loop->setTick(10, h);
  constexpr int N = 600;
  std::vector<std::unique_ptr<Stream>> streams;
  for (int i = 0; i < N; ++i) {
    auto fd = loop->socket(AF_INET);
    ASSERT_TRUE(fd.ok());
    streams.push_back(loop->stream(fd.value()));
    streams.back()->setHandler(&h);
    streams.back()->connect(reinterpret_cast<sockaddr*>(&a), sizeof a, 5000);
  }
  for (int i = 0; i < 500 && h.ok + h.failed < N; ++i) loop->run();
  EXPECT_EQ(h.ok, N);
  const RingCounters& c = *loop->ringCounters();
  EXPECT_EQ(c.sqesByOp[IORING_OP_CONNECT].load(), static_cast<uint64_t>(N));
  EXPECT_EQ(c.sqesByOp[IORING_OP_LINK_TIMEOUT].load(), static_cast<uint64_t>(N));
  EXPECT_EQ(c.sqesByOp[IORING_OP_RECV].load(), 0u);  // nothing stale replayed
  for (auto& s : streams) s->close(CloseMode::Now);
  for (int i = 0; i < 500 && h.closed < N; ++i) loop->run();
  EXPECT_EQ(h.closed, N);
  close(l);
}

}  // namespace
}  // namespace ringway::io
