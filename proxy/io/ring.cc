#include "io/ring.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "io/assert.h"

// liburing 2.3 predates min-wait (kernel 6.12 uapi): the getevents arg's `pad` became
// min_wait_usec.
#ifndef IORING_FEAT_MIN_TIMEOUT
#define IORING_FEAT_MIN_TIMEOUT (1U << 15)
#endif

namespace ringway::io {

namespace {
constexpr unsigned kFeatMinTimeout = IORING_FEAT_MIN_TIMEOUT;
constexpr unsigned kBusyBatch = 4;  // CQEs in the last turn that make the next wait batched
}  // namespace

Result<Ring*> Ring::create(const RingOptions& opt) {
  // Most capable first; older kernels refuse flags they don't know with EINVAL.
  const unsigned base = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
  const unsigned tries[] = {
      base | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
      base | IORING_SETUP_COOP_TASKRUN,
      IORING_SETUP_CQSIZE,
  };
  int err = 0;
  for (unsigned flags : tries) {
    if (!opt.tryDeferTaskrun && (flags & IORING_SETUP_DEFER_TASKRUN)) continue;
    auto* r = new Ring();
    io_uring_params p{};
    p.flags = flags;
    p.cq_entries = opt.entries * 4;  // bursts of multishot CQEs outrun SQEs
    int rc = io_uring_queue_init_params(opt.entries, &r->ring_, &p);
    if (rc == 0) {
      r->flags_ = flags;
      if (opt.waitBatch > 1 && opt.minWaitUs > 0 && (p.features & kFeatMinTimeout)) {
        r->waitBatch_ = opt.waitBatch;
        r->minWaitUs_ = opt.minWaitUs;
      }
      return r;
    }
    delete r;
    err = -rc;
    if (err != EINVAL) break;  // ENOMEM, EPERM (disabled), ENOSYS: no point retrying
  }
  return Error{err, "io_uring_queue_init_params"};
}

Ring::~Ring() { io_uring_queue_exit(&ring_); }

const char* Ring::mode() const {
  if (flags_ & IORING_SETUP_DEFER_TASKRUN) return "single_issuer+defer_taskrun";
  if (flags_ & IORING_SETUP_COOP_TASKRUN) return "coop_taskrun";
  return "plain";
}

io_uring_sqe* Ring::sqe() {
  io_uring_sqe* s = io_uring_get_sqe(&ring_);
  if (s == nullptr) {  // SQ full: hand the kernel what we have, retry once
    submit();
    s = io_uring_get_sqe(&ring_);
  }
  RINGWAY_ASSERT(s != nullptr);
  io_uring_sqe_set_data64(s, 0);  // slots are reused; never inherit user_data
  return s;
}

void Ring::reserve(unsigned n) {
  if (io_uring_sq_space_left(&ring_) < n) submit();
}

__kernel_timespec* Ring::stashTimespec(uint64_t ms) {
  // submit() empties the stash. Callers building a link chain stash before taking SQEs.
  if (tsUsed_ == ts_.size()) submit();
  __kernel_timespec* t = &ts_[tsUsed_++];
  t->tv_sec = static_cast<long long>(ms / 1000);
  t->tv_nsec = static_cast<long long>((ms % 1000) * 1000000);
  return t;
}

void Ring::countPending() {
  // Count by opcode what is about to be submitted (tail - head of our local SQ view).
  const unsigned head = ring_.sq.sqe_head, tail = ring_.sq.sqe_tail;
  const unsigned mask = ring_.sq.ring_mask;
  for (unsigned i = head; i != tail; ++i) {
    const uint8_t op = ring_.sq.sqes[i & mask].opcode;
    if (op < IORING_OP_LAST) bump(counters_.sqesByOp[op]);
  }
  bump(counters_.sqes, tail - head);
}

int Ring::submit() {
  countPending();
  int rc;
  do {
    rc = io_uring_submit(&ring_);
    if (rc == -EBUSY) io_uring_get_events(&ring_);  // CQ overflow backlog: flush, retry
  } while (rc == -EBUSY || rc == -EINTR);
  bump(counters_.enters);
  tsUsed_ = 0;
  return rc;
}

int Ring::submitAndWait() {
  countPending();
  // Only when the last turn was busy (many connections): a lone bulk stream's turn has two
  // CQEs, and holding its next send back for minWaitUs cost a third of its throughput.
  const bool batch = waitBatch_ > 1 && lastBatch_ >= kBusyBatch;
  int rc = batch ? enterMinWait() : io_uring_submit_and_wait(&ring_, 1);
  bump(counters_.enters);
  bump(counters_.loops);
  tsUsed_ = 0;
  return rc;
}

// One io_uring_enter that submits and waits for waitBatch_ CQEs, or for minWaitUs_ with at
// least one: under load a turn handles several requests' events for one syscall, and a lone
// event waits at most minWaitUs_. liburing 2.3 cannot pass min_wait_usec, so publish the SQ
// tail as its submit does (single issuer, no SQPOLL) and enter directly.
int Ring::enterMinWait() {
  io_uring_sq* sq = &ring_.sq;
  const unsigned tail = sq->sqe_tail;
  if (sq->sqe_head != tail) {
    sq->sqe_head = tail;
    io_uring_smp_store_release(sq->ktail, tail);
  }
  const unsigned toSubmit = tail - io_uring_smp_load_acquire(sq->khead);
  // Without an overall timeout the kernel ends the wait with -ETIME once min_wait passes with
  // no CQE (seen on 6.18); with one, a lone CQE after min_wait ends it. The loop's own tick
  // wakes it well before this one.
  static __kernel_timespec forever{1, 0};
  io_uring_getevents_arg arg{};
  arg.pad = minWaitUs_;  // min_wait_usec
  arg.ts = reinterpret_cast<uintptr_t>(&forever);
  const long rc = ::syscall(__NR_io_uring_enter, ring_.ring_fd, toSubmit, waitBatch_,
                            IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG, &arg, sizeof arg);
  return rc < 0 ? -errno : static_cast<int>(rc);
}

unsigned Ring::reap() {
  io_uring_cqe* cqes[MaxBatch];
  struct Ev {
    uint64_t data;
    int res;
    uint32_t flags;
  } ev[MaxBatch];
  unsigned total = 0;
  for (;;) {
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, MaxBatch);
    if (n == 0) {
      // The kernel parks CQEs it had no room for (FEAT_NODROP); pull them in.
      if (io_uring_cq_has_overflow(&ring_)) {
        io_uring_get_events(&ring_);
        bump(counters_.enters);
        continue;
      }
      break;
    }
    for (unsigned i = 0; i < n; ++i) ev[i] = {cqes[i]->user_data, cqes[i]->res, cqes[i]->flags};
    io_uring_cq_advance(&ring_, n);  // release the CQ before handlers run and submit
    for (unsigned i = 0; i < n; ++i) {
      const unsigned tag = static_cast<unsigned>(ev[i].data & 7);
      bump(counters_.cqesByTag[ev[i].data ? tag : 0]);
      if (ev[i].data == 0) continue;
      auto* c = reinterpret_cast<Completion*>(ev[i].data & ~uint64_t{7});
      c->onComplete(ev[i].res, ev[i].flags, tag);
    }
    total += n;
    // Handlers may have submitted (a full SQ) and so produced CQEs: handle those too before
    // the loop waits again (BufferRing's bundle slots rely on it).
    if (n < MaxBatch && io_uring_cq_ready(&ring_) == 0) break;
  }
  lastBatch_ = total;
  bump(counters_.cqes, total);
  unsigned b = 0;
  while (b < std::size(RingCounters::kBatchBounds) && total > RingCounters::kBatchBounds[b]) ++b;
  bump(counters_.batchHist[b]);
  bump(counters_.batchSum, total);
  return total;
}

}  // namespace ringway::io
