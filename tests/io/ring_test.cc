#include "io/ring.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "io/buffer_ring.h"
#include "io/probe.h"

namespace ringway::io {
namespace {

#define REQUIRE_URING()                                  \
  do {                                                   \
    if (!probe().ok) GTEST_SKIP() << probe().why;        \
  } while (0)

struct Recorder final : Completion {
  struct Ev {
    int res;
    uint32_t flags;
    unsigned tag;
  };
  std::vector<Ev> evs;
  void onComplete(int res, uint32_t flags, unsigned tag) override {
    evs.push_back({res, flags, tag});
  }
};

std::unique_ptr<Ring> makeRing(unsigned entries = 64) {
  auto r = Ring::create({entries, true});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().what);
  return std::unique_ptr<Ring>(r.ok() ? r.value() : nullptr);
}

// Wait (bounded) until `rec` has n events.
void pump(Ring& ring, Recorder& rec, std::size_t n) {
  for (int i = 0; i < 200 && rec.evs.size() < n; ++i) {
    ring.submitAndWait();
    ring.reap();
  }
}

TEST(Ring, NopCompletesWithItsTag) {
  REQUIRE_URING();
  auto ring = makeRing();
  Recorder rec;
  io_uring_prep_nop(ring->sqe());
  io_uring_sqe* s = ring->sqe();
  io_uring_prep_nop(s);
  io_uring_sqe_set_data64(s, userData(&rec, 5));
  pump(*ring, rec, 1);
  ASSERT_EQ(rec.evs.size(), 1u);  // the first NOP had user_data 0: nobody waits
  EXPECT_EQ(rec.evs[0].res, 0);
  EXPECT_EQ(rec.evs[0].tag, 5u);
  EXPECT_EQ(ring->counters().sqesByOp[IORING_OP_NOP].load(), 2u);
  EXPECT_GE(ring->counters().enters.load(), 1u);
}

TEST(Ring, FullSubmissionQueueIsFlushedNotLost) {
  REQUIRE_URING();
  auto ring = makeRing(64);
  Recorder rec;
  constexpr unsigned N = 1000;  // far more than the 64 SQ slots
  for (unsigned i = 0; i < N; ++i) {
    io_uring_sqe* s = ring->sqe();
    io_uring_prep_nop(s);
    io_uring_sqe_set_data64(s, userData(&rec, 1));
  }
  pump(*ring, rec, N);
  EXPECT_EQ(rec.evs.size(), N);
  EXPECT_EQ(ring->counters().sqes.load(), N);
}

TEST(Ring, CompletionQueueOverflowIsReapedNotDropped) {
  REQUIRE_URING();
  auto ring = makeRing(64);  // CQ is 256 entries
  Recorder rec;
  constexpr unsigned N = 2000;
  for (unsigned i = 0; i < N; ++i) {
    io_uring_sqe* s = ring->sqe();
    io_uring_prep_nop(s);
    io_uring_sqe_set_data64(s, userData(&rec, 2));
    if (i % 60 == 59) ring->submit();  // submit without reaping: the CQ overflows
  }
  pump(*ring, rec, N);
  EXPECT_EQ(rec.evs.size(), N);
}

TEST(Ring, LinkTimeoutCancelsAStuckRead) {
  REQUIRE_URING();
  auto ring = makeRing();
  Recorder rec;
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  char buf[16];
  ring->reserve(2);
  io_uring_sqe* s = ring->sqe();
  io_uring_prep_recv(s, sv[0], buf, sizeof buf, 0);
  io_uring_sqe_set_data64(s, userData(&rec, 3));
  s->flags |= IOSQE_IO_LINK;
  io_uring_prep_link_timeout(ring->sqe(), ring->stashTimespec(20), 0);
  pump(*ring, rec, 1);
  ASSERT_EQ(rec.evs.size(), 1u);
  EXPECT_EQ(rec.evs[0].res, -ECANCELED);
  close(sv[0]);
  close(sv[1]);
}

// A deliberately tiny buffer ring: the multishot recv ends with ENOBUFS once both buffers
// hold data, and after buffers return a re-armed recv gets the rest, in order.
TEST(BufferRing, EnobufsWhenDryThenResumesInOrder) {
  REQUIRE_URING();
  auto ring = makeRing();
  auto br = BufferRing::create(*ring, 3, 2, 1024);
  ASSERT_TRUE(br.ok()) << br.error().what;
  std::unique_ptr<BufferRing> pool(br.value());
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
  std::vector<char> sent(5000);
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>(i * 7 + 1);
  ASSERT_EQ(write(sv[1], sent.data(), sent.size()), static_cast<ssize_t>(sent.size()));

  Recorder rec;
  auto arm = [&] {
    io_uring_sqe* s = ring->sqe();
    io_uring_prep_recv_multishot(s, sv[0], nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = 3;
    io_uring_sqe_set_data64(s, userData(&rec, 1));
  };
  std::vector<char> got;
  std::vector<BufferRef> held;
  int enobufs = 0;
  arm();
  for (int round = 0; round < 50 && got.size() < sent.size(); ++round) {
    rec.evs.clear();
    pump(*ring, rec, 1);
    for (auto& e : rec.evs) {
      if (e.res > 0) {
        ASSERT_TRUE(e.flags & IORING_CQE_F_BUFFER);
        BufferRef b = pool->take(e.flags >> IORING_CQE_BUFFER_SHIFT, e.res);
        got.insert(got.end(), b.data(), b.data() + b.size());
        held.push_back(std::move(b));  // keep it: the ring runs dry
      } else if (e.res == -ENOBUFS) {
        ++enobufs;
        EXPECT_FALSE(e.flags & IORING_CQE_F_MORE);  // the multishot ended
        EXPECT_EQ(pool->freeCount(), 0u);
        held.clear();  // buffers go back...
        EXPECT_EQ(pool->freeCount(), 2u);
        arm();  // ...and only then is the recv re-armed
      }
    }
  }
  EXPECT_GE(enobufs, 1);
  ASSERT_EQ(got.size(), sent.size());
  EXPECT_EQ(got, sent);
  close(sv[1]);
  held.clear();
  close(sv[0]);
}

TEST(BufferRing, RejectsCountsThatAreNotPowersOfTwo) {
  REQUIRE_URING();
  auto ring = makeRing();
  auto br = BufferRing::create(*ring, 0, 3, 1024);
  ASSERT_FALSE(br.ok());
  EXPECT_EQ(br.error().code, EINVAL);
}

TEST(BufferRef, MoveReturnsOnceAndConsumeAdvances) {
  struct CountingPool final : BufferPool {
    std::vector<uint32_t> released;
    void release(uint32_t id) override { released.push_back(id); }
  } pool;
  char mem[8] = "abcdefg";
  {
    BufferRef a(&pool, 7, mem, 7);
    a.consume(3);
    EXPECT_EQ(a.size(), 4u);
    EXPECT_EQ(*a.data(), 'd');
    BufferRef b = std::move(a);
    EXPECT_FALSE(static_cast<bool>(a));
    EXPECT_TRUE(pool.released.empty());
  }
  ASSERT_EQ(pool.released.size(), 1u);
  EXPECT_EQ(pool.released[0], 7u);
}

}  // namespace
}  // namespace ringway::io
