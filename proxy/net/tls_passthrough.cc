#include "net/tls_passthrough.h"

#include <cerrno>
#include <span>
#include <vector>

#include "io/assert.h"
#include "io/log.h"
#include "net/tcp_proxy.h"
#include "net/tls_listener.h"
#include "tls/client_hello.h"

namespace ringway::net {

namespace {

using io::bump;

// Reads each client's ClientHello (reassembled across reads and records, at most
// ClientHello::DefaultMaxBytes, within client_hello_timeout), then hands the client and the
// bytes read to a TcpSession for the route its SNI picks.
class PassthroughGate final : public AcceptGate {
 public:
  PassthroughGate(TcpListener& l, WorkerContext& ctx, const config::Listener& cfg)
      : listener_(l), ctx_(ctx), cfg_(cfg), router_(cfg) {
    head_.prev = head_.next = &head_;
  }
  ~PassthroughGate() override { RINGWAY_ASSERT(pending_ == 0); }

  void accept(std::unique_ptr<io::Stream> client) override {
    auto* p = new Pending(*this);
    p->stream = std::move(client);
    p->deadline = ctx_.loop.nowMs() + static_cast<uint64_t>(cfg_.client_hello_timeout.count());
    link(*p);  // at the back: deadlines are in order, the timeout being one per listener
    ++pending_;
    p->stream->setHandler(p);
    p->stream->readStart();
  }

  void onTick(uint64_t now) override {
    while (head_.next != &head_) {
      auto* p = static_cast<Pending*>(head_.next);
      if (now < p->deadline) break;
      unlink(*p);  // stays pending (counted) until its stream has closed
      p->done = true;
      bump(listener_.stats().tls.clientHelloTimeouts);
      LOG_DEBUG("listener=%s: no whole ClientHello within %lld ms (%zu bytes); closing",
                cfg_.name.c_str(), static_cast<long long>(cfg_.client_hello_timeout.count()),
                p->bytes);
      p->stream->close(io::CloseMode::Now);
    }
  }

  void closeAll() override {
    for (Link* l = head_.next; l != &head_;) {
      auto* p = static_cast<Pending*>(l);
      l = l->next;
      unlink(*p);
      p->done = true;
      p->stream->close(io::CloseMode::Now);
    }
  }

  uint64_t pending() const override { return pending_; }

 private:
  struct Link {
    Link* prev = nullptr;
    Link* next = nullptr;
  };

  struct Pending final : Link, io::StreamHandler, io::Deferred {
    explicit Pending(PassthroughGate& g) : gate(g) {}
    PassthroughGate& gate;
    std::unique_ptr<io::Stream> stream;
    std::vector<io::BufferRef> read;  // everything received so far, forwarded as it is
    std::size_t bytes = 0;
    uint64_t deadline = 0;
    bool done = false;  // decided (closing, or handed over)
    void onConnect(io::Stream&, int) override {}
    void onData(io::Stream&, io::BufferRef data) override {
      if (done) return;
      bytes += data.size();
      read.push_back(std::move(data));
      gate.peek(*this);
    }
    void onReadEnd(io::Stream&, int err) override {
      if (done) return;
      done = true;
      LOG_DEBUG("listener=%s: client left before a whole ClientHello (%s)", gate.cfg_.name.c_str(),
                err == 0 ? "FIN" : "error");
      gate.unlink(*this);
      stream->close(err == 0 ? io::CloseMode::Graceful : io::CloseMode::Now);
    }
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

  void peek(Pending& p) {
    std::span<const std::byte> all;
    if (p.read.size() == 1) {
      all = {reinterpret_cast<const std::byte*>(p.read[0].data()), p.read[0].size()};
    } else {  // split over reads: copy together (at most the size limit, once per read)
      scratch_.clear();
      for (const io::BufferRef& b : p.read) {
        const auto* d = reinterpret_cast<const std::byte*>(b.data());
        scratch_.insert(scratch_.end(), d, d + b.size());
        if (scratch_.size() > tls::ClientHello::DefaultMaxBytes) break;
      }
      all = scratch_;
    }
    const tls::PeekResult r = tls::peekClientHello(all);
    switch (r.status) {
      case tls::PeekStatus::NeedMore:
        if (p.bytes <= tls::ClientHello::DefaultMaxBytes) return;
        [[fallthrough]];
      case tls::PeekStatus::TooLarge:
        bump(listener_.stats().tls.clientHelloTooLarge);
        reject(p, "ClientHello too large");
        return;
      case tls::PeekStatus::NotTls:
        bump(listener_.stats().tls.notTls);
        reject(p, r.reason);
        return;
      case tls::PeekStatus::Done:
        break;
    }
    const std::optional<std::string>& sni = r.hello.server_name;
    const std::optional<std::size_t> route =
        router_.route(sni ? std::optional<std::string_view>(*sni) : std::nullopt);
    if (!route) {
      bump(listener_.stats().tls.noRoute);
      reject(p, sni ? "no route for this sni" : "no sni and no default route");
      return;
    }
    LOG_DEBUG("listener=%s: sni '%s' -> route %zu", cfg_.name.c_str(), sni ? sni->c_str() : "",
              *route);
    p.done = true;
    unlink(p);
    --pending_;
    // The session reads on once connected; anything still in flight reaches it early and
    // waits with the hello for the upstream.
    p.stream->readStop();
    std::unique_ptr<io::Stream> stream = std::move(p.stream);
    std::vector<io::BufferRef> read = std::move(p.read);
    ctx_.loop.defer(p);
    listener_.startSession(std::move(stream), *ctx_.balancers[cfg_.routes[*route].cluster_index],
                           std::move(read));
  }

  void reject(Pending& p, const char* why) {
    LOG_DEBUG("listener=%s: %s; closing", cfg_.name.c_str(), why);
    p.done = true;
    unlink(p);
    p.read.clear();
    p.stream->close(io::CloseMode::Graceful);
  }

  void closed(Pending& p) {
    unlink(p);
    --pending_;
    listener_.gateDropped();
    ctx_.loop.defer(p);
  }

  TcpListener& listener_;
  WorkerContext& ctx_;
  const config::Listener& cfg_;
  SniRouter router_;
  Link head_;
  uint64_t pending_ = 0;
  std::vector<std::byte> scratch_;
};

}  // namespace

std::unique_ptr<Listener> makeTlsPassthroughListener(WorkerContext& ctx,
                                                     const config::Listener& cfg, int listenFd) {
  // The ClientHello goes upstream untouched: no TLS of ours towards the cluster.
  auto l = std::make_unique<TcpListener>(ctx, cfg, listenFd, false);
  l->setGate(std::make_unique<PassthroughGate>(*l, ctx, cfg));
  return l;
}

}  // namespace ringway::net
