#include "config/schema.h"

#include <unistd.h>

#include <algorithm>
#include <array>

// One Key table per YAML mapping. To add a key: add the field to config.h and one entry to the
// table of the mapping it belongs to; the unknown-key check and did-you-mean pick it up from there.
// Checks that need a whole entry (checkIo, checkListener) run right after its mapping is read;
// checks across entries live in validate.cc.

namespace ringway::config {
namespace {

using YAML::Node;

constexpr int64_t MaxWorkers = 1024;

template <class E, std::size_t N>
std::optional<E> readEnum(Reader& r, const Node& node, const std::string& path,
                          const E (&values)[N]) {
  std::array<std::string_view, N> names;
  for (std::size_t i = 0; i < N; ++i)
    names[i] = toString(values[i]);
  if (std::optional<std::size_t> i = readChoice(r, node, path, names))
    return values[*i];
  return std::nullopt;
}

bool isPowerOfTwo(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }

std::optional<uint32_t> readPowerOfTwo(Reader& r, const Node& node, const std::string& path,
                                       int64_t min, int64_t max) {
  const std::optional<int64_t> v = readInt(r, node, path, min, max);
  if (!v)
    return std::nullopt;
  if (!isPowerOfTwo(*v)) {
    r.problem(node, path, fieldName(path) + " must be a power of two (got " + node.Scalar() + ")");
    return std::nullopt;
  }
  return static_cast<uint32_t>(*v);
}

} // namespace

std::optional<std::string> readName(Reader& r, const Node& node, const std::string& path) {
  std::optional<std::string> name = readString(r, node, path);
  if (!name)
    return std::nullopt;
  if (name->empty()) {
    r.problem(node, path, "name must not be empty");
    return std::nullopt;
  }
  // Names end up in metric labels and log lines, so keep them to a safe alphabet.
  const bool ok = std::all_of(name->begin(), name->end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
  if (!ok) {
    r.problem(node, path, "invalid name '" + *name + "': use only A-Z a-z 0-9 _ . -");
    return std::nullopt;
  }
  return name;
}

namespace {

unsigned onlineCpus() {
  const long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1u : static_cast<unsigned>(std::min<long>(n, MaxWorkers));
}

// Port 0 is accepted for listeners and admin only: tests bind port 0 and read the real port back
// with getsockname. An upstream endpoint on port 0 can never be connected to.
constexpr bool AllowPortZero = true;

// ---- io ----

constexpr Backend Backends[] = {Backend::Auto, Backend::IoUring, Backend::Epoll,
                                 Backend::Threads};

constexpr Key<IoConfig> IoKeys[] = {
    {"backend", Optional,
     [](Reader& r, const Node& n, const std::string& p, IoConfig& io) {
       if (auto v = readEnum(r, n, p, Backends))
         io.backend = *v;
     }},
    {"buffer_size", Optional,
     [](Reader& r, const Node& n, const std::string& p, IoConfig& io) {
       if (auto v = readSize(r, n, p, 1024, 1024 * 1024))
         io.buffer_size = *v;
     }},
    {"buffers_per_worker", Optional,
     [](Reader& r, const Node& n, const std::string& p, IoConfig& io) {
       if (auto v = readPowerOfTwo(r, n, p, 8, 32768))
         io.buffers_per_worker = *v;
     }},
    {"zerocopy_threshold", Optional,
     [](Reader& r, const Node& n, const std::string& p, IoConfig& io) {
       if (isOff(n)) {
         io.zerocopy_threshold.reset();
         return;
       }
       if (!n.IsScalar()) {
         r.problem(n, p, "expected 'off' or a size such as 64KiB, got " + describe(n));
         return;
       }
       if (auto v = readSize(r, n, p, 0, SIZE_MAX))
         io.zerocopy_threshold = *v;
     }},
    {"splice", Optional,
     [](Reader& r, const Node& n, const std::string& p, IoConfig& io) {
       if (auto v = readBool(r, n, p))
         io.splice = *v;
     }},
    {"ring_entries", Optional,
     [](Reader& r, const Node& n, const std::string& p, IoConfig& io) {
       if (auto v = readPowerOfTwo(r, n, p, 64, 32768))
         io.ring_entries = *v;
     }},
    {"max_inflight_per_connection", Optional,
     [](Reader& r, const Node& n, const std::string& p, IoConfig& io) {
       if (auto v = readSize(r, n, p, 1, SIZE_MAX))
         io.max_inflight_per_connection = *v;
     }},
};

void checkIo(Reader& r, const std::string& path, const IoConfig& io) {
  // A connection must be able to queue at least one full buffer or it could never send.
  if (io.max_inflight_per_connection < io.buffer_size) {
    const std::string inflight = join(path, "max_inflight_per_connection");
    r.problemAt(r.has(inflight) ? inflight : join(path, "buffer_size"),
                "max_inflight_per_connection (" + formatSize(io.max_inflight_per_connection) +
                    ") must be at least buffer_size (" + formatSize(io.buffer_size) + ")");
  }
}

// ---- defaults ----

constexpr Key<Defaults> DefaultsKeys[] = {
    {"connect_timeout", Optional,
     [](Reader& r, const Node& n, const std::string& p, Defaults& d) {
       if (auto v = readDuration(r, n, p, Duration(1)))
         d.connect_timeout = *v;
     }},
    {"idle_timeout", Optional,
     [](Reader& r, const Node& n, const std::string& p, Defaults& d) {
       if (auto v = readDuration(r, n, p, Duration(1)))
         d.idle_timeout = *v;
     }},
    // 0 is allowed: close connections at once on shutdown.
    {"drain_timeout", Optional,
     [](Reader& r, const Node& n, const std::string& p, Defaults& d) {
       if (auto v = readDuration(r, n, p, Duration(0)))
         d.drain_timeout = *v;
     }},
};

// ---- admin ----

constexpr Key<Admin> AdminKeys[] = {
    {"address", Required,
     [](Reader& r, const Node& n, const std::string& p, Admin& a) {
       if (isOff(n))
         a.address.reset();
       else if (auto v = readAddress(r, n, p, AllowPortZero))
         a.address = std::move(*v);
     }},
};

// ---- listeners ----

constexpr Protocol Protocols[] = {Protocol::Tcp, Protocol::Http, Protocol::TlsPassthrough};

constexpr Key<Listener> ListenerKeys[] = {
    {"name", Required,
     [](Reader& r, const Node& n, const std::string& p, Listener& l) {
       if (auto v = readName(r, n, p))
         l.name = std::move(*v);
     }},
    {"address", Required,
     [](Reader& r, const Node& n, const std::string& p, Listener& l) {
       if (auto v = readAddress(r, n, p, AllowPortZero))
         l.address = std::move(*v);
     }},
    {"protocol", Optional,
     [](Reader& r, const Node& n, const std::string& p, Listener& l) {
       const std::optional<Protocol> v = readEnum(r, n, p, Protocols);
       if (!v)
         return;
       if (!protocolImplemented(*v)) {
         r.problem(n, p,
                   "protocol '" + std::string(toString(*v)) +
                       "' is not implemented in this build yet");
         return;
       }
       l.protocol = *v;
     }},
    {"routes", Required,
     [](Reader& r, const Node& n, const std::string& p, Listener& l) {
       readSequence(r, n, p, "a listener needs at least one route",
                    [&](const Node& item, const std::string& itemPath) {
                      Route route;
                      readRoute(r, item, itemPath, route);
                      l.routes.push_back(std::move(route));
                    });
     }},
    {"idle_timeout", Optional,
     [](Reader& r, const Node& n, const std::string& p, Listener& l) {
       if (auto v = readDuration(r, n, p, Duration(1)))
         l.idle_timeout = *v;
     }},
    {"backlog", Optional,
     [](Reader& r, const Node& n, const std::string& p, Listener& l) {
       if (auto v = readInt(r, n, p, 1, 65535))
         l.backlog = static_cast<int>(*v);
     }},
    // protocol: http only (checkRoutes rejects them elsewhere).
    {"request_header_timeout", Optional, readHttpListenerKey},
    {"max_body_size", Optional, readHttpListenerKey},
    {"max_header_size", Optional, readHttpListenerKey},
    {"max_headers", Optional, readHttpListenerKey},
    {"x_forwarded", Optional, readHttpListenerKey},
    {"access_log", Optional, readAccessLog},
    {"tls", Optional, readListenerTls},
    {"client_hello_timeout", Optional,
     [](Reader& r, const Node& n, const std::string& p, Listener& l) {
       if (auto v = readDuration(r, n, p, Duration(1)))
         l.client_hello_timeout = *v;
     }},
};

void checkListener(Reader& r, const std::string& path, const Listener& l) {
  // Plain tcp proxying forwards to the first route only; a second one would be silently
  // ignored. With tls the SNI picks among them.
  if (l.protocol == Protocol::Tcp && !l.tls && l.routes.size() > 1)
    r.problemAt(indexed(join(path, "routes"), 1),
                "tcp listeners take one route (got " + std::to_string(l.routes.size()) + ")");
  checkRoutes(r, path, l);
  checkListenerTls(r, path, l);
}

// ---- clusters ----

constexpr Key<Endpoint> EndpointKeys[] = {
    {"address", Required,
     [](Reader& r, const Node& n, const std::string& p, Endpoint& e) {
       if (auto v = readAddress(r, n, p, !AllowPortZero))
         e.address = std::move(*v);
     }},
    {"weight", Optional,
     [](Reader& r, const Node& n, const std::string& p, Endpoint& e) {
       if (auto v = readInt(r, n, p, 1, 1000))
         e.weight = static_cast<uint32_t>(*v);
     }},
};

constexpr LbPolicy LbPolicies[] = {LbPolicy::RoundRobin, LbPolicy::Random};

constexpr Key<Cluster> ClusterKeys[] = {
    {"name", Required,
     [](Reader& r, const Node& n, const std::string& p, Cluster& c) {
       if (auto v = readName(r, n, p))
         c.name = std::move(*v);
     }},
    {"endpoints", Required,
     [](Reader& r, const Node& n, const std::string& p, Cluster& c) {
       readSequence(r, n, p, "a cluster needs at least one endpoint",
                    [&](const Node& item, const std::string& itemPath) {
                      Endpoint e;
                      readMapping(r, item, itemPath, e, EndpointKeys);
                      c.endpoints.push_back(std::move(e));
                    });
     }},
    {"lb", Optional,
     [](Reader& r, const Node& n, const std::string& p, Cluster& c) {
       if (auto v = readEnum(r, n, p, LbPolicies))
         c.lb = *v;
     }},
    {"connect_timeout", Optional,
     [](Reader& r, const Node& n, const std::string& p, Cluster& c) {
       if (auto v = readDuration(r, n, p, Duration(1)))
         c.connect_timeout = *v;
     }},
    {"keepalive", Optional,
     [](Reader& r, const Node& n, const std::string& p, Cluster& c) {
       readKeepalive(r, n, p, c.keepalive);
     }},
    {"tls", Optional, readClusterTls},
};

// ---- top level ----

constexpr LogLevel LogLevels[] = {LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error};

// `defaults` comes before `listeners` and `clusters`: they start from its values.
constexpr Key<Config> ConfigKeys[] = {
    {"workers", Optional,
     [](Reader& r, const Node& n, const std::string& p, Config& c) {
       if (n.IsScalar() && n.Scalar() == "auto") {
         c.workers_auto = true;
         return;
       }
       if (auto v = readInt(r, n, p, 1, MaxWorkers, "a positive integer or 'auto'")) {
         c.workers = static_cast<unsigned>(*v);
         c.workers_auto = false;
       }
     }},
    {"cpu_affinity", Optional,
     [](Reader& r, const Node& n, const std::string& p, Config& c) {
       if (auto v = readBool(r, n, p))
         c.cpu_affinity = *v;
     }},
    {"log_level", Optional,
     [](Reader& r, const Node& n, const std::string& p, Config& c) {
       if (auto v = readEnum(r, n, p, LogLevels))
         c.log_level = *v;
     }},
    {"admin", Optional,
     [](Reader& r, const Node& n, const std::string& p, Config& c) {
       if (isOff(n))
         c.admin.address.reset();
       else
         readMapping(r, n, p, c.admin, AdminKeys, "a mapping or 'off'");
     }},
    {"io", Optional,
     [](Reader& r, const Node& n, const std::string& p, Config& c) {
       if (readMapping(r, n, p, c.io, IoKeys))
         checkIo(r, p, c.io);
     }},
    {"defaults", Optional,
     [](Reader& r, const Node& n, const std::string& p, Config& c) {
       readMapping(r, n, p, c.defaults, DefaultsKeys);
     }},
    {"listeners", Required,
     [](Reader& r, const Node& n, const std::string& p, Config& c) {
       readSequence(r, n, p, "at least one listener is required",
                    [&](const Node& item, const std::string& itemPath) {
                      Listener l;
                      l.idle_timeout = c.defaults.idle_timeout;
                      if (readMapping(r, item, itemPath, l, ListenerKeys))
                        checkListener(r, itemPath, l);
                      c.listeners.push_back(std::move(l));
                    });
     }},
    // Optional: a listener whose routes only answer themselves (direct_response, redirect)
    // needs no cluster; a route naming one that is not defined is still an error.
    {"clusters", Optional,
     [](Reader& r, const Node& n, const std::string& p, Config& c) {
       readSequence(r, n, p, "the list is empty; leave the key out when no route uses a cluster",
                    [&](const Node& item, const std::string& itemPath) {
                      Cluster cluster;
                      cluster.connect_timeout = c.defaults.connect_timeout;
                      readMapping(r, item, itemPath, cluster, ClusterKeys);
                      c.clusters.push_back(std::move(cluster));
                    });
     }},
};

} // namespace

void readConfig(Reader& r, const YAML::Node& root, Config& cfg) {
  r.note("", root.Mark());
  readMapping(r, root, "", cfg, ConfigKeys, "a mapping at the top level");
  if (cfg.workers_auto)
    cfg.workers = onlineCpus();
}

} // namespace ringway::config
