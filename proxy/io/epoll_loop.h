// EpollLoop: the readiness backend of io::Loop, for hosts where io_uring is disabled
// (containers' default seccomp profile, kernel.io_uring_disabled). Edge-triggered epoll,
// non-blocking sockets, read() into pooled buffers, writev() of the queue.
#pragma once

#include <memory>
#include <vector>

#include "io/loop.h"
#include "io/loop_common.h"

namespace ringway::io {

struct EpollOptions {
  uint32_t bufferSize = 16 * 1024;
  uint32_t bufferCount = 256;
  std::size_t maxQueuedBytes = 256 * 1024;
  // L4 relays move bytes with splice(2) through a pipe of this size (Stream::spliceTo).
  bool splice = true;
  std::size_t pipeBytes = 256 * 1024;
};

class EpollStream;
class FileWriterThread;
class HeapBufferPool;
struct SendQueue;

// What an epoll registration points at.
class EpollHandler {
public:
  virtual void onEvents(uint32_t events) = 0;

protected:
  ~EpollHandler() = default;
};

class EpollLoop final : public Loop, private EpollHandler {
public:
  static Result<EpollLoop*> create(const EpollOptions& opt);
  ~EpollLoop() override;

  const char* backend() const override { return "epoll"; }
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
  void countSyscall() override { ++syscalls_; }
  void countSyscalls(uint64_t n) { syscalls_ += n; }
  PipePool& pipes() { return pipes_; }
  void writeFile(int fd, const iovec* iov, unsigned count, FileWriteHandler& h) override;

  // For EpollStream / EpollAcceptor.
  bool add(int fd, uint32_t events, EpollHandler* h);
  void modify(int fd, uint32_t events, EpollHandler* h);
  void remove(int fd);
  // Streams that have more to read than one turn's fair share, or were starved.
  void markPending(EpollStream* s);
  void unmarkPending(EpollStream* s); // from both lists
  void markStarved(EpollStream* s);
  HeapBufferPool& buffers() { return *pool_; }
  SendQueue* takeSendQueue();
  void giveSendQueue(SendQueue* q);
  const EpollOptions& options() const { return opt_; }
  // Connect deadlines, checked every tick.
  void watchConnect(EpollStream* s);
  void unwatchConnect(EpollStream* s);

private:
  explicit EpollLoop(const EpollOptions& opt);
  void onEvents(uint32_t events) override; // the wake eventfd
  void updateNow();
  void runDeferred();
  void runPending();
  void checkConnectDeadlines();

  EpollOptions opt_;
  int epfd_ = -1;
  int wakeFd_ = -1;
  std::unique_ptr<HeapBufferPool> pool_;
  LoopStats stats_;
  uint64_t syscalls_ = 0;
  uint64_t now_ = 0;
  bool stopping_ = false;
  TickHandler* tick_ = nullptr;
  uint64_t tickMs_ = 100;
  uint64_t nextTick_ = 0;
  WakeHandler* wake_ = nullptr;
  DeferredList deferred_;
  std::vector<EpollStream*> pending_;
  std::vector<EpollStream*> starved_;
  std::vector<EpollStream*> connecting_;
  SendQueuePool sendQueues_;
  PipePool pipes_;
  std::unique_ptr<FileWriterThread> fileWriter_; // started by the first writeFile()
};

} // namespace ringway::io
