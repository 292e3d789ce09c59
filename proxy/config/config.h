// Immutable configuration: what ringway.yaml says after validation.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringway::tls {
class TicketKeys;
}

namespace ringway::config {

using Duration = std::chrono::milliseconds;

// A parsed "host:port" or "[v6]:port" with a numeric host.
struct Address {
  std::string text;  // as written, e.g. "0.0.0.0:15432"
  sockaddr_storage storage{};
  socklen_t length = 0;
  const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
  uint16_t port() const;
};

enum class Protocol { Tcp, Http, TlsPassthrough };
enum class LbPolicy { RoundRobin, Random };
enum class LogLevel { Debug, Info, Warn, Error };
// auto: io_uring when the probe says it works, else epoll (one log line says why).
// threads: one blocking thread per connection (core::ThreadsServer), for comparison.
enum class Backend { Auto, IoUring, Epoll, Threads };

// The spelling used in ringway.yaml, also for logs and the admin endpoint.
constexpr std::string_view toString(Protocol p) {
  switch (p) {
  case Protocol::Tcp:
    return "tcp";
  case Protocol::Http:
    return "http";
  case Protocol::TlsPassthrough:
    return "tls_passthrough";
  }
  return "?";
}
constexpr std::string_view toString(LbPolicy p) {
  switch (p) {
  case LbPolicy::RoundRobin:
    return "round_robin";
  case LbPolicy::Random:
    return "random";
  }
  return "?";
}
constexpr std::string_view toString(LogLevel l) {
  switch (l) {
  case LogLevel::Debug:
    return "debug";
  case LogLevel::Info:
    return "info";
  case LogLevel::Warn:
    return "warn";
  case LogLevel::Error:
    return "error";
  }
  return "?";
}

constexpr std::string_view toString(Backend b) {
  switch (b) {
  case Backend::Auto:
    return "auto";
  case Backend::IoUring:
    return "io_uring";
  case Backend::Epoll:
    return "epoll";
  case Backend::Threads:
    return "threads";
  }
  return "?";
}

struct IoConfig {
  Backend backend = Backend::Auto;
  std::size_t buffer_size = 16 * 1024;          // bytes per provided buffer
  uint32_t buffers_per_worker = 256;            // power of two; 4 MiB = L2 here (README)
  std::optional<std::size_t> zerocopy_threshold;  // nullopt = off
  uint32_t ring_entries = 1024;                 // SQ entries (CQ is 4x)
  std::size_t max_inflight_per_connection = 256 * 1024;  // bytes queued per direction
  bool splice = true; // plain L4 relays move bytes with splice(2)
};

struct Defaults {
  Duration connect_timeout{1000};
  Duration idle_timeout{60000};
  Duration drain_timeout{30000};
};

inline constexpr const char* kDefaultAdminAddress = "127.0.0.1:9901";

struct Admin {
  std::optional<Address> address;  // nullopt = admin listener off (`admin: off`)
};

// ---- HTTP routing (protocol: http) ----

struct HeaderMatch {
  enum class Kind { Exact, Present, Regex };
  std::string name;
  Kind kind = Kind::Exact;
  std::string value;  // Exact: the whole value (case-sensitive); Regex: RE2, full match
};

// Every set condition must hold; an empty match matches every request.
struct RouteMatch {
  std::string host;         // "api.example.com" or "*.example.com"; lower-cased, no port
  std::string path;         // exact path (the target before '?')
  std::string path_prefix;
  std::string path_regex;   // RE2, full match against the path
  std::vector<std::string> methods;  // case-sensitive method names; empty = any
  std::vector<HeaderMatch> headers;
  // TLS-terminating tcp and tls_passthrough listeners only: the client's SNI, exact
  // ("api.example.com") or a wildcard ("*.example.com"); lower-cased, no trailing dot.
  std::string sni;
};

struct HeaderValue {
  std::string name;
  std::string value;
};

struct DirectResponse {
  uint16_t status = 200;
  std::string body;
  std::string content_type = "text/plain; charset=utf-8";
};

struct Redirect {
  std::string location;
  uint16_t status = 302;
};

// What a route does: proxy to `cluster`, or answer itself (direct_response / redirect).
struct Route {
  std::string name;               // optional; logs say "#<index>" without one
  std::string cluster;            // empty for direct_response / redirect
  std::size_t cluster_index = 0;  // index into Config::clusters, resolved by the loader
  RouteMatch match;
  std::optional<DirectResponse> direct_response;
  std::optional<Redirect> redirect;
  Duration timeout{0};            // whole response; 0 = none (idle_timeout still applies)
  std::string host_rewrite;
  std::string prefix_rewrite;
  std::vector<HeaderValue> request_headers_to_add;
  std::vector<std::string> request_headers_to_remove;
  std::vector<HeaderValue> response_headers_to_add;
  std::vector<std::string> response_headers_to_remove;
  std::optional<uint64_t> max_body_size;  // request body; unset: the listener's
};

// X-Forwarded-For/-Proto/-Host: append to (For) or keep (Proto, Host) what the client sent,
// replace it with ours, or leave the fields alone.
enum class XForwarded { Append, Replace, Off };

constexpr std::string_view toString(XForwarded x) {
  switch (x) {
  case XForwarded::Append:
    return "append";
  case XForwarded::Replace:
    return "replace";
  case XForwarded::Off:
    return "off";
  }
  return "?";
}

struct HttpOptions {
  Duration request_header_timeout{10000};  // whole request head; 408 when it runs out
  uint64_t max_body_size = UINT64_MAX;      // request body, unless a route says otherwise
  std::size_t max_header_size = 16 * 1024; // request head; 431 (414 for the request line)
  uint32_t max_headers = 100;               // 431
  XForwarded x_forwarded = XForwarded::Append;
};

// ---- TLS (listeners terminating TLS, clusters reached over TLS) ----

struct TlsCertificate {
  std::string cert;  // PEM, leaf then intermediates; resolved against the config file's dir
  std::string key;   // PEM, unencrypted
  std::vector<std::string> server_names;  // none: the default certificate
};

struct ListenerTls {
  std::vector<TlsCertificate> certificates;
  std::string min_version = "1.2";  // "1.2" | "1.3"; the maximum is 1.3
  std::vector<std::string> alpn;    // server preference order
  bool session_tickets = true;
  Duration ticket_rotation{3600000};   // ticket keys rotate this often
  Duration handshake_timeout{10000};   // accept to handshake done
  std::string client_ca;            // set: require client certificates issued by these CAs
  // One per listener, shared by every worker's context so a ticket from one worker resumes on
  // another; made by the loader (null when session_tickets is off).
  std::shared_ptr<tls::TicketKeys> ticket_keys;
};

struct ClusterTls {
  std::string server_name;  // SNI and the name checked; empty: the endpoint's IP is checked
  std::string ca;           // PEM bundle; empty: the system store
  bool verify = true;
  std::string cert;         // client certificate for mTLS (with key)
  std::string key;
  std::vector<std::string> alpn;
  std::string min_version = "1.2";
};

// access_log: one line per completed request (net/access_log.h). combined: the Apache/nginx
// combined format; json: one object per line.
enum class AccessLogFormat { Combined, Json };

constexpr std::string_view toString(AccessLogFormat f) {
  switch (f) {
  case AccessLogFormat::Combined:
    return "combined";
  case AccessLogFormat::Json:
    return "json";
  }
  return "?";
}

struct AccessLog {
  std::string path;  // resolved against the config file's directory
  AccessLogFormat format = AccessLogFormat::Combined;
};

struct Listener {
  std::string name;
  Address address;
  Protocol protocol = Protocol::Tcp;
  std::vector<Route> routes;
  Duration idle_timeout{60000};  // from defaults unless set on the listener
  int backlog = 4096;
  HttpOptions http;              // protocol: http only
  std::optional<ListenerTls> tls;  // protocol tcp or http: terminate TLS
  Duration client_hello_timeout{10000};  // tls_passthrough: accept to a whole ClientHello
  std::optional<AccessLog> access_log;   // protocol: http only; off unless set
};

struct Endpoint {
  Address address;
  uint32_t weight = 1;
};

// Idle upstream connections an HTTP listener keeps per worker for this cluster.
struct Keepalive {
  uint32_t max_idle = 64;        // 0 = no reuse
  Duration idle_timeout{30000};  // an idle connection is closed after this
};

struct Cluster {
  std::string name;
  std::vector<Endpoint> endpoints;
  LbPolicy lb = LbPolicy::RoundRobin;
  Duration connect_timeout{1000};  // from defaults unless set on the cluster
  Keepalive keepalive;
  std::optional<ClusterTls> tls;  // connect to the endpoints over TLS
};

struct Config {
  std::string file;           // where it was loaded from
  unsigned workers = 0;       // resolved: "auto" becomes the online CPU count
  bool workers_auto = true;
  bool cpu_affinity = false;
  LogLevel log_level = LogLevel::Info;
  Admin admin;
  IoConfig io;
  Defaults defaults;
  std::vector<Listener> listeners;
  std::vector<Cluster> clusters;
  // Not errors, but worth a look (e.g. a route an earlier one shadows); `--check` prints them.
  std::vector<std::string> warnings;
};

}  // namespace ringway::config
