#include "net/tcp_proxy.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/assert.h"
#include "io/log.h"
#include "net/socket.h"
#include "net/tls_worker.h"

namespace ringway::net {

using io::bump;

namespace {
void sub(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

uint32_t monotonicUs32() { return static_cast<uint32_t>(monotonicNs() / 1000); }
} // namespace

// ---------------------------------------------------------------------------------------
// TcpSession

// An idle proxied connection's size is measured (README): 96 bytes before and after
// connectStartUs_ (it sits in padding); keep it so.
static_assert(sizeof(TcpSession) <= 96, "TcpSession grew");

TcpSession::TcpSession(TcpListener& l, std::unique_ptr<io::Stream> client, Balancer& balancer,
                       std::vector<io::BufferRef> early)
    : listener_(l), balancer_(balancer), client_(std::move(client)) {
  if (!early.empty())
    extras().early = std::move(early);
  client_->setHandler(this);
}

TcpSession::~TcpSession() = default;

void TcpSession::start() {
  endpoint_ = static_cast<uint16_t>(balancer_.pick());
  connectUpstream();
}

void TcpSession::connectUpstream() {
  const config::Cluster& c = balancer_.cluster();
  const config::Address& a = c.endpoints[endpoint_].address;
  UpstreamStats& us = listener_.upstreamStats(balancer_);
  ++attempts_;
  auto fd = listener_.loop_.socket(a.sa()->sa_family);
  if (!fd.ok()) {
    const int e = fd.error().code;
    bump(listener_.stats_.connectErrors);
    us.connectFailed(endpoint_, -e);
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM) {
      // Out of descriptors after the accept: this client can't be served, and the next ones
      // would fare no better, so stop accepting (they wait in the backlog) like accept's
      // own EMFILE, with one log line per burst.
      listener_.onAcceptError(-e);
    } else {
      LOG_ERROR("listener=%s cluster=%s: upstream socket: %s", listener_.cfg_.name.c_str(),
                c.name.c_str(), std::strerror(e));
    }
    closeBoth(io::CloseMode::Now);
    return;
  }
  listener_.fdsAvailable();
  upstream_ = listener_.loop_.stream(fd.value());
  if (listener_.ctx_ != nullptr) { // TLS to the cluster, when it says so
    const auto index = static_cast<std::size_t>(&c - listener_.ctx_->config.clusters.data());
    upstream_ = upstreamStream(*listener_.ctx_, index, listener_.stats_, std::move(upstream_));
    if (!upstream_) {
      bump(listener_.stats_.connectErrors);
      us.connectFailed(endpoint_, -ENOMEM);
      closeBoth(io::CloseMode::Now);
      return;
    }
  }
  upstream_->setHandler(this);
  bump(listener_.stats_.upstreamActive);
  bump(us.active);
  bump(us.connects);
  connectStartUs_ = monotonicUs32();
  upstream_->connect(a.sa(), a.length, static_cast<uint64_t>(c.connect_timeout.count()));
}

void TcpSession::onConnect(io::Stream& s, int err) {
  RINGWAY_ASSERT(&s == upstream_.get());
  if (err != 0) {
    failConnect(err);
    return;
  }
  bits_ |= Connected;
  UpstreamStats& us = listener_.upstreamStats(balancer_);
  us.connectDuration.observe(uint64_t{monotonicUs32() - connectStartUs_} * 1000);
  us.connectResult(endpoint_, 0);
  listener_.touch(*this);
  if (extras_) {
    for (io::BufferRef& b : extras_->early)
      upstream_->write(std::move(b));
    extras_->early.clear();
  }
  if (bits_ & ClientDone)
    upstream_->shutdownWrite(); // the client's FIN came meanwhile
  // Plain TCP both ways: the kernel moves the bytes (splice through a pipe), they never come up
  // to user space. TLS on either side or `io.splice: false`: buffers.
  if (!(bits_ & ClientDone) && client_->spliceTo(*upstream_))
    upstream_->spliceTo(*client_);
  // The client is read only once the upstream is there: nothing piles up meanwhile, and a
  // failed attempt can move to the next endpoint without losing bytes.
  client_->readStart();
  upstream_->readStart();
}

void TcpSession::failConnect(int err) {
  const config::Cluster& c = balancer_.cluster();
  const bool timeout = err == -ETIMEDOUT;
  bump(timeout ? listener_.stats_.connectTimeouts : listener_.stats_.connectErrors);
  listener_.upstreamStats(balancer_).connectFailed(endpoint_, err);
  const bool retry = attempts_ < c.endpoints.size() && !client_->closing();
  LOG_WARN("listener=%s cluster=%s endpoint=%s: connect failed: %s (attempt %u of %zu)%s",
           listener_.cfg_.name.c_str(), c.name.c_str(), c.endpoints[endpoint_].address.text.c_str(),
           timeout ? "timed out" : std::strerror(-err), attempts_, c.endpoints.size(),
           retry ? ", trying the next endpoint" : ", closing the client");
  // Like nginx's proxy_next_upstream: each endpoint is tried at most once per client.
  extras().failed.push_back(std::move(upstream_));
  extras_->failed.back()->close(io::CloseMode::Now);
  if (retry) {
    endpoint_ = static_cast<uint16_t>((endpoint_ + 1) % c.endpoints.size());
    connectUpstream();
    return;
  }
  client_->close(io::CloseMode::Now);
}

void TcpSession::onData(io::Stream& s, io::BufferRef data) {
  const bool fromClient = &s == client_.get();
  bump(fromClient ? listener_.stats_.bytesIn : listener_.stats_.bytesOut, data.size());
  listener_.touch(*this);
  if (!(bits_ & Connected)) { // a gate's reads still in flight: keep them for the upstream
    extras().early.push_back(std::move(data));
    return;
  }
  io::Stream& to = other(s);
  to.write(std::move(data)); // the received buffer itself goes out: no copy
  // Backpressure: the peer's queue is full, so stop reading until it drains (onWritable).
  if (to.writeBlocked())
    s.readStop();
}

// What s receives goes to the other side's queue: never more than it can take.
std::size_t TcpSession::readBudget(io::Stream& s) {
  if (!(bits_ & Connected))
    return 0;
  return std::max<std::size_t>(other(s).writeRoom(), 1);
}

io::Stream* TcpSession::spliceTarget(io::Stream& s) {
  return (bits_ & Connected) && upstream_ ? &other(s) : nullptr;
}

void TcpSession::onSpliced(io::Stream& s, std::size_t n) {
  bump(&s == client_.get() ? listener_.stats_.bytesIn : listener_.stats_.bytesOut, n);
  listener_.touch(*this);
}

void TcpSession::onWritable(io::Stream& s) {
  listener_.touch(*this);
  io::Stream& from = other(s);
  const uint8_t fromDone = &from == client_.get() ? ClientDone : UpstreamDone;
  if (!(bits_ & fromDone))
    from.readStart();
}

void TcpSession::onReadEnd(io::Stream& s, int err) {
  const bool fromClient = &s == client_.get();
  bits_ |= fromClient ? ClientDone : UpstreamDone;
  if (err == 0 && !(bits_ & Connected))
    return; // passed on once connected (onConnect)
  if (err == 0) {
    // Half-close: pass the FIN on; the other direction stays open.
    other(s).shutdownWrite();
    if ((bits_ & (ClientDone | UpstreamDone)) == (ClientDone | UpstreamDone))
      closeBoth(io::CloseMode::Graceful);
    return;
  }
  if (err == -ECONNRESET) {
    bump(listener_.stats_.resets);
    // Propagate the RST: the other end learns the connection broke, not that it ended.
    // The other side first: a backend may finish s's close (and our onClosed, which closes
    // the other gracefully) before close() returns.
    other(s).close(io::CloseMode::Reset);
    s.close(io::CloseMode::Now);
    return;
  }
  LOG_DEBUG("listener=%s: %s read error: %s", listener_.cfg_.name.c_str(),
            fromClient ? "client" : "upstream", std::strerror(-err));
  closeBoth(io::CloseMode::Reset);
}

void TcpSession::onWriteError(io::Stream& s, int err) {
  if (err == -ECONNRESET || err == -EPIPE)
    bump(listener_.stats_.resets);
  // What we queued for s can't be delivered: its sender must not think it was. Reset the
  // other side first, as in onReadEnd.
  other(s).close(io::CloseMode::Reset);
  s.close(io::CloseMode::Now);
}

void TcpSession::closeNow() { closeBoth(io::CloseMode::Now); }

void TcpSession::closeBoth(io::CloseMode mode) {
  client_->close(mode);
  if (upstream_)
    upstream_->close(mode);
}

void TcpSession::onClosed(io::Stream& s) {
  if (&s == client_.get()) {
    bits_ |= ClientClosed;
  } else if (&s == upstream_.get()) {
    bits_ |= UpstreamClosed;
    sub(listener_.stats_.upstreamActive);
    sub(listener_.upstreamStats(balancer_).active);
  } else {
    sub(listener_.stats_.upstreamActive); // a failed attempt: may be the last to close
    sub(listener_.upstreamStats(balancer_).active);
    maybeFinish();
    return;
  }
  // One side gone: the other has nothing left to talk to.
  if (!(bits_ & UpstreamClosed) && upstream_)
    upstream_->close(io::CloseMode::Graceful);
  if (!(bits_ & ClientClosed))
    client_->close(io::CloseMode::Graceful);
  maybeFinish();
}

void TcpSession::maybeFinish() {
  const bool upDone = !upstream_ || (bits_ & UpstreamClosed);
  bool failedDone = true;
  if (extras_)
    for (const auto& f : extras_->failed)
      failedDone = failedDone && f->fd() < 0;
  if ((bits_ & ClientClosed) && upDone && failedDone && !(bits_ & Finished)) {
    bits_ |= Finished;
    listener_.retire(*this);
  }
}

void TcpSession::runDeferred() { delete this; }

// ---------------------------------------------------------------------------------------
// TcpListener

TcpListener::TcpListener(WorkerContext& ctx, const config::Listener& cfg, int listenFd,
                         bool upstreamTls)
    : loop_(ctx.loop), cfg_(cfg), balancer_(*ctx.balancers[cfg.routes.front().cluster_index]),
      ctx_(upstreamTls ? &ctx : nullptr), clusters_(ctx.config.clusters.data()) {
  idle_.prev = idle_.next = &idle_;
  // Per cluster, made now: the scrape reads the vector from another thread.
  stats_.upstream.resize(ctx.config.clusters.size());
  for (const config::Route& r : cfg.routes)
    if (!r.cluster.empty() && !stats_.upstream[r.cluster_index])
      stats_.upstream[r.cluster_index] =
          std::make_unique<UpstreamStats>(ctx.config.clusters[r.cluster_index].endpoints.size());
  acceptor_ = loop_.acceptor(listenFd, *this);
}

TcpListener::~TcpListener() { RINGWAY_ASSERT(sessions_ == 0); }

UpstreamStats& TcpListener::upstreamStats(const Balancer& b) {
  const auto index = static_cast<std::size_t>(&b.cluster() - clusters_);
  RINGWAY_ASSERT(index < stats_.upstream.size() && stats_.upstream[index]);
  return *stats_.upstream[index];
}

void TcpListener::fdsAvailable() {
  // Only a session that got both of its descriptors after accepting resumed ends a burst of
  // EMFILE (clients the kernel accepted before the pause still arrive while paused).
  if (acceptErrorLogged_ && acceptResumeAt_ == 0) {
    LOG_INFO("listener=%s: accepting again", cfg_.name.c_str());
    acceptErrorLogged_ = false;
  }
}

void TcpListener::onAccept(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  loop_.countSyscall();
  bump(stats_.accepted);
  bump(stats_.active);
  if (gate_) {
    gate_->accept(loop_.stream(fd));
    return;
  }
  ++sessions_;
  auto* s = new TcpSession(*this, loop_.stream(fd), balancer_);
  touch(*s);
  s->start();
}

void TcpListener::startSession(std::unique_ptr<io::Stream> client, Balancer& balancer,
                               std::vector<io::BufferRef> early) {
  for (const io::BufferRef& b : early)
    bump(stats_.bytesIn, b.size()); // the gate read them
  ++sessions_;
  auto* s = new TcpSession(*this, std::move(client), balancer, std::move(early));
  touch(*s);
  s->start();
}

void TcpListener::gateDropped() { sub(stats_.active); }

void TcpListener::onAcceptError(int err) {
  bump(stats_.acceptErrors);
  if (err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM) {
    // Out of descriptors: existing connections keep being served; try again shortly.
    acceptResumeAt_ = loop_.nowMs() + 100;
    if (acceptor_)
      acceptor_->pause();
    if (!acceptErrorLogged_) {
      LOG_ERROR("listener=%s: accept: %s; pausing accepts, serving %lu open connections",
                cfg_.name.c_str(), std::strerror(-err), static_cast<unsigned long>(sessions_));
      acceptErrorLogged_ = true; // once per burst
    }
    return;
  }
  LOG_WARN("listener=%s: accept: %s", cfg_.name.c_str(), std::strerror(-err));
}

void TcpListener::onTick() {
  const uint64_t now = loop_.nowMs();
  if (acceptResumeAt_ != 0 && now >= acceptResumeAt_) {
    acceptResumeAt_ = 0;
    if (acceptor_)
      acceptor_->resume();
  }
  if (gate_)
    gate_->onTick(now);
  const uint64_t limit = static_cast<uint64_t>(cfg_.idle_timeout.count());
  if (limit == 0)
    return;
  // Least recently active first: stop at the first one still within its timeout.
  while (idle_.next != &idle_ && now - idle_.next->lastActive >= limit) {
    auto* s = static_cast<TcpSession*>(idle_.next);
    unlink(*s);
    bump(stats_.idleTimeouts);
    LOG_DEBUG("listener=%s: idle timeout", cfg_.name.c_str());
    s->closeNow();
  }
}

void TcpListener::touch(TcpSession& s) {
  if (s.bits_ & TcpSession::Finished)
    return;
  s.lastActive = loop_.nowMs();
  if (s.next != nullptr) {
    if (s.next == &idle_)
      return; // already the most recent
    unlink(s);
  }
  s.prev = idle_.prev;
  s.next = &idle_;
  idle_.prev->next = &s;
  idle_.prev = &s;
}

void TcpListener::unlink(TcpSession& s) {
  if (s.next == nullptr)
    return;
  s.prev->next = s.next;
  s.next->prev = s.prev;
  s.prev = s.next = nullptr;
}

void TcpListener::retire(TcpSession& s) {
  unlink(s);
  --sessions_;
  sub(stats_.active);
  loop_.defer(s); // freed after this batch, never inside its own callback
}

void TcpListener::stopAccepting() {
  if (acceptor_)
    acceptor_->stop();
}

void TcpListener::closeAll() {
  if (gate_)
    gate_->closeAll();
  for (IdleLink* l = idle_.next; l != &idle_;) {
    auto* s = static_cast<TcpSession*>(l);
    l = l->next;
    unlink(*s);
    s->closeNow();
  }
}

} // namespace ringway::net
