#include "io/uring_loop.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
