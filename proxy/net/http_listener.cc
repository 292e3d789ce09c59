#include "net/http_listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>

#include <cerrno>
#include <cstring>

#include "io/assert.h"
#include "io/log.h"
#include "io/send_queue.h"
#include "net/http_rewrite.h"
#include "net/http_session.h"
#include "net/tls_worker.h"

namespace ringway::net {

using io::bump;

namespace {

void sub(std::atomic<uint64_t>& c) {
  c.store(c.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

http::Limits requestLimitsOf(const config::Listener& cfg) {
  http::Limits l;
  l.maxHeadBytes = static_cast<uint32_t>(cfg.http.max_header_size);
  l.maxHeaders = cfg.http.max_headers;
  l.maxBodyBytes = cfg.http.max_body_size;
  return l;
}

uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

} // namespace

HttpListener::HttpListener(WorkerContext& ctx, const config::Listener& cfg, int listenFd)
    : ctx_(ctx), loop_(ctx.loop), fullConfig_(ctx.config), cfg_(cfg),
      requestLimits_(requestLimitsOf(cfg)), router_(cfg.routes),
      httpStats_(std::make_unique<HttpStats>(cfg.routes.size(), ctx.config.clusters.size())) {
  stats_.http = httpStats_.get();
  pools_.resize(ctx.config.clusters.size());
  // Upstream responses get the same strictness but a larger head allowance: the upstream is
  // trusted more than clients, and a big Set-Cookie block should not turn into a 502.
  http::Limits up;
  up.maxHeadBytes = 64 * 1024;
  up.maxHeaders = 200;
  for (const config::Route& r : cfg.routes) {
    if (r.cluster.empty() || pools_[r.cluster_index])
      continue;
    auto& us = httpStats_->upstream[r.cluster_index];
    us = std::make_unique<UpstreamStats>(ctx.config.clusters[r.cluster_index].endpoints.size());
    pools_[r.cluster_index] = std::make_unique<UpstreamPool>(ctx, r.cluster_index, stats_, *us, up);
  }
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  uint64_t seed = static_cast<uint64_t>(ts.tv_nsec) ^ (static_cast<uint64_t>(ts.tv_sec) << 20) ^
                  (static_cast<uint64_t>(ctx.workerId) << 48) ^ reinterpret_cast<uintptr_t>(this);
  rng_[0] = splitmix(seed);
  rng_[1] = splitmix(seed);
  acceptor_ = loop_.acceptor(listenFd, *this);
}

HttpListener::~HttpListener() {
  RINGWAY_ASSERT(sessions_ == 0);
  pools_.clear(); // asserts every upstream connection has closed
  for (io::SendQueue* q : freeQueues_)
    delete q;
  for (http::Parser* p : freeParsers_)
    delete p;
  for (Exchange* x : freeExchanges_)
    delete x;
}

void HttpListener::onAccept(int fd) {
  if (acceptErrorLogged_) {
    LOG_INFO("listener=%s: accepting again", cfg_.name.c_str());
    acceptErrorLogged_ = false;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  loop_.countSyscall();
  bump(stats_.accepted);
  bump(stats_.active);
  // A TlsStream (handshake started) on a listener with tls:, else the plain stream.
  std::unique_ptr<io::Stream> stream = acceptStream(ctx_, cfg_, stats_, loop_.stream(fd));
  if (!stream) { // no TLS session could be allocated: the socket is closed already
    sub(stats_.active);
    return;
  }
  ++sessions_;
  auto* s = new HttpSession(*this, std::move(stream));
  touch(*s);
  s->start();
}

void HttpListener::onAcceptError(int err) {
  bump(stats_.acceptErrors);
  if (err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM) {
    acceptResumeAt_ = loop_.nowMs() + 100;
    if (!acceptErrorLogged_) {
      LOG_ERROR("listener=%s: accept: %s; pausing accepts, serving %lu open connections",
                cfg_.name.c_str(), std::strerror(-err), static_cast<unsigned long>(sessions_));
      acceptErrorLogged_ = true;
    }
    return;
  }
  LOG_WARN("listener=%s: accept: %s", cfg_.name.c_str(), std::strerror(-err));
}

void HttpListener::onTick() {
  const uint64_t now = loop_.nowMs();
  if (acceptResumeAt_ != 0 && now >= acceptResumeAt_) {
    acceptResumeAt_ = 0;
    if (acceptor_)
      acceptor_->resume();
  }
  // Each handler may close its session, which unlinks only that session: safe to go on from
  // the list's (new) front.
  const uint64_t idleLimit = static_cast<uint64_t>(cfg_.idle_timeout.count());
  while (HttpSession* s = idle_.front()) {
    if (now - s->lastActive < idleLimit)
      break;
    idle_.unlink(*s);
    bump(stats_.idleTimeouts);
    s->onIdleTimeout();
  }
  while (HttpSession* s = headerTimers_.front()) {
    if (now < s->deadline)
      break;
    headerTimers_.unlink(*s);
    s->onTimer();
  }
  for (HttpSession* s = deadlines_.front(); s != nullptr;) {
    HttpSession* next = deadlines_.after(*s);
    if (now >= s->deadline) {
      deadlines_.unlink(*s);
      s->onTimer();
    }
    s = next;
  }
  for (auto& p : pools_)
    if (p)
      p->onTick(now);
}

void HttpListener::touch(HttpSession& s) {
  s.lastActive = loop_.nowMs();
  if (idle_.back() != &s)
    idle_.pushBack(s);
}

void HttpListener::armHeaderTimer(HttpSession& s) {
  deadlines_.unlink(s);
  s.deadline = loop_.nowMs() + static_cast<uint64_t>(cfg_.http.request_header_timeout.count());
  headerTimers_.pushBack(s);
}

void HttpListener::armDeadline(HttpSession& s, uint64_t at) {
  headerTimers_.unlink(s);
  s.deadline = at;
  deadlines_.pushBack(s);
}

void HttpListener::disarmTimer(HttpSession& s) {
  headerTimers_.unlink(s);
  deadlines_.unlink(s);
}

void HttpListener::retire(HttpSession& s) {
  idle_.unlink(s);
  disarmTimer(s);
  --sessions_;
  sub(stats_.active);
  loop_.defer(s);
}

void HttpListener::stopAccepting() {
  if (acceptor_)
    acceptor_->stop();
  if (draining_)
    return;
  draining_ = true;
  for (auto& p : pools_)
    if (p)
      p->stopReuse();
  for (HttpSession* s = idle_.front(); s != nullptr;) {
    HttpSession* next = idle_.after(*s);
    s->onDrain();
    s = next;
  }
}

void HttpListener::closeAll() {
  draining_ = true;
  for (HttpSession* s = idle_.front(); s != nullptr;) {
    HttpSession* next = idle_.after(*s);
    s->closeNow();
    s = next;
  }
  for (auto& p : pools_)
    if (p)
      p->closeAllNow();
}

uint64_t HttpListener::activeSessions() const {
  // While draining, idle upstream connections still closing keep the worker's loop running:
  // they must be gone before the listener is destroyed.
  uint64_t n = sessions_;
  if (draining_)
    for (auto& p : pools_)
      if (p)
        n += p->live();
  return n;
}

uint64_t HttpListener::upstreamConnects() const {
  uint64_t n = 0;
  for (auto& p : pools_)
    if (p)
      n += p->connects();
  return n;
}

uint64_t HttpListener::upstreamLive() const {
  uint64_t n = 0;
  for (auto& p : pools_)
    if (p)
      n += p->live();
  return n;
}

void HttpListener::newRequestId(char out[36]) { writeRequestId(rng_, out); }

Exchange* HttpListener::takeExchange() {
  if (freeExchanges_.empty())
    return new Exchange();
  Exchange* x = freeExchanges_.back();
  freeExchanges_.pop_back();
  return x;
}

void HttpListener::giveExchange(Exchange* x) {
  x->upHead.reset();
  x->sentNs = 0;
  x->status = 0;
  x->requestIdLen = 0;
  if (freeExchanges_.size() < 1024)
    freeExchanges_.push_back(x);
  else
    delete x;
}

http::Parser* HttpListener::takeParser() {
  if (freeParsers_.empty())
    return new http::Parser(http::Parser::Kind::Request, requestLimits_);
  http::Parser* p = freeParsers_.back();
  freeParsers_.pop_back();
  return p;
}

void HttpListener::giveParser(http::Parser* p) {
  if (freeParsers_.size() < 256)
    freeParsers_.push_back(p);
  else
    delete p;
}

io::SendQueue* HttpListener::takeQueue() {
  if (freeQueues_.empty())
    return new io::SendQueue();
  io::SendQueue* q = freeQueues_.back();
  freeQueues_.pop_back();
  return q;
}

void HttpListener::giveQueue(io::SendQueue* q) {
  q->clear();
  if (freeQueues_.size() < 256)
    freeQueues_.push_back(q);
  else
    delete q;
}

} // namespace ringway::net
