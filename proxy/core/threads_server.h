// ThreadsServer: the thread-per-connection backend (`io.backend: threads`), the classic model
// the io_uring and epoll backends are measured against (bench/aio/REPORT.md). It is not a
// Loop behind core::Server: blocking threads do not fit the io::Loop callbacks, and the point
// is to run the classic model as it is, not an event loop in disguise.
//
//   - One accept thread per listener: it sleeps in poll() on the listening socket (and on a
//     stop eventfd, so drain can wake it) and accepts.
//   - One thread per proxied connection, not two (core/threads_connection.h): it connects to
//     the upstream (poll() for connect_timeout), then sleeps in poll() on both sockets and
//     relays with read()/send() through one buffer of io.buffer_size per direction. One thread per connection keeps
//     half-close, RST propagation and the idle timeout in one place (no thread has to tell
//     another that its side ended) and halves the thread count against two per connection.
//     The price, as with any thread per connection: a stack, a kernel task and a scheduler
//     wake-up per poll() return.
//   - idle_timeout is the poll() timeout; a drain's end (drain_timeout, or stopNow) is an
//     eventfd every connection thread polls.
//   - http listeners: one thread per client connection too, with blocking sockets
//     (core/threads_http.h): the same parser, router and head rewriting as the loop backends,
//     a kept-alive upstream connection per thread.
//   - At most MaxConnections connections (threads) at once. Over it, a new client is accepted
//     and closed at once (an http client gets a 503 first), logged once per burst.
//
// tcp and http listeners without TLS (unsupported() says why a config can't run here). Counters
// are per listener, shared by its threads (relaxed fetch_add: contention is part of this model).
// No admin server: the metrics are built on per-worker loops (core::MetricsCollector).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "net/listener_stats.h"

namespace ringway::core {

struct ThreadsShared;  // core/threads_connection.h

class ThreadsServer {
 public:
  // Bounded by the machine rather than by ringway: every thread needs a kernel task (pid_max
  // defaults to 32768) and two mappings for its stack (vm.max_map_count defaults to 65530),
  // and every connection two descriptors. 10,000 fits all three with room for the rest.
  static constexpr uint64_t MaxConnections = 10000;
  // Connection threads need little stack (no recursion, buffers on the heap).
  static constexpr std::size_t StackSize = 256 * 1024;
  // Tests: a lower cap, set before start().
  void setMaxConnections(uint64_t n) { maxConnections_ = n; }

  // "" if cfg can run on this backend, else why not (for --check and start-up).
  static std::string unsupported(const config::Config& cfg);

  explicit ThreadsServer(std::shared_ptr<const config::Config> cfg);
  ~ThreadsServer();  // stopNow() and wait() unless finished
  ThreadsServer(const ThreadsServer&) = delete;
  ThreadsServer& operator=(const ThreadsServer&) = delete;

  // Binds every listener and starts the accept threads. Throws std::runtime_error with a
  // message for the operator.
  void start();
  // Stop accepting (listening sockets close); open connections go on until they end or
  // drain_timeout passes, then the rest are closed.
  void drain();
  void stopNow();        // stop accepting, close every connection now
  bool finished() const;  // nothing accepts, no connection is open
  void wait();           // until finished(); joins every thread this object started

  // "127.0.0.1:41234" for each config listener, port 0 resolved.
  const std::vector<std::string>& boundAddresses() const { return bound_; }
  const config::Config& config() const { return *cfg_; }
  uint64_t activeConnections() const;
  const net::ListenerStats& stats(std::size_t listener) const;

 private:
  struct ListenerState;
  void acceptLoop(ListenerState& l);
  void spawn(ListenerState& l, int client);
  void watchDrain();

  std::shared_ptr<const config::Config> cfg_;
  std::shared_ptr<ThreadsShared> shared_;
  std::vector<std::unique_ptr<ListenerState>> listeners_;
  std::vector<std::string> bound_;
  int acceptStopFd_ = -1;  // eventfd: written once to stop every accept thread
  std::atomic<unsigned> accepting_{0};
  std::atomic<bool> draining_{false};
  uint64_t maxConnections_ = MaxConnections;
  std::thread drainThread_;
};

}  // namespace ringway::core
