#include "net/upstream_pool.h"

#include <cerrno>

#include "io/assert.h"
#include "io/log.h"
#include "net/tls_worker.h"

namespace ringway::net {

using io::bump;

namespace {
void sub(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}
}  // namespace

// ---------------------------------------------------------------------------------------
// UpstreamConn

UpstreamConn::UpstreamConn(UpstreamPool& pool, std::unique_ptr<io::Stream> s, uint16_t endpoint,
                           const http::Limits& limits)
    : pool_(pool), stream_(std::move(s)), parser_(http::Parser::Kind::Response, limits),
      endpoint_(endpoint) {
  stream_->setHandler(this);
}

void UpstreamConn::close(io::CloseMode mode) {
  if (!closed_) stream_->close(mode);
}

void UpstreamConn::onConnect(io::Stream&, int err) {
  connected_ = err == 0;
  if (connected_) pool_.ustats_.connectDuration.observe(monotonicNs() - connectStartNs_);
  pool_.ustats_.connectResult(endpoint_, err);
  if (owner_ != nullptr) owner_->upConnected(*this, err);
}

void UpstreamConn::onData(io::Stream&, io::BufferRef data) {
  if (owner_ != nullptr) {
    owner_->upData(*this, std::move(data));
    return;
  }
  // Idle: nobody asked for these bytes; the connection's framing can no longer be trusted.
  LOG_DEBUG("cluster=%s: %u unexpected bytes on an idle upstream connection; closing",
            pool_.cluster_.name.c_str(), data.size());
  stream_->close(io::CloseMode::Now);
}

void UpstreamConn::onReadEnd(io::Stream&, int err) {
  if (owner_ != nullptr) {
    owner_->upReadEnd(*this, err);
    return;
  }
  stream_->close(io::CloseMode::Now);  // the upstream closed an idle connection
}

void UpstreamConn::onWritable(io::Stream&) {
  if (owner_ != nullptr) owner_->upWritable(*this);
}

void UpstreamConn::onWriteError(io::Stream&, int err) {
  if (owner_ != nullptr) {
    owner_->upWriteError(*this, err);
    return;
  }
  stream_->close(io::CloseMode::Now);
}

void UpstreamConn::onClosed(io::Stream&) {
  closed_ = true;
  if (UpstreamOwner* o = std::exchange(owner_, nullptr)) o->upClosed(*this);
  pool_.closed(*this);
}

// ---------------------------------------------------------------------------------------
// UpstreamPool

UpstreamPool::UpstreamPool(WorkerContext& ctx, std::size_t clusterIndex, ListenerStats& stats,
                           UpstreamStats& ustats, const http::Limits& responseLimits)
    : ctx_(ctx), loop_(ctx.loop), clusterIndex_(clusterIndex),
      cluster_(ctx.config.clusters[clusterIndex]), balancer_(*ctx.balancers[clusterIndex]),
      stats_(stats), ustats_(ustats), limits_(responseLimits) {}

UpstreamPool::~UpstreamPool() { RINGWAY_ASSERT(all_.empty()); }

UpstreamConn* UpstreamPool::takeIdle(UpstreamOwner& o) {
  while (UpstreamConn* c = idle_.back()) {
    idle_.unlink(*c);
    if (c->stream_->closing()) continue;  // on its way out; its onClosed unlinks it from all_
    c->owner_ = &o;
    ++c->uses_;
    bump(ustats_.reuses);
    return c;
  }
  return nullptr;
}

UpstreamConn* UpstreamPool::connect(UpstreamOwner& o, std::size_t endpoint, int* err) {
  const config::Address& a = cluster_.endpoints[endpoint].address;
  auto fd = loop_.socket(a.sa()->sa_family);
  if (!fd.ok()) {
    *err = fd.error().code;
    bump(stats_.connectErrors);
    ustats_.connectFailed(endpoint, -*err);
    return nullptr;
  }
  // TLS to the cluster when it says so: connect() then includes the handshake.
  std::unique_ptr<io::Stream> s =
      upstreamStream(ctx_, clusterIndex_, stats_, loop_.stream(fd.value()));
  if (!s) {
    *err = ENOMEM;
    bump(stats_.connectErrors);
    ustats_.connectFailed(endpoint, -ENOMEM);
    return nullptr;
  }
  auto* c = new UpstreamConn(*this, std::move(s), static_cast<uint16_t>(endpoint), limits_);
  c->owner_ = &o;
  c->uses_ = 1;
  all_.pushBack(*c);
  ++connects_;
  bump(stats_.upstreamActive);
  bump(ustats_.connects);
  bump(ustats_.active);
  c->connectStartNs_ = monotonicNs();
  c->stream_->connect(a.sa(), a.length, static_cast<uint64_t>(cluster_.connect_timeout.count()));
  return c;
}

void UpstreamPool::release(UpstreamConn& c, bool reusable, io::CloseMode mode) {
  c.owner_ = nullptr;
  if (c.closed_) return;
  if (!reusable || !reuse_ || !c.connected_ || c.stream_->closing() ||
      cluster_.keepalive.max_idle == 0) {
    c.stream_->close(reusable ? io::CloseMode::Graceful : mode);
    return;
  }
  if (idle_.size() >= cluster_.keepalive.max_idle) {
    UpstreamConn* oldest = idle_.front();
    idle_.unlink(*oldest);
    oldest->stream_->close(io::CloseMode::Graceful);
  }
  c.idleSince_ = loop_.nowMs();
  // The parser keeps its (small, bounded) buffers for the next response on this connection.
  idle_.pushBack(c);
  c.stream_->readStart();  // notice a close while idle (a multishot recv holds no buffer)
}

void UpstreamPool::onTick(uint64_t now) {
  const uint64_t limit = static_cast<uint64_t>(cluster_.keepalive.idle_timeout.count());
  while (UpstreamConn* c = idle_.front()) {
    if (now - c->idleSince_ < limit) break;
    idle_.unlink(*c);
    c->stream_->close(io::CloseMode::Graceful);
  }
}

void UpstreamPool::stopReuse() {
  reuse_ = false;
  while (UpstreamConn* c = idle_.front()) {
    idle_.unlink(*c);
    c->stream_->close(io::CloseMode::Graceful);
  }
}

void UpstreamPool::closeAllNow() {
  stopReuse();
  // close() may run onClosed() at once, which unlinks the connection: take the front each time.
  for (UpstreamConn* c = all_.front(); c != nullptr;) {
    UpstreamConn* next = all_.after(*c);
    c->stream_->close(io::CloseMode::Now);
    c = next;
  }
}

void UpstreamPool::closed(UpstreamConn& c) {
  idle_.unlink(c);
  all_.unlink(c);
  sub(stats_.upstreamActive);
  sub(ustats_.active);
  loop_.defer(c);  // freed after this batch, never inside its own callback
}

}  // namespace ringway::net
