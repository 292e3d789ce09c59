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
enum class Backend { Auto, IoUring, Epoll };

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
  }
  return "?";
}

struct IoConfig {
  Backend backend = Backend::Auto;
  std::size_t buffer_size = 16 * 1024;          // bytes per provided buffer
  uint32_t buffers_per_worker = 512;            // power of two
  std::optional<std::size_t> zerocopy_threshold;  // nullopt = off
  uint32_t ring_entries = 1024;                 // SQ entries (CQ is 4x)
  std::size_t max_inflight_per_connection = 256 * 1024;  // bytes queued per direction
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

struct Route {
  std::string cluster;
  std::size_t cluster_index = 0;  // index into Config::clusters, resolved by the loader
};

struct Listener {
  std::string name;
  Address address;
  Protocol protocol = Protocol::Tcp;
  std::vector<Route> routes;
  Duration idle_timeout{60000};  // from defaults unless set on the listener
  int backlog = 4096;
};

struct Endpoint {
  Address address;
  uint32_t weight = 1;
};

struct Cluster {
  std::string name;
  std::vector<Endpoint> endpoints;
  LbPolicy lb = LbPolicy::RoundRobin;
  Duration connect_timeout{1000};  // from defaults unless set on the cluster
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
};

}  // namespace ringway::config
