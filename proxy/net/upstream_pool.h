// Upstream HTTP connections of one cluster, per listener and worker: connect, lend to one
// session at a time, take back for reuse (keepalive.max_idle, keepalive.idle_timeout), close.
//
// An UpstreamConn is its stream's handler for its whole life. While lent it passes the
// stream's events to its owner (an UpstreamOwner); while idle it keeps a receive armed (which
// holds no buffer) so an upstream that closes is noticed and dropped at once, and anything
// else that arrives (bytes nobody asked for) closes it too.
#pragma once

#include <memory>

#include "config/config.h"
#include "http/parser.h"
#include "io/loop.h"
#include "net/balancer.h"
#include "net/intrusive_list.h"
#include "net/listener.h"
#include "net/listener_stats.h"

namespace ringway::net {

class UpstreamConn;
class UpstreamPool;

class UpstreamOwner {
 public:
  virtual void upConnected(UpstreamConn& c, int err) = 0;
  virtual void upData(UpstreamConn& c, io::BufferRef data) = 0;
  virtual void upReadEnd(UpstreamConn& c, int err) = 0;
  virtual void upWritable(UpstreamConn& c) = 0;
  virtual void upWriteError(UpstreamConn& c, int err) = 0;
  // The connection is gone (closed by anyone); the owner must drop its pointer now.
  virtual void upClosed(UpstreamConn& c) = 0;

 protected:
  ~UpstreamOwner() = default;
};

struct IdleTag {};
struct AllTag {};

class UpstreamConn final : public io::StreamHandler,
                           public io::Deferred,
                           public Link<IdleTag>,
                           public Link<AllTag> {
 public:
  UpstreamConn(UpstreamPool& pool, std::unique_ptr<io::Stream> s, uint16_t endpoint,
               const http::Limits& limits);
  io::Stream& stream() { return *stream_; }
  http::Parser& parser() { return parser_; }
  uint16_t endpoint() const { return endpoint_; }
  UpstreamPool& pool() { return pool_; }
  bool reused() const { return uses_ > 1; }
  bool connected() const { return connected_; }
  // Close now; the owner still gets upClosed() (maybe from inside this call).
  void close(io::CloseMode mode);

 private:
  friend class UpstreamPool;
  void onConnect(io::Stream& s, int err) override;
  void onData(io::Stream& s, io::BufferRef data) override;
  void onReadEnd(io::Stream& s, int err) override;
  void onWritable(io::Stream& s) override;
  void onWriteError(io::Stream& s, int err) override;
  void onClosed(io::Stream& s) override;
  void runDeferred() override { delete this; }

  UpstreamPool& pool_;
  std::unique_ptr<io::Stream> stream_;
  UpstreamOwner* owner_ = nullptr;
  http::Parser parser_;
  uint64_t idleSince_ = 0;
  uint64_t connectStartNs_ = 0;  // CLOCK_MONOTONIC, for upstream_connect_duration_seconds
  uint32_t uses_ = 0;
  uint16_t endpoint_;
  bool connected_ = false;
  bool closed_ = false;
};

class UpstreamPool {
 public:
  // ctx: the worker's, for TLS to the cluster (net::upstreamStream) when it has `tls:`.
  // ustats: this listener's counters for the cluster (HttpStats::upstream), outliving the pool.
  UpstreamPool(WorkerContext& ctx, std::size_t clusterIndex, ListenerStats& stats,
               UpstreamStats& ustats, const http::Limits& responseLimits);
  ~UpstreamPool();

  const config::Cluster& cluster() const { return cluster_; }
  // The most recently used idle connection, now owned by `o`; nullptr if none.
  UpstreamConn* takeIdle(UpstreamOwner& o);
  // A new connection to endpoint `endpoint` (see pickEndpoint), connecting; o.upConnected()
  // follows. nullptr with *err (errno) when no socket could be made.
  UpstreamConn* connect(UpstreamOwner& o, std::size_t endpoint, int* err);
  std::size_t pickEndpoint() { return balancer_.pick(); }
  // The owner is done. Reusable: the exchange ended cleanly and both sides allow keep-alive.
  // Otherwise the connection closes with `mode` (Now drops what is still queued for it).
  void release(UpstreamConn& c, bool reusable, io::CloseMode mode = io::CloseMode::Now);
  // Idle timeouts (every tick).
  void onTick(uint64_t now);
  // Drain: close the idle ones and stop taking connections back.
  void stopReuse();
  // End of drain: close every connection now, lent or not (owners get upClosed()).
  void closeAllNow();
  std::size_t live() const { return all_.size(); }
  std::size_t idle() const { return idle_.size(); }
  uint64_t connects() const { return connects_; }
  UpstreamStats& stats() { return ustats_; }

 private:
  friend class UpstreamConn;
  void closed(UpstreamConn& c);

  WorkerContext& ctx_;
  io::Loop& loop_;
  std::size_t clusterIndex_;
  const config::Cluster& cluster_;
  Balancer& balancer_;
  ListenerStats& stats_;
  UpstreamStats& ustats_;
  http::Limits limits_;
  List<UpstreamConn, IdleTag> idle_;  // oldest first
  List<UpstreamConn, AllTag> all_;    // every connection not yet closed
  uint64_t connects_ = 0;
  bool reuse_ = true;
};

}  // namespace ringway::net
