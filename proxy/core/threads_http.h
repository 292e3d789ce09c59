// One client connection of an http listener on the threads backend (core::ThreadsServer), run
// to its end on a thread of its own with blocking sockets: recv() a request, route it
// (http::Router), send its head (net/http_rewrite.h, the same rewriting as net::HttpSession)
// and body to the upstream, recv() the response and send it on, and again while the client
// keeps the connection alive. Bodies are streamed both ways as the raw, validated bytes
// (chunked framing included) through one io.buffer_size buffer per direction.
//
//   - Upstream keep-alive: each connection thread keeps its own upstream connection (the one it
//     used last) and reuses it for the client's next request to the same cluster. No pool is
//     shared between threads: no lock per request, and the classic model's cost (a connection
//     per thread) shows as it is. keepalive.max_idle: 0 turns reuse off; keepalive.idle_timeout
//     closes a connection idle for longer before it is reused. A kept-alive connection the
//     upstream closed meanwhile gets the request again on a fresh one (bodiless requests only).
//   - Timeouts are the sockets' SO_RCVTIMEO/SO_SNDTIMEO: set once per connection, so a wait
//     wakes up at least every min(request_header_timeout, idle_timeout) (the route's timeout
//     for an upstream) and checks the deadline of what it waits for: request_header_timeout
//     from a head's first byte (408), idle_timeout between requests and for bodies, the
//     route's timeout from the request sent (504).
//   - Drain and stop shut the sockets down (shutdown(2) wakes a blocked recv or send): drain
//     only the connections waiting between requests, stopNow every one.
//
// Not here (README, "Backends"): TLS, Upgrade/WebSocket (Upgrade requests go upstream as plain
// requests), access logs, per-request metrics, an early upstream answer while the request body
// is still being sent is read only after the body (or after the upstream stopped reading it).
#pragma once

#include <cstddef>
#include <memory>

#include "http/parser.h"
#include "http/router.h"

namespace ringway::core {

struct ThreadsShared;

// What an http listener's threads share; built once before accepting, read-only after.
struct ThreadsHttpListener {
  explicit ThreadsHttpListener(const config::Listener& l);
  http::Router router;    // match() is const and RE2 is thread-safe
  http::Limits requests;  // from the listener's http: options
  http::Limits responses;
};

// Serves the accepted, blocking `client` of http listener `listener` until it ends; closes it.
void runThreadsHttp(const std::shared_ptr<ThreadsShared>& shared, std::size_t listener,
                    int client);

}  // namespace ringway::core
