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
#include "net/http_session.h"

namespace ringway::net {

namespace {

constexpr uint64_t LingerMs = 2000;
// Names dropped from a forwarded head, besides hop-by-hop ones. Routes are limited to
// config-validated lists; anything beyond this many is ignored.
constexpr std::size_t MaxDrop = 48;

struct DropList {
  std::array<std::string_view, MaxDrop> names;
  std::size_t n = 0;
  void add(std::string_view s) {
    if (n < MaxDrop) names[n++] = s;
  }
  std::span<const std::string_view> span() const { return {names.data(), n}; }
};

struct Digits {
  char buf[24];
  std::string_view view;
  explicit Digits(uint64_t v) {
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    view = {buf, static_cast<std::size_t>(r.ptr - buf)};
  }
};

std::string_view reasonPhrase(uint16_t status) {
  switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error"
                                                                                  : "Server Error";
  }
}

std::size_t headersSize(std::span<const http::Header> hs) {
  std::size_t n = 0;
  for (const http::Header& h : hs) n += h.name.size() + h.value.size() + 4;
  return n;
}

std::size_t addedSize(const std::vector<config::HeaderValue>& hs) {
  std::size_t n = 0;
  for (const config::HeaderValue& h : hs) n += h.name.size() + h.value.size() + 4;
  return n;
}

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
  const config::XForwarded xf = l_.config().http.x_forwarded;
  const bool absolute = req.targetForm() == http::TargetForm::Absolute;

  // The target upstream: origin-form, with the matched prefix rewritten.
  const std::string_view target = http::originForm(req.target(), req.targetForm());
  std::string_view newPrefix, rest = target;
  if (!r.prefix_rewrite.empty()) {
    const std::string& from = r.match.path_prefix.empty() ? r.match.path : r.match.path_prefix;
    if (target.starts_with(from)) {
      newPrefix = r.prefix_rewrite;
      rest = target.substr(from.size());
    }
  }

  const http::Header* host = http::findHeader(hs, "host");
  const http::Header* xff = nullptr;
  unsigned xffCount = 0;
  for (const http::Header& h : hs)
    if (http::equalsIgnoreCase(h.name, "x-forwarded-for")) {
      xff = &h;
      ++xffCount;
    }

  DropList drop;
  drop.add("content-length");  // re-added from the parsed framing
  drop.add("expect");          // answered here
  if (!r.host_rewrite.empty() || absolute) drop.add("host");
  if (xf == config::XForwarded::Replace) {
    drop.add("x-forwarded-for");
    drop.add("x-forwarded-proto");
    drop.add("x-forwarded-host");
  } else if (xf == config::XForwarded::Append && xffCount == 1) {
    drop.add("x-forwarded-for");  // re-added with the client appended
  }
  for (const std::string& n : r.request_headers_to_remove) drop.add(n);

  char peer[INET6_ADDRSTRLEN] = "";
  if (xf != config::XForwarded::Off) formatPeer(peer, sizeof peer);

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

  std::string_view hostValue;
  if (!r.host_rewrite.empty()) {
    hostValue = r.host_rewrite;
  } else if (absolute) {
    hostValue = http::routeInput(req).host;
  } else if (host == nullptr) {  // HTTP/1.0 without Host: HTTP/1.1 upstream needs one
    hostValue = l_.fullConfig().clusters[r.cluster_index].endpoints[0].address.text;
  }
  const http::Framing framing = req.framing();
  const Digits length(framing.contentLength);
  const std::string_view method = req.methodName();
  const std::string_view origHost = host != nullptr ? host->value : std::string_view();
  const std::string_view proto = l_.config().tls ? "https" : "http";

  auto write = [&](char* out, std::size_t cap) -> std::size_t {
    // Request line by hand: the target may be two pieces (rewritten prefix + rest).
    const std::size_t line = method.size() + 1 + newPrefix.size() + rest.size() + 11;
    if (line > cap) return line + headersSize(hs) + 1024;
    char* p = out;
    auto put = [&p](std::string_view s) {
      if (s.empty()) return;  // an empty view may have a null data(), which memcpy must not see
      std::memcpy(p, s.data(), s.size());
      p += s.size();
    };
    put(method);
    put(" ");
    put(newPrefix);
    put(rest);
    put(" HTTP/1.1\r\n");
    http::HeadWriter w({out + line, cap - line});
    if (!hostValue.empty()) w.header("Host", hostValue);
    w.forward(hs, drop.span());
    if (xf == config::XForwarded::Append) {
      if (xffCount == 1)
        w.header("X-Forwarded-For", {xff->value, ", ", peer});
      else
        w.header("X-Forwarded-For", peer);
      if (http::findHeader(hs, "x-forwarded-proto") == nullptr) w.header("X-Forwarded-Proto", proto);
      if (!origHost.empty() && http::findHeader(hs, "x-forwarded-host") == nullptr)
        w.header("X-Forwarded-Host", origHost);
    } else if (xf == config::XForwarded::Replace) {
      w.header("X-Forwarded-For", peer);
      w.header("X-Forwarded-Proto", proto);
      if (!origHost.empty()) w.header("X-Forwarded-Host", origHost);
    }
    if (newId) w.header("X-Request-Id", {x.requestId, x.requestIdLen});
    for (const config::HeaderValue& h : r.request_headers_to_add) w.header(h.name, h.value);
    if (framing.kind == http::BodyKind::ContentLength)
      w.header("Content-Length", length.view);
    else if (framing.kind == http::BodyKind::Chunked)
      w.header("Transfer-Encoding", "chunked");
    if (has(UpgradeAsked)) {
      w.header("Connection", "upgrade");
      w.header("Upgrade", http::findHeader(hs, "upgrade")->value);
    }
    w.finish();
    if (!w.valid()) return 0;
    return line + w.size();
  };

  const std::size_t estimate = 256 + method.size() + target.size() + newPrefix.size() +
                               headersSize(hs) + addedSize(r.request_headers_to_add) +
                               origHost.size() + (xff ? xff->value.size() : 0) + hostValue.size();
  HeapPool::Block b = l_.heap().acquire(estimate);
  std::size_t n = write(b.data, b.capacity);
  if (n > b.capacity) {  // the estimate fell short: once more, at the size it needs
    l_.heap().release(b.id);
    b = l_.heap().acquire(n);
    n = write(b.data, b.capacity);
  }
  if (n == 0 || n > b.capacity) {
    l_.heap().release(b.id);
    return false;
  }
  x.upHead = l_.heap().ref(b, static_cast<uint32_t>(n));
  return true;
}

void HttpSession::writeResponseHead(const http::Parser& p) {
  const config::Route& r = *route();
  const http::Framing f = p.framing();
  bool keep = has(KeepAlive) && reqPhase_ == ReqPhase::Done && !l_.draining() && !has(ClientEof);
  bool dropLength = false;
  switch (f.kind) {
    case http::BodyKind::None: break;  // HEAD, 204, 304: the upstream's Content-Length stands
    case http::BodyKind::ContentLength: dropLength = true; break;
    case http::BodyKind::Chunked:
      dropLength = true;
      if (version_ == http::Version::Http10) {  // HTTP/1.0 knows no chunked: decode, close
        set(Decode);
        keep = false;
      }
      break;
    case http::BodyKind::UntilClose:
      dropLength = true;
      keep = false;
      break;
  }
  if (!keep) clear(KeepAlive);
  DropList drop;
  if (dropLength) drop.add("content-length");
  for (const std::string& n : r.response_headers_to_remove) drop.add(n);
  const std::span<const http::Header> hs = p.headers();
  const bool addId =
      x_ != nullptr && x_->requestIdLen > 0 && http::findHeader(hs, "x-request-id") == nullptr;
  const Digits length(f.contentLength);

  auto write = [&](char* out, std::size_t cap) -> std::size_t {
    http::HeadWriter w({out, cap});
    w.statusLine(p.status(), p.reason().empty() ? reasonPhrase(p.status()) : p.reason());
    w.forward(hs, drop.span());
    for (const config::HeaderValue& h : r.response_headers_to_add) w.header(h.name, h.value);
    if (addId) w.header("X-Request-Id", {x_->requestId, x_->requestIdLen});
    if (f.kind == http::BodyKind::ContentLength) w.header("Content-Length", length.view);
    if (f.kind == http::BodyKind::Chunked && !has(Decode))
      w.header("Transfer-Encoding", "chunked");
    if (!keep)
      w.header("Connection", "close");
    else if (version_ == http::Version::Http10)
      w.header("Connection", "keep-alive");
    w.finish();
    return w.valid() ? w.size() : 0;
  };
  const std::size_t estimate =
      192 + p.reason().size() + headersSize(hs) + addedSize(r.response_headers_to_add);
  HeapPool::Block b = l_.heap().acquire(estimate);
  std::size_t n = write(b.data, b.capacity);
  if (n > b.capacity) {
    l_.heap().release(b.id);
    b = l_.heap().acquire(n);
    n = write(b.data, b.capacity);
  }
  if (n == 0 || n > b.capacity) {  // cannot happen: parsed fields and validated config
    l_.heap().release(b.id);
    abortExchange("response_head_unwritable");
    return;
  }
  writeClient(l_.heap().ref(b, static_cast<uint32_t>(n)));
}

void HttpSession::writeInterim(const http::Parser& p) {
  const std::span<const http::Header> hs = p.headers();
  HeapPool::Block b = l_.heap().acquire(128 + p.reason().size() + headersSize(hs));
  http::HeadWriter w({b.data, b.capacity});
  w.statusLine(p.status(), p.reason().empty() ? reasonPhrase(p.status()) : p.reason());
  if (p.status() == 101) {  // the upgrade fields are hop-by-hop, but this hop is upgrading
    w.forward(hs);
    w.header("Connection", "upgrade");
    if (const http::Header* u = http::findHeader(hs, "upgrade")) w.header("Upgrade", u->value);
  } else {
    w.forward(hs);
  }
  if (!w.finish()) {
    l_.heap().release(b.id);
    return;
  }
  writeClient(l_.heap().ref(b, static_cast<uint32_t>(w.size())));
}

void HttpSession::writeLocal(uint16_t status, std::string_view body,
                             std::string_view contentType, std::string_view location) {
  const bool keep = has(KeepAlive) && !l_.draining() && !has(ClientEof);
  if (!keep) clear(KeepAlive);
  const config::Route* r = route();
  const bool head = method_ == http::Method::Head;
  const std::size_t size = 256 + body.size() + contentType.size() + location.size() +
                           (r ? addedSize(r->response_headers_to_add) : 0);
  HeapPool::Block b = l_.heap().acquire(size);
  http::HeadWriter w({b.data, b.capacity});
  w.statusLine(status, reasonPhrase(status));
  if (!location.empty()) w.header("Location", location);
  if (!body.empty() && !contentType.empty()) w.header("Content-Type", contentType);
  w.header("Content-Length", Digits(body.size()).view);
  if (x_ != nullptr && x_->requestIdLen > 0)
    w.header("X-Request-Id", {x_->requestId, x_->requestIdLen});
  if (r != nullptr)
    for (const config::HeaderValue& h : r->response_headers_to_add) w.header(h.name, h.value);
  if (!keep)
    w.header("Connection", "close");
  else if (version_ == http::Version::Http10)
    w.header("Connection", "keep-alive");
  w.finish();
  std::size_t n = w.size();
  if (!head && !body.empty() && n + body.size() <= b.capacity) {
    std::memcpy(b.data + n, body.data(), body.size());
    n += body.size();
  }
  set(RespStarted | RespDone);
  writeClient(l_.heap().ref(b, static_cast<uint32_t>(std::min<std::size_t>(n, b.capacity))));
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
  const int n = std::snprintf(body, sizeof body, "%u %.*s\n", status,
                              static_cast<int>(reasonPhrase(status).size()),
                              reasonPhrase(status).data());
  writeLocal(status, {body, static_cast<std::size_t>(n)}, "text/plain; charset=utf-8");
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
  const int n = std::snprintf(body, sizeof body, "%u %.*s\n", status,
                              static_cast<int>(reasonPhrase(status).size()),
                              reasonPhrase(status).data());
  writeLocal(status, {body, static_cast<std::size_t>(n)}, "text/plain; charset=utf-8");
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
