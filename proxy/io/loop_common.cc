#include "io/loop_common.h"

#include <fcntl.h>
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

uint64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

} // namespace ringway::io
