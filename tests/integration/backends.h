// Backend servers on threads: per-connection handlers, and an epoll echo server.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "integration/sockets.h"

namespace ringway::itest {

// ---------------------------------------------------------------------------------------
// Backend servers

// Accepts on 127.0.0.1:0 and runs `handler(fd)` on a thread per connection; closes the fd
// when the handler returns. stop() (also the destructor) stops accepting, shuts down every
// open connection so blocked handlers return, and joins.
class Backend {
public:
  using Handler = std::function<void(int fd)>;
  explicit Backend(Handler h, int backlog = 4096);
  ~Backend();
  Backend(const Backend&) = delete;
  Backend& operator=(const Backend&) = delete;
  uint16_t port() const { return port_; }
  std::string address() const { return loopback(port_); }
  int accepted() const { return accepted_.load(); }
  int finished() const { return finished_.load(); }
  bool stopping() const { return stop_.load(); }
  void stop();

private:
  void acceptLoop();
  Handler handler_;
  Fd listen_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> finished_{0};
  std::mutex mu_;
  std::set<int> open_;
  std::vector<std::thread> threads_;
  std::thread acceptor_;
};

// Handlers for Backend.
namespace handlers {
// Reads until EOF, then closes. Records (bytes, checksum) per connection in *out.
struct SinkRecord {
  uint64_t bytes = 0;
  uint64_t checksum = FnvInit;
  End end = End::Open;
};
Backend::Handler sink(std::shared_ptr<std::vector<SinkRecord>> out, std::shared_ptr<std::mutex> mu);
// Sends n bytes of RandomStream(seed), then FIN; then reads (and drops) until EOF.
Backend::Handler source(uint64_t seed, uint64_t n);
// Reads `before` bytes, then closes with RST.
Backend::Handler resetter(std::size_t before);
// Never reads; holds the connection until the peer hangs up or the backend stops.
Backend::Handler neverReads();

// Full duplex, self-describing: the client first sends a DuplexHeader, then `up` bytes of
// RandomStream(seed); the backend answers with `down` bytes of RandomStream(downSeed(seed)),
// both at once, each side sending its FIN when done. The backend records its side.
struct DuplexHeader {
  uint64_t seed;
  uint64_t up;
  uint64_t down;
};
uint64_t downSeed(uint64_t seed);
struct DuplexRecord {
  DuplexHeader header{};
  bool intact = false;
  std::string report; // the checker's report of client -> upstream
  PumpResult pump;
};
Backend::Handler duplex(std::shared_ptr<std::vector<DuplexRecord>> out,
                        std::shared_ptr<std::mutex> mu, PumpOptions o = {});
} // namespace handlers

// The client side of handlers::duplex. Returns "" or everything that went wrong, with the
// checker's report.
std::string runDuplexClient(uint16_t port, uint64_t seed, uint64_t up, uint64_t down, Ms limit,
                            const PumpOptions& o = {});

// An echo server for many connections: one epoll thread, non-blocking sockets. Sends back
// what it reads; on the peer's FIN, flushes and sends its own FIN.
class EchoServer {
public:
  EchoServer();
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  uint16_t port() const { return port_; }
  std::string address() const { return loopback(port_); }
  int accepted() const { return accepted_.load(); }
  int open() const { return open_.load(); }

private:
  void run();
  Fd listen_;
  Fd epoll_;
  Fd wake_;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::thread thread_;
};

} // namespace ringway::itest
