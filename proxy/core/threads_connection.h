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
#include "net/listener_stats.h"

namespace ringway::core {

// What connection threads share with the server; each thread holds a reference, so it
// outlives the ThreadsServer if a thread is still in its last instructions.
struct ThreadsShared {
  std::shared_ptr<const config::Config> cfg;
  int stopFd = -1;  // eventfd, written (never read) to close every connection now
  std::vector<std::unique_ptr<net::ListenerStats>> stats;  // per listener, shared by threads
  std::atomic<uint64_t> active{0};                           // connections (threads) running
  std::mutex mu;  // only for idle's wake-ups
  std::condition_variable idle;

  ~ThreadsShared();
  void connectionEnded();  // active - 1, and wake whoever waits for idle
};

struct ThreadsConnectionStart {
  std::shared_ptr<ThreadsShared> shared;
  std::size_t listener;  // index into cfg->listeners (a tcp listener)
  std::size_t endpoint;  // first endpoint to try, from the listener's balancer
  int client;            // accepted, non-blocking; owned by the connection from now on
};

// pthread entry point; arg is a new ThreadsConnectionStart, which it deletes. Counts the
// connection out of ThreadsShared::active (and the listener's active gauge) as its last act.
void* threadsConnectionMain(void* arg);

}  // namespace ringway::core
