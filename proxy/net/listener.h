// Listener: what a Worker runs for one configured listener, whatever its protocol. The
// Worker only ticks it, drains it and counts its sessions; the protocol lives behind it.
#pragma once

#include <memory>
#include <vector>

#include "config/config.h"
#include "io/loop.h"
#include "net/balancer.h"
#include "net/listener_stats.h"

namespace ringway::net {

class TlsWorker;

class Listener : public io::AcceptHandler {
 public:
  virtual ~Listener() = default;
  // About every 100 ms: idle timeouts, resuming accepts after EMFILE, ...
  virtual void onTick() = 0;
  virtual void stopAccepting() = 0;
  virtual bool acceptStopped() const = 0;
  virtual void closeAll() = 0;  // close every session now (end of drain)
  virtual uint64_t activeSessions() const = 0;
  virtual ListenerStats& stats() = 0;
  virtual const config::Listener& config() const = 0;
};

// What a worker lends its listeners: its loop, the config and one Balancer per cluster
// (indexed like config.clusters).
struct WorkerContext {
  int workerId;
  io::Loop& loop;
  const config::Config& config;
  std::vector<std::unique_ptr<Balancer>>& balancers;
  // TLS state of this worker, made by the first listener or cluster that needs it
  // (net/tls_worker.h: tlsWorker(), acceptStream(), upstreamStream()).
  std::shared_ptr<TlsWorker> tls{};
};

// Builds the listener for cfg.protocol; takes ownership of listenFd.
std::unique_ptr<Listener> makeListener(WorkerContext& ctx, const config::Listener& cfg,
                                       int listenFd);
// The same without the TLS set-up around it (makeListener calls it).
std::unique_ptr<Listener> makeProtocolListener(WorkerContext& ctx, const config::Listener& cfg,
                                               int listenFd);

}  // namespace ringway::net
