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
#include <cstring>
#include <stdexcept>

#include "core/threads_connection.h"
#include "core/threads_http.h"
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

}  // namespace

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
// The server: listeners, accept threads, drain

std::string ThreadsServer::unsupported(const config::Config& cfg) {
  for (const auto& l : cfg.listeners) {
    if (l.protocol != config::Protocol::Tcp && l.protocol != config::Protocol::Http)
      return "the threads backend serves tcp and http listeners only; listener '" + l.name +
             "' is protocol " + std::string(config::toString(l.protocol));
    if (l.tls)
      return "the threads backend does not terminate TLS; listener '" + l.name + "' has tls:";
  }
  for (const auto& c : cfg.clusters)
    if (c.tls) {
      for (const auto& l : cfg.listeners)
        for (const auto& r : l.routes)
          if (!r.cluster.empty() && r.cluster == c.name)
            return "the threads backend does not speak TLS to clusters; cluster '" + c.name +
                   "' has tls:";
    }
  return "";
}

ThreadsServer::ThreadsServer(std::shared_ptr<const config::Config> cfg)
    : cfg_(std::move(cfg)), shared_(std::make_shared<ThreadsShared>()) {
  shared_->cfg = cfg_;
  for (std::size_t i = 0; i < cfg_->listeners.size(); ++i) {
    shared_->stats.push_back(std::make_unique<net::ListenerStats>());
    const config::Listener& l = cfg_->listeners[i];
    shared_->http.push_back(l.protocol == config::Protocol::Http && unsupported(*cfg_).empty()
                                ? std::make_unique<ThreadsHttpListener>(l)
                                : nullptr);
  }
  for (std::size_t i = 0; i < cfg_->clusters.size(); ++i)
    shared_->balancers.push_back(
        std::make_unique<ThreadsBalancer>(cfg_->clusters[i], 0x2545f4914f6cdd1dULL * (i + 1)));
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
    if (lc.protocol == config::Protocol::Tcp)
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
             static_cast<unsigned long>(maxConnections_));
}

void ThreadsServer::spawn(ListenerState& l, int client) {
  auto* start =
      new ThreadsConnectionStart{shared_, l.index, l.balancer ? l.balancer->pick() : 0, client};
  shared_->active.fetch_add(1, std::memory_order_relaxed);
  add(shared_->stats[l.index]->active);
  add(shared_->stats[l.index]->accepted);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, StackSize);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  const int rc = pthread_create(&t, &attr, threadsConnectionMain, start);
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
  delete start;  // the client fd is still ours
  ::close(client);
  sub(shared_->stats[l.index]->active);
  shared_->connectionEnded();
}

void ThreadsServer::acceptLoop(ListenerState& l) {
  const std::string& name = l.cfg->name;
  // http connections use blocking sockets (timeouts by SO_RCVTIMEO/SO_SNDTIMEO); tcp ones poll.
  const bool http = l.cfg->protocol == config::Protocol::Http;
  const int acceptFlags = http ? SOCK_CLOEXEC : SOCK_NONBLOCK | SOCK_CLOEXEC;
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
      const int c = ::accept4(l.fd, nullptr, nullptr, acceptFlags);
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
      if (shared_->active.load(std::memory_order_relaxed) >= maxConnections_) {
        if (http) {  // an answer, not a bare close; never blocks the accept thread
          static constexpr char Busy[] =
              "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
              "Content-Length: 24\r\nConnection: close\r\n\r\n503 Service Unavailable\n";
          ssize_t w = ::send(c, Busy, sizeof Busy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
          (void)w;
          ::shutdown(c, SHUT_WR);
        }
        ::close(c);
        add(shared_->stats[l.index]->acceptErrors);
        if (!l.capLogged)
          LOG_WARN("listener=%s: %lu connections open, the threads backend's cap: closing new "
                   "clients at once until one ends%s",
                   name.c_str(), static_cast<unsigned long>(maxConnections_),
                   http ? " (after a 503)" : "");
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
  // http: connections between requests end now, the others after their exchange.
  shared_->draining.store(true);
  shared_->shutdownIdle();
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
  w = ::write(shared_->stopFd, &one, sizeof one);  // every tcp connection thread polls it
  (void)w;
  shared_->draining.store(true);
  shared_->shutdownAll();  // http connection threads block in recv() or send()
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
