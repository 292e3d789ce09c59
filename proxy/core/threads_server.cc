#include "core/threads_server.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "io/log.h"
#include "net/balancer.h"
#include "net/socket.h"

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
  if (fd < 0) return;
  if (reset) {  // RST instead of FIN: the peer learns the connection broke
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  }
  ::close(fd);
}

}  // namespace

struct ThreadsServer::Shared {
  std::shared_ptr<const config::Config> cfg;
  int stopFd = -1;  // eventfd, written (never read) to close every connection now
  std::vector<std::unique_ptr<net::ListenerStats>> stats;
  std::atomic<uint64_t> active{0};
  std::mutex mu;  // only for idle's wake-ups
  std::condition_variable idle;

  ~Shared() {
    if (stopFd >= 0) ::close(stopFd);
  }
  void connectionEnded() {
    std::lock_guard<std::mutex> g(mu);
    active.fetch_sub(1, std::memory_order_relaxed);
    idle.notify_all();
  }
};

// One per listener; everything but `thread` is used by its accept thread only.
struct ThreadsServer::ListenerState {
  std::size_t index = 0;
  const config::Listener* cfg = nullptr;
  int fd = -1;
  std::unique_ptr<net::Balancer> balancer;
  uint64_t pausedUntil = 0;  // after EMFILE: accept again at this time (ms)
  bool acceptErrorLogged = false;  // one log line per burst of each
  bool capLogged = false;
  bool spawnErrorLogged = false;
  std::thread thread;
};

// ---------------------------------------------------------------------------------------
// One connection, one thread

namespace {

// What one thread owns: the client, its upstream, a buffer per direction.
class Connection {
 public:
  Connection(std::shared_ptr<ThreadsServer::Shared> shared, std::size_t listener,
             std::size_t endpoint, int client)
      : shared_(std::move(shared)), listenerIndex_(listener),
        listener_(shared_->cfg->listeners[listener]),
        cluster_(shared_->cfg->clusters[listener_.routes.front().cluster_index]),
        stats_(*shared_->stats[listener]), endpoint_(endpoint) {
    fd_[Client] = client;
  }
  void run();
  const std::shared_ptr<ThreadsServer::Shared>& shared() const { return shared_; }
  std::size_t listenerIndex() const { return listenerIndex_; }

 private:
  enum Side { Client = 0, Upstream = 1 };
  // Bytes read from side `src` waiting to be sent to the other side.
  struct Dir {
    std::unique_ptr<char[]> buf;
    std::size_t head = 0, tail = 0;
    bool eof = false;   // src's FIN read
    bool shut = false;  // FIN passed on (shutdown(SHUT_WR) on the other side)
    std::size_t pending() const { return tail - head; }
  };

  net::ListenerStats& stats() { return stats_; }
  bool connectUpstream();
  int tryConnect(const config::Address& a, uint64_t timeoutMs);
  void relay();
  // false: the connection ended (both fds closed).
  bool readSide(int s);
  bool flush(int dst);
  void readError(int s, int err);
  void writeError(int s, int err);
  void end(bool resetClient, bool resetUpstream);

  std::shared_ptr<ThreadsServer::Shared> shared_;
  std::size_t listenerIndex_;
  const config::Listener& listener_;
  const config::Cluster& cluster_;
  net::ListenerStats& stats_;
  std::size_t endpoint_;
  int fd_[2] = {-1, -1};
  Dir dir_[2];  // dir_[s]: from side s to side 1 - s
  uint64_t lastActive_ = 0;
};

void Connection::run() {
  if (connectUpstream()) relay();
}

int Connection::tryConnect(const config::Address& a, uint64_t timeoutMs) {
  const int fd = ::socket(a.sa()->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  int err = 0;
  if (::connect(fd, a.sa(), a.length) < 0) {
    err = errno == EINPROGRESS ? 0 : errno;
    if (err == 0) {
      // A blocking connect with a timeout, written as poll(): SO_SNDTIMEO could not also
      // watch the stop eventfd.
      pollfd p[2] = {{fd, POLLOUT, 0}, {shared_->stopFd, POLLIN, 0}};
      int n;
      do n = ::poll(p, 2, static_cast<int>(timeoutMs));
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

bool Connection::connectUpstream() {
  // Like the Loop backends (net::TcpSession): each endpoint at most once per client.
  const std::size_t n = cluster_.endpoints.size();
  for (std::size_t attempt = 1; attempt <= n; ++attempt) {
    const config::Endpoint& e = cluster_.endpoints[endpoint_];
    const int fd = tryConnect(e.address, static_cast<uint64_t>(cluster_.connect_timeout.count()));
    if (fd >= 0) {
      fd_[Upstream] = fd;
      add(stats().upstreamActive);
      return true;
    }
    if (fd == -ECANCELED) break;  // stopping
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
  if (fd_[Upstream] >= 0) sub(stats().upstreamActive);
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
  if (err == ECONNRESET || err == EPIPE) add(stats().resets);
  // What we had for s can't be delivered: its sender must not think it was.
  end(s != Client, s != Upstream);
}

bool Connection::flush(int dst) {
  Dir& d = dir_[1 - dst];
  while (d.pending() > 0) {
    const ssize_t n =
        ::send(fd_[dst], d.buf.get() + d.head, d.pending(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      writeError(dst, errno);
      return false;
    }
    d.head += static_cast<std::size_t>(n);
    lastActive_ = nowMs();
  }
  d.head = d.tail = 0;
  if (d.eof && !d.shut) {
    ::shutdown(fd_[dst], SHUT_WR);  // half-close: pass the FIN on, the other way stays open
    d.shut = true;
  }
  return true;
}

bool Connection::readSide(int s) {
  Dir& d = dir_[s];
  const std::size_t size = shared_->cfg->io.buffer_size;
  ssize_t n;
  do n = ::read(fd_[s], d.buf.get() + d.tail, size - d.tail);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
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
  return flush(1 - s);  // send at once; poll for POLLOUT only if the socket is full
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
    if (dir_[Client].shut && dir_[Upstream].shut) {  // both FINs passed on: done
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
      if (errno == EINTR) continue;
      LOG_ERROR("listener=%s: poll: %s", listener_.name.c_str(), std::strerror(errno));
      end(true, true);
      return;
    }
    if (p[2].revents != 0) {  // end of drain or stopNow
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
      if (re == 0) continue;
      if (wantRead[s] && (re & (POLLIN | POLLHUP | POLLERR))) {
        if (!readSide(s)) return;
      } else if (re & POLLERR) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(fd_[s], SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          readError(s, err);
          return;
        }
      }
      if (re & POLLHUP) hup[s] = true;
      if ((re & (POLLOUT | POLLERR | POLLHUP)) && dir_[1 - s].pending() > 0 && !flush(s))
        return;
    }
  }
}

// The thread keeps Shared alive past its Connection, so it may outlive the ThreadsServer by
// the few instructions after connectionEnded().
void* connectionMain(void* arg) {
  auto* c = static_cast<Connection*>(arg);
  const std::shared_ptr<ThreadsServer::Shared> shared = c->shared();
  const std::size_t listener = c->listenerIndex();
  c->run();
  delete c;
  sub(shared->stats[listener]->active);
  shared->connectionEnded();
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The server: listeners, accept threads, drain

std::string ThreadsServer::unsupported(const config::Config& cfg) {
  for (const auto& l : cfg.listeners)
    if (l.protocol != config::Protocol::Tcp)
      return "the threads backend serves tcp listeners only; listener '" + l.name +
             "' is protocol " + std::string(config::toString(l.protocol));
  return "";
}

ThreadsServer::ThreadsServer(std::shared_ptr<const config::Config> cfg)
    : cfg_(std::move(cfg)), shared_(std::make_shared<Shared>()) {
  shared_->cfg = cfg_;
  for (std::size_t i = 0; i < cfg_->listeners.size(); ++i)
    shared_->stats.push_back(std::make_unique<net::ListenerStats>());
}

ThreadsServer::~ThreadsServer() {
  if (!finished()) stopNow();
  wait();
  for (auto& l : listeners_)
    if (l->fd >= 0) ::close(l->fd);
  if (acceptStopFd_ >= 0) ::close(acceptStopFd_);
}

void ThreadsServer::start() {
  if (std::string why = unsupported(*cfg_); !why.empty()) throw std::runtime_error(why);
  shared_->stopFd = eventfd(0, EFD_CLOEXEC);
  acceptStopFd_ = eventfd(0, EFD_CLOEXEC);
  if (shared_->stopFd < 0 || acceptStopFd_ < 0)
    throw std::runtime_error(std::string("eventfd: ") + std::strerror(errno));
  for (std::size_t i = 0; i < cfg_->listeners.size(); ++i) {
    const config::Listener& lc = cfg_->listeners[i];
    auto r = net::listenOn(lc.address.sa(), lc.address.length, lc.backlog);
    if (!r.ok())
      throw std::runtime_error("listener '" + lc.name + "': cannot listen on " + lc.address.text +
                               ": " + r.error().what + ": " + std::strerror(r.error().code));
    auto l = std::make_unique<ListenerState>();
    l->index = i;
    l->cfg = &lc;
    l->fd = r.value();
    l->balancer = std::make_unique<net::Balancer>(
        cfg_->clusters[lc.routes.front().cluster_index], 0x9e3779b97f4a7c15ULL * (i + 1));
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(l->fd, reinterpret_cast<sockaddr*>(&ss), &len);
    bound_.push_back(net::formatAddress(reinterpret_cast<sockaddr*>(&ss)));
    listeners_.push_back(std::move(l));
  }
  for (auto& l : listeners_) {
    accepting_.fetch_add(1);
    ListenerState* ls = l.get();
    l->thread = std::thread([this, ls] { acceptLoop(*ls); });
  }
  for (std::size_t i = 0; i < listeners_.size(); ++i)
    LOG_INFO("listener=%s protocol=%s listening on %s (threads, up to %lu connections)",
             cfg_->listeners[i].name.c_str(),
             std::string(config::toString(cfg_->listeners[i].protocol)).c_str(), bound_[i].c_str(),
             static_cast<unsigned long>(MaxConnections));
}

void ThreadsServer::spawn(ListenerState& l, int client) {
  auto* conn = new Connection(shared_, l.index, l.balancer->pick(), client);
  shared_->active.fetch_add(1, std::memory_order_relaxed);
  add(shared_->stats[l.index]->active);
  add(shared_->stats[l.index]->accepted);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, StackSize);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  const int rc = pthread_create(&t, &attr, connectionMain, conn);
  pthread_attr_destroy(&attr);
  if (rc == 0) {
    if (l.spawnErrorLogged) {
      LOG_INFO("listener=%s: starting connection threads again", l.cfg->name.c_str());
      l.spawnErrorLogged = false;
    }
    return;
  }
  // Out of threads (RLIMIT_NPROC, pid_max, memory): this client is closed, the rest go on.
  if (!l.spawnErrorLogged) {
    LOG_ERROR("listener=%s: cannot start a connection thread: %s; closing new clients",
              l.cfg->name.c_str(), std::strerror(rc));
    l.spawnErrorLogged = true;
  }
  add(shared_->stats[l.index]->acceptErrors);
  delete conn;  // closes nothing: the client fd is still ours
  ::close(client);
  sub(shared_->stats[l.index]->active);
  shared_->connectionEnded();
}

void ThreadsServer::acceptLoop(ListenerState& l) {
  const std::string& name = l.cfg->name;
  for (;;) {
    pollfd p[2] = {{l.fd, POLLIN, 0}, {acceptStopFd_, POLLIN, 0}};
    const int n = ::poll(p, 2, l.pausedUntil != 0 ? 100 : -1);
    if (n < 0 && errno != EINTR) {
      LOG_ERROR("listener=%s: poll: %s", name.c_str(), std::strerror(errno));
      break;
    }
    if (p[1].revents != 0) break;
    if (l.pausedUntil != 0) {
      if (nowMs() < l.pausedUntil) continue;
      l.pausedUntil = 0;
    }
    if (n <= 0 || p[0].revents == 0) continue;
    for (int i = 0; i < 64; ++i) {  // then look at the stop eventfd again
      const int c = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (c < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) break;
        if (err == EINTR || err == ECONNABORTED) continue;
        add(shared_->stats[l.index]->acceptErrors);
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
          // Out of descriptors: open connections go on; try again in 100 ms.
          l.pausedUntil = nowMs() + 100;
          if (!l.acceptErrorLogged)
            LOG_ERROR("listener=%s: accept: %s; pausing accepts, serving %lu open connections",
                      name.c_str(), std::strerror(err),
                      static_cast<unsigned long>(shared_->active.load()));
          l.acceptErrorLogged = true;
          break;
        }
        LOG_WARN("listener=%s: accept: %s", name.c_str(), std::strerror(err));
        break;
      }
      if (shared_->active.load(std::memory_order_relaxed) >= MaxConnections) {
        ::close(c);
        add(shared_->stats[l.index]->acceptErrors);
        if (!l.capLogged)
          LOG_WARN("listener=%s: %lu connections open, the threads backend's cap: closing new "
                   "clients at once until one ends",
                   name.c_str(), static_cast<unsigned long>(MaxConnections));
        l.capLogged = true;
        continue;
      }
      if (l.acceptErrorLogged || l.capLogged) {
        LOG_INFO("listener=%s: accepting again", name.c_str());
        l.acceptErrorLogged = l.capLogged = false;
      }
      int one = 1;
      ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      spawn(l, c);
    }
  }
  // Stop accepting: the listening socket closes, so new connections are refused.
  ::close(l.fd);
  l.fd = -1;
  accepting_.fetch_sub(1);
}

void ThreadsServer::drain() {
  if (draining_.exchange(true)) return;
  uint64_t one = 1;
  ssize_t w = ::write(acceptStopFd_, &one, sizeof one);
  (void)w;
  drainThread_ = std::thread([this] { watchDrain(); });
}

// Waits for the open connections to end, up to drain_timeout; then closes the rest.
void ThreadsServer::watchDrain() {
  const auto limit = cfg_->defaults.drain_timeout;
  std::unique_lock<std::mutex> g(shared_->mu);
  if (shared_->idle.wait_for(g, limit, [&] { return shared_->active.load() == 0; })) return;
  const uint64_t open = shared_->active.load();
  g.unlock();
  LOG_INFO("drain timeout: closing %lu open connections", static_cast<unsigned long>(open));
  stopNow();
}

void ThreadsServer::stopNow() {
  uint64_t one = 1;
  ssize_t w = ::write(acceptStopFd_, &one, sizeof one);
  w = ::write(shared_->stopFd, &one, sizeof one);  // every connection thread polls it
  (void)w;
  draining_.store(true);
}

bool ThreadsServer::finished() const {
  return accepting_.load() == 0 && shared_->active.load() == 0;
}

void ThreadsServer::wait() {
  for (auto& l : listeners_)
    if (l->thread.joinable()) l->thread.join();
  {
    std::unique_lock<std::mutex> g(shared_->mu);
    shared_->idle.wait(g, [&] { return shared_->active.load() == 0; });
  }
  if (drainThread_.joinable()) drainThread_.join();
}

uint64_t ThreadsServer::activeConnections() const { return shared_->active.load(); }

const net::ListenerStats& ThreadsServer::stats(std::size_t listener) const {
  return *shared_->stats.at(listener);
}

}  // namespace ringway::core
