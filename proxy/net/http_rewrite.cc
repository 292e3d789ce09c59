// Moved out of http_heads.cc so the threads backend writes the same heads (http_rewrite.h).
#include "net/http_rewrite.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <span>

#include "http/chars.h"
#include "http/head_writer.h"
#include "http/router.h"

namespace ringway::net {

namespace {

// Names dropped from a forwarded head, besides hop-by-hop ones. Routes are limited to
// config-validated lists; anything beyond this many is ignored.
constexpr std::size_t MaxDrop = 48;

struct DropList {
  std::array<std::string_view, MaxDrop> names;
  std::size_t n = 0;
  void add(std::string_view s) {
    if (n < MaxDrop)
      names[n++] = s;
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

std::size_t headersSize(std::span<const http::Header> hs) {
  std::size_t n = 0;
  for (const http::Header& h : hs)
    n += h.name.size() + h.value.size() + 4;
  return n;
}

std::size_t addedSize(const std::vector<config::HeaderValue>& hs) {
  std::size_t n = 0;
  for (const config::HeaderValue& h : hs)
    n += h.name.size() + h.value.size() + 4;
  return n;
}

} // namespace

std::string_view reasonPhrase(uint16_t status) {
  switch (status) {
  case 100:
    return "Continue";
  case 101:
    return "Switching Protocols";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 408:
    return "Request Timeout";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 417:
    return "Expectation Failed";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return status < 300   ? "OK"
           : status < 400 ? "Redirect"
           : status < 500 ? "Client Error"
                          : "Server Error";
  }
}

std::size_t errorBody(uint16_t status, char* out, std::size_t n) {
  const std::string_view reason = reasonPhrase(status);
  const int k =
      std::snprintf(out, n, "%u %.*s\n", status, static_cast<int>(reason.size()), reason.data());
  return k < 0 ? 0 : std::min<std::size_t>(static_cast<std::size_t>(k), n - 1);
}

void formatPeerAddress(int fd, char (&out)[PeerTextSize]) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  const void* addr = nullptr;
  int family = AF_UNSPEC;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
    if (ss.ss_family == AF_INET) {
      addr = &reinterpret_cast<sockaddr_in*>(&ss)->sin_addr;
      family = AF_INET;
    } else if (ss.ss_family == AF_INET6) {
      const in6_addr& a = reinterpret_cast<sockaddr_in6*>(&ss)->sin6_addr;
      addr = IN6_IS_ADDR_V4MAPPED(&a) ? static_cast<const void*>(a.s6_addr + 12) : &a;
      family = IN6_IS_ADDR_V4MAPPED(&a) ? AF_INET : AF_INET6;
    }
  }
  if (addr == nullptr || inet_ntop(family, addr, out, PeerTextSize) == nullptr)
    std::snprintf(out, PeerTextSize, "unknown");
}

std::size_t requestHeadEstimate(const RequestHeadInput& in) {
  const config::Route& r = *in.route;
  const http::Parser& req = *in.req;
  const std::span<const http::Header> hs = req.headers();
  const std::string_view target = http::originForm(req.target(), req.targetForm());
  std::size_t newPrefix = 0;
  if (!r.prefix_rewrite.empty()) {
    const std::string& from = r.match.path_prefix.empty() ? r.match.path : r.match.path_prefix;
    if (target.starts_with(from))
      newPrefix = r.prefix_rewrite.size();
  }
  const http::Header* host = http::findHeader(hs, "host");
  const http::Header* xff = http::findHeader(hs, "x-forwarded-for");
  std::size_t hostValue = 0;
  if (!r.host_rewrite.empty())
    hostValue = r.host_rewrite.size();
  else if (req.targetForm() == http::TargetForm::Absolute)
    hostValue = http::routeInput(req).host.size();
  else if (host == nullptr)
    hostValue = in.defaultHost.size();
  return 256 + req.methodName().size() + target.size() + newPrefix + headersSize(hs) +
         addedSize(r.request_headers_to_add) + (host ? host->value.size() : 0) +
         (xff ? xff->value.size() : 0) + hostValue;
}

std::size_t writeRequestHead(const RequestHeadInput& in, char* out, std::size_t cap) {
  const config::Route& r = *in.route;
  const http::Parser& req = *in.req;
  const std::span<const http::Header> hs = req.headers();
  const config::XForwarded xf = in.listener->http.x_forwarded;
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
  drop.add("content-length"); // re-added from the parsed framing
  drop.add("expect");         // answered here
  if (!r.host_rewrite.empty() || absolute)
    drop.add("host");
  if (xf == config::XForwarded::Replace) {
    drop.add("x-forwarded-for");
    drop.add("x-forwarded-proto");
    drop.add("x-forwarded-host");
  } else if (xf == config::XForwarded::Append && xffCount == 1) {
    drop.add("x-forwarded-for"); // re-added with the client appended
  }
  for (const std::string& n : r.request_headers_to_remove)
    drop.add(n);

  std::string_view hostValue;
  if (!r.host_rewrite.empty()) {
    hostValue = r.host_rewrite;
  } else if (absolute) {
    hostValue = http::routeInput(req).host;
  } else if (host == nullptr) { // HTTP/1.0 without Host: HTTP/1.1 upstream needs one
    hostValue = in.defaultHost;
  }
  const http::Framing framing = req.framing();
  const Digits length(framing.contentLength);
  const std::string_view method = req.methodName();
  const std::string_view origHost = host != nullptr ? host->value : std::string_view();
  const std::string_view proto = in.listener->tls ? "https" : "http";
  const std::string_view peer = in.peer;

  // Request line by hand: the target may be two pieces (rewritten prefix + rest).
  const std::size_t line = method.size() + 1 + newPrefix.size() + rest.size() + 11;
  if (line > cap)
    return line + headersSize(hs) + 1024;
  char* p = out;
  auto put = [&p](std::string_view s) {
    if (s.empty())
      return; // an empty view may have a null data(), which memcpy must not see
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  };
  put(method);
  put(" ");
  put(newPrefix);
  put(rest);
  put(" HTTP/1.1\r\n");
  http::HeadWriter w({out + line, cap - line});
  if (!hostValue.empty())
    w.header("Host", hostValue);
  w.forward(hs, drop.span());
  if (xf == config::XForwarded::Append) {
    if (xffCount == 1)
      w.header("X-Forwarded-For", {xff->value, ", ", peer});
    else
      w.header("X-Forwarded-For", peer);
    if (http::findHeader(hs, "x-forwarded-proto") == nullptr)
      w.header("X-Forwarded-Proto", proto);
    if (!origHost.empty() && http::findHeader(hs, "x-forwarded-host") == nullptr)
      w.header("X-Forwarded-Host", origHost);
  } else if (xf == config::XForwarded::Replace) {
    w.header("X-Forwarded-For", peer);
    w.header("X-Forwarded-Proto", proto);
    if (!origHost.empty())
      w.header("X-Forwarded-Host", origHost);
  }
  if (!in.newRequestId.empty())
    w.header("X-Request-Id", in.newRequestId);
  for (const config::HeaderValue& h : r.request_headers_to_add)
    w.header(h.name, h.value);
  if (framing.kind == http::BodyKind::ContentLength)
    w.header("Content-Length", length.view);
  else if (framing.kind == http::BodyKind::Chunked)
    w.header("Transfer-Encoding", "chunked");
  if (!in.upgrade.empty()) {
    w.header("Connection", "upgrade");
    w.header("Upgrade", in.upgrade);
  }
  w.finish();
  if (!w.valid())
    return 0;
  return line + w.size();
}

ResponseFraming responseFraming(const http::Framing& f, bool keep, http::Version client) {
  ResponseFraming rf{keep, false};
  if (f.kind == http::BodyKind::Chunked && client == http::Version::Http10) {
    rf.decode = true; // HTTP/1.0 knows no chunked: decode, close
    rf.keep = false;
  } else if (f.kind == http::BodyKind::UntilClose) {
    rf.keep = false;
  }
  return rf;
}

std::size_t responseHeadEstimate(const ResponseHeadInput& in) {
  return 192 + in.resp->reason().size() + headersSize(in.resp->headers()) +
         addedSize(in.route->response_headers_to_add) + in.requestId.size();
}

std::size_t writeResponseHead(const ResponseHeadInput& in, char* out, std::size_t cap) {
  const http::Parser& p = *in.resp;
  const config::Route& r = *in.route;
  const http::Framing f = p.framing();
  // HEAD, 204, 304 (BodyKind::None): the upstream's Content-Length stands.
  const bool dropLength = f.kind != http::BodyKind::None;
  DropList drop;
  if (dropLength)
    drop.add("content-length");
  for (const std::string& n : r.response_headers_to_remove)
    drop.add(n);
  const std::span<const http::Header> hs = p.headers();
  const bool addId = !in.requestId.empty() && http::findHeader(hs, "x-request-id") == nullptr;
  const Digits length(f.contentLength);
  http::HeadWriter w({out, cap});
  w.statusLine(p.status(), p.reason().empty() ? reasonPhrase(p.status()) : p.reason());
  w.forward(hs, drop.span());
  for (const config::HeaderValue& h : r.response_headers_to_add)
    w.header(h.name, h.value);
  if (addId)
    w.header("X-Request-Id", in.requestId);
  if (f.kind == http::BodyKind::ContentLength)
    w.header("Content-Length", length.view);
  if (f.kind == http::BodyKind::Chunked && !in.framing.decode)
    w.header("Transfer-Encoding", "chunked");
  if (!in.framing.keep)
    w.header("Connection", "close");
  else if (in.client == http::Version::Http10)
    w.header("Connection", "keep-alive");
  w.finish();
  return w.valid() ? w.size() : 0;
}

std::size_t interimHeadEstimate(const http::Parser& p) {
  return 128 + p.reason().size() + headersSize(p.headers());
}

std::size_t writeInterimHead(const http::Parser& p, char* out, std::size_t cap) {
  const std::span<const http::Header> hs = p.headers();
  http::HeadWriter w({out, cap});
  w.statusLine(p.status(), p.reason().empty() ? reasonPhrase(p.status()) : p.reason());
  w.forward(hs);
  if (p.status() == 101) { // the upgrade fields are hop-by-hop, but this hop is upgrading
    w.header("Connection", "upgrade");
    if (const http::Header* u = http::findHeader(hs, "upgrade"))
      w.header("Upgrade", u->value);
  }
  return w.finish() ? w.size() : 0;
}

std::size_t localResponseEstimate(const LocalResponse& r) {
  return 256 + r.body.size() + r.contentType.size() + r.location.size() + r.requestId.size() +
         (r.route ? addedSize(r.route->response_headers_to_add) : 0);
}

std::size_t writeLocalResponse(const LocalResponse& r, char* out, std::size_t cap) {
  http::HeadWriter w({out, cap});
  w.statusLine(r.status, reasonPhrase(r.status));
  if (!r.location.empty())
    w.header("Location", r.location);
  if (!r.body.empty() && !r.contentType.empty())
    w.header("Content-Type", r.contentType);
  w.header("Content-Length", Digits(r.body.size()).view);
  if (!r.requestId.empty())
    w.header("X-Request-Id", r.requestId);
  if (r.route != nullptr)
    for (const config::HeaderValue& h : r.route->response_headers_to_add)
      w.header(h.name, h.value);
  if (!r.keep)
    w.header("Connection", "close");
  else if (r.client == http::Version::Http10)
    w.header("Connection", "keep-alive");
  w.finish();
  std::size_t n = w.size();
  if (!r.head && !r.body.empty() && n + r.body.size() <= cap) {
    std::memcpy(out + n, r.body.data(), r.body.size());
    n += r.body.size();
  }
  return std::min(n, cap);
}

void writeRequestId(uint64_t rng[2], char out[36]) {
  auto next = [rng] {
    uint64_t s1 = rng[0];
    const uint64_t s0 = rng[1];
    rng[0] = s0;
    s1 ^= s1 << 23;
    rng[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return rng[1] + s0;
  };
  const uint64_t a = next(), b = next();
  static constexpr char Hex[] = "0123456789abcdef";
  char digits[32];
  for (int i = 0; i < 16; ++i) {
    digits[i] = Hex[(a >> (i * 4)) & 15];
    digits[16 + i] = Hex[(b >> (i * 4)) & 15];
  }
  digits[12] = '4';                     // version 4 (random)
  digits[16] = Hex[8 | ((b >> 2) & 3)]; // variant 10xx
  int k = 0;
  for (int i = 0; i < 32; ++i) {
    if (i == 8 || i == 12 || i == 16 || i == 20)
      out[k++] = '-';
    out[k++] = digits[i];
  }
}

} // namespace ringway::net
