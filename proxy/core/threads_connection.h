// One proxied connection of the threads backend (core::ThreadsServer), run to its end on a
// thread of its own: connect to the cluster (each endpoint at most once, connect_timeout by
// poll()), then relay with poll() on both sockets, read() and send(), one io.buffer_size
// buffer per direction. Half-close and RST are passed on as net::TcpSession does it;
// idle_timeout is the poll() timeout; ThreadsShared::stopFd ends it at once.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "config/config.h"
#include "net/balancer.h"
#include "net/listener_stats.h"

namespace ringway::core {

// Connects to `a` within timeoutMs by poll(), which also watches stopFd (its firing gives
// ECANCELED). Returns the connected socket (non-blocking, TCP_NODELAY) or -errno. Used by the
// threads backend's L4 and HTTP connections.
int connectWithin(const config::Address& a, uint64_t timeoutMs, int stopFd);

struct ThreadsHttpListener; // core/threads_http.h

// The sockets of one http connection thread, so drain and stopNow can shut them down (a
// thread blocked in recv() polls nothing). Linked into ThreadsShared::sockets while the thread
// runs; fds change only under ThreadsShared::socketsMu, so a shutdown never hits a number that
// was closed and reused.
struct ThreadsSockets {
  int client = -1;
  int upstream = -1;
  // Waiting for the first byte of a request (drain may close it). Written by its thread
  // without the lock (twice per request): seq_cst against ThreadsShared::draining, so either
  // the thread sees the drain or the drain sees it idle.
  std::atomic<bool> idle{false};
  ThreadsSockets* prev = nullptr;
  ThreadsSockets* next = nullptr;
};

// A cluster's balancer, shared by the threads: taken only to open an upstream connection.
struct ThreadsBalancer {
  std::mutex mu;
  net::Balancer balancer;
  ThreadsBalancer(const config::Cluster& c, uint64_t seed) : balancer(c, seed) {}
};

// What connection threads share with the server; each thread holds a reference, so it
// outlives the ThreadsServer if a thread is still in its last instructions.
struct ThreadsShared {
  std::shared_ptr<const config::Config> cfg;
  int stopFd = -1; // eventfd, written (never read) to close every connection now
  std::vector<std::unique_ptr<net::ListenerStats>> stats; // per listener, shared by threads
  std::atomic<uint64_t> active{0};                        // connections (threads) running
  std::mutex mu;                                          // only for idle's wake-ups
  std::condition_variable idle;
  // http listeners only (null for tcp ones), by listener index.
  std::vector<std::unique_ptr<ThreadsHttpListener>> http;
  std::vector<std::unique_ptr<ThreadsBalancer>> balancers; // by cluster index
  std::atomic<bool> draining{false};
  std::mutex socketsMu;
  ThreadsSockets* sockets = nullptr; // list head

  ThreadsShared();
  ~ThreadsShared();
  void connectionEnded(); // active - 1, and wake whoever waits for idle
  void link(ThreadsSockets& s);
  void unlink(ThreadsSockets& s);
  // Sets one of s's fds (under the lock); returns the old value.
  int setSocket(ThreadsSockets& s, int ThreadsSockets::*which, int fd);
  void setIdle(ThreadsSockets& s, bool idle);
  // Drain: connections waiting between requests see their client's EOF. stopNow: every
  // http connection's sockets are shut down both ways.
  void shutdownIdle();
  void shutdownAll();
};

struct ThreadsConnectionStart {
  std::shared_ptr<ThreadsShared> shared;
  std::size_t listener; // index into cfg->listeners
  std::size_t endpoint; // first endpoint to try, from the listener's balancer
  int client; // accepted (non-blocking on tcp listeners, blocking on http ones); now owned
};

// pthread entry point; arg is a new ThreadsConnectionStart, which it deletes. Counts the
// connection out of ThreadsShared::active (and the listener's active gauge) as its last act.
void* threadsConnectionMain(void* arg);

} // namespace ringway::core
