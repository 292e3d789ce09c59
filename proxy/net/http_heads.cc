// The heads an HttpSession writes: the request head for the upstream (hop-by-hop fields
// dropped, X-Forwarded-*, X-Request-Id, route rewrites, framing), the response head for the
// client, and the answers it gives itself (direct responses, redirects, errors).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <charconv>
#include <cstring>

#include "http/chars.h"
#include "http/head_writer.h"
#include "http/router.h"
#include "io/log.h"
#include "net/http_rewrite.h"
#include "net/http_session.h"

namespace ringway::net {

namespace {

constexpr uint64_t LingerMs = 2000;

}  // namespace

void HttpSession::formatPeer(char* out, std::size_t n) {
  if (peerFamily_ == 0) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    peerFamily_ = AF_UNSPEC;
    if (::getpeername(client_->fd(), reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
      if (ss.ss_family == AF_INET) {
        std::memcpy(peer_, &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr, 4);
        peerFamily_ = AF_INET;
      } else if (ss.ss_family == AF_INET6) {
        const in6_addr& a = reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a)) {  // a [::] listener accepting IPv4
          std::memcpy(peer_, a.s6_addr + 12, 4);
          peerFamily_ = AF_INET;
        } else {
          std::memcpy(peer_, &a, 16);
          peerFamily_ = AF_INET6;
        }
      }
    }
    l_.loop().countSyscall();
  }
  if (peerFamily_ == AF_INET && n >= INET_ADDRSTRLEN) {
    // By hand: glibc's inet_ntop formats IPv4 with sprintf, once per request here.
    char* p = out;
    for (int i = 0; i < 4; ++i) {
      if (i > 0) *p++ = '.';
      p = std::to_chars(p, out + n, static_cast<unsigned>(peer_[i])).ptr;
    }
    *p = '\0';
    return;
  }
  if (peerFamily_ == AF_UNSPEC || inet_ntop(peerFamily_, peer_, out, static_cast<socklen_t>(n)) ==
                                      nullptr)
    std::snprintf(out, n, "unknown");
}

bool HttpSession::buildUpstreamHead() {
  const config::Route& r = *route();
  const http::Parser& req = *req_;
  const std::span<const http::Header> hs = req.headers();
  char peer[INET6_ADDRSTRLEN] = "";
  if (l_.config().http.x_forwarded != config::XForwarded::Off) formatPeer(peer, sizeof peer);

  // X-Request-Id: the client's when it sent one, else a new one; remembered for the response.
  if (x_ == nullptr) x_ = l_.takeExchange();
  Exchange& x = *x_;
  const http::Header* rid = http::findHeader(hs, "x-request-id");
  bool newId = false;
  if (rid != nullptr) {
    if (!rid->value.empty() && rid->value.size() <= sizeof x.requestId) {
      std::memcpy(x.requestId, rid->value.data(), rid->value.size());
      x.requestIdLen = static_cast<uint8_t>(rid->value.size());
    }
  } else {
    l_.newRequestId(x.requestId);
    x.requestIdLen = 36;
    newId = true;
  }
  RequestHeadInput in;
  in.req = &req;
  in.route = &r;
  in.listener = &l_.config();
  in.defaultHost = l_.fullConfig().clusters[r.cluster_index].endpoints[0].address.text;
  in.peer = peer;
  if (newId) in.newRequestId = {x.requestId, x.requestIdLen};
  if (has(UpgradeAsked)) in.upgrade = http::findHeader(hs, "upgrade")->value;

  HeapPool::Block b = l_.heap().acquire(requestHeadEstimate(in));
  std::size_t n = writeRequestHead(in, b.data, b.capacity);
  if (n > b.capacity) {  // the estimate fell short: once more, at the size it needs
    l_.heap().release(b.id);
    b = l_.heap().acquire(n);
    n = writeRequestHead(in, b.data, b.capacity);
  }
  if (n == 0 || n > b.capacity) {
    l_.heap().release(b.id);
    return false;
  }
  x.upHead = l_.heap().ref(b, static_cast<uint32_t>(n));
  return true;
}

void HttpSession::writeResponseHead(const http::Parser& p) {
  const bool keep =
      has(KeepAlive) && reqPhase_ == ReqPhase::Done && !l_.draining() && !has(ClientEof);
  ResponseHeadInput in;
  in.resp = &p;
  in.route = route();
  in.framing = responseFraming(p.framing(), keep, version_);
  in.client = version_;
  if (x_ != nullptr && x_->requestIdLen > 0) in.requestId = {x_->requestId, x_->requestIdLen};
  if (in.framing.decode) set(Decode);
  if (!in.framing.keep) clear(KeepAlive);
  HeapPool::Block b = l_.heap().acquire(responseHeadEstimate(in));
  std::size_t n = net::writeResponseHead(in, b.data, b.capacity);
  if (n > b.capacity) {
    l_.heap().release(b.id);
    b = l_.heap().acquire(n);
    n = net::writeResponseHead(in, b.data, b.capacity);
  }
  if (n == 0 || n > b.capacity) {  // cannot happen: parsed fields and validated config
    l_.heap().release(b.id);
    abortExchange("response_head_unwritable");
    return;
  }
  writeClient(l_.heap().ref(b, static_cast<uint32_t>(n)));
  if (log_ != nullptr) logHead(p.status());
}

void HttpSession::writeInterim(const http::Parser& p) {
  HeapPool::Block b = l_.heap().acquire(interimHeadEstimate(p));
  const std::size_t n = writeInterimHead(p, b.data, b.capacity);
  if (n == 0) {
    l_.heap().release(b.id);
    return;
  }
  writeClient(l_.heap().ref(b, static_cast<uint32_t>(n)));
}

void HttpSession::writeLocal(uint16_t status, std::string_view body,
                             std::string_view contentType, std::string_view location) {
  const bool keep = has(KeepAlive) && !l_.draining() && !has(ClientEof);
  if (!keep) clear(KeepAlive);
  LocalResponse lr;
  lr.status = status;
  lr.body = body;
  lr.contentType = contentType;
  lr.location = location;
  if (x_ != nullptr && x_->requestIdLen > 0) lr.requestId = {x_->requestId, x_->requestIdLen};
  lr.route = route();
  lr.keep = keep;
  lr.client = version_;
  lr.head = method_ == http::Method::Head;
  HeapPool::Block b = l_.heap().acquire(localResponseEstimate(lr));
  const std::size_t n = writeLocalResponse(lr, b.data, b.capacity);
  set(RespStarted | RespDone);
  writeClient(l_.heap().ref(b, static_cast<uint32_t>(n)));
  logLocal(status, method_ == http::Method::Head ? 0 : body.size());
}

void HttpSession::logError(uint16_t status, const char* reason) {
  char rn[32];
  if (status == 0)
    LOG_WARN("listener=%s route=%s cluster=%s: response aborted: %s", l_.config().name.c_str(),
             routeName(rn, sizeof rn), clusterName(), reason);
  else if (status >= 500)
    LOG_WARN("listener=%s route=%s cluster=%s: %u %s", l_.config().name.c_str(),
             routeName(rn, sizeof rn), clusterName(), status, reason);
  else
    LOG_DEBUG("listener=%s route=%s cluster=%s: %u %s", l_.config().name.c_str(),
              routeName(rn, sizeof rn), clusterName(), status, reason);
}

void HttpSession::sendError(uint16_t status, const char* reason) {
  logError(status, reason);
  releaseUpstream(false);
  if (x_ != nullptr) x_->upHead.reset();
  clear(KeepAlive | Proxying | WaitUpstream | UpBlocked | Expect100);
  set(Discard);
  char body[96];
  writeLocal(status, {body, errorBody(status, body, sizeof body)}, "text/plain; charset=utf-8");
  if (reqPhase_ == ReqPhase::Done || has(ClientEof))
    closeClient(io::CloseMode::Graceful);
  else
    linger();
}

void HttpSession::localError(uint16_t status, const char* reason) {
  // A client still waiting for 100 Continue, or one whose body we cannot skip (the parser
  // failed), gets the answer and a close.
  if (reqPhase_ == ReqPhase::Body && has(Expect100)) {
    sendError(status, reason);
    return;
  }
  logError(status, reason);
  releaseUpstream(false);
  if (x_ != nullptr) x_->upHead.reset();
  clear(Proxying | WaitUpstream | UpBlocked);
  set(Discard);
  char body[96];
  writeLocal(status, {body, errorBody(status, body, sizeof body)}, "text/plain; charset=utf-8");
  if (timer_ == TimerKind::Route) clearTimer();
  if (reqPhase_ == ReqPhase::Done)
    endExchange(false);
  else
    pumpClient();  // the rest of the body is read and dropped, then the next request
}

void HttpSession::linger() {
  // Like nginx's lingering close: stop writing (FIN after the answer), read and drop what the
  // client still sends for a moment, so closing with unread bytes does not reset the
  // connection before the client has read the answer.
  set(Lingering);
  clear(KeepAlive);
  client_->shutdownWrite();
  setTimer(TimerKind::Linger, l_.loop().nowMs() + LingerMs);
  pumpClient();
}

}  // namespace ringway::net
