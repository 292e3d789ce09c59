// The access log side of an HttpSession (net/access_log.h). An entry is taken when a request
// head is complete (or when the proxy answers a request it could not read: 400, 408), because
// the head's bytes go back to the ring long before the response ends; the status and the body
// bytes are noted as the response goes out; the line is written when the exchange ends (the
// response complete, or the connection closing). Without an access_log on the listener each
// hook is one pointer test (logBegin: a look-up in the worker's short list of logs).
#include <arpa/inet.h>

#include "http/message.h"
#include "net/access_log.h"
#include "net/http_session.h"

namespace ringway::net {

void HttpSession::logBegin(bool withRequest) {
  AccessLog* a = threadAccessLog(l_.config());
  if (a == nullptr)
    return;
  if (log_ != nullptr)
    logEnd(); // not expected: an entry per exchange
  AccessEntry* e = a->take();
  e->startNs = AccessLog::nowNs();
  // The views of a failed parser point into input that is still alive while the error is
  // answered; a head that never came (408) has none worth logging.
  if (withRequest && req_ != nullptr && !req_->methodName().empty()) {
    const http::Parser& r = *req_;
    e->hasRequest = true;
    e->setMethod(r.methodName());
    e->setTarget(r.target());
    e->http10 = r.version() == http::Version::Http10;
    const std::span<const http::Header> hs = r.headers();
    if (const http::Header* h = http::findHeader(hs, "user-agent"))
      e->setAgent(h->value);
    if (const http::Header* h = http::findHeader(hs, "referer"))
      e->setReferer(h->value);
    if (const http::Header* h = http::findHeader(hs, "x-request-id"))
      e->setRequestId(h->value);
  }
  log_ = e;
}

void HttpSession::logHead(uint16_t status) {
  log_->status = status;
  log_->sent = 0; // from here on: body bytes
  if (up_ != nullptr) {
    log_->upHeadNs = AccessLog::nowNs();
    const config::Cluster& c = up_->pool().cluster();
    if (up_->endpoint() < c.endpoints.size())
      log_->upstream = &c.endpoints[up_->endpoint()].address.text;
  }
}

void HttpSession::logLocal(uint16_t status, std::size_t body) {
  if (log_ == nullptr) {
    logBegin(req_ != nullptr && req_->failed());
    if (log_ == nullptr)
      return;
  }
  log_->status = status;
  log_->sent = body;
}

void HttpSession::logEnd() {
  if (log_ == nullptr)
    return;
  AccessEntry* e = std::exchange(log_, nullptr);
  if (e->status == 0)
    e->status = has(Tunnel) ? 101 : 499; // 499: the client left first (nginx)
  if (x_ != nullptr && x_->requestIdLen > 0)
    e->setRequestId({x_->requestId, x_->requestIdLen});
  char peer[INET6_ADDRSTRLEN];
  formatPeer(peer, sizeof peer);
  char rn[32];
  AccessContext c{peer, routeName(rn, sizeof rn), clusterName()};
  e->log->finish(e, c);
}

} // namespace ringway::net
