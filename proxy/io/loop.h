// The backend-neutral event loop the protocol code is written against. One Loop per worker
// thread; io_uring is one backend (UringLoop), and a readiness backend can sit beside it
// without the protocol code knowing which one runs it.
#pragma once

#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "io/buffer.h"
#include "io/result.h"

namespace ringway::io {

class Stream;

// Events of one Stream. Handlers may call any Stream method, including close(), from
// inside a callback; the Stream is freed only by its owner, after onClosed().
class StreamHandler {
public:
  virtual void onConnect(Stream& s, int err) = 0;     // 0, or -errno (-ETIMEDOUT)
  virtual void onData(Stream& s, BufferRef data) = 0; // bytes received, ownership moves
  virtual void onReadEnd(Stream& s, int err) = 0;     // 0: peer's FIN; else -errno
  virtual void onWritable(Stream& s) = 0;             // queued bytes fell below low water
  virtual void onWriteError(Stream& s, int err) = 0;  // -errno; queued bytes dropped
  virtual void onClosed(Stream& s) = 0;               // no op in flight, fd closed
  // How many more bytes s may receive before its data has nowhere to go (a relay: the room
  // left in the other side's queue). 0: no bound known; a backend then reads as it sees fit.
  // A backend that can cap a receive by bytes (io_uring bundles) asks before each one.
  virtual std::size_t readBudget(Stream& s) {
    (void)s;
    return 0;
  }
  // Splice relays (Stream::spliceTo): spliceTarget(s) is s's peer, the stream s relays to and
  // the one that relays into s; onSpliced says `n` bytes s received went to the peer unseen
  // (count them as onData's).
  virtual Stream* spliceTarget(Stream& s) {
    (void)s;
    return nullptr;
  }
  virtual void onSpliced(Stream& s, std::size_t n) {
    (void)s;
    (void)n;
  }

protected:
  ~StreamHandler() = default;
};

enum class CloseMode {
  Graceful, // send what is queued, then close (FIN)
  Now,      // drop what is queued, close (FIN)
  Reset,    // drop what is queued, close with RST (SO_LINGER 0)
};

// A connected (or connecting) TCP socket. Owned by the protocol object that made it.
class Stream {
public:
  virtual ~Stream() = default;
  virtual void setHandler(StreamHandler* h) = 0;
  // Connect; the address must stay valid until onConnect (config addresses do).
  virtual void connect(const sockaddr* addr, socklen_t len, uint64_t timeoutMs) = 0;
  virtual void readStart() = 0;
  virtual void readStop() = 0; // data already in flight may still arrive
  // Queue bytes to send, in order. Sent as soon as the socket is connected.
  virtual void write(BufferRef data) = 0;
  virtual std::size_t queuedBytes() const = 0;
  // The queue is over its bound: stop feeding it; onWritable() says when to go on.
  virtual bool writeBlocked() const = 0;
  // Bytes that may still be queued before writeBlocked() (0 when it is).
  virtual std::size_t writeRoom() const { return writeBlocked() ? 0 : SIZE_MAX; }
  // FIN once everything queued has been sent.
  virtual void shutdownWrite() = 0;
  virtual void close(CloseMode mode) = 0;
  virtual bool closing() const = 0;
  virtual int fd() const = 0;
  // From now on what this stream receives goes straight to `to`'s socket through a kernel pipe
  // (splice(2)): the bytes never reach user space or the buffer pool, and no more than a pipe's
  // worth is in flight per direction. The handler gets onSpliced() instead of onData(), must
  // answer spliceTarget(*this) with &to, and gets onReadEnd() only once every byte before the
  // FIN or error has been handed to `to`; a failed write to `to` is `to`'s onWriteError().
  // Call once both are connected, before readStart(); bytes already written to `to` go first.
  // False: this backend or stream can't (TLS, splice off); carry on with onData()/write(). A
  // splicing stream that can't get a pipe (EMFILE) goes back to onData() by itself.
  virtual bool spliceTo(Stream& to) {
    (void)to;
    return false;
  }
};

class AcceptHandler {
public:
  virtual void onAccept(int fd) = 0;
  // Accepting stopped on -errno (EMFILE, ENFILE, ...); call Acceptor::resume() later.
  virtual void onAcceptError(int err) = 0;

protected:
  ~AcceptHandler() = default;
};

class Acceptor {
public:
  virtual ~Acceptor() = default;
  // Stop taking connections for a while (they wait in the backlog); resume() goes on.
  virtual void pause() = 0;
  virtual void resume() = 0;
  // Stop accepting and close the listening socket (asynchronously).
  virtual void stop() = 0;
  virtual bool stopped() const = 0; // no op in flight any more
};

class TickHandler {
public:
  virtual void onTick() = 0;

protected:
  ~TickHandler() = default;
};

class WakeHandler {
public:
  virtual void onWake() = 0;

protected:
  ~WakeHandler() = default;
};

// The end of a Loop::writeFile(): bytes written, or -errno. Runs on the loop's thread.
class FileWriteHandler {
public:
  virtual void onFileWritten(int res) = 0;

protected:
  ~FileWriteHandler() = default;
};

// Runs after the current batch of events, so nothing frees itself inside its own callback.
class Deferred {
public:
  virtual void runDeferred() = 0;
  Deferred* nextDeferred_ = nullptr;

protected:
  ~Deferred() = default;
};

// Counters a loop keeps for metrics. Written only by the loop's thread (relaxed load +
// store), read by any thread at scrape time.
struct RingCounters;

struct LoopStats {
  std::atomic<uint64_t> syscalls{0};        // every syscall the loop's thread makes, enter included
  std::atomic<uint64_t> enobufs{0};         // receives that found the buffer pool empty
  std::atomic<uint64_t> sendZc{0};          // zero-copy sends issued
  std::atomic<uint64_t> sendZcCopied{0};    // ... that the kernel completed by copying
  std::atomic<uint64_t> buffersFree{0};     // gauge, refreshed once per loop iteration
  std::atomic<uint64_t> splicedBytes{0};    // bytes relayed by splice(2), never in user space
  std::atomic<uint64_t> spliceFallbacks{0}; // relays that went back to buffers (no pipe)
};

inline void bump(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

class Loop {
public:
  virtual ~Loop() = default;
  virtual const char* backend() const = 0;
  // A TCP socket for connect(), made the way this backend wants it; counts the syscall.
  virtual Result<int> socket(int family) = 0;
  // A Stream on a connected socket (accepted) or one from socket() (to connect).
  virtual std::unique_ptr<Stream> stream(int fd) = 0;
  // Start accepting on a bound, listening socket; the Acceptor owns it from now on.
  virtual std::unique_ptr<Acceptor> acceptor(int listenFd, AcceptHandler& h) = 0;
  // Call h.onTick() about every `ms` milliseconds.
  virtual void setTick(uint64_t ms, TickHandler& h) = 0;
  // Another thread writes to wakeFd() (an eventfd) to call h.onWake() on this thread.
  virtual void setWake(WakeHandler& h) = 0;
  virtual int wakeFd() const = 0;
  virtual void defer(Deferred& d) = 0;
  // Milliseconds on CLOCK_MONOTONIC, read once per loop iteration.
  virtual uint64_t nowMs() const = 0;
  // Run until stop() is called (from this thread, e.g. in a handler).
  virtual void run() = 0;
  virtual void stop() = 0;
  virtual LoopStats& stats() = 0;
  // io_uring counters (SQEs, CQEs, enters); nullptr for a backend without a ring.
  virtual const RingCounters* ringCounters() const { return nullptr; }
  virtual const char* ringMode() const { return ""; }
  // Protocol code counts the syscalls it makes itself (socket, setsockopt) here.
  virtual void countSyscall() = 0;
  // One writev(2) of `count` buffers to a file (access logs, opened O_APPEND) that does not
  // block this thread: io_uring issues IORING_OP_WRITEV (the kernel runs regular-file writes in
  // io-wq), the epoll backend hands it to a writer thread. `iov` and the bytes must stay valid
  // until h.onFileWritten(); one write per handler at a time. Not for sockets.
  virtual void writeFile(int fd, const iovec* iov, unsigned count, FileWriteHandler& h) = 0;
};

} // namespace ringway::io
