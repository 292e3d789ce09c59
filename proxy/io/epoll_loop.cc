#include "io/epoll_loop.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/assert.h"
#include "io/file_writer_thread.h"
#include "io/log.h"
#include "io/loop_common.h"
#include "io/send_queue.h"

namespace ringway::io {

// Fixed-size buffers in one block with a free stack: the readiness twin of BufferRing.
class HeapBufferPool final : public BufferPool {
public:
  HeapBufferPool(uint32_t count, uint32_t size) : count_(count), size_(size) {
    mem_ = static_cast<char*>(mmap(nullptr, static_cast<std::size_t>(count) * size,
                                   PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0));
    RINGWAY_ASSERT(mem_ != MAP_FAILED);
    free_.reserve(count);
    for (uint32_t i = count; i > 0; --i)
      free_.push_back(i - 1);
  }
  ~HeapBufferPool() { munmap(mem_, static_cast<std::size_t>(count_) * size_); }
  bool empty() const { return free_.empty(); }
  uint32_t freeCount() const { return static_cast<uint32_t>(free_.size()); }
  uint32_t size() const { return size_; }
  char* data(uint32_t id) { return mem_ + static_cast<std::size_t>(id) * size_; }
  uint32_t take() {
    const uint32_t id = free_.back();
    free_.pop_back();
    return id;
  }
  void release(uint32_t id) override {
    free_.push_back(id);
    returned_ = true;
  }
  bool takeReturned() { return std::exchange(returned_, false); }

private:
  char* mem_;
  uint32_t count_;
  uint32_t size_;
  std::vector<uint32_t> free_;
  bool returned_ = false;
};

namespace {
enum Flag : uint32_t {
  WantRead = 1 << 0,
  Readable = 1 << 1, // edge seen, EAGAIN not yet
  Writable = 1 << 2,
  ReadDone = 1 << 3,
  Connecting = 1 << 4,
  ShutdownPending = 1 << 5,
  ShutdownDone = 1 << 6,
  Closing = 1 << 7,
  CloseAfterFlush = 1 << 8,
  Blocked = 1 << 9,
  WriteFailed = 1 << 10,
  Registered = 1 << 11,
  Pending = 1 << 12,      // in the loop's pending list
  Starved = 1 << 13,      // waits for a free buffer
  ConnectDone = 1 << 14,  // a connect result waits to be delivered
  PeerShut = 1 << 15,     // EPOLLRDHUP/HUP seen: a short read does not mean drained
  Splicing = 1 << 16,     // reads are splice(2) calls into a pipe and on to the peer
  SpliceWaiter = 1 << 17, // the peer splicing into us waits for room (or our queue to drain)
};
constexpr unsigned kReadsPerTurn = 16; // then let other streams have the thread
} // namespace

// Everything a Stream does happens in the loop's pending phase or on an epoll event, never
// inside the caller's own call (write() only queues), so handlers are not re-entered.
class EpollStream final : public Stream, public EpollHandler {
public:
  EpollStream(EpollLoop& loop, int fd) : loop_(loop), fd_(fd) {}
  ~EpollStream() override {
    givePipe();
    if (fd_ >= 0)
      closeFd();
    if (send_ != nullptr)
      loop_.giveSendQueue(std::exchange(send_, nullptr));
  }

  void setHandler(StreamHandler* h) override { handler_ = h; }
  int fd() const override { return fd_; }
  bool closing() const override { return has(Closing); }
  std::size_t queuedBytes() const override { return send_ ? send_->bytes : 0; }
  bool writeBlocked() const override {
    return send_ != nullptr &&
           (send_->bytes >= loop_.options().maxQueuedBytes || send_->count >= 64);
  }

  void connect(const sockaddr* addr, socklen_t len, uint64_t timeoutMs) override {
    if (!registerFd())
      return;
    const int rc = ::connect(fd_, addr, len);
    loop_.countSyscall();
    if (rc == 0 || errno != EINPROGRESS) {
      connectErr_ = rc == 0 ? 0 : -errno;
      set(ConnectDone);
      pend();
      return;
    }
    set(Connecting);
    deadline_ = loop_.nowMs() + timeoutMs;
    loop_.watchConnect(this);
  }

  bool spliceTo(Stream& to) override {
    auto* d = dynamic_cast<EpollStream*>(&to);
    if (!loop_.options().splice || d == nullptr || d == this ||
        has(Splicing | ReadDone | Closing | Connecting) || d->has(Closing))
      return false;
    set(Splicing); // the sockets are non-blocking already
    return true;
  }

  void readStart() override {
    set(WantRead);
    if (registerFd() && has(Readable))
      pend();
  }
  void readStop() override { clear(WantRead); }

  void write(BufferRef data) override {
    if (has(Closing) || has(ShutdownPending) || has(WriteFailed))
      return;
    if (send_ == nullptr)
      send_ = loop_.takeSendQueue();
    send_->push(std::move(data));
    if (writeBlocked())
      set(Blocked);
    if (registerFd())
      pend(); // gathered with whatever else is queued this turn
  }

  void shutdownWrite() override {
    if (has(Closing) || has(ShutdownPending))
      return;
    set(ShutdownPending);
    pend();
  }

  void close(CloseMode mode) override {
    if (has(Closing) && (mode == CloseMode::Graceful || !has(CloseAfterFlush)))
      return;
    if (mode == CloseMode::Graceful && (has(Connecting) || queuedBytes() > 0)) {
      set(Closing | CloseAfterFlush);
      pend();
      return;
    }
    clear(CloseAfterFlush);
    set(Closing);
    if (mode == CloseMode::Reset && fd_ >= 0) {
      linger l{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
      loop_.countSyscall();
    }
    finish();
  }

  // The loop's pending phase: deliver a connect result, read, write.
  void runPending() {
    clear(Pending);
    if (fd_ < 0)
      return;
    if (has(ConnectDone)) {
      clear(ConnectDone);
      deliverConnect(connectErr_);
      if (fd_ < 0)
        return;
    }
    if (!has(Connecting))
      doWrite();
    if (fd_ >= 0)
      doRead();
  }

  void onEvents(uint32_t ev) override {
    if (fd_ < 0)
      return;
    if (has(Connecting) && (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      loop_.countSyscall();
      loop_.unwatchConnect(this);
      clear(Connecting);
      connectErr_ = -err;
      set(ConnectDone);
    }
    if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      set(Readable);
    if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
      set(PeerShut);
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))
      set(Writable);
    pend();
  }

  void unstarve() {
    clear(Starved);
    pend();
  }

  void connectTimedOut() {
    clear(Connecting);
    connectErr_ = -ETIMEDOUT;
    set(ConnectDone);
    pend();
  }
  uint64_t deadline() const { return deadline_; }

private:
  bool has(uint32_t f) const { return (flags_ & f) != 0; }
  void set(uint32_t f) { flags_ |= f; }
  void clear(uint32_t f) { flags_ &= ~f; }
  void pend() {
    // Starved only parks reading: writes, shutdowns and connect results still run.
    if (!has(Pending) && fd_ >= 0) {
      set(Pending);
      loop_.markPending(this);
    }
  }

  bool registerFd() {
    if (has(Registered))
      return true;
    if (fd_ < 0)
      return false;
    if (!loop_.add(fd_, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, this))
      return false;
    set(Registered);
    return true;
  }

  void deliverConnect(int err) {
    if (err == 0) {
      int one = 1;
      ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      loop_.countSyscall();
    }
    if (has(Closing) && !has(CloseAfterFlush))
      return;
    handler_->onConnect(*this, err);
    if (err != 0 && has(CloseAfterFlush))
      close(CloseMode::Now);
  }

  void doRead() {
    if (has(Splicing)) {
      pumpSplice();
      return;
    }
    unsigned budget = kReadsPerTurn;
    HeapBufferPool& pool = loop_.buffers();
    while (has(WantRead) && has(Readable) && !has(ReadDone) && !has(Closing)) {
      if (budget-- == 0) {
        pend(); // more to read: next turn, after the others
        return;
      }
      if (pool.empty()) {
        if (!has(Starved)) {
          bump(loop_.stats().enobufs);
          set(Starved);
          loop_.markStarved(this); // reading parked until a buffer returns: never spin
        }
        return;
      }
      const uint32_t id = pool.take();
      const ssize_t n = ::read(fd_, pool.data(id), pool.size());
      loop_.countSyscall();
      if (n > 0) {
        // A short read means drained for now, unless the peer's FIN (or an error) is pending:
        // its edge came with the data, so only reading on finds it (as nginx's pending_eof).
        if (static_cast<uint32_t>(n) < pool.size() && !has(PeerShut))
          clear(Readable);
        handler_->onData(*this, BufferRef(&pool, id, pool.data(id), static_cast<uint32_t>(n)));
        continue;
      }
      pool.release(id);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        clear(Readable);
        return;
      }
      if (n < 0 && errno == EINTR)
        continue;
      set(ReadDone);
      handler_->onReadEnd(*this, n == 0 ? 0 : -errno);
      return;
    }
  }

  void doWrite() {
    if (send_ != nullptr) {
      SendQueue& q = *send_;
      while (q.count > 0 && has(Writable) && !has(WriteFailed)) {
        const std::size_t total = q.gather();
        const ssize_t n = ::sendmsg(fd_, &q.msg, MSG_NOSIGNAL);
        loop_.countSyscall();
        if (n < 0) {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) {
            clear(Writable);
            break;
          }
          const int err = -errno;
          q.clear();
          if (has(Closing)) {
            close(CloseMode::Now); // clears CloseAfterFlush: cleared first, close() would return
            return;
          }
          set(WriteFailed);
          handler_->onWriteError(*this, err);
          return;
        }
        q.consume(static_cast<std::size_t>(n));
        if (static_cast<std::size_t>(n) < total)
          clear(Writable); // short: socket full
      }
      if (has(Blocked) && q.bytes <= loop_.options().maxQueuedBytes / 2 && q.count < 32) {
        clear(Blocked);
        handler_->onWritable(*this);
        if (fd_ < 0)
          return;
      }
      if (send_ != nullptr && send_->count == 0)
        loop_.giveSendQueue(std::exchange(send_, nullptr));
    }
    if (queuedBytes() > 0)
      return;
    if (has(SpliceWaiter) && has(Writable)) { // room (or our queue drained): the splicer goes on
      clear(SpliceWaiter);
      if (EpollStream* src = peer())
        src->pend();
    }
    if (has(ShutdownPending) && !has(ShutdownDone) && !has(Connecting)) {
      ::shutdown(fd_, SHUT_WR);
      loop_.countSyscall();
      set(ShutdownDone);
    }
    if (has(CloseAfterFlush))
      close(CloseMode::Now); // close() clears the flag itself
  }

  // ---- splice relay (spliceTo) ----

  EpollStream* peer() {
    Stream* s = handler_ != nullptr ? handler_->spliceTarget(*this) : nullptr;
    return s != nullptr ? dynamic_cast<EpollStream*>(s) : nullptr;
  }

  void givePipe() {
    if (pipe_ != PipePool::kNone) {
      uint64_t n = 0;
      loop_.pipes().give(std::exchange(pipe_, PipePool::kNone), n);
      loop_.countSyscalls(n);
    }
  }

  void spliceWriteFailed(int err) {
    if (has(Closing) || has(WriteFailed))
      return;
    set(WriteFailed);
    handler_->onWriteError(*this, err);
  }

  // One turn of this direction's relay (UringStream::pump's twin): on our EPOLLIN edge, or
  // when the peer's EPOLLOUT edge says its socket has room for what waits in our pipe.
  void pumpSplice() {
    if (has(ReadDone) || has(Closing))
      return;
    EpollStream* d = peer();
    if (d == nullptr || d->has(Closing) || d->has(WriteFailed) || d->fd_ < 0) {
      givePipe(); // nowhere to go: the session is closing both
      return;
    }
    const bool waiting = pipe_ != PipePool::kNone && loop_.pipes()[pipe_].bytes > 0;
    if (d->queuedBytes() > 0 || (waiting && !d->has(Writable))) {
      d->set(SpliceWaiter); // bytes written to it before us go first / no room yet
      d->registerFd();
      return;
    }
    const bool read = has(WantRead) && has(Readable);
    if (!read && !waiting)
      return;
    uint64_t syscalls = 0;
    const SpliceTurn t = spliceTurn(fd_, d->fd_, loop_.pipes(), pipe_, read, !has(PeerShut),
                                    kReadsPerTurn, syscalls);
    loop_.countSyscalls(syscalls);
    if (t.moved > 0) {
      bump(loop_.stats().splicedBytes, t.moved);
      handler_->onSpliced(*this, t.moved);
      if (has(Closing))
        return;
    }
    switch (t.end) {
    case SpliceTurn::Drained:
      if (read)
        clear(Readable); // EAGAIN, or a short read without a FIN pending
      return;
    case SpliceTurn::Budget:
      pend(); // more to read: next turn, after the others
      return;
    case SpliceTurn::Full:
      d->clear(Writable); // its EPOLLOUT edge sets it again and calls us (doWrite)
      d->set(SpliceWaiter);
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
      pend();
      return;
    }
  }

  void finish() {
    givePipe();
    if (has(Pending) || has(Starved))
      loop_.unmarkPending(this);
    if (has(Connecting))
      loop_.unwatchConnect(this);
    flags_ &= ~static_cast<uint32_t>(Pending | Starved | Connecting);
    closeFd();
    if (send_ != nullptr)
      loop_.giveSendQueue(std::exchange(send_, nullptr));
    if (handler_ != nullptr)
      handler_->onClosed(*this);
  }

  void closeFd() {
    ::close(fd_); // also leaves the epoll set
    loop_.countSyscall();
    fd_ = -1;
  }

  EpollLoop& loop_;
  StreamHandler* handler_ = nullptr;
  SendQueue* send_ = nullptr;
  uint64_t deadline_ = 0;
  int fd_;
  int connectErr_ = 0;
  uint32_t flags_ = 0;
  uint16_t pipe_ = PipePool::kNone; // splice relays: ours while it holds bytes
};

// Level-triggered accept, at most 64 per wakeup so one busy listener can't starve the rest.
class EpollAcceptor final : public Acceptor, private EpollHandler {
public:
  EpollAcceptor(EpollLoop& loop, int fd, AcceptHandler& h) : loop_(loop), fd_(fd), handler_(h) {
    registered_ = loop_.add(fd_, EPOLLIN, this);
  }
  ~EpollAcceptor() override {
    if (fd_ >= 0)
      ::close(fd_);
  }
  void pause() override {
    if (!registered_)
      return;
    loop_.remove(fd_);
    registered_ = false;
  }
  void resume() override {
    if (!registered_ && fd_ >= 0)
      registered_ = loop_.add(fd_, EPOLLIN, this);
  }
  void stop() override {
    if (fd_ < 0)
      return;
    ::close(fd_);
    loop_.countSyscall();
    fd_ = -1;
    registered_ = false;
  }
  bool stopped() const override { return fd_ < 0; }

private:
  void onEvents(uint32_t) override {
    for (int i = 0; i < 64 && fd_ >= 0 && registered_; ++i) {
      const int c = ::accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      loop_.countSyscall();
      if (c >= 0) {
        handler_.onAccept(c);
        continue;
      }
      const int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK)
        return;
      if (err == EINTR || err == ECONNABORTED)
        continue;
      if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
        loop_.remove(fd_); // stop the level-triggered storm; resume() re-adds
        registered_ = false;
      }
      handler_.onAcceptError(-err);
      return;
    }
  }

  EpollLoop& loop_;
  int fd_;
  AcceptHandler& handler_;
  bool registered_ = false;
};

EpollLoop::EpollLoop(const EpollOptions& opt) : opt_(opt), pipes_(opt.pipeBytes) {}

Result<EpollLoop*> EpollLoop::create(const EpollOptions& opt) {
  std::unique_ptr<EpollLoop> l(new EpollLoop(opt));
  l->epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (l->epfd_ < 0)
    return Error{errno, "epoll_create1"};
  l->wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->wakeFd_ < 0)
    return Error{errno, "eventfd"};
  if (!l->add(l->wakeFd_, EPOLLIN, l.get()))
    return Error{errno, "epoll_ctl"};
  l->pool_ = std::make_unique<HeapBufferPool>(opt.bufferCount, opt.bufferSize);
  l->updateNow();
  if (opt.splice)
    blockSigpipe();
  return l.release();
}

EpollLoop::~EpollLoop() {
  fileWriter_.reset(); // finishes its last write, leaves the epoll set while it still exists
  if (wakeFd_ >= 0)
    ::close(wakeFd_);
  if (epfd_ >= 0)
    ::close(epfd_);
}

Result<int> EpollLoop::socket(int family) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  countSyscall();
  if (fd < 0)
    return Error{errno, "socket"};
  return fd;
}

std::unique_ptr<Stream> EpollLoop::stream(int fd) {
  return std::make_unique<EpollStream>(*this, fd);
}

std::unique_ptr<Acceptor> EpollLoop::acceptor(int listenFd, AcceptHandler& h) {
  return std::make_unique<EpollAcceptor>(*this, listenFd, h);
}

bool EpollLoop::add(int fd, uint32_t events, EpollHandler* h) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  countSyscall();
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) == 0)
    return true;
  LOG_ERROR("epoll_ctl ADD fd=%d: %s", fd, std::strerror(errno));
  return false;
}

void EpollLoop::modify(int fd, uint32_t events, EpollHandler* h) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  countSyscall();
  epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

void EpollLoop::remove(int fd) {
  countSyscall();
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
}

void EpollLoop::setTick(uint64_t ms, TickHandler& h) {
  tick_ = &h;
  tickMs_ = ms;
  nextTick_ = now_ + ms;
}

void EpollLoop::setWake(WakeHandler& h) { wake_ = &h; }

void EpollLoop::onEvents(uint32_t) {
  uint64_t v;
  while (::read(wakeFd_, &v, sizeof v) > 0)
    countSyscall();
  countSyscall();
  if (wake_ != nullptr)
    wake_->onWake();
}

void EpollLoop::defer(Deferred& d) { deferred_.push(d); }

void EpollLoop::runDeferred() { deferred_.run(); }

void EpollLoop::markPending(EpollStream* s) { pending_.push_back(s); }

void EpollLoop::unmarkPending(EpollStream* s) {
  // Rare (a stream closing with work pending): null it out, runPending skips it.
  std::replace(pending_.begin(), pending_.end(), s, static_cast<EpollStream*>(nullptr));
  std::replace(starved_.begin(), starved_.end(), s, static_cast<EpollStream*>(nullptr));
}

void EpollLoop::markStarved(EpollStream* s) { starved_.push_back(s); }

void EpollLoop::runPending() {
  // Streams pended while we run are handled in this same phase; each reads at most
  // kReadsPerTurn buffers per turn, and the rounds are bounded so epoll is polled again.
  for (int round = 0; round < 8; ++round) {
    if (pool_->takeReturned() && !starved_.empty()) {
      std::vector<EpollStream*> back;
      back.swap(starved_);
      for (EpollStream* s : back)
        if (s != nullptr)
          s->unstarve();
    }
    if (pending_.empty())
      break;
    std::vector<EpollStream*> batch;
    batch.swap(pending_);
    for (EpollStream* s : batch)
      if (s != nullptr)
        s->runPending();
  }
}

void EpollLoop::watchConnect(EpollStream* s) { connecting_.push_back(s); }

void EpollLoop::unwatchConnect(EpollStream* s) {
  auto it = std::find(connecting_.begin(), connecting_.end(), s);
  if (it != connecting_.end()) {
    *it = connecting_.back();
    connecting_.pop_back();
  }
}

void EpollLoop::checkConnectDeadlines() {
  for (std::size_t i = 0; i < connecting_.size();) {
    EpollStream* s = connecting_[i];
    if (now_ >= s->deadline()) {
      connecting_[i] = connecting_.back();
      connecting_.pop_back();
      s->connectTimedOut();
    } else {
      ++i;
    }
  }
}

SendQueue* EpollLoop::takeSendQueue() { return sendQueues_.take(); }

void EpollLoop::giveSendQueue(SendQueue* q) { sendQueues_.give(q); }

void EpollLoop::updateNow() { now_ = monotonicMs(); }

void EpollLoop::run() {
  stopping_ = false;
  epoll_event evs[256];
  while (!stopping_) {
    // Pending work that can progress means: look for events, don't sleep.
    const bool busy = !pending_.empty();
    int timeout = 0;
    if (!busy)
      timeout = tick_ ? static_cast<int>(nextTick_ > now_ ? nextTick_ - now_ : 0) : -1;
    const int n = epoll_wait(epfd_, evs, 256, timeout);
    countSyscall();
    updateNow();
    for (int i = 0; i < n; ++i)
      static_cast<EpollHandler*>(evs[i].data.ptr)->onEvents(evs[i].events);
    if (tick_ != nullptr && now_ >= nextTick_) {
      nextTick_ = now_ + tickMs_;
      checkConnectDeadlines();
      tick_->onTick();
    }
    runPending();
    runDeferred();
    stats_.buffersFree.store(pool_->freeCount(), std::memory_order_relaxed);
    stats_.syscalls.store(syscalls_, std::memory_order_relaxed);
  }
}

// Files (access logs) are written by a thread of this loop's own: a write(2) to a file may
// block on the disk, and epoll cannot tell. Started at the first write.
void EpollLoop::writeFile(int fd, const iovec* iov, unsigned count, FileWriteHandler& h) {
  if (!fileWriter_)
    fileWriter_ = std::make_unique<FileWriterThread>(*this);
  if (!fileWriter_->ok()) {
    h.onFileWritten(-EIO);
    return;
  }
  fileWriter_->submit(fd, iov, count, h);
}

} // namespace ringway::io
