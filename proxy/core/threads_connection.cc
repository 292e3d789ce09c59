#include "core/threads_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/threads_http.h"
#include "io/log.h"

namespace ringway::core {

namespace {

void add(std::atomic<uint64_t>& c, uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
void sub(std::atomic<uint64_t>& c) { c.fetch_sub(1, std::memory_order_relaxed); }

uint64_t nowMs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void closeFd(int fd, bool reset) {
  if (fd < 0)
    return;
  if (reset) { // RST instead of FIN: the peer learns the connection broke
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd);
}

// What one thread owns: the client, its upstream, a buffer per direction.
class Connection {
public:
  Connection(std::shared_ptr<ThreadsShared> shared, std::size_t listener, std::size_t endpoint,
             int client)
      : shared_(std::move(shared)), listenerIndex_(listener),
        listener_(shared_->cfg->listeners[listener]),
        cluster_(shared_->cfg->clusters[listener_.routes.front().cluster_index]),
        stats_(*shared_->stats[listener]), endpoint_(endpoint) {
    fd_[Client] = client;
  }
  void run();
  const std::shared_ptr<ThreadsShared>& shared() const { return shared_; }
  std::size_t listenerIndex() const { return listenerIndex_; }

private:
  enum Side { Client = 0, Upstream = 1 };
  // Bytes read from side `src` waiting to be sent to the other side.
  struct Dir {
    std::unique_ptr<char[]> buf;
    std::size_t head = 0, tail = 0;
    bool eof = false;  // src's FIN read
    bool shut = false; // FIN passed on (shutdown(SHUT_WR) on the other side)
    std::size_t pending() const { return tail - head; }
  };

  net::ListenerStats& stats() { return stats_; }
  bool connectUpstream();
  void relay();
  // false: the connection ended (both fds closed).
  bool readSide(int s);
  bool flush(int dst);
  void readError(int s, int err);
  void writeError(int s, int err);
  void end(bool resetClient, bool resetUpstream);

  std::shared_ptr<ThreadsShared> shared_;
  std::size_t listenerIndex_;
  const config::Listener& listener_;
  const config::Cluster& cluster_;
  net::ListenerStats& stats_;
  std::size_t endpoint_;
  int fd_[2] = {-1, -1};
  Dir dir_[2]; // dir_[s]: from side s to side 1 - s
  uint64_t lastActive_ = 0;
};

void Connection::run() {
  if (connectUpstream())
    relay();
}

bool Connection::connectUpstream() {
  // Like the Loop backends (net::TcpSession): each endpoint at most once per client.
  const std::size_t n = cluster_.endpoints.size();
  for (std::size_t attempt = 1; attempt <= n; ++attempt) {
    const config::Endpoint& e = cluster_.endpoints[endpoint_];
    const int fd = connectWithin(e.address, static_cast<uint64_t>(cluster_.connect_timeout.count()),
                                 shared_->stopFd);
    if (fd >= 0) {
      fd_[Upstream] = fd;
      add(stats().upstreamActive);
      return true;
    }
    if (fd == -ECANCELED)
      break; // stopping
    const bool timeout = fd == -ETIMEDOUT;
    add(timeout ? stats().connectTimeouts : stats().connectErrors);
    LOG_WARN("listener=%s cluster=%s endpoint=%s: connect failed: %s (attempt %zu of %zu)%s",
             listener_.name.c_str(), cluster_.name.c_str(), e.address.text.c_str(),
             timeout ? "timed out" : std::strerror(-fd), attempt, n,
             attempt < n ? ", trying the next endpoint" : ", closing the client");
    endpoint_ = (endpoint_ + 1) % n;
  }
  closeFd(fd_[Client], false);
  fd_[Client] = -1;
  return false;
}

void Connection::end(bool resetClient, bool resetUpstream) {
  closeFd(fd_[Client], resetClient);
  closeFd(fd_[Upstream], resetUpstream);
  if (fd_[Upstream] >= 0)
    sub(stats().upstreamActive);
  fd_[Client] = fd_[Upstream] = -1;
}

void Connection::readError(int s, int err) {
  if (err == ECONNRESET) {
    // Propagate the RST: the other end learns the connection broke, not that it ended.
    add(stats().resets);
    end(s != Client, s != Upstream);
    return;
  }
  LOG_DEBUG("listener=%s: %s read error: %s", listener_.name.c_str(),
            s == Client ? "client" : "upstream", std::strerror(err));
  end(true, true);
}

void Connection::writeError(int s, int err) {
  if (err == ECONNRESET || err == EPIPE)
    add(stats().resets);
  // What we had for s can't be delivered: its sender must not think it was.
  end(s != Client, s != Upstream);
}

bool Connection::flush(int dst) {
  Dir& d = dir_[1 - dst];
  while (d.pending() > 0) {
    const ssize_t n =
        ::send(fd_[dst], d.buf.get() + d.head, d.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        return true;
      writeError(dst, errno);
      return false;
    }
    d.head += static_cast<std::size_t>(n);
    lastActive_ = nowMs();
  }
  d.head = d.tail = 0;
  if (d.eof && !d.shut) {
    ::shutdown(fd_[dst], SHUT_WR); // half-close: pass the FIN on, the other way stays open
    d.shut = true;
  }
  return true;
}

bool Connection::readSide(int s) {
  Dir& d = dir_[s];
  const std::size_t size = shared_->cfg->io.buffer_size;
  ssize_t n;
  do
    n = ::read(fd_[s], d.buf.get() + d.tail, size - d.tail);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return true;
    readError(s, errno);
    return false;
  }
  if (n == 0) {
    d.eof = true;
  } else {
    d.tail += static_cast<std::size_t>(n);
    add(s == Client ? stats().bytesIn : stats().bytesOut, static_cast<uint64_t>(n));
    lastActive_ = nowMs();
  }
  return flush(1 - s); // send at once; poll for POLLOUT only if the socket is full
}

void Connection::relay() {
  const std::size_t size = shared_->cfg->io.buffer_size;
  // Not value-initialised: an idle connection touches no buffer page.
  dir_[Client].buf.reset(new char[size]);
  dir_[Upstream].buf.reset(new char[size]);
  const uint64_t idle = static_cast<uint64_t>(listener_.idle_timeout.count());
  bool hup[2] = {false, false};
  lastActive_ = nowMs();
  for (;;) {
    if (dir_[Client].shut && dir_[Upstream].shut) { // both FINs passed on: done
      end(false, false);
      return;
    }
    pollfd p[3];
    bool wantRead[2];
    for (int s = 0; s < 2; ++s) {
      // Read only into an empty buffer: one read, one send, in order, never more queued
      // than one buffer per direction (the backpressure of this model).
      wantRead[s] = !dir_[s].eof && dir_[s].pending() == 0;
      const bool wantWrite = dir_[1 - s].pending() > 0;
      const short ev = static_cast<short>((wantRead[s] ? POLLIN : 0) | (wantWrite ? POLLOUT : 0));
      // A hung-up socket we neither read nor write would make poll() return at once forever.
      p[s] = {hup[s] && ev == 0 ? -1 : fd_[s], ev, 0};
    }
    p[2] = {shared_->stopFd, POLLIN, 0};
    int timeout = -1;
    if (idle != 0) {
      const uint64_t since = nowMs() - lastActive_;
      timeout = since >= idle ? 0 : static_cast<int>(idle - since);
    }
    const int n = ::poll(p, 3, timeout);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      LOG_ERROR("listener=%s: poll: %s", listener_.name.c_str(), std::strerror(errno));
      end(true, true);
      return;
    }
    if (p[2].revents != 0) { // end of drain or stopNow
      end(false, false);
      return;
    }
    if (n == 0) {
      if (idle != 0 && nowMs() - lastActive_ >= idle) {
        add(stats().idleTimeouts);
        LOG_DEBUG("listener=%s: idle timeout", listener_.name.c_str());
        end(false, false);
        return;
      }
      continue;
    }
    for (int s = 0; s < 2; ++s) {
      const short re = p[s].revents;
      if (re == 0)
        continue;
      if (wantRead[s] && (re & (POLLIN | POLLHUP | POLLERR))) {
        if (!readSide(s))
          return;
      } else if (re & POLLERR) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_[s], SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          readError(s, err);
          return;
        }
      }
      if (re & POLLHUP)
        hup[s] = true;
      if ((re & (POLLOUT | POLLERR | POLLHUP)) && dir_[1 - s].pending() > 0 && !flush(s))
        return;
    }
  }
}

} // namespace

int connectWithin(const config::Address& a, uint64_t timeoutMs, int stopFd) {
  const int fd = ::socket(a.sa()->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int err = 0;
  if (::connect(fd, a.sa(), a.length) < 0) {
    err = errno == EINPROGRESS ? 0 : errno;
    if (err == 0) {
      // A blocking connect with a timeout, written as poll(): SO_SNDTIMEO could not also
      // watch the stop eventfd.
      pollfd p[2] = {{fd, POLLOUT, 0}, {stopFd, POLLIN, 0}};
      int n;
      do
        n = ::poll(p, 2, static_cast<int>(timeoutMs));
      while (n < 0 && errno == EINTR);
      if (n == 0) {
        err = ETIMEDOUT;
      } else if (p[1].revents != 0) {
        err = ECANCELED;
      } else {
        socklen_t len = sizeof err;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      }
    }
  }
  if (err != 0) {
    ::close(fd);
    return -err;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

ThreadsShared::ThreadsShared() = default;

ThreadsShared::~ThreadsShared() {
  if (stopFd >= 0)
    ::close(stopFd);
}

void ThreadsShared::link(ThreadsSockets& s) {
  std::lock_guard<std::mutex> g(socketsMu);
  s.prev = nullptr;
  s.next = sockets;
  if (sockets != nullptr)
    sockets->prev = &s;
  sockets = &s;
}

void ThreadsShared::unlink(ThreadsSockets& s) {
  std::lock_guard<std::mutex> g(socketsMu);
  if (s.prev != nullptr)
    s.prev->next = s.next;
  else
    sockets = s.next;
  if (s.next != nullptr)
    s.next->prev = s.prev;
  s.prev = s.next = nullptr;
}

int ThreadsShared::setSocket(ThreadsSockets& s, int ThreadsSockets::*which, int fd) {
  std::lock_guard<std::mutex> g(socketsMu);
  return std::exchange(s.*which, fd);
}

void ThreadsShared::setIdle(ThreadsSockets& s, bool idle) {
  // No lock: the client fd is the calling thread's own and stays open while s is linked.
  s.idle.store(idle);
  // Drain began before this connection went idle: it must not wait for another request.
  if (idle && draining.load() && s.client >= 0)
    ::shutdown(s.client, SHUT_RD);
}

void ThreadsShared::shutdownIdle() {
  // draining is set: a connection going idle from now on shuts itself down.
  std::lock_guard<std::mutex> g(socketsMu);
  for (ThreadsSockets* s = sockets; s != nullptr; s = s->next)
    if (s->idle.load() && s->client >= 0)
      ::shutdown(s->client, SHUT_RD);
}

void ThreadsShared::shutdownAll() {
  std::lock_guard<std::mutex> g(socketsMu);
  for (ThreadsSockets* s = sockets; s != nullptr; s = s->next) {
    if (s->client >= 0)
      ::shutdown(s->client, SHUT_RDWR);
    if (s->upstream >= 0)
      ::shutdown(s->upstream, SHUT_RDWR);
  }
}

void ThreadsShared::connectionEnded() {
  std::lock_guard<std::mutex> g(mu);
  active.fetch_sub(1, std::memory_order_relaxed);
  idle.notify_all();
}

// The thread keeps ThreadsShared alive past its Connection, so it may outlive the
// ThreadsServer by the few instructions after connectionEnded().
void* threadsConnectionMain(void* arg) {
  std::unique_ptr<ThreadsConnectionStart> start(static_cast<ThreadsConnectionStart*>(arg));
  const std::shared_ptr<ThreadsShared> shared = start->shared;
  const std::size_t listener = start->listener;
  if (shared->http[listener] != nullptr) {
    const int client = start->client;
    start.reset();
    runThreadsHttp(shared, listener, client);
  } else {
    Connection c(shared, listener, start->endpoint, start->client);
    start.reset();
    c.run();
  }
  sub(shared->stats[listener]->active);
  shared->connectionEnded();
  return nullptr;
}

} // namespace ringway::core
