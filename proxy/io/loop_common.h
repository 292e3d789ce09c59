// What both loop backends share: the list of objects freed after a batch, the free list of
// SendQueues, and the loop clock.
#pragma once

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
  void run();  // also runs what the deferred objects defer while running

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
  void give(SendQueue* q);  // cleared; kept up to a bound, freed beyond it

 private:
  std::vector<SendQueue*> free_;
};

// CLOCK_MONOTONIC_COARSE in milliseconds (vDSO: no syscall); loops read it once per turn.
uint64_t monotonicMs();

}  // namespace ringway::io
