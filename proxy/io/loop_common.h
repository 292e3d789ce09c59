// What both loop backends share: the list of objects freed after a batch, the free lists of
// SendQueues and of splice pipes, and the loop clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "io/loop.h"

namespace ringway::io {

struct SendQueue;

// Objects to free after the current batch of events (never inside their own callback).
class DeferredList {
public:
  void push(Deferred& d) {
    d.nextDeferred_ = head_;
    head_ = &d;
  }
  void run(); // also runs what the deferred objects defer while running

private:
  Deferred* head_ = nullptr;
};

// SendQueues are taken when a stream first queues bytes and given back when it drains, so
// steady traffic allocates none.
class SendQueuePool {
public:
  SendQueuePool() = default;
  SendQueuePool(const SendQueuePool&) = delete;
  SendQueuePool& operator=(const SendQueuePool&) = delete;
  ~SendQueuePool();
  SendQueue* take();
  void give(SendQueue* q); // cleared; kept up to a bound, freed beyond it

private:
  std::vector<SendQueue*> free_;
};

// Kernel pipes for splice(2) relays (Stream::spliceTo). A relay direction holds a pipe only
// while bytes sit in it, so idle connections hold none; empty pipes are kept open for the next
// one (up to kSpare), so steady traffic makes no pipe2() calls.
class PipePool {
public:
  static constexpr uint16_t kNone = 0xffff;
  static constexpr std::size_t kSpare = 64;
  struct Pipe {
    int rd = -1;
    int wr = -1;
    uint32_t bytes = 0; // in the pipe, not yet spliced out
  };
  // `pipeBytes`: the size asked for with F_SETPIPE_SZ (the kernel may refuse: then 64 KiB).
  explicit PipePool(std::size_t pipeBytes) : want_(pipeBytes) {}
  PipePool(const PipePool&) = delete;
  PipePool& operator=(const PipePool&) = delete;
  ~PipePool();
  // An empty pipe, or kNone when none can be made (EMFILE, ENFILE, 65,535 in use).
  // Adds the syscalls it makes to `syscalls`.
  uint16_t take(uint64_t& syscalls);
  // Back to the pool. A pipe still holding bytes is closed (they are dropped).
  void give(uint16_t i, uint64_t& syscalls);
  Pipe& operator[](uint16_t i) { return pipes_[i]; }
  std::size_t pipeBytes(uint16_t i) const { return sizes_[i]; }
  std::size_t inUse() const { return inUse_; }

private:
  std::size_t want_;
  std::vector<Pipe> pipes_;
  std::vector<uint32_t> sizes_;  // what F_SETPIPE_SZ gave each pipe
  std::vector<uint16_t> spare_;  // open and empty
  std::vector<uint16_t> unused_; // closed slots
  std::size_t inUse_ = 0;
};

// One turn of a splice relay direction (Stream::spliceTo): bytes go src -> pipe -> dst by
// non-blocking splice(2) calls, up to `maxReads` pipe-fulls. `pipe` is the direction's pipe
// (PipePool::kNone while it holds none); on every end but Full it is given back, so an idle
// direction holds none.
struct SpliceTurn {
  enum End {
    Drained,    // the source has nothing more for now (or `read` was false): poll it again
    Budget,     // maxReads pipe-fulls moved: poll again (fires at once), let others run
    Full,       // dst's socket is full; the rest waits in the pipe: wait for POLLOUT
    WriteError, // writing to dst failed (err); the pipe's bytes were dropped
    Eof,        // the source's FIN, after every byte before it went to dst
    ReadError,  // reading the source failed (err), after every byte before it went to dst
    NoPipe,     // no pipe to be had (EMFILE): carry on without splicing
  } end = Drained;
  int err = 0;           // -errno for WriteError and ReadError
  std::size_t moved = 0; // bytes read from the source in this turn
};
// `read`: read the source (false: only empty the pipe). `shortMeansDrained`: a read that got
// less than the pipe holds ends the turn (a poll tells when more comes); edge-triggered epoll
// with a FIN pending reads on instead. Adds the syscalls it makes to `syscalls`.
SpliceTurn spliceTurn(int src, int dst, PipePool& pool, uint16_t& pipe, bool read,
                      bool shortMeansDrained, unsigned maxReads, uint64_t& syscalls);
// splice(2) into a socket the peer has reset raises SIGPIPE (it has no MSG_NOSIGNAL): the
// binary ignores it, and a loop embedded elsewhere (the tests) must not die of it either, so
// a loop that splices blocks it on its own thread.
void blockSigpipe();

// CLOCK_MONOTONIC_COARSE in milliseconds (vDSO: no syscall); loops read it once per turn.
uint64_t monotonicMs();

} // namespace ringway::io
