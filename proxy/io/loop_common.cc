#include "io/loop_common.h"

#include <time.h>

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
  for (SendQueue* q : free_) delete q;
}

SendQueue* SendQueuePool::take() {
  if (free_.empty()) return new SendQueue();
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

uint64_t monotonicMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

}  // namespace ringway::io
