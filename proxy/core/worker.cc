#include "core/worker.h"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "io/epoll_loop.h"
#include "io/log.h"
#include "io/thread_syscalls.h"
#include "io/uring_loop.h"

namespace ringway::core {

Worker::Worker(int id, std::shared_ptr<const config::Config> cfg, std::vector<int> listenFds)
    : id_(id), cfg_(std::move(cfg)), listenFds_(std::move(listenFds)) {}

Worker::~Worker() {
  join();
  listeners_.clear();  // sessions still open write their access log lines
  loop_.reset();       // only now: the main thread may still write to its eventfd until join
  accessLogs_.clear(); // after the loop: its last file writes are done (or given up on)
  for (int fd : listenFds_)
    if (fd >= 0)
      ::close(fd);
}

void Worker::start() {
  thread_ = std::thread([this] { run(); });
}

void Worker::join() {
  if (thread_.joinable())
    thread_.join();
}

void Worker::wake(Command c) {
  int cur = command_.load();
  while (cur < c && !command_.compare_exchange_weak(cur, c)) {
  }
  const int fd = wakeFd_.load();
  if (fd < 0)
    return; // not running yet: run() looks at command_ once the loop exists
  uint64_t one = 1;
  ssize_t w = ::write(fd, &one, sizeof one);
  (void)w;
}

void Worker::drain() { wake(Drain); }

void Worker::reopenLogs() {
  reopen_.fetch_add(1);
  const int fd = wakeFd_.load();
  if (fd < 0)
    return; // not serving yet: the files it opens are new anyway
  uint64_t one = 1;
  ssize_t w = ::write(fd, &one, sizeof one);
  (void)w;
}
void Worker::stopNow() { wake(Stop); }

bool Worker::setUp() {
  if (cfg_->cpu_affinity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    CPU_SET(static_cast<int>(id_ % (cpus > 0 ? cpus : 1)), &set);
    if (int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set); rc != 0)
      LOG_WARN("cannot pin to cpu %ld: %s", id_ % (cpus > 0 ? cpus : 1), std::strerror(rc));
  }
  if (cfg_->io.backend == config::Backend::Epoll) {
    io::EpollOptions o;
    o.bufferSize = static_cast<uint32_t>(cfg_->io.buffer_size);
    o.bufferCount = cfg_->io.buffers_per_worker;
    o.maxQueuedBytes = cfg_->io.max_inflight_per_connection;
    o.splice = cfg_->io.splice;
    o.pipeBytes = cfg_->io.max_inflight_per_connection; // the same bound per direction
    auto loop = io::EpollLoop::create(o);
    if (!loop.ok()) {
      failure_ = std::string(loop.error().what) + ": " + std::strerror(loop.error().code);
      return false;
    }
    loop_.reset(loop.value());
  } else {
    io::UringOptions o;
    o.ringEntries = cfg_->io.ring_entries;
    o.bufferSize = static_cast<uint32_t>(cfg_->io.buffer_size);
    o.bufferCount = cfg_->io.buffers_per_worker;
    o.zerocopyThreshold = cfg_->io.zerocopy_threshold.value_or(0);
    o.maxQueuedBytes = cfg_->io.max_inflight_per_connection;
    o.splice = cfg_->io.splice;
    o.pipeBytes = cfg_->io.max_inflight_per_connection; // the same bound per direction
    auto loop = io::UringLoop::create(o);
    if (!loop.ok()) {
      failure_ = std::string(loop.error().what) + ": " + std::strerror(loop.error().code);
      return false;
    }
    LOG_DEBUG("io_uring ring ready: mode=%s entries=%u buffers=%ux%u", loop.value()->ring().mode(),
              o.ringEntries, o.bufferCount, o.bufferSize);
    loop_.reset(loop.value());
  }
  for (std::size_t i = 0; i < cfg_->clusters.size(); ++i)
    balancers_.push_back(std::make_unique<net::Balancer>(
        cfg_->clusters[i], 0x9e3779b97f4a7c15ULL * static_cast<uint64_t>(id_ + 1 + i)));
  for (const config::Listener& lc : cfg_->listeners) {
    if (!lc.access_log || lc.protocol != config::Protocol::Http)
      continue;
    auto a = std::make_unique<net::AccessLog>(*loop_, lc, id_);
    std::string why;
    if (!a->open(&why)) {
      failure_ = "listener '" + lc.name + "': " + why;
      return false;
    }
    accessLogs_.push_back(std::move(a));
  }
  net::setThreadAccessLogs(&accessLogs_);
  ctx_ = std::make_unique<net::WorkerContext>(net::WorkerContext{id_, *loop_, *cfg_, balancers_});
  for (std::size_t i = 0; i < cfg_->listeners.size(); ++i) {
    auto l = net::makeListener(*ctx_, cfg_->listeners[i], listenFds_[i]);
    if (!l) {
      // makeListener logged why when it knows (a TLS file that no longer loads).
      failure_ = "listener '" + cfg_->listeners[i].name +
                 "': cannot start (protocol not supported, or its TLS set-up failed; see above)";
      return false;
    }
    listenFds_[i] = -1; // the listener owns it now
    listeners_.push_back(std::move(l));
  }
  loop_->setTick(100, *this);
  loop_->setWake(*this);
  return true;
}

void Worker::run() {
  io::setLogWorker(id_);
  // "ringway-w<id>" in top -H, ps -L and /proc/PID/task/*/comm: how an operator (or the
  // syscall-count test) finds a worker's thread id for perf -t.
  char name[16];
  std::snprintf(name, sizeof name, "ringway-w%d", id_);
  pthread_setname_np(pthread_self(), name);
  if (!setUp()) {
    state_.store(State::Failed, std::memory_order_release);
    return;
  }
  wakeFd_.store(loop_->wakeFd());
  io::setThreadLoop(loop_.get()); // log lines and OpenSSL's getpid() count as its syscalls
  state_.store(State::Serving, std::memory_order_release);
  if (command_.load() != None)
    onWake(); // a command that came before the loop existed
  loop_->run();
  net::setThreadAccessLogs(nullptr);
  io::setThreadLoop(nullptr);
  state_.store(State::Stopped, std::memory_order_release);
  LOG_DEBUG("stopped");
}

void Worker::onWake() {
  if (const uint32_t g = reopen_.load(); g != reopenSeen_) {
    reopenSeen_ = g;
    for (auto& a : accessLogs_)
      a->reopen();
  }
  const int c = command_.load();
  if (c >= Drain && !draining_) {
    draining_ = true;
    state_.store(State::Draining, std::memory_order_release);
    drainDeadline_ = loop_->nowMs() + static_cast<uint64_t>(cfg_->defaults.drain_timeout.count());
    for (auto& l : listeners_)
      l->stopAccepting();
  }
  if (c == Stop)
    drainDeadline_ = 0;
  onTick();
}

void Worker::updateActive() {
  uint64_t n = 0;
  for (auto& l : listeners_)
    n += l->activeSessions();
  active_.store(n, std::memory_order_relaxed);
}

void Worker::updateUsage() {
  rusage ru{};
  if (getrusage(RUSAGE_THREAD, &ru) != 0)
    return;
  loop_->countSyscall();
  const uint64_t us = static_cast<uint64_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
                      static_cast<uint64_t>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  usage_.cpuMicros.store(us, std::memory_order_relaxed);
  usage_.voluntarySwitches.store(static_cast<uint64_t>(ru.ru_nvcsw), std::memory_order_relaxed);
  usage_.involuntarySwitches.store(static_cast<uint64_t>(ru.ru_nivcsw), std::memory_order_relaxed);
}

void Worker::onTick() {
  for (auto& l : listeners_)
    l->onTick();
  for (auto& a : accessLogs_)
    a->flush();
  updateActive();
  updateUsage();
  if (!draining_)
    return;
  bool accepting = false;
  for (auto& l : listeners_)
    accepting |= !l->acceptStopped();
  const uint64_t active = active_.load(std::memory_order_relaxed);
  if (active > 0 && !closedAll_ && loop_->nowMs() >= drainDeadline_) {
    LOG_INFO("drain timeout: closing %lu open connections", static_cast<unsigned long>(active));
    closedAll_ = true;
    for (auto& l : listeners_)
      l->closeAll();
  }
  if (active == 0 && !accepting) {
    // The last access log lines are written before the loop ends, for a while: a file that
    // takes nothing (a FIFO nobody reads) must not hold the shutdown up.
    if (logWaitUntil_ == 0)
      logWaitUntil_ = loop_->nowMs() + 2000;
    bool written = true;
    for (auto& a : accessLogs_)
      written = a->idle() && written;
    if (!written && loop_->nowMs() < logWaitUntil_)
      return;
    if (!written)
      LOG_WARN("stopping with access log writes unfinished");
    loop_->stop();
  }
}

} // namespace ringway::core
