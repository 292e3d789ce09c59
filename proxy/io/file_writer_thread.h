// FileWriterThread: the epoll backend's way to write files without blocking its loop. A write(2)
// to a file can block on the disk (epoll says nothing about regular files), so the loop hands
// each write to one thread of its own and learns of the result through an eventfd in its epoll
// set. The queue holds at most what its callers have in flight (the access log keeps one write
// per log in flight and bounds its buffers), so it needs no bound of its own.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "io/epoll_loop.h"

namespace ringway::io {

class FileWriterThread final : private EpollHandler {
public:
  explicit FileWriterThread(EpollLoop& loop);
  ~FileWriterThread(); // finishes the write under way (a file that never takes it: see README)
  FileWriterThread(const FileWriterThread&) = delete;
  FileWriterThread& operator=(const FileWriterThread&) = delete;
  bool ok() const { return efd_ >= 0; }
  void submit(int fd, const iovec* iov, unsigned count, FileWriteHandler& h);

private:
  struct Job {
    int fd;
    const iovec* iov;
    unsigned count;
    FileWriteHandler* h;
    int res;
  };
  void onEvents(uint32_t events) override; // the loop's thread: results are in
  void run();

  EpollLoop& loop_;
  int efd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> todo_;
  std::vector<Job> done_;
  std::vector<Job> taken_; // the loop's thread: done_ swapped out, reused
  bool stop_ = false;
  std::thread thread_;
};

} // namespace ringway::io
