#include "net/tls_listener.h"

#include <algorithm>

#include "io/assert.h"
#include "io/log.h"
#include "net/tcp_proxy.h"
#include "net/tls_worker.h"
#include "tls/context_error.h"

namespace ringway::net {

std::string normalizeSni(std::string_view sni) {
  std::string s(sni);
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

SniRouter::SniRouter(const config::Listener& l) {
  for (std::size_t i = 0; i < l.routes.size(); ++i) {
    const std::string& sni = l.routes[i].match.sni;
    if (sni.empty()) {
      if (!default_) default_ = i;
    } else if (sni.starts_with("*.")) {
      wildcards_.emplace_back(sni.substr(1), i);
    } else {
      exact_.emplace(sni, i);
    }
  }
  std::stable_sort(wildcards_.begin(), wildcards_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

std::optional<std::size_t> SniRouter::route(std::optional<std::string_view> sni) const {
  if (!sni || sni->empty()) return default_;
  const std::string name = normalizeSni(*sni);
  if (auto it = exact_.find(name); it != exact_.end()) return it->second;
  for (const auto& [suffix, i] : wildcards_)
    if (name.size() > suffix.size() && std::string_view(name).ends_with(suffix)) return i;
  return default_;
}

namespace {

// TLS-terminated tcp: each client's handshake runs first, then its SNI picks the route and
// a TcpSession takes the (plaintext) stream. Plaintext that came with the client's last
// handshake flight waits in the TlsStream until the session reads.
class TlsTerminateGate final : public AcceptGate {
 public:
  TlsTerminateGate(TcpListener& l, WorkerContext& ctx, const config::Listener& cfg)
      : listener_(l), ctx_(ctx), cfg_(cfg), router_(cfg) {
    head_.prev = head_.next = &head_;
  }
  ~TlsTerminateGate() override { RINGWAY_ASSERT(pending_ == 0); }

  void accept(std::unique_ptr<io::Stream> client) override {
    auto* p = new Pending(*this);
    link(*p);
    ++pending_;
    p->stream = acceptStream(ctx_, cfg_, listener_.stats(), std::move(client), p);
    if (!p->stream) {  // no session: the socket is closed already
      unlink(*p);
      --pending_;
      listener_.gateDropped();
      delete p;
      return;
    }
    p->stream->setHandler(p);
  }

  void onTick(uint64_t) override { tlsWorker(ctx_).tick(); }

  void closeAll() override {
    for (Link* l = head_.next; l != &head_;) {
      auto* p = static_cast<Pending*>(l);
      l = l->next;
      if (p->stream) p->stream->close(io::CloseMode::Now);
    }
  }

  uint64_t pending() const override { return pending_; }

 private:
  struct Link {
    Link* prev = nullptr;
    Link* next = nullptr;
  };

  // One client in its handshake: the TlsStream's handler until a session takes it.
  struct Pending final : Link, io::StreamHandler, HandshakeHandler, io::Deferred {
    explicit Pending(TlsTerminateGate& g) : gate(g) {}
    TlsTerminateGate& gate;
    std::unique_ptr<io::Stream> stream;
    void onHandshake(TlsStream& s, int err) override { gate.handshakeEnded(*this, s, err); }
    void onConnect(io::Stream&, int) override {}
    void onData(io::Stream&, io::BufferRef) override {}
    void onReadEnd(io::Stream&, int) override {}
    void onWritable(io::Stream&) override {}
    void onWriteError(io::Stream&, int) override {}
    void onClosed(io::Stream&) override { gate.closed(*this); }
    void runDeferred() override { delete this; }
  };

  void link(Pending& p) {
    p.prev = head_.prev;
    p.next = &head_;
    head_.prev->next = &p;
    head_.prev = &p;
  }
  static void unlink(Pending& p) {
    if (p.next == nullptr) return;
    p.prev->next = p.next;
    p.next->prev = p.prev;
    p.prev = p.next = nullptr;
  }

  void handshakeEnded(Pending& p, TlsStream& s, int err) {
    if (err != 0) {
      // Whatever the session has to say (an alert) goes out, then FIN.
      p.stream->close(io::CloseMode::Graceful);
      return;
    }
    const std::string_view sni = s.session().serverName();
    const std::optional<std::size_t> route =
        router_.route(sni.empty() ? std::nullopt : std::optional<std::string_view>(sni));
    if (!route) {
      io::bump(listener_.stats().tls.noRoute);
      LOG_DEBUG("listener=%s: no route for sni '%.*s'; closing", cfg_.name.c_str(),
                static_cast<int>(sni.size()), sni.data());
      p.stream->close(io::CloseMode::Graceful);
      return;
    }
    unlink(p);
    --pending_;
    std::unique_ptr<io::Stream> stream = std::move(p.stream);
    ctx_.loop.defer(p);
    listener_.startSession(std::move(stream), *ctx_.balancers[cfg_.routes[*route].cluster_index]);
  }

  void closed(Pending& p) {
    unlink(p);
    --pending_;
    listener_.gateDropped();
    ctx_.loop.defer(p);  // freed after the batch: the stream is still in its callback
  }

  TcpListener& listener_;
  WorkerContext& ctx_;
  const config::Listener& cfg_;
  SniRouter router_;
  Link head_;
  uint64_t pending_ = 0;
};

class TlsTicked final : public Listener {
 public:
  TlsTicked(WorkerContext& ctx, std::unique_ptr<Listener> l) : ctx_(ctx), l_(std::move(l)) {}
  void onAccept(int fd) override { l_->onAccept(fd); }
  void onAcceptError(int err) override { l_->onAcceptError(err); }
  void onTick() override {
    l_->onTick();
    tlsWorker(ctx_).tick();
  }
  void stopAccepting() override { l_->stopAccepting(); }
  bool acceptStopped() const override { return l_->acceptStopped(); }
  void closeAll() override { l_->closeAll(); }
  uint64_t activeSessions() const override { return l_->activeSessions(); }
  ListenerStats& stats() override { return l_->stats(); }
  const config::Listener& config() const override { return l_->config(); }

 private:
  WorkerContext& ctx_;
  std::unique_ptr<Listener> l_;
};

}  // namespace

bool prepareTls(WorkerContext& ctx, const config::Listener& l) {
  try {
    if (l.tls) tlsWorker(ctx).server(l);
    for (const config::Route& r : l.routes)
      if (!r.cluster.empty() && ctx.config.clusters[r.cluster_index].tls)
        tlsWorker(ctx).client(ctx.config, r.cluster_index);
  } catch (const tls::ContextError& e) {
    LOG_ERROR("listener=%s: %s", l.name.c_str(), e.what());
    return false;
  }
  return true;
}

std::unique_ptr<Listener> makeTlsTcpListener(WorkerContext& ctx, const config::Listener& cfg,
                                             int listenFd) {
  auto l = std::make_unique<TcpListener>(ctx, cfg, listenFd, true);
  l->setGate(std::make_unique<TlsTerminateGate>(*l, ctx, cfg));
  return l;
}

// One entry per configured name (a default certificate without names: ""). Two certificates
// for the same name (RSA and ECDSA) show the one expiring first: what an expiry alert needs.
void noteCertificates(TlsStats& st, const tls::ServerContext& sc) {
  std::vector<CertificateExpiry>& out = st.certificates;
  out.clear();
  auto add = [&](const std::string& name, int64_t notAfter) {
    for (CertificateExpiry& e : out)
      if (e.serverName == name) {
        e.notAfter = std::min(e.notAfter, notAfter);
        return;
      }
    out.push_back({name, notAfter});
  };
  for (const tls::CertificateInfo& c : sc.certificates()) {
    if (c.server_names.empty()) add("", c.not_after);
    for (const std::string& n : c.server_names) add(n, c.not_after);
  }
}

std::unique_ptr<Listener> withTlsTicks(WorkerContext& ctx, std::unique_ptr<Listener> l) {
  // The expiry series come from the contexts this worker loaded, once, before it serves.
  if (l->config().tls) noteCertificates(l->stats().tls, tlsWorker(ctx).server(l->config()));
  return std::make_unique<TlsTicked>(ctx, std::move(l));
}

}  // namespace ringway::net
