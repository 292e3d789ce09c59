// Ring: one io_uring, owned by one worker thread. No copy, no move.
#pragma once

#include <liburing.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <iterator>

#include "io/completion.h"
#include "io/loop.h"
#include "io/result.h"

namespace ringway::io {

// Counters the worker's metrics read at scrape time. Written only by the owning thread
// (relaxed load + store, no locked instruction); read by any thread.
struct RingCounters {
  std::atomic<uint64_t> enters{0};      // io_uring_enter calls made by this ring
  std::atomic<uint64_t> sqes{0};        // SQEs handed to the kernel
  std::atomic<uint64_t> cqes{0};        // CQEs reaped
  std::atomic<uint64_t> loops{0};       // wakeups
  std::atomic<uint64_t> recvBundles{0};        // recv CQEs that carried more than one buffer
  std::atomic<uint64_t> recvBundleBuffers{0};  // ... and the buffers they carried
  std::array<std::atomic<uint64_t>, IORING_OP_LAST> sqesByOp{};
  std::array<std::atomic<uint64_t>, 8> cqesByTag{};  // by OpTag; [0]: user_data 0
  // CQEs handled per wakeup: bucket i counts batches of <= kBatchBounds[i] (last: more).
  static constexpr unsigned kBatchBounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
  static constexpr unsigned kBatchBuckets = std::size(kBatchBounds) + 1;
  std::array<std::atomic<uint64_t>, kBatchBuckets> batchHist{};
  std::atomic<uint64_t> batchSum{0};
};

struct RingOptions {
  unsigned entries = 1024;
  bool tryDeferTaskrun = true;
  // Batched waits (kernel 6.12+, IORING_FEAT_MIN_TIMEOUT): submitAndWait() returns once
  // waitBatch CQEs are there, or once minWaitUs passed with at least one. 0: return at the
  // first CQE.
  unsigned waitBatch = 0;
  unsigned minWaitUs = 0;
};

class Ring {
 public:
  static constexpr unsigned MaxBatch = 256;

  // Creates the ring; call on the thread that will submit (SINGLE_ISSUER).
  static Result<Ring*> create(const RingOptions& opt);
  ~Ring();
  Ring(const Ring&) = delete;
  Ring& operator=(const Ring&) = delete;

  // A fresh SQE; flushes the SQ once when full. user_data is reset to 0.
  io_uring_sqe* sqe();
  // Make room for n linked SQEs so a chain goes in one submission.
  void reserve(unsigned n);
  // Submit pending SQEs and wait for at least one CQE (a batch, see RingOptions).
  int submitAndWait();
  bool batchedWaits() const { return waitBatch_ > 1; }
  // Submit without waiting.
  int submit();
  // Reap every CQE available now and dispatch it; returns how many.
  unsigned reap();

  io_uring* raw() { return &ring_; }
  int fd() const { return ring_.ring_fd; }
  unsigned setupFlags() const { return flags_; }
  const char* mode() const;  // e.g. "defer_taskrun" for logs and /workers
  RingCounters& counters() { return counters_; }
  const RingCounters& counters() const { return counters_; }

  // Link timeouts read their timespec at submission: keep them here until then.
  __kernel_timespec* stashTimespec(uint64_t ms);

 private:
  Ring() = default;
  void countPending();
  int enterMinWait();
  io_uring ring_{};
  unsigned flags_ = 0;
  unsigned waitBatch_ = 0;  // > 1 only where the kernel has min-wait
  unsigned minWaitUs_ = 0;
  unsigned lastBatch_ = 0;  // CQEs the last reap() handled
  RingCounters counters_;
  std::array<__kernel_timespec, 256> ts_{};
  unsigned tsUsed_ = 0;
};

}  // namespace ringway::io
