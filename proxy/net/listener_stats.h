// Per worker and listener counters; written by the worker (relaxed load + store), read at
// scrape time by any thread.
#pragma once

#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "net/tls_stats.h"

namespace ringway::net {

// Single writer: a relaxed load and store, no locked instruction (STYLE.md §4).
inline void statAdd(std::atomic<uint64_t>& c, uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

// CLOCK_MONOTONIC in nanoseconds, for request and upstream durations (the loop's cached clock
// is in coarse milliseconds). Read through the vDSO: no system call with a TSC clock source.
inline uint64_t monotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(ts.tv_nsec);
}

// A duration histogram one worker writes: per-bucket counts (not cumulative; the last one
// counts what is above the last bound) and the sum in nanoseconds. Recording is one binary
// search over 16 bounds and two relaxed stores.
struct DurationHistogram {
  static constexpr std::array<uint64_t, 16> kBoundsNs = {
      100'000,     250'000,     500'000,       1'000'000,     2'500'000,     5'000'000,
      10'000'000,  25'000'000,  50'000'000,    100'000'000,   250'000'000,   500'000'000,
      1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};
  std::array<std::atomic<uint64_t>, kBoundsNs.size() + 1> buckets{};
  std::atomic<uint64_t> sumNs{0};

  void observe(uint64_t ns) {
    // Bucket i holds bounds[i-1] < ns <= bounds[i] (Prometheus "le").
    const auto at = std::lower_bound(kBoundsNs.begin(), kBoundsNs.end(), ns) - kBoundsNs.begin();
    statAdd(buckets[static_cast<std::size_t>(at)]);
    statAdd(sumNs, ns);
  }
};

// Connect results of one endpoint of a cluster (upstream_endpoint_connects_total).
struct EndpointStats {
  std::atomic<uint64_t> ok{0};
  std::atomic<uint64_t> errors{0};   // refused, unreachable, no socket, TLS failed
  std::atomic<uint64_t> timeouts{0}; // connect_timeout passed
};

// One cluster's upstream connections made by one listener on one worker (HTTP listeners:
// HttpStats::upstream; L4 listeners: ListenerStats::upstream).
struct UpstreamStats {
  // endpoints: the cluster's endpoint count (endpoint[] is indexed like cluster.endpoints).
  explicit UpstreamStats(std::size_t endpoints)
      : endpointCount(endpoints), endpoint(std::make_unique<EndpointStats[]>(endpoints)) {}

  // A finished connect attempt to endpoint e: 0, -ETIMEDOUT, or another -errno.
  void connectResult(std::size_t e, int err) {
    if (e >= endpointCount)
      return;
    EndpointStats& s = endpoint[e];
    statAdd(err == 0 ? s.ok : err == -ETIMEDOUT ? s.timeouts : s.errors);
  }
  // A failed attempt to endpoint e (err: -ETIMEDOUT or another -errno): the cluster's
  // connect_errors_total by reason and the endpoint's result, together.
  void connectFailed(std::size_t e, int err) {
    statAdd(err == -ETIMEDOUT ? connectTimeouts : connectErrors);
    connectResult(e, err);
  }

  const std::size_t endpointCount;
  std::unique_ptr<EndpointStats[]> endpoint;
  std::atomic<uint64_t> connects{0};        // connections started
  std::atomic<uint64_t> connectErrors{0};   // refused, unreachable, no socket, TLS failed
  std::atomic<uint64_t> connectTimeouts{0};
  std::atomic<uint64_t> active{0};          // gauge: open or connecting
  std::atomic<uint64_t> reuses{0};          // requests given a kept-alive connection
  DurationHistogram connectDuration;        // successful connects (TLS: with the handshake)
  DurationHistogram responseDuration;       // request head queued -> first response byte
};

// The HTTP request counters of one http listener on one worker. Every label tuple is known at
// configuration time, so the arrays are sized once and indexed; nothing is allocated per
// request.
struct HttpStats {
  // Methods as http_requests_total's method label folds them; the index is the array's.
  static constexpr std::size_t kMethods = 10;
  static constexpr std::array<const char*, kMethods> kMethodNames = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "OTHER"};
  static constexpr std::size_t kClasses = 5;  // 1xx .. 5xx
  static constexpr std::array<const char*, kClasses> kClassNames = {"1xx", "2xx", "3xx", "4xx",
                                                                    "5xx"};

  // Why a request got an error answer (or a truncated one): http_request_errors_total's
  // reason label, in this order.
  enum class Error : uint8_t {
    BadRequest,          // 400: the request did not parse
    HeaderTimeout,       // 408: request_header_timeout passed mid-head
    BodyTooLarge,        // 413
    UriTooLong,          // 414
    HeadTooLarge,        // 431: too many or too large header fields (client, or after rewrite)
    NoRoute,             // 404: no route matched
    ExpectationFailed,   // 417: an Expect other than 100-continue
    NotImplemented,      // 501: CONNECT, a transfer coding we do not know
    VersionNotSupported, // 505
    NoUpstreamSocket,    // 503: no socket for the upstream connection (EMFILE, ...)
    ConnectFailed,       // 502: every endpoint refused or was unreachable (TLS failed)
    ConnectTimeout,      // 504: the last endpoint's connect timed out
    UpstreamClosed,      // 502: the upstream closed before (all of) the response head
    UpstreamReset,       // 502
    UpstreamWriteFailed, // 502: sending the request failed
    UpstreamInvalid,     // 502: the response did not parse, or an unasked-for 101
    UpstreamTimeout,     // 504: the route's timeout passed
    IdleTimeout,         // 504: the idle timeout passed waiting for the response
    ResponseAborted,     // none: the response head was out, then the exchange broke
    Count
  };
  static constexpr std::size_t kErrors = static_cast<std::size_t>(Error::Count);
  static constexpr std::array<const char*, kErrors> kErrorNames = {
      "bad_request",        "header_timeout",        "body_too_large",
      "uri_too_long",       "head_too_large",        "no_route",
      "expectation_failed", "not_implemented",       "version_not_supported",
      "no_upstream_socket", "connect_failed",        "connect_timeout",
      "upstream_closed",    "upstream_reset",        "upstream_write_failed",
      "upstream_invalid_response", "upstream_timeout", "idle_timeout",
      "response_aborted"};

  // routes: the listener's route count; slot `routes` counts requests answered before one
  // was chosen (route="" cluster=""). clusters: the configuration's cluster count.
  HttpStats(std::size_t routes, std::size_t clusters)
      : routeSlots(routes + 1),
        requests(std::make_unique<std::atomic<uint64_t>[]>(routeSlots * kMethods * kClasses)),
        durations(std::make_unique<DurationHistogram[]>(routeSlots)), upstream(clusters) {}

  std::atomic<uint64_t>& request(std::size_t slot, std::size_t method, std::size_t cls) {
    return requests[(slot * kMethods + method) * kClasses + cls];
  }
  const std::atomic<uint64_t>& request(std::size_t slot, std::size_t method,
                                       std::size_t cls) const {
    return requests[(slot * kMethods + method) * kClasses + cls];
  }

  const std::size_t routeSlots;
  std::unique_ptr<std::atomic<uint64_t>[]> requests;  // [slot][method][class]
  std::unique_ptr<DurationHistogram[]> durations;     // [slot]
  std::array<std::atomic<uint64_t>, kErrors> errors{};
  // By cluster index; null for clusters no route of this listener names.
  std::vector<std::unique_ptr<UpstreamStats>> upstream;
};

struct ListenerStats {
  std::atomic<uint64_t> accepted{0};
  std::atomic<uint64_t> active{0};          // gauge
  std::atomic<uint64_t> bytesIn{0};         // from clients
  std::atomic<uint64_t> bytesOut{0};        // to clients
  std::atomic<uint64_t> acceptErrors{0};
  std::atomic<uint64_t> connectErrors{0};   // upstream refused, unreachable, ...
  std::atomic<uint64_t> connectTimeouts{0};
  std::atomic<uint64_t> idleTimeouts{0};
  std::atomic<uint64_t> resets{0};          // RSTs seen on either side
  std::atomic<uint64_t> upstreamActive{0};  // gauge
  // L4 listeners (tcp, tls_passthrough): their upstream counters per cluster, by cluster index;
  // null for clusters no route names. Made before the worker serves. HTTP listeners keep
  // theirs in http->upstream.
  std::vector<std::unique_ptr<UpstreamStats>> upstream;
  TlsStats tls;                             // listeners or clusters with tls only
  // protocol: http only; owned by the HttpListener, set before the worker serves.
  HttpStats* http = nullptr;
};

}  // namespace ringway::net
