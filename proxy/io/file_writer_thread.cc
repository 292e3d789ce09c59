#include "io/file_writer_thread.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "io/log.h"

namespace ringway::io {

FileWriterThread::FileWriterThread(EpollLoop& loop) : loop_(loop) {
  efd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  loop_.countSyscall();
  if (efd_ < 0) {
    LOG_ERROR("file writer: eventfd: %s", std::strerror(errno));
    return;
  }
  if (!loop_.add(efd_, EPOLLIN | EPOLLET, this)) {
    ::close(efd_);
    efd_ = -1;
    return;
  }
  thread_ = std::thread([this] { run(); });
}

FileWriterThread::~FileWriterThread() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable())
    thread_.join();
  if (efd_ >= 0) {
    loop_.remove(efd_);
    ::close(efd_);
  }
}

void FileWriterThread::submit(int fd, const iovec* iov, unsigned count, FileWriteHandler& h) {
  {
    std::lock_guard<std::mutex> g(mu_);
    todo_.push_back(Job{fd, iov, count, &h, 0});
  }
  cv_.notify_one();
  loop_.countSyscall(); // the futex wake, when the writer sleeps (it usually does)
}

void FileWriterThread::run() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    cv_.wait(lk, [this] { return stop_ || !todo_.empty(); });
    if (todo_.empty())
      return; // stop_, nothing left: a stopping loop's last writes are done
    Job j = todo_.front();
    todo_.pop_front();
    lk.unlock();
    ssize_t w;
    do {
      w = ::writev(j.fd, j.iov, static_cast<int>(j.count));
    } while (w < 0 && errno == EINTR);
    j.res = w < 0 ? -errno : static_cast<int>(w);
    lk.lock();
    done_.push_back(j);
    const uint64_t one = 1;
    const ssize_t e = ::write(efd_, &one, sizeof one);
    (void)e;
  }
}

void FileWriterThread::onEvents(uint32_t) {
  uint64_t v;
  const ssize_t r = ::read(efd_, &v, sizeof v);
  (void)r;
  loop_.countSyscall();
  {
    std::lock_guard<std::mutex> g(mu_);
    taken_.swap(done_);
  }
  for (const Job& j : taken_)
    j.h->onFileWritten(j.res);
  taken_.clear();
}

} // namespace ringway::io
