#include "integration/backends.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>

namespace ringway::itest {

// ---------------------------------------------------------------------------------------
// Backend

Backend::Backend(Handler h, int backlog)
    : handler_(std::move(h)), listen_(listenLoopback(backlog)) {
  port_ = localPort(listen_.get());
  acceptor_ = std::thread([this] { acceptLoop(); });
}

Backend::~Backend() { stop(); }

void Backend::acceptLoop() {
  while (!stop_.load()) {
    pollfd p{listen_.get(), POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0)
      continue;
    const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0)
      continue;
    ++accepted_;
    std::lock_guard<std::mutex> g(mu_);
    if (stop_.load()) {
      ::close(fd);
      break;
    }
    open_.insert(fd);
    threads_.emplace_back([this, fd] {
      handler_(fd);
      {
        std::lock_guard<std::mutex> g2(mu_);
        open_.erase(fd);
        ::close(fd); // under the lock: stop() never shuts down a reused number
      }
      ++finished_;
    });
  }
}

void Backend::stop() {
  if (stop_.exchange(true))
    return;
  if (acceptor_.joinable())
    acceptor_.join();
  std::vector<std::thread> ts;
  {
    std::lock_guard<std::mutex> g(mu_);
    for (int fd : open_)
      ::shutdown(fd, SHUT_RDWR);
    ts.swap(threads_);
  }
  for (auto& t : ts)
    t.join();
  listen_.reset();
}

namespace handlers {

Backend::Handler sink(std::shared_ptr<std::vector<SinkRecord>> out,
                      std::shared_ptr<std::mutex> mu) {
  return [out, mu](int fd) {
    SinkRecord rec;
    std::vector<uint8_t> buf(64 * 1024);
    Deadline d(60s);
    for (;;) {
      pollfd p{fd, POLLIN, 0};
      if (::poll(&p, 1, d.remainingMs(100)) <= 0) {
        if (d.expired()) {
          rec.end = End::Timeout;
          break;
        }
        continue;
      }
      const ssize_t k = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
      if (k > 0) {
        rec.bytes += static_cast<uint64_t>(k);
        rec.checksum = fnv1a(rec.checksum, buf.data(), static_cast<std::size_t>(k));
      } else if (k == 0) {
        rec.end = End::Eof;
        break;
      } else if (errno != EAGAIN && errno != EINTR) {
        rec.end = errno == ECONNRESET ? End::Reset : End::Error;
        break;
      }
    }
    std::lock_guard<std::mutex> g(*mu);
    out->push_back(rec);
  };
}

Backend::Handler source(uint64_t seed, uint64_t n) {
  return [seed, n](int fd) {
    RandomStream s(seed);
    StreamChecker ignore("ignored", 0, 0);
    PumpOptions o;
    pump(fd, s, n, ignore, Deadline(60s), o);
  };
}

Backend::Handler resetter(std::size_t before) {
  return [before](int fd) {
    std::vector<uint8_t> buf(before);
    std::size_t got = 0;
    readExact(fd, buf.data(), before, Deadline(10s), &got);
    setLinger0(fd); // the Backend's close() now sends RST
  };
}

Backend::Handler neverReads() {
  return [](int fd) {
    Deadline d(60s);
    while (!d.expired()) {
      pollfd p{fd, POLLRDHUP, 0}; // the peer's FIN shows without reading anything
      if (::poll(&p, 1, 50) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
        return;
    }
  };
}

uint64_t downSeed(uint64_t seed) { return mix(seed ^ 0x646f776e73747265ULL); }

Backend::Handler duplex(std::shared_ptr<std::vector<DuplexRecord>> out,
                        std::shared_ptr<std::mutex> mu, PumpOptions o) {
  return [out, mu, o](int fd) {
    DuplexRecord rec;
    Deadline d(90s);
    std::size_t got = 0;
    ReadEnd h = readExact(fd, &rec.header, sizeof rec.header, d, &got);
    if (got != sizeof rec.header) {
      rec.report = std::string("backend: no duplex header (") + std::to_string(got) +
                   " bytes, then " + toString(h.end) + ")";
    } else {
      StreamChecker in("client->upstream", rec.header.seed, rec.header.up);
      rec.pump = pump(fd, RandomStream(downSeed(rec.header.seed)), rec.header.down, in, d, o);
      rec.intact = in.intact();
      rec.report = in.report();
    }
    std::lock_guard<std::mutex> g(*mu);
    out->push_back(std::move(rec));
  };
}

} // namespace handlers

std::string runDuplexClient(uint16_t port, uint64_t seed, uint64_t up, uint64_t down, Ms limit,
                            const PumpOptions& o) {
  Deadline d(limit);
  int err = 0;
  Fd fd = connectLoopback(port, limit, &err);
  if (!fd)
    return std::string("connect to the proxy: ") + std::strerror(err);
  const handlers::DuplexHeader h{seed, up, down};
  if (int e = sendAll(fd.get(), &h, sizeof h, d); e != 0)
    return std::string("send header: ") + std::strerror(e);
  StreamChecker in("upstream->client", handlers::downSeed(seed), down);
  PumpResult r = pump(fd.get(), RandomStream(seed), up, in, d, o);
  std::string problems;
  if (r.sendErr != 0)
    problems += "client send stopped after " + std::to_string(r.sent) + " of " +
                std::to_string(up) + " bytes: " + std::strerror(r.sendErr) + "\n";
  if (r.read.end != End::Eof)
    problems += std::string("client read ended with ") + toString(r.read.end) +
                (r.read.err ? std::string(" (") + std::strerror(r.read.err) + ")" : "") +
                " instead of EOF\n";
  if (!in.intact() || !problems.empty())
    problems += in.report();
  return problems;
}

// ---------------------------------------------------------------------------------------
// EchoServer

EchoServer::EchoServer() : listen_(listenLoopback()) {
  port_ = localPort(listen_.get());
  setNonBlocking(listen_.get(), true);
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = listen_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, listen_.get(), &ev);
  ev.data.fd = wake_.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  thread_ = std::thread([this] { run(); });
}

EchoServer::~EchoServer() {
  stop_.store(true);
  uint64_t one = 1;
  ssize_t w = ::write(wake_.get(), &one, sizeof one);
  (void)w;
  thread_.join();
}

void EchoServer::run() {
  struct Conn {
    std::vector<uint8_t> pending; // read, not yet echoed
    bool eof = false;
  };
  std::unordered_map<int, Conn> conns;
  std::vector<uint8_t> buf(64 * 1024);
  auto closeConn = [&](int fd) {
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    ::close(fd);
    conns.erase(fd);
    --open_;
  };
  auto watch = [&](int fd, Conn& c) {
    epoll_event ev{};
    // Stop reading while we owe bytes: the echo pushes back like a real server would.
    ev.events = c.pending.empty() ? (c.eof ? 0u : static_cast<uint32_t>(EPOLLIN)) : EPOLLOUT;
    ev.data.fd = fd;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev);
  };
  epoll_event evs[128];
  while (!stop_.load()) {
    const int n = ::epoll_wait(epoll_.get(), evs, 128, 100);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == wake_.get())
        continue;
      if (fd == listen_.get()) {
        for (;;) {
          const int c = ::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (c < 0)
            break;
          ++accepted_;
          ++open_;
          conns.emplace(c, Conn{});
          epoll_event ev{};
          ev.events = EPOLLIN;
          ev.data.fd = c;
          ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c, &ev);
        }
        continue;
      }
      auto it = conns.find(fd);
      if (it == conns.end())
        continue;
      Conn& c = it->second;
      bool dead = false;
      if (!c.pending.empty()) {
        const ssize_t w =
            ::send(fd, c.pending.data(), c.pending.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
          c.pending.erase(c.pending.begin(), c.pending.begin() + w);
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
          dead = true;
        }
      } else if (!c.eof) {
        const ssize_t k = ::recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (k > 0) {
          c.pending.assign(buf.begin(), buf.begin() + k);
        } else if (k == 0) {
          c.eof = true;
        } else if (errno != EAGAIN && errno != EINTR) {
          dead = true;
        }
      }
      if (dead) {
        closeConn(fd);
        continue;
      }
      if (c.eof && c.pending.empty()) {
        ::shutdown(fd, SHUT_WR);
        closeConn(fd);
        continue;
      }
      watch(fd, c);
    }
  }
  for (auto& [fd, c] : conns)
    ::close(fd);
}

} // namespace ringway::itest
