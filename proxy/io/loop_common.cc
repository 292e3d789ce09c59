#include "io/loop_common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <utility>

#include "io/send_queue.h"

namespace ringway::io {

void DeferredList::run() {
  while (head_ != nullptr) {
    Deferred* d = std::exchange(head_, nullptr);
    while (d != nullptr) {
      Deferred* next = d->nextDeferred_;
      d->nextDeferred_ = nullptr;
      d->runDeferred();
      d = next;
    }
  }
}

SendQueuePool::~SendQueuePool() {
  for (SendQueue* q : free_)
    delete q;
}

SendQueue* SendQueuePool::take() {
  if (free_.empty())
    return new SendQueue();
  SendQueue* q = free_.back();
  free_.pop_back();
  return q;
}

void SendQueuePool::give(SendQueue* q) {
  q->clear();
  if (free_.size() < 1024)
    free_.push_back(q);
  else
    delete q;
}

PipePool::~PipePool() {
  for (const Pipe& p : pipes_) {
    if (p.rd >= 0)
      ::close(p.rd);
    if (p.wr >= 0)
      ::close(p.wr);
  }
}

uint16_t PipePool::take(uint64_t& syscalls) {
  if (!spare_.empty()) {
    const uint16_t i = spare_.back();
    spare_.pop_back();
    ++inUse_;
    return i;
  }
  if (unused_.empty() && pipes_.size() >= kNone)
    return kNone;
  int fds[2];
  ++syscalls;
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
    return kNone;
  // A bigger pipe moves more per splice (fewer syscalls per MB). Unprivileged users are
  // limited to 64 MiB of pipes in all (fs/pipe-user-pages-soft): past it this fails and the
  // pipe keeps its 64 KiB.
  ++syscalls;
  int got = ::fcntl(fds[1], F_SETPIPE_SZ, static_cast<int>(want_));
  if (got < 0) {
    ++syscalls;
    got = ::fcntl(fds[1], F_GETPIPE_SZ);
  }
  uint16_t i;
  if (!unused_.empty()) {
    i = unused_.back();
    unused_.pop_back();
  } else {
    i = static_cast<uint16_t>(pipes_.size());
    pipes_.emplace_back();
    sizes_.push_back(0);
  }
  pipes_[i] = Pipe{fds[0], fds[1], 0};
  sizes_[i] = static_cast<uint32_t>(got > 0 ? got : 65536);
  ++inUse_;
  return i;
}

void PipePool::give(uint16_t i, uint64_t& syscalls) {
  Pipe& p = pipes_[i];
  --inUse_;
  if (p.bytes == 0 && spare_.size() < kSpare) {
    spare_.push_back(i);
    return;
  }
  ::close(p.rd);
  ::close(p.wr);
  syscalls += 2;
  p = Pipe{};
  unused_.push_back(i);
}

SpliceTurn spliceTurn(int src, int dst, PipePool& pool, uint16_t& pipe, bool read,
                      bool shortMeansDrained, unsigned maxReads, uint64_t& syscalls) {
  SpliceTurn t;
  auto givePipe = [&] {
    if (pipe != PipePool::kNone)
      pool.give(std::exchange(pipe, PipePool::kNone), syscalls);
  };
  bool drained = false;
  for (unsigned reads = 0;; ++reads) {
    if (pipe != PipePool::kNone && pool[pipe].bytes > 0) {
      PipePool::Pipe& p = pool[pipe];
      ++syscalls;
      const ssize_t n =
          ::splice(p.rd, nullptr, dst, nullptr, p.bytes, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        t.end = SpliceTurn::WriteError;
        t.err = -errno;
        givePipe(); // the bytes can't be delivered: dropped with the pipe
        return t;
      }
      if (n > 0)
        p.bytes -= static_cast<uint32_t>(n);
      if (p.bytes > 0) {
        t.end = SpliceTurn::Full;
        return t;
      }
    }
    if (drained || !read)
      break;
    if (reads == maxReads) {
      t.end = SpliceTurn::Budget;
      break;
    }
    if (pipe == PipePool::kNone) {
      pipe = pool.take(syscalls);
      if (pipe == PipePool::kNone) {
        t.end = SpliceTurn::NoPipe;
        return t;
      }
    }
    const std::size_t room = pool.pipeBytes(pipe);
    ++syscalls;
    const ssize_t r =
        ::splice(src, nullptr, pool[pipe].wr, nullptr, room, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (r > 0) {
      pool[pipe].bytes = static_cast<uint32_t>(r);
      t.moved += static_cast<std::size_t>(r);
      drained = shortMeansDrained && static_cast<std::size_t>(r) < room;
      continue;
    }
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN)
      break;
    t.end = r == 0 ? SpliceTurn::Eof : SpliceTurn::ReadError;
    t.err = r == 0 ? 0 : -errno;
    break;
  }
  givePipe(); // empty here
  return t;
}

void blockSigpipe() {
  sigset_t pipe;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
}

uint64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

} // namespace ringway::io
