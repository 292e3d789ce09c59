// Worker: one thread, one event loop, its own listening sockets, sessions and counters.
// Nothing mutable is shared with other workers; the main thread talks to it by command word
// plus a wake-up on the loop's eventfd.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/config.h"
#include "io/loop.h"
#include "net/access_log.h"
#include "net/balancer.h"
#include "net/listener.h"

namespace ringway::core {

class Worker final : private io::TickHandler, private io::WakeHandler {
 public:
  enum class State { Starting, Serving, Failed, Draining, Stopped };

  // listenFds: one bound socket per config listener, owned by this worker from now on.
  Worker(int id, std::shared_ptr<const config::Config> cfg, std::vector<int> listenFds);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  void start();  // spawns the thread
  void join();
  // From any thread: stop accepting, let sessions finish, close what is left after the
  // drain timeout. stopNow(): close everything at once.
  void drain();
  void stopNow();
  // From any thread (SIGUSR1): the worker reopens its access logs on its own thread.
  void reopenLogs();

  int id() const { return id_; }
  State state() const { return state_.load(std::memory_order_acquire); }
  const std::string& failure() const { return failure_; }  // when Failed
  // Read by metrics at scrape time; valid while Serving or Draining.
  io::Loop* loop() const { return loop_.get(); }
  const std::vector<std::unique_ptr<net::Listener>>& listeners() const { return listeners_; }
  uint64_t activeSessions() const { return active_.load(std::memory_order_relaxed); }
  // getrusage(RUSAGE_THREAD) of the worker thread, refreshed every tick (100 ms).
  struct Usage {
    std::atomic<uint64_t> cpuMicros{0};
    std::atomic<uint64_t> voluntarySwitches{0};
    std::atomic<uint64_t> involuntarySwitches{0};
  };
  const Usage& usage() const { return usage_; }
  // One per http listener with an access_log; read by metrics while Serving or Draining.
  const std::vector<std::unique_ptr<net::AccessLog>>& accessLogs() const { return accessLogs_; }

 private:
  enum Command : int { None = 0, Drain = 1, Stop = 2 };
  void run();
  bool setUp();
  void onTick() override;
  void onWake() override;
  void wake(Command c);
  void updateActive();
  void updateUsage();

  const int id_;
  std::shared_ptr<const config::Config> cfg_;
  std::vector<int> listenFds_;
  std::thread thread_;
  std::atomic<State> state_{State::Starting};
  std::atomic<int> command_{None};
  std::atomic<uint64_t> active_{0};
  std::atomic<int> wakeFd_{-1};  // the loop's eventfd once it exists
  std::atomic<uint32_t> reopen_{0};  // bumped per SIGUSR1; the worker reopens when it changes
  uint32_t reopenSeen_ = 0;
  uint64_t logWaitUntil_ = 0;  // stopping: how long to wait for access log writes
  std::string failure_;
  Usage usage_;
  std::unique_ptr<io::Loop> loop_;
  std::vector<std::unique_ptr<net::AccessLog>> accessLogs_;  // after the loop: see ~Worker
  std::vector<std::unique_ptr<net::Balancer>> balancers_;
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  std::unique_ptr<net::WorkerContext> ctx_;
  uint64_t drainDeadline_ = 0;
  bool draining_ = false;
  bool closedAll_ = false;
};

}  // namespace ringway::core
