#include "io/uring_loop.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "io/assert.h"
#include "io/log.h"
#include "io/loop_common.h"
#include "io/send_queue.h"

// liburing 2.3 predates these (kernel 6.2 uapi).
#ifndef IORING_SEND_ZC_REPORT_USAGE
#define IORING_SEND_ZC_REPORT_USAGE (1U << 3)
#endif
#ifndef IORING_NOTIF_USAGE_ZC_COPIED
#define IORING_NOTIF_USAGE_ZC_COPIED (1U << 31)
#endif

namespace ringway::io {

namespace {

// A multishot recv ends once this many bytes came (kernel 6.16+, probed with bundles): the
// u32 `optlen` of the uapi, where liburing 2.3 has addr_len and __pad3.
void setRecvTotalCap(io_uring_sqe* s, uint32_t bytes) {
  static_assert(offsetof(io_uring_sqe, addr_len) == 44 && sizeof(s->addr_len) == 2 &&
                sizeof(s->__pad3) == 2);
  std::memcpy(&s->addr_len, &bytes, sizeof bytes);
}

enum Flag : uint32_t {
  WantRead = 1 << 0, // the handler wants data
  Reading = 1 << 1,  // a multishot recv is armed
  Starved = 1 << 2,  // recv ended on ENOBUFS; waits in the loop's starved list
  ReadDone = 1 << 3, // EOF or error seen: never read again
  Connecting = 1 << 4,
  Sending = 1 << 5, // a send is in flight
  ShutdownPending = 1 << 6,
  ShutdownDone = 1 << 7,
  Closing = 1 << 8,
  CloseAfterFlush = 1 << 9,
  Blocked = 1 << 10, // writeBlocked() was true; onWritable() owed
  WriteFailed = 1 << 11,
  RecvCancelSent = 1 << 12, // one cancel per armed recv: data in flight keeps coming till then
  // Backpressure was hit: from then on receive one buffer per recv. A multishot recv drains
  // the whole socket backlog (up to the socket's receive buffer, megabytes) into the pool in
  // one task-work run, so after a readStop() it would overshoot the per-connection bound; and
  // going back to multishot after a short read let a sender that refilled the window do it
  // again (seen: 107 of 128 buffers held by one connection).
  Throttled = 1 << 13,
  // A stream starts Throttled and moves to multishot after its first short read (the socket
  // was drained: a request/response peer), unless backpressure has been seen (then for good).
  PausedOnce = 1 << 14,
  FlushQueued = 1 << 15, // in the loop's list of sends to start at the end of the batch
  // Splice relay (Stream::spliceTo): a receive is a POLLIN poll (tag TagRecv, flag Reading)
  // followed by splice(2) calls, see pump().
  Splicing = 1 << 16,
  PollOut = 1 << 17,      // a POLLOUT poll (tag TagSend, never while Sending) for the splicer
  SpliceWaiter = 1 << 18, // the peer splicing into us waits until our send queue has drained
  NonBlocking = 1 << 19,  // O_NONBLOCK set (splice relays only; see UringLoop::socket())
};

constexpr unsigned kPumpReads = 8; // pipe-fulls per pump() before polling again

} // namespace

// Ops in flight are counted; close() cancels them and the fd is closed only after the last
// one's final CQE. Completion tags: TagRecv (multishot; final CQE lacks F_MORE), TagSend
// (SENDMSG, or SENDMSG_ZC whose last CQE is the NOTIF), TagConnect (its linked timeout has
// user_data 0), TagShutdown. The owner frees the stream after onClosed().
class UringStream final : public Stream, private Completion {
public:
  UringStream(UringLoop& loop, int fd) : loop_(loop), fd_(fd) {}
  ~UringStream() override {
    RINGWAY_ASSERT(inflight_ == 0);
    if (has(FlushQueued))
      loop_.removeFlush(this); // closed and freed within one batch
    givePipe();
    if (fd_ >= 0)
      closeFd(false); // never started: nothing in flight
    if (send_ != nullptr)
      loop_.giveSendQueue(std::exchange(send_, nullptr));
  }

  void setHandler(StreamHandler* h) override { handler_ = h; }
  int fd() const override { return fd_; }
  bool closing() const override { return has(Closing); }
  std::size_t queuedBytes() const override { return send_ ? send_->bytes : 0; }
  bool writeBlocked() const override {
    return send_ != nullptr &&
           (send_->bytes >= loop_.options().maxQueuedBytes || send_->count >= kMaxQueuedBuffers);
  }
  std::size_t writeRoom() const override {
    const std::size_t maxBytes = loop_.options().maxQueuedBytes;
    if (send_ == nullptr)
      return maxBytes;
    if (writeBlocked())
      return 0;
    // The buffer bound in bytes of full buffers, so a relay's receive cannot overshoot it.
    const std::size_t byCount =
        static_cast<std::size_t>(kMaxQueuedBuffers - send_->count) * loop_.buffers().bufferSize();
    return std::min(maxBytes - send_->bytes, byCount);
  }

  void connect(const sockaddr* addr, socklen_t len, uint64_t timeoutMs) override {
    Ring& r = loop_.ring();
    // Connect and its timeout must go in one submission, so nothing may submit between the
    // two SQEs: make room first, then stash the timespec (which may itself submit when its
    // stash is full), and only then take the SQEs.
    r.reserve(2);
    __kernel_timespec* ts = r.stashTimespec(timeoutMs);
    io_uring_sqe* s = r.sqe();
    io_uring_prep_connect(s, fd_, addr, len);
    io_uring_sqe_set_data64(s, userData(this, TagConnect));
    s->flags |= IOSQE_IO_LINK;
    io_uring_sqe* t = r.sqe();
    io_uring_prep_link_timeout(t, ts, 0);
    set(Connecting);
    ++inflight_;
  }

  bool spliceTo(Stream& to) override {
    auto* d = dynamic_cast<UringStream*>(&to);
    if (!loop_.options().splice || d == nullptr || d == this ||
        has(Splicing | Reading | ReadDone | Closing | Connecting) || d->has(Closing))
      return false;
    // splice(2) waits on a blocking socket (both for the read and the write end): both go
    // O_NONBLOCK. io_uring's own ops on them still poll as before.
    if (!makeNonBlocking() || !d->makeNonBlocking())
      return false;
    set(Splicing);
    return true;
  }

  void readStart() override {
    set(WantRead);
    arm();
  }

  void readStop() override {
    clear(WantRead);
    set(Throttled | PausedOnce);
    if (has(Reading) && !has(RecvCancelSent)) {
      io_uring_sqe* s = loop_.ring().sqe();
      io_uring_prep_cancel64(s, userData(this, TagRecv), 0);
      set(RecvCancelSent);
    }
    if (has(Starved)) {
      clear(Starved);
      loop_.removeStarved(this);
    }
  }

  void write(BufferRef data) override {
    if (has(Closing) || has(ShutdownPending) || has(WriteFailed))
      return; // dropped: returns
    if (send_ == nullptr)
      send_ = loop_.takeSendQueue();
    send_->push(std::move(data));
    if (writeBlocked())
      set(Blocked);
    // The send starts at the end of the batch, not now: what handlers queue meanwhile (an HTTP
    // head and its body, a bundle's buffers) goes out in the same SENDMSG.
    if (!has(Sending) && !has(Connecting))
      queueFlush();
  }

  // From the loop, once the batch of CQEs is handled (before anything is freed).
  void flushQueued() {
    clear(FlushQueued);
    if (has(Sending) || has(Connecting) || send_ == nullptr || send_->count == 0)
      return;
    if (has(PollOut))
      return; // the poll's CQE (same tag) flushes
    if (has(Closing) && !has(CloseAfterFlush))
      return;
    flush();
  }

  void shutdownWrite() override {
    if (has(Closing) || has(ShutdownPending))
      return;
    set(ShutdownPending);
    if (!has(Sending) && !has(Connecting) && queuedBytes() == 0)
      submitShutdown();
  }

  void close(CloseMode mode) override {
    if (has(Closing)) {
      if (mode == CloseMode::Graceful)
        return;
      clear(CloseAfterFlush); // escalate a pending graceful close
    }
    if (mode == CloseMode::Graceful && (has(Sending) || has(Connecting) || queuedBytes() > 0)) {
      set(Closing | CloseAfterFlush);
      return;
    }
    set(Closing);
    if (mode == CloseMode::Reset && fd_ >= 0) {
      linger l{1, 0}; // close() then sends RST instead of FIN
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      loop_.countSyscall();
    }
    if (has(Starved)) {
      clear(Starved);
      loop_.removeStarved(this);
    }
    // Queued buffers not in flight can go now; those in an in-flight send wait for its CQE.
    if (send_ != nullptr && !has(Sending))
      send_->clear();
    if (inflight_ == 0) {
      finish();
    } else {
      cancelInflight();
    }
  }

  // Called by the loop when buffers came back after ENOBUFS.
  void rearmAfterStarve() {
    clear(Starved);
    if (has(WantRead))
      arm();
  }

private:
  bool has(uint32_t f) const { return (flags_ & f) != 0; }
  void set(uint32_t f) { flags_ |= f; }
  void clear(uint32_t f) { flags_ &= ~f; }

  // Cancel each op in flight by its user_data: the kernel finds those in a hash table, where
  // a cancel by fd (IORING_ASYNC_CANCEL_FD) walks every armed request of the ring, so closing
  // N idle connections cost O(N^2) (9,900 took 13-15 s). At most one op per tag is in flight.
  void cancelInflight() {
    Ring& r = loop_.ring();
    auto cancel = [&](unsigned tag) {
      io_uring_sqe* s = r.sqe();
      io_uring_prep_cancel64(s, userData(this, tag), 0);
    };
    if (has(Reading) && !has(RecvCancelSent)) {
      cancel(TagRecv);
      set(RecvCancelSent);
    }
    if (has(Sending) || has(PollOut))
      cancel(TagSend); // SEND_ZC: its NOTIF still comes
    if (has(Connecting))
      cancel(TagConnect);
    if (has(ShutdownPending) && !has(ShutdownDone))
      cancel(TagShutdown); // if submitted
  }

  void arm() {
    if (has(Reading) || has(Starved) || has(ReadDone) || has(Closing))
      return;
    io_uring_sqe* s = loop_.ring().sqe();
    if (has(Splicing)) { // readiness only: pump() moves the bytes
      io_uring_prep_poll_add(s, fd_, POLLIN);
      io_uring_sqe_set_data64(s, userData(this, TagRecv));
      set(Reading);
      ++inflight_;
      return;
    }
    if (loop_.bundles()) {
      // A multishot recv that fills several buffers per CQE and ends (a CQE without F_MORE)
      // once `cap` bytes came: the handler's budget (a relay: the room in the other side's
      // queue, rounded up to a buffer), else the per-connection bound. Bulk costs one CQE per
      // up to 64 buffers and one SQE per cap, and a paused stream never overshoots.
      const uint32_t size = loop_.buffers().bufferSize();
      const std::size_t budget = handler_ != nullptr ? handler_->readBudget(*this) : 0;
      std::size_t cap =
          budget != 0 ? std::max<std::size_t>(budget, size) : loop_.options().maxQueuedBytes;
      cap = std::min<std::size_t>(cap, 1u << 30);
      io_uring_prep_recv_multishot(s, fd_, nullptr, 0, 0);
      s->len =
          static_cast<uint32_t>(std::min<std::size_t>(cap, std::size_t{kMaxBundleTake} * size));
      s->ioprio |= IORING_RECVSEND_BUNDLE;
      setRecvTotalCap(s, static_cast<uint32_t>(cap));
    } else if (has(Throttled)) {
      io_uring_prep_recv(s, fd_, nullptr, 0, 0); // one buffer, then look again
    } else {
      io_uring_prep_recv_multishot(s, fd_, nullptr, 0, 0);
    }
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = loop_.buffers().group();
    io_uring_sqe_set_data64(s, userData(this, TagRecv));
    set(Reading);
    ++inflight_;
  }

  void queueFlush() {
    if (has(FlushQueued))
      return;
    set(FlushQueued);
    loop_.queueFlush(this);
  }

  void flush() {
    SendQueue& st = *send_;
    const std::size_t total = st.gather();
    io_uring_sqe* s = loop_.ring().sqe();
    const std::size_t zcFrom = loop_.options().zerocopyThreshold;
    st.zc = zcFrom != 0 && total >= zcFrom;
    if (st.zc) {
      io_uring_prep_sendmsg_zc(s, fd_, &st.msg, MSG_NOSIGNAL);
      s->ioprio |= IORING_SEND_ZC_REPORT_USAGE;
      bump(loop_.stats().sendZc);
    } else {
      io_uring_prep_sendmsg(s, fd_, &st.msg, MSG_NOSIGNAL);
    }
    io_uring_sqe_set_data64(s, userData(this, TagSend));
    set(Sending);
    ++inflight_;
  }

  void submitShutdown() {
    io_uring_sqe* s = loop_.ring().sqe();
    io_uring_prep_shutdown(s, fd_, SHUT_WR);
    io_uring_sqe_set_data64(s, userData(this, TagShutdown));
    ++inflight_;
  }

  void onComplete(int res, uint32_t flags, unsigned tag) override {
    switch (tag) {
    case TagRecv:
      if (has(Splicing)) {
        onPollIn(res);
      } else {
        onRecv(res, flags);
      }
      break;
    case TagSend:
      if (has(PollOut)) {
        onPollOut();
      } else {
        onSend(res, flags);
      }
      break;
    case TagConnect:
      onConnected(res);
      break;
    case TagShutdown:
      --inflight_;
      set(ShutdownDone);
      break;
    default:
      RINGWAY_ASSERT(false);
    }
    if (has(Closing) && inflight_ == 0 && fd_ >= 0 && !has(CloseAfterFlush))
      finish();
  }

  void onRecv(int res, uint32_t flags) {
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more) {
      clear(Reading | RecvCancelSent);
      --inflight_;
    }
    BufferRing& pool = loop_.buffers();
    const uint32_t size = pool.bufferSize();
    if (res > static_cast<int>(size)) { // a bundle: consecutive ring slots, all full but the last
      onBundle(static_cast<uint32_t>(res), flags >> IORING_CQE_BUFFER_SHIFT, more);
      return;
    }
    BufferRef data;
    if (flags & IORING_CQE_F_BUFFER)
      data = pool.take(flags >> IORING_CQE_BUFFER_SHIFT, res > 0 ? res : 0);
    if (res > 0) {
      // Without bundles: drained without ever pausing, so multishot from now on.
      if (!more && !has(PausedOnce) && static_cast<uint32_t>(res) < size && !loop_.bundles())
        clear(Throttled);
      if (!has(Closing))
        handler_->onData(*this, std::move(data));
      if (!more && has(WantRead))
        arm(); // ended (single-shot, or the kernel's choice): re-arm
      return;
    }
    if (res == -ENOBUFS) {
      bump(loop_.stats().enobufs);
      if (has(Closing))
        return;
      set(Starved);
      loop_.addStarved(this); // re-armed when buffers come back, not now: never spin
      return;
    }
    if (res == -ECANCELED) {
      if (has(WantRead))
        arm(); // readStop() then readStart() before the cancel landed
      return;
    }
    if (has(Closing))
      return;
    set(ReadDone);
    handler_->onReadEnd(*this, res); // 0 = FIN
  }

  void onBundle(uint32_t res, uint32_t first, bool more) {
    BufferRing& pool = loop_.buffers();
    const uint32_t size = pool.bufferSize();
    // Take every buffer before the handler runs: it may close us, and all must go back.
    BufferRef got[kMaxBundleTake];
    uint32_t n = 0;
    for (uint32_t left = res; left > 0 && n < kMaxBundleTake; ++n) {
      const uint32_t len = std::min(left, size);
      got[n] = pool.take(pool.bundleId(first, n), len);
      left -= len;
    }
    RINGWAY_ASSERT(static_cast<uint64_t>(n) * size >= res);
    bump(loop_.ring().counters().recvBundles);
    bump(loop_.ring().counters().recvBundleBuffers, n);
    for (uint32_t i = 0; i < n; ++i)
      if (!has(Closing))
        handler_->onData(*this, std::move(got[i]));
    if (!more && has(WantRead))
      arm();
  }

  void onSend(int res, uint32_t flags) {
    SendQueue& st = *send_;
    if (flags & IORING_CQE_F_NOTIF) { // SEND_ZC: the kernel is done with the buffers
      if (res & IORING_NOTIF_USAGE_ZC_COPIED)
        bump(loop_.stats().sendZcCopied);
      res = st.zcResult;
    } else if (flags & IORING_CQE_F_MORE) { // SEND_ZC first CQE: keep buffers until NOTIF
      st.zcResult = res;
      return;
    }
    clear(Sending);
    --inflight_;
    if (res < 0) {
      st.clear();
      if (has(CloseAfterFlush)) { // a graceful close waited for this send: nothing left to wait
        clear(CloseAfterFlush);
        close(CloseMode::Now);
        return;
      }
      if (has(Closing))
        return;
      set(WriteFailed);
      handler_->onWriteError(*this, res);
      return;
    }
    st.consume(static_cast<std::size_t>(res)); // a short send leaves the tail for the next
    if (has(Closing) && !has(CloseAfterFlush)) {
      st.clear();
      return;
    }
    if (st.count > 0) {
      queueFlush(); // with what else this batch queues
    } else {
      if (has(ShutdownPending) && !has(ShutdownDone))
        submitShutdown();
      if (has(CloseAfterFlush)) {
        clear(CloseAfterFlush);
        close(CloseMode::Now);
        return;
      }
    }
    if (has(Blocked) && st.bytes <= loop_.options().maxQueuedBytes / 2 && st.count < 32) {
      clear(Blocked);
      handler_->onWritable(*this);
    }
    if (send_ != nullptr && send_->count == 0 && !has(Sending))
      loop_.giveSendQueue(std::exchange(send_, nullptr));
    if (has(SpliceWaiter) && send_ == nullptr) { // early bytes out: the splicer may go on
      clear(SpliceWaiter);
      if (UringStream* src = peer())
        src->pump();
    }
  }

  // ---- splice relay (spliceTo) ----

  // The other stream of the relay: the one this one splices into, or that splices into it.
  UringStream* peer() {
    Stream* s = handler_ != nullptr ? handler_->spliceTarget(*this) : nullptr;
    return s != nullptr ? dynamic_cast<UringStream*>(s) : nullptr;
  }

  bool makeNonBlocking() {
    if (has(NonBlocking))
      return true;
    loop_.countSyscall();
    if (::fcntl(fd_, F_SETFL, O_NONBLOCK) != 0)
      return false; // a socket has no other flag set
    set(NonBlocking);
    return true;
  }

  void givePipe() {
    if (pipe_ != PipePool::kNone)
      loop_.givePipe(std::exchange(pipe_, PipePool::kNone));
  }

  void onPollIn(int res) {
    clear(Reading | RecvCancelSent);
    --inflight_;
    if (has(Closing))
      return;
    if (res == -ECANCELED) {
      if (has(WantRead))
        arm(); // readStop() then readStart() before the cancel landed
      return;
    }
    pump(); // readable, EOF or an error: splice() tells which
  }

  void onPollOut() {
    clear(PollOut);
    --inflight_;
    if (has(Closing))
      return;
    if (send_ != nullptr && send_->count > 0)
      queueFlush(); // the splicer fell back meanwhile
    if (UringStream* src = peer())
      src->pump();
  }

  // The splicer's pipe can't empty into our socket: wait for room.
  void waitWritable() {
    if (has(PollOut) || has(Closing))
      return;
    io_uring_sqe* s = loop_.ring().sqe();
    io_uring_prep_poll_add(s, fd_, POLLOUT);
    io_uring_sqe_set_data64(s, userData(this, TagSend));
    set(PollOut);
    ++inflight_;
  }

  void spliceWriteFailed(int err) {
    if (has(Closing) || has(WriteFailed))
      return;
    set(WriteFailed);
    handler_->onWriteError(*this, err);
  }

  // One direction of a splice relay: socket -> pipe -> peer's socket, by non-blocking splice(2)
  // calls after a POLLIN (or the peer's POLLOUT). The pipe is ours only while it holds bytes;
  // every return leaves it empty and given back, except when the peer's socket is full (it
  // then waits for POLLOUT and calls us again). Up to kPumpReads pipe-fulls per call, then the
  // poll again (it fires at once if more came), so one bulk stream can't starve the others.
  void pump() {
    if (!has(Splicing) || has(Closing) || has(ReadDone))
      return;
    UringStream* d = peer();
    if (d == nullptr || d->has(Closing) || d->has(WriteFailed) || d->fd_ < 0) {
      givePipe(); // nowhere to go: the session is closing both
      return;
    }
    if (d->has(Sending) || d->queuedBytes() > 0) { // bytes written to it before us go first
      d->set(SpliceWaiter);
      return;
    }
    uint64_t syscalls = 0;
    const SpliceTurn t =
        spliceTurn(fd_, d->fd_, loop_.pipes(), pipe_, has(WantRead), true, kPumpReads, syscalls);
    loop_.countSyscalls(syscalls);
    if (t.moved > 0) {
      bump(loop_.stats().splicedBytes, t.moved);
      handler_->onSpliced(*this, t.moved);
      if (has(Closing))
        return;
    }
    switch (t.end) {
    case SpliceTurn::Drained:
    case SpliceTurn::Budget:
      if (has(WantRead))
        arm();
      return;
    case SpliceTurn::Full:
      d->waitWritable();
      return;
    case SpliceTurn::WriteError:
      d->spliceWriteFailed(t.err);
      return;
    case SpliceTurn::Eof:
    case SpliceTurn::ReadError:
      set(ReadDone);
      handler_->onReadEnd(*this, t.err); // 0 = FIN; everything before it was delivered
      return;
    case SpliceTurn::NoPipe: // out of descriptors: carry on through the buffer pool
      clear(Splicing);
      bump(loop_.stats().spliceFallbacks);
      arm();
      return;
    }
  }

  void onConnected(int res) {
    clear(Connecting);
    --inflight_;
    if (has(Closing) && !has(CloseAfterFlush))
      return;
    if (res == -ECANCELED)
      res = -ETIMEDOUT; // the linked timeout fired
    if (res == 0) {
      int one = 1; // a proxy forwards what it has at once; the ends do their own batching
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      loop_.countSyscall();
    }
    handler_->onConnect(*this, res);
    if (has(WriteFailed))
      return;
    if (res != 0) {
      if (has(CloseAfterFlush)) {
        clear(CloseAfterFlush);
        close(CloseMode::Now);
      }
      return;
    }
    if (has(Closing) && !has(CloseAfterFlush))
      return;
    if (queuedBytes() > 0) {
      if (!has(Sending))
        flush();
    } else if (has(CloseAfterFlush)) {
      clear(CloseAfterFlush);
      close(CloseMode::Now);
    } else if (has(ShutdownPending) && !has(ShutdownDone)) {
      submitShutdown();
    }
  }

  void finish() {
    givePipe();
    closeFd(true);
    if (send_ != nullptr) {
      send_->clear();
      loop_.giveSendQueue(std::exchange(send_, nullptr));
    }
    if (handler_ != nullptr)
      handler_->onClosed(*this);
  }

  void closeFd(bool count) {
    ::close(fd_);
    if (count)
      loop_.countSyscall();
    fd_ = -1;
  }

  static constexpr unsigned kMaxQueuedBuffers = 64; // per direction, with maxQueuedBytes
  static constexpr uint32_t kMaxBundleTake = 64;    // buffers per recv CQE at most

  UringLoop& loop_;
  StreamHandler* handler_ = nullptr;
  SendQueue* send_ = nullptr;
  int fd_;
  uint32_t flags_ = Throttled;
  uint16_t inflight_ = 0;
  uint16_t pipe_ = PipePool::kNone; // splice relays: ours while it holds bytes
};
// An idle proxied connection is two of these and a session (README, idle memory): 56 bytes
// is what malloc's 64-byte chunk holds.
static_assert(sizeof(UringStream) <= 56);

// Multishot accept on one listening socket (tag TagAccept; final CQE lacks F_MORE).
class UringAcceptor final : public Acceptor, private Completion {
public:
  UringAcceptor(UringLoop& loop, int fd, AcceptHandler& h) : loop_(loop), fd_(fd), handler_(h) {
    arm();
  }
  ~UringAcceptor() override {
    RINGWAY_ASSERT(!armed_);
    if (fd_ >= 0)
      ::close(fd_);
  }
  void pause() override {
    if (paused_ || stopping_)
      return;
    paused_ = true;
    if (armed_) {
      io_uring_sqe* s = loop_.ring().sqe();
      io_uring_prep_cancel64(s, userData(this, TagAccept), 0);
    }
  }
  void resume() override {
    paused_ = false;
    arm();
  }
  void stop() override {
    if (stopping_)
      return;
    stopping_ = true;
    if (armed_) {
      io_uring_sqe* s = loop_.ring().sqe();
      io_uring_prep_cancel64(s, userData(this, TagAccept), 0);
    } else {
      closeListener();
    }
  }
  bool stopped() const override { return stopping_ && !armed_; }

private:
  void arm() {
    if (armed_ || stopping_ || paused_)
      return;
    io_uring_sqe* s = loop_.ring().sqe();
    io_uring_prep_multishot_accept(s, fd_, nullptr, nullptr, SOCK_CLOEXEC); // see socket()
    io_uring_sqe_set_data64(s, userData(this, TagAccept));
    armed_ = true;
  }
  void closeListener() {
    if (fd_ >= 0) {
      ::close(fd_);
      loop_.countSyscall();
      fd_ = -1;
    }
  }
  void onComplete(int res, uint32_t flags, unsigned) override {
    const bool more = (flags & IORING_CQE_F_MORE) != 0;
    if (!more)
      armed_ = false;
    if (res >= 0) {
      if (stopping_) {
        ::close(res); // raced with stop(): refuse it
        loop_.countSyscall();
      } else {
        handler_.onAccept(res);
      }
    } else if (res != -ECANCELED && !stopping_) {
      if (res == -EMFILE || res == -ENFILE || res == -ENOBUFS || res == -ENOMEM) {
        paused_ = true; // the handler resumes us after a pause; keep serving meanwhile
        if (more) {
          io_uring_sqe* s = loop_.ring().sqe();
          io_uring_prep_cancel64(s, userData(this, TagAccept), 0);
        }
      }
      handler_.onAcceptError(res);
    }
    if (stopping_) {
      if (!armed_)
        closeListener();
      return;
    }
    if (!armed_)
      arm();
  }

  UringLoop& loop_;
  int fd_;
  AcceptHandler& handler_;
  bool armed_ = false;
  bool paused_ = false;
  bool stopping_ = false;
};

Result<UringLoop*> UringLoop::create(const UringOptions& opt) {
  RingOptions ro{opt.ringEntries, opt.tryDeferTaskrun, opt.waitBatch, opt.minWaitUs};
  // RINGWAY_URING_BATCH=N,US overrides the batched wait (0,0: off), for measuring it.
  if (const char* b = std::getenv("RINGWAY_URING_BATCH"); b != nullptr) {
    unsigned n = 0, us = 0;
    if (std::sscanf(b, "%u,%u", &n, &us) == 2) {
      ro.waitBatch = n;
      ro.minWaitUs = us;
    }
  }
  auto ring = Ring::create(ro);
  if (!ring.ok())
    return ring.error();
  std::unique_ptr<UringLoop> l(new UringLoop(opt));
  l->ring_.reset(ring.value());
  auto br = BufferRing::create(*l->ring_, 0, opt.bufferCount, opt.bufferSize);
  if (!br.ok())
    return br.error();
  l->buffers_.reset(br.value());
  // RINGWAY_URING_BUNDLES=0 turns bundles off: for measuring what they change.
  const char* env = std::getenv("RINGWAY_URING_BUNDLES");
  l->bundles_ = opt.bundles && !(env != nullptr && env[0] == '0') && BufferRing::bundlesSupported();
  l->wakeFd_ = eventfd(0, EFD_CLOEXEC); // blocking: io_uring polls it
  if (l->wakeFd_ < 0)
    return Error{errno, "eventfd"};
  l->updateNow();
  if (opt.splice)
    blockSigpipe();
  return l.release();
}

UringLoop::~UringLoop() {
  buffers_.reset(); // unregister before the ring goes
  ring_.reset();
  if (wakeFd_ >= 0)
    ::close(wakeFd_);
}

Result<int> UringLoop::socket(int family) {
  // Blocking on purpose: io_uring never blocks the thread on it (it tries non-blocking, then
  // polls), and an O_NONBLOCK socket can make IORING_OP_CONNECT report -EINPROGRESS.
  const int fd = ::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  countSyscall();
  if (fd < 0)
    return Error{errno, "socket"};
  return fd;
}

std::unique_ptr<Stream> UringLoop::stream(int fd) {
  return std::make_unique<UringStream>(*this, fd);
}

std::unique_ptr<Acceptor> UringLoop::acceptor(int listenFd, AcceptHandler& h) {
  return std::make_unique<UringAcceptor>(*this, listenFd, h);
}

void UringLoop::setTick(uint64_t ms, TickHandler& h) {
  tick_ = &h;
  tickTs_.tv_sec = static_cast<long long>(ms / 1000);
  tickTs_.tv_nsec = static_cast<long long>((ms % 1000) * 1000000);
  armTick();
}

void UringLoop::armTick() {
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_timeout(s, &tickTs_, 0, 0);
  io_uring_sqe_set_data64(s, userData(this, TagTick));
}

void UringLoop::setWake(WakeHandler& h) {
  wake_ = &h;
  armWake();
}

void UringLoop::armWake() {
  io_uring_sqe* s = ring_->sqe();
  io_uring_prep_read(s, wakeFd_, &wakeBuf_, sizeof wakeBuf_, 0);
  io_uring_sqe_set_data64(s, userData(this, TagWake));
}

void UringLoop::onComplete(int res, uint32_t, unsigned tag) {
  if (tag == TagTick) {
    rearmStarved(true);
    if (tick_ != nullptr)
      tick_->onTick();
    armTick();
  } else if (tag == TagWake) {
    if (res < 0 && res != -EAGAIN && res != -ECANCELED && res != -EINTR)
      LOG_ERROR("wake eventfd read failed: %d", res);
    if (wake_ != nullptr)
      wake_->onWake();
    armWake();
  }
}

void UringLoop::defer(Deferred& d) { deferred_.push(d); }

void UringLoop::runDeferred() { deferred_.run(); }

void UringLoop::addStarved(UringStream* s) { starved_.push_back(s); }

void UringLoop::removeStarved(UringStream* s) {
  auto it = std::find(starved_.begin(), starved_.end(), s);
  if (it != starved_.end()) {
    *it = starved_.back();
    starved_.pop_back();
  }
}

void UringLoop::rearmStarved(bool force) {
  const uint32_t returned = buffers_->takeReturned();
  if (starved_.empty())
    return;
  // Wait for a few buffers so a starved worker re-arms in batches rather than one recv per
  // returned buffer; the tick re-arms on any free buffer so nothing waits forever.
  const uint32_t want = force ? 1 : std::max<uint32_t>(1, buffers_->count() / 16);
  if ((returned == 0 && !force) || buffers_->freeCount() < want)
    return;
  std::vector<UringStream*> ready;
  ready.swap(starved_);
  for (UringStream* s : ready)
    s->rearmAfterStarve();
}

SendQueue* UringLoop::takeSendQueue() { return sendQueues_.take(); }

void UringLoop::givePipe(uint16_t i) { pipes_.give(i, otherSyscalls_); }

void UringLoop::giveSendQueue(SendQueue* q) { sendQueues_.give(q); }

void UringLoop::updateNow() { now_ = monotonicMs(); }

void UringLoop::runFlushes() {
  // A flush never queues another flush (it sets Sending), so the list only shrinks here.
  for (std::size_t i = 0; i < flushes_.size(); ++i)
    flushes_[i]->flushQueued();
  flushes_.clear();
}

void UringLoop::removeFlush(UringStream* s) {
  auto it = std::find(flushes_.begin(), flushes_.end(), s);
  if (it != flushes_.end())
    flushes_.erase(it);
}

void UringLoop::run() {
  stopping_ = false;
  while (!stopping_) {
    runFlushes(); // writes made outside a batch (before run(), by deferred work)
    ring_->submitAndWait();
    updateNow();
    ring_->reap();
    runFlushes();
    runDeferred();
    rearmStarved(false);
    stats_.buffersFree.store(buffers_->freeCount(), std::memory_order_relaxed);
    stats_.syscalls.store(ring_->counters().enters.load(std::memory_order_relaxed) + otherSyscalls_,
                          std::memory_order_relaxed);
  }
  ring_->submit(); // cancels and closes queued by the last handlers
}

// One file write (access logs): IORING_OP_WRITEV at the file position (-1), which O_APPEND
// makes the end. A regular file's write does not block the submitter: the kernel punts it to
// io-wq. One object per write, freed in its own onComplete (before the handler runs, which may
// start the next write): a flush every 64 KiB or 100 ms, not per request.
namespace {
class UringFileWrite final : private Completion {
public:
  static void start(Ring& ring, int fd, const iovec* iov, unsigned count, FileWriteHandler& h) {
    auto* w = new UringFileWrite(h);
    io_uring_sqe* s = ring.sqe();
    io_uring_prep_writev(s, fd, iov, count, static_cast<uint64_t>(-1));
    io_uring_sqe_set_data64(s, userData(w, TagNone));
  }

private:
  explicit UringFileWrite(FileWriteHandler& h) : h_(h) {}
  void onComplete(int res, uint32_t, unsigned) override {
    FileWriteHandler& h = h_;
    delete this;
    h.onFileWritten(res);
  }
  FileWriteHandler& h_;
};
} // namespace

void UringLoop::writeFile(int fd, const iovec* iov, unsigned count, FileWriteHandler& h) {
  UringFileWrite::start(*ring_, fd, iov, count, h);
}

} // namespace ringway::io
