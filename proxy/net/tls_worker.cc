#include "net/tls_worker.h"

#include <algorithm>
#include <chrono>

#include "config/tls_options.h"
#include "io/log.h"

namespace ringway::net {

uint32_t SlabPool::acquire() {
  if (free_.empty()) {
    slabs_.push_back(std::make_unique_for_overwrite<char[]>(SlabSize));
    return static_cast<uint32_t>(slabs_.size() - 1);
  }
  const uint32_t id = free_.back();
  free_.pop_back();
  return id;
}

uint32_t VectorPool::acquire() {
  if (free_.empty()) {
    slots_.emplace_back();
    return static_cast<uint32_t>(slots_.size() - 1);
  }
  const uint32_t id = free_.back();
  free_.pop_back();
  return id;
}

TlsWorker::~TlsWorker() {
  // Streams are gone by now (their listeners were destroyed first); unhook any stragglers.
  while (kicks_.next != nullptr && kicks_.next != &kicks_) kicks_.next->unlink();
  while (handshakes_.next != nullptr && handshakes_.next != &handshakes_)
    handshakes_.next->unlink();
}

tls::ServerContext& TlsWorker::server(const config::Listener& l) {
  for (auto& [cfg, ctx] : servers_)
    if (cfg == &l) return *ctx;
  servers_.emplace_back(&l, std::make_unique<tls::ServerContext>(config::serverOptions(*l.tls)));
  return *servers_.back().second;
}

tls::ClientContext& TlsWorker::client(const config::Config& cfg, std::size_t clusterIndex) {
  if (clients_.size() < cfg.clusters.size()) clients_.resize(cfg.clusters.size());
  auto& c = clients_[clusterIndex];
  if (!c)
    c = std::make_unique<tls::ClientContext>(
        config::clientOptions(*cfg.clusters[clusterIndex].tls));
  return *c;
}

namespace {
void linkBack(TlsLink& head, TlsLink& l) {
  if (head.next == nullptr) head.prev = head.next = &head;
  l.prev = head.prev;
  l.next = &head;
  head.prev->next = &l;
  head.prev = &l;
}
bool empty(const TlsLink& head) { return head.next == nullptr || head.next == &head; }
}  // namespace

void TlsWorker::kick(TlsStream& s) {
  if (!s.kickLink_.linked()) linkBack(kicks_, s.kickLink_);
  if (!scheduled_) {
    scheduled_ = true;
    loop_.defer(*this);
  }
}

void TlsWorker::watch(TlsStream& s, uint64_t deadline) {
  s.deadline_ = deadline;
  if (!s.handshakeLink_.linked()) linkBack(handshakes_, s.handshakeLink_);
}

void TlsWorker::runDeferred() {
  scheduled_ = false;
  // Take this batch; a stream freed meanwhile has unlinked itself (its destructor), and one
  // kicked again while we deliver waits for the next round.
  TlsLink batch;
  if (empty(kicks_)) return;
  batch.next = kicks_.next;
  batch.prev = kicks_.prev;
  batch.next->prev = &batch;
  batch.prev->next = &batch;
  kicks_.next = kicks_.prev = &kicks_;
  while (batch.next != &batch) {
    TlsLink* l = batch.next;
    l->unlink();
    l->owner->runKick();
  }
}

void TlsWorker::tick() {
  const uint64_t now = loop_.nowMs();
  if (now == lastTick_) return;  // several listeners tick in one loop turn
  lastTick_ = now;
  if (now >= nextRotationCheck_) {
    // Ticket keys rotate on time even on a listener that issues no tickets meanwhile, so an old
    // key stops decrypting two intervals after it was current. Every worker checks (one mutex,
    // once a second); the first past the deadline rotates.
    nextRotationCheck_ = now + 1000;
    const auto steady = std::chrono::steady_clock::now();
    for (auto& [cfg, ctx] : servers_)
      if (const auto& keys = ctx->ticketKeys()) keys->rotateIfDue(steady);
  }
  if (empty(handshakes_)) return;
  std::vector<TlsStream*> expired;
  for (TlsLink* l = handshakes_.next; l != &handshakes_; l = l->next) {
    TlsStream* s = l->owner;
    if (now >= s->deadline_) expired.push_back(s);
  }
  // Streams are freed only after the batch, so every one collected is still alive here.
  for (TlsStream* s : expired) {
    s->handshakeLink_.unlink();
    s->handshakeExpired();
  }
}

TlsWorker& tlsWorker(WorkerContext& ctx) {
  if (!ctx.tls) ctx.tls = std::make_shared<TlsWorker>(ctx.loop);
  return *ctx.tls;
}

std::unique_ptr<io::Stream> acceptStream(WorkerContext& ctx, const config::Listener& l,
                                         ListenerStats& stats, std::unique_ptr<io::Stream> plain,
                                         HandshakeHandler* hh) {
  if (!l.tls) return plain;
  TlsWorker& w = tlsWorker(ctx);
  std::optional<tls::Session> session = w.server(l).newSession();
  if (!session) {
    LOG_ERROR("listener=%s: cannot allocate a TLS session; closing the client", l.name.c_str());
    return nullptr;  // `plain` never started: its destructor closes the socket
  }
  auto s = std::make_unique<TlsStream>(w, std::move(plain), std::move(*session), stats.tls,
                                       l.name.c_str(),
                                       static_cast<uint64_t>(l.tls->handshake_timeout.count()));
  s->accept(hh);
  return s;
}

std::unique_ptr<io::Stream> upstreamStream(WorkerContext& ctx, std::size_t clusterIndex,
                                           ListenerStats& stats,
                                           std::unique_ptr<io::Stream> plain) {
  const config::Cluster& c = ctx.config.clusters[clusterIndex];
  if (!c.tls) return plain;
  TlsWorker& w = tlsWorker(ctx);
  std::optional<tls::Session> session = w.client(ctx.config, clusterIndex).newSession();
  if (!session) {
    LOG_ERROR("cluster=%s: cannot allocate a TLS session", c.name.c_str());
    return nullptr;
  }
  return std::make_unique<TlsStream>(w, std::move(plain), std::move(*session), stats.tls,
                                     c.name.c_str(),
                                     static_cast<uint64_t>(c.connect_timeout.count()));
}

bool usesTls(const config::Config& cfg, const config::Listener& l) {
  if (l.tls) return true;
  return std::any_of(l.routes.begin(), l.routes.end(), [&](const config::Route& r) {
    return !r.cluster.empty() && r.cluster_index < cfg.clusters.size() &&
           cfg.clusters[r.cluster_index].tls.has_value();
  });
}

}  // namespace ringway::net
