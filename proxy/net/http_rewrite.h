// The pure part of HTTP proxying, shared by net::HttpSession (io_uring and epoll backends) and
// the threads backend (core/threads_http.h): the request head sent upstream (hop-by-hop fields
// dropped, X-Forwarded-*, X-Request-Id, route rewrites, framing), the response head sent to the
// client, and the answers a proxy gives itself (direct responses, redirects, errors). No I/O,
// no allocation: each writer fills a caller's buffer and says how much it needed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"
#include "http/message.h"
#include "http/parser.h"

namespace ringway::net {

std::string_view reasonPhrase(uint16_t status);

// "502 Bad Gateway\n", the body of an error answer; returns its length (at most n - 1).
std::size_t errorBody(uint16_t status, char* out, std::size_t n);

// Bytes a client address needs as text (INET6_ADDRSTRLEN).
inline constexpr std::size_t PeerTextSize = 46;
// The client's address for X-Forwarded-For; "unknown" when getpeername() fails. A v4-mapped
// address (a [::] listener accepting IPv4) is written as IPv4.
void formatPeerAddress(int fd, char (&out)[PeerTextSize]);

struct RequestHeadInput {
  const http::Parser* req = nullptr;    // after Event::Head
  const config::Route* route = nullptr; // a route with a cluster
  const config::Listener* listener = nullptr;
  std::string_view defaultHost;  // Host for an HTTP/1.0 request without one (an endpoint)
  std::string_view peer;         // X-Forwarded-For's client ("" when x_forwarded is off)
  std::string_view newRequestId; // set: the client sent no X-Request-Id, send this one
  std::string_view upgrade;      // set: "Connection: upgrade" and "Upgrade: <this>"
};
// A buffer size that usually fits the request head.
std::size_t requestHeadEstimate(const RequestHeadInput& in);
// Writes the request head for the upstream into out. Returns its size; more than cap when it
// did not fit (call again with that much); 0 when a field cannot be written.
std::size_t writeRequestHead(const RequestHeadInput& in, char* out, std::size_t cap);

// How a response goes to the client: keep the connection? decode chunked (HTTP/1.0 client)?
struct ResponseFraming {
  bool keep = false;
  bool decode = false;
};
ResponseFraming responseFraming(const http::Framing& f, bool keep, http::Version client);

struct ResponseHeadInput {
  const http::Parser* resp = nullptr; // after a final (>= 200) Event::Head
  const config::Route* route = nullptr;
  std::string_view requestId; // added unless the upstream sent one
  ResponseFraming framing;
  http::Version client = http::Version::Http11;
};
std::size_t responseHeadEstimate(const ResponseHeadInput& in);
// As writeRequestHead.
std::size_t writeResponseHead(const ResponseHeadInput& in, char* out, std::size_t cap);
// A 1xx head forwarded as it came (101 keeps its Connection and Upgrade fields). Returns its
// size, 0 when it did not fit or cannot be written.
std::size_t writeInterimHead(const http::Parser& resp, char* out, std::size_t cap);
std::size_t interimHeadEstimate(const http::Parser& resp);

// An answer the proxy gives itself.
struct LocalResponse {
  uint16_t status = 200;
  std::string_view body, contentType, location, requestId;
  const config::Route* route = nullptr; // its response_headers_to_add, if any
  bool keep = true;
  http::Version client = http::Version::Http11;
  bool head = false; // a HEAD request: no body bytes
};
std::size_t localResponseEstimate(const LocalResponse& r);
// Head and body; the body only when it fits. Returns the bytes written (at most cap).
std::size_t writeLocalResponse(const LocalResponse& r, char* out, std::size_t cap);

// A version-4 UUID (36 characters, no terminator) from the caller's xorshift128+ state `rng`,
// which it advances: per worker or per thread, no lock, no system call. Unique enough to follow
// a request (X-Request-Id), not a secret.
void writeRequestId(uint64_t rng[2], char out[36]);

} // namespace ringway::net
