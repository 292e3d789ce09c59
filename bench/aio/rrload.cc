// rrload: the request/response load for bench/aio (L4: ringway has no HTTP in every backend).
//
//   rrload server --port P
//       Answers requests: each starts with an 8-byte header {u32 request length (header
//       included), u32 response length}; once the whole request is in, it sends that many
//       response bytes. One thread, edge-triggered epoll, non-blocking sockets.
//   rrload client --port P --conns N --req Q --resp R
//       Opens N connections (in batches of 500), prints "ready ok=N failed=F", then keeps one
//       request in flight per connection (closed loop, like wrk). Commands on stdin: "start"
//       opens a measurement window, "stop" closes it and prints one JSON line (requests,
//       seconds, bytes, latency percentiles in microseconds, errors). EOF on stdin: exit.
//
// Built by bench/aio/run with g++ -O2; nothing in ringway links it.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

uint64_t nowNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "rrload: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

const char* arg(int argc, char** argv, const char* name, const char* def) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  if (def == nullptr) {
    std::fprintf(stderr, "rrload: missing %s\n", name);
    std::exit(2);
  }
  return def;
}

sockaddr_in loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

constexpr std::size_t kChunk = 1 << 20;
char g_payload[kChunk];  // what responses and request bodies carry
char g_sink[256 * 1024];

// ---------------------------------------------------------------------------------------
// server

struct ServerConn {
  int fd;
  uint8_t head[8];
  uint32_t headHave = 0;
  uint32_t reqLeft = 0;  // body bytes still to read of the current request
  uint64_t outLeft = 0;  // response bytes still to send
  bool writable = true;
};

bool serverFlush(ServerConn& c) {
  while (c.outLeft > 0 && c.writable) {
    const std::size_t n = std::min<uint64_t>(c.outLeft, kChunk);
    const ssize_t w = ::send(c.fd, g_payload, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) {
        c.writable = false;
        return true;
      }
      if (errno == EINTR) continue;
      return false;
    }
    c.outLeft -= static_cast<uint64_t>(w);
  }
  return true;
}

// Consumes what is readable; false when the connection ended.
bool serverRead(ServerConn& c) {
  for (;;) {
    const ssize_t n = ::read(c.fd, g_sink, sizeof g_sink);
    if (n == 0) return false;
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    std::size_t off = 0;
    while (off < static_cast<std::size_t>(n)) {
      if (c.reqLeft > 0) {
        const std::size_t k = std::min<std::size_t>(c.reqLeft, n - off);
        c.reqLeft -= static_cast<uint32_t>(k);
        off += k;
        if (c.reqLeft == 0 && c.headHave == 8) {
          uint32_t resp;
          std::memcpy(&resp, c.head + 4, 4);
          c.outLeft += resp;
          c.headHave = 0;
        }
        continue;
      }
      const std::size_t k = std::min<std::size_t>(8 - c.headHave, n - off);
      std::memcpy(c.head + c.headHave, g_sink + off, k);
      c.headHave += static_cast<uint32_t>(k);
      off += k;
      if (c.headHave == 8) {
        uint32_t req, resp;
        std::memcpy(&req, c.head, 4);
        std::memcpy(&resp, c.head + 4, 4);
        c.reqLeft = req > 8 ? req - 8 : 0;
        if (c.reqLeft == 0) {
          c.outLeft += resp;
          c.headHave = 0;
        }
      }
    }
    if (!serverFlush(c)) return false;
  }
}

int runServer(int port) {
  const int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  ::setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a = loopback(port);
  if (::bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0) die("bind");
  if (::listen(ls, 4096) < 0) die("listen");
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  std::vector<epoll_event> evs(1024);
  for (;;) {
    const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), -1);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.ptr == nullptr) {
        for (;;) {
          const int fd = ::accept4(ls, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
          if (fd < 0) break;
          ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* c = new ServerConn{fd, {}, 0, 0, 0, true};
          epoll_event e{};
          e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
          e.data.ptr = c;
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      auto* c = static_cast<ServerConn*>(evs[i].data.ptr);
      bool ok = true;
      if (evs[i].events & EPOLLOUT) {
        c->writable = true;
        ok = serverFlush(*c);
      }
      if (ok && (evs[i].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) ok = serverRead(*c);
      if (!ok) {
        ::close(c->fd);
        delete c;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------
// client

struct ClientConn {
  int fd = -1;
  uint64_t sent = 0;  // of the current request
  uint64_t got = 0;   // of the current response
  uint64_t started = 0;
  bool resolved = false;  // the connect finished, either way
  bool dead = false;
};

struct Window {
  bool on = false;
  uint64_t t0 = 0;
  uint64_t requests = 0;
  uint64_t bytes = 0;
  uint64_t errors = 0;
  std::vector<uint32_t> latUs;
};

int runClient(int port, int conns, uint32_t req, uint32_t resp) {
  if (req < 8) req = 8;
  std::memcpy(g_payload, &req, 4);  // the header: request and response lengths
  std::memcpy(g_payload + 4, &resp, 4);
  const int ep = epoll_create1(EPOLL_CLOEXEC);
  std::vector<ClientConn> cs(static_cast<std::size_t>(conns));
  sockaddr_in a = loopback(port);
  int failed = 0, ok = 0;
  int one = 1;
  // Connect in batches: a burst of thousands of SYNs would overflow the accept queue.
  for (int start = 0; start < conns; start += 500) {
    const int end = std::min(conns, start + 500);
    int pending = 0;
    for (int i = start; i < end; ++i) {
      ClientConn& c = cs[static_cast<std::size_t>(i)];
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (c.fd < 0) die("socket");
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (::connect(c.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) < 0 && errno != EINPROGRESS)
        die("connect");
      epoll_event e{};
      e.events = EPOLLOUT;
      e.data.u64 = static_cast<uint64_t>(i);
      epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &e);
      ++pending;
    }
    epoll_event evs[512];
    const uint64_t deadline = nowNs() + 15000000000ULL;
    while (pending > 0 && nowNs() < deadline) {
      const int n = epoll_wait(ep, evs, 512, 100);
      for (int k = 0; k < n; ++k) {
        ClientConn& c = cs[evs[k].data.u64];
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        epoll_ctl(ep, EPOLL_CTL_DEL, c.fd, nullptr);
        c.resolved = true;
        --pending;
        if (err != 0) {
          c.dead = true;
          ++failed;
        } else {
          ++ok;
        }
      }
    }
    for (int i = start; i < end && pending > 0; ++i) {
      ClientConn& c = cs[static_cast<std::size_t>(i)];
      if (!c.resolved) {  // still connecting at the deadline
        c.dead = true;
        ::close(c.fd);
      }
    }
    failed += pending;
  }
  Window w;
  w.latUs.reserve(1 << 22);
  auto sendSome = [&](ClientConn& c) -> bool {
    while (c.sent < req) {
      const ssize_t n = ::send(c.fd, g_payload + (c.sent % kChunk),
                               std::min<uint64_t>(req - c.sent, kChunk - c.sent % kChunk),
                               MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EINTR;
      c.sent += static_cast<uint64_t>(n);
    }
    return true;
  };
  auto begin = [&](ClientConn& c) -> bool {
    c.sent = c.got = 0;
    c.started = nowNs();
    return sendSome(c);
  };
  auto kill = [&](ClientConn& c) {
    c.dead = true;
    ::close(c.fd);
    if (w.on) ++w.errors;
  };
  for (std::size_t i = 0; i < cs.size(); ++i) {
    ClientConn& c = cs[i];
    if (c.dead) continue;
    epoll_event e{};
    e.events = EPOLLIN | EPOLLOUT | EPOLLET;
    e.data.u64 = i;
    epoll_ctl(ep, EPOLL_CTL_ADD, c.fd, &e);
    if (!begin(c)) kill(c);
  }
  std::printf("ready ok=%d failed=%d\n", ok, failed);
  std::fflush(stdout);
  epoll_event in{};
  in.events = EPOLLIN;
  in.data.u64 = UINT64_MAX;
  epoll_ctl(ep, EPOLL_CTL_ADD, 0, &in);
  std::vector<epoll_event> evs(4096);
  std::string cmd;
  for (;;) {
    const int n = epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), 1000);
    for (int k = 0; k < n; ++k) {
      if (evs[k].data.u64 == UINT64_MAX) {
        char buf[256];
        const ssize_t r = ::read(0, buf, sizeof buf);
        if (r <= 0) return 0;
        cmd.append(buf, static_cast<std::size_t>(r));
        std::size_t nl;
        while ((nl = cmd.find('\n')) != std::string::npos) {
          const std::string line = cmd.substr(0, nl);
          cmd.erase(0, nl + 1);
          if (line == "start") {
            w = Window{true, nowNs(), 0, 0, 0, std::move(w.latUs)};
            w.latUs.clear();
          } else if (line == "stop") {
            const double secs = static_cast<double>(nowNs() - w.t0) / 1e9;
            std::sort(w.latUs.begin(), w.latUs.end());
            auto pct = [&](double p) -> double {
              if (w.latUs.empty()) return 0;
              return w.latUs[std::min(w.latUs.size() - 1,
                                      static_cast<std::size_t>(p * static_cast<double>(w.latUs.size())))];
            };
            std::size_t alive = 0;
            for (auto& c : cs) alive += c.dead ? 0 : 1;
            std::printf("{\"requests\": %lu, \"seconds\": %.4f, \"bytes\": %lu, \"errors\": %lu, "
                        "\"alive\": %zu, \"p50_us\": %.0f, \"p90_us\": %.0f, \"p99_us\": %.0f, "
                        "\"p999_us\": %.0f}\n",
                        static_cast<unsigned long>(w.requests), secs,
                        static_cast<unsigned long>(w.bytes), static_cast<unsigned long>(w.errors),
                        alive, pct(0.50), pct(0.90), pct(0.99), pct(0.999));
            std::fflush(stdout);
            w.on = false;
          }
        }
        continue;
      }
      ClientConn& c = cs[evs[k].data.u64];
      if (c.dead) continue;
      if ((evs[k].events & EPOLLOUT) && c.sent < req && !sendSome(c)) {
        kill(c);
        continue;
      }
      if (!(evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
      for (;;) {
        const ssize_t r = ::read(c.fd, g_sink, sizeof g_sink);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          kill(c);
          break;
        }
        if (r < 0) break;
        c.got += static_cast<uint64_t>(r);
        if (w.on) w.bytes += static_cast<uint64_t>(r);
        if (c.got >= resp && c.sent >= req) {
          if (w.on) {
            ++w.requests;
            w.latUs.push_back(static_cast<uint32_t>((nowNs() - c.started) / 1000));
          }
          if (!begin(c)) {
            kill(c);
            break;
          }
        }
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: rrload server --port P | client --port P --conns N --req Q --resp R\n");
    return 2;
  }
  for (std::size_t i = 8; i < kChunk; ++i) g_payload[i] = static_cast<char>('a' + i % 26);
  const int port = std::atoi(arg(argc, argv, "--port", nullptr));
  if (std::strcmp(argv[1], "server") == 0) return runServer(port);
  if (std::strcmp(argv[1], "client") == 0)
    return runClient(port, std::atoi(arg(argc, argv, "--conns", "64")),
                     static_cast<uint32_t>(std::atoi(arg(argc, argv, "--req", "64"))),
                     static_cast<uint32_t>(std::atoi(arg(argc, argv, "--resp", "64"))));
  std::fprintf(stderr, "rrload: unknown mode %s\n", argv[1]);
  return 2;
}
