// UringLoop: the io_uring backend of io::Loop. Multishot accept and recv, provided buffers,
// gathered SENDMSG (SEND_ZC from a threshold), linked connect timeouts.
#pragma once

#include <memory>
#include <vector>

#include "io/buffer_ring.h"
#include "io/loop.h"
#include "io/loop_common.h"
#include "io/ring.h"

namespace ringway::io {

struct UringOptions {
  unsigned ringEntries = 1024;
  uint32_t bufferSize = 16 * 1024;
  uint32_t bufferCount = 256;
  std::size_t zerocopyThreshold = 0;       // 0 = off
  std::size_t maxQueuedBytes = 256 * 1024; // per stream, see Stream::writeBlocked()
  bool tryDeferTaskrun = true;
  // Receive bundles (several buffers per recv CQE) where the kernel has them (6.10+).
  bool bundles = true;
  // Batched waits (RingOptions, kernel 6.12+): after a turn with 4 CQEs or more, the next
  // waits for 16 CQEs or 50 us with at least one. wrk -c64 small requests: 0.44 syscalls per
  // request -> 0.17 (README, Performance). An idle loop still wakes at its first CQE.
  unsigned waitBatch = 16;
  unsigned minWaitUs = 50;
  // L4 relays move bytes with splice(2) through a pipe of this size (Stream::spliceTo).
  bool splice = true;
  std::size_t pipeBytes = 256 * 1024;
};

class UringStream;
struct SendQueue;

class UringLoop final : public Loop, private Completion {
public:
  // Build the ring and buffer ring on the calling thread (the one that will run()).
  static Result<UringLoop*> create(const UringOptions& opt);
  ~UringLoop() override;

  const char* backend() const override { return "io_uring"; }
  Result<int> socket(int family) override;
  std::unique_ptr<Stream> stream(int fd) override;
  std::unique_ptr<Acceptor> acceptor(int listenFd, AcceptHandler& h) override;
  void setTick(uint64_t ms, TickHandler& h) override;
  void setWake(WakeHandler& h) override;
  int wakeFd() const override { return wakeFd_; }
  void defer(Deferred& d) override;
  uint64_t nowMs() const override { return now_; }
  void run() override;
  void stop() override { stopping_ = true; }
  LoopStats& stats() override { return stats_; }

  const RingCounters* ringCounters() const override { return &ring_->counters(); }
  const char* ringMode() const override { return ring_->mode(); }
  Ring& ring() { return *ring_; }
  BufferRing& buffers() { return *buffers_; }
  const UringOptions& options() const { return opt_; }
  bool bundles() const { return bundles_; } // options().bundles and the kernel has them

  // For UringStream.
  void addStarved(UringStream* s);
  void queueFlush(UringStream* s) { flushes_.push_back(s); }
  void removeFlush(UringStream* s);
  void removeStarved(UringStream* s);
  SendQueue* takeSendQueue();
  void giveSendQueue(SendQueue* s);
  PipePool& pipes() { return pipes_; }
  void givePipe(uint16_t i);
  void countSyscall() override { ++otherSyscalls_; }
  void countSyscalls(uint64_t n) { otherSyscalls_ += n; }
  void writeFile(int fd, const iovec* iov, unsigned count, FileWriteHandler& h) override;

private:
  explicit UringLoop(const UringOptions& opt) : opt_(opt), pipes_(opt.pipeBytes) {}
  void onComplete(int res, uint32_t flags, unsigned tag) override;
  void armTick();
  void armWake();
  void rearmStarved(bool force);
  void runDeferred();
  void runFlushes();
  void updateNow();

  UringOptions opt_;
  std::unique_ptr<Ring> ring_;
  std::unique_ptr<BufferRing> buffers_;
  LoopStats stats_;
  uint64_t now_ = 0;
  uint64_t otherSyscalls_ = 0; // syscalls besides io_uring_enter (socket, close, ...)
  bool stopping_ = false;
  bool bundles_ = false;
  TickHandler* tick_ = nullptr;
  __kernel_timespec tickTs_{};
  WakeHandler* wake_ = nullptr;
  int wakeFd_ = -1;
  uint64_t wakeBuf_ = 0;
  DeferredList deferred_;
  std::vector<UringStream*> starved_;
  std::vector<UringStream*> flushes_; // sends to start after the batch (UringStream::write)
  SendQueuePool sendQueues_;
  PipePool pipes_;
};

} // namespace ringway::io
