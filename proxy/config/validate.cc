#include <arpa/inet.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "config/schema.h"

namespace ringway::config {

bool protocolImplemented(Protocol p) {
  switch (p) {
  case Protocol::Tcp:
    return true;
  case Protocol::Http:
    return true;
  case Protocol::TlsPassthrough: // net/tls_passthrough
    return true;
  }
  return false;
}

namespace {

// The host part, with IPv4-mapped IPv6 (::ffff:a.b.c.d) folded to IPv4: the kernel treats them
// as the same socket address.
struct Host {
  int family = AF_UNSPEC;
  unsigned char bytes[16]{};
  bool any = false; // 0.0.0.0 or ::
};

Host hostOf(const Address& a) {
  Host h;
  if (a.storage.ss_family == AF_INET) {
    const auto* sin = reinterpret_cast<const sockaddr_in*>(&a.storage);
    h.family = AF_INET;
    std::memcpy(h.bytes, &sin->sin_addr, 4);
    h.any = sin->sin_addr.s_addr == htonl(INADDR_ANY);
  } else if (a.storage.ss_family == AF_INET6) {
    const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&a.storage);
    if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
      h.family = AF_INET;
      std::memcpy(h.bytes, sin6->sin6_addr.s6_addr + 12, 4);
      h.any = std::memcmp(h.bytes, "\0\0\0\0", 4) == 0;
    } else {
      h.family = AF_INET6;
      std::memcpy(h.bytes, &sin6->sin6_addr, 16);
      h.any = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
    }
  }
  return h;
}

// Would binding both fail (or, with SO_REUSEPORT, silently share traffic)? 0.0.0.0:P takes P on
// every IPv4 address, and [::]:P on every address of both families (IPV6_V6ONLY is off by
// default). Port 0 never conflicts: the kernel picks a distinct free port for each.
bool conflicts(const Address& a, const Address& b) {
  if (a.length == 0 || b.length == 0 || a.port() == 0 || a.port() != b.port())
    return false;
  const Host x = hostOf(a);
  const Host y = hostOf(b);
  if ((x.any && x.family == AF_INET6) || (y.any && y.family == AF_INET6))
    return true;
  if (x.family != y.family)
    return false;
  return x.any || y.any || std::memcmp(x.bytes, y.bytes, sizeof x.bytes) == 0;
}

template <class T>
void checkUniqueNames(Reader& r, const std::vector<T>& items, const std::string& list,
                      std::string_view kind) {
  std::unordered_map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < items.size(); ++i) {
    if (items[i].name.empty()) // missing or invalid, already reported
      continue;
    const auto [it, fresh] = first.emplace(items[i].name, i);
    if (!fresh)
      r.problemAt(join(indexed(list, i), "name"),
                  "duplicate " + std::string(kind) + " name '" + items[i].name +
                      "' (first defined at line " +
                      std::to_string(r.lineOf(join(indexed(list, it->second), "name"))) + ")");
  }
}

void resolveRoutes(Reader& r, Config& cfg) {
  std::unordered_map<std::string, std::size_t> index;
  std::vector<std::string_view> names;
  for (std::size_t i = 0; i < cfg.clusters.size(); ++i) {
    if (cfg.clusters[i].name.empty())
      continue;
    index.emplace(cfg.clusters[i].name, i);
    names.push_back(cfg.clusters[i].name);
  }
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    std::vector<Route>& routes = cfg.listeners[i].routes;
    for (std::size_t j = 0; j < routes.size(); ++j) {
      if (routes[j].cluster.empty())
        continue;
      if (const auto it = index.find(routes[j].cluster); it != index.end()) {
        routes[j].cluster_index = it->second;
        continue;
      }
      r.problemAt(join(indexed(join(indexed("listeners", i), "routes"), j), "cluster"),
                  "unknown cluster '" + routes[j].cluster + "'" +
                      didYouMean(routes[j].cluster, names));
    }
  }
}

void checkAddresses(Reader& r, const Config& cfg) {
  const auto& ls = cfg.listeners;
  for (std::size_t i = 0; i < ls.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (conflicts(ls[i].address, ls[j].address)) {
        r.problemAt(join(indexed("listeners", i), "address"),
                    "address '" + ls[i].address.text + "' conflicts with listener '" + ls[j].name +
                        "' on '" + ls[j].address.text + "'");
        break; // one report per listener is enough
      }
    }
  }
  if (!cfg.admin.address)
    return;
  for (const Listener& l : ls) {
    if (conflicts(*cfg.admin.address, l.address)) {
      r.problemAt("admin.address", "admin address '" + cfg.admin.address->text +
                                       "' conflicts with listener '" + l.name + "' on '" +
                                       l.address.text + "'");
      break;
    }
  }
}

// Does every request `b` matches also match `a`? Conservative: false when unsure.
bool hostCovers(const std::string& a, const std::string& b) {
  if (a.empty())
    return true;
  if (b.empty())
    return false;
  if (a == b)
    return true;
  if (!a.starts_with("*."))
    return false;
  const std::string_view suffix = std::string_view(a).substr(1); // ".example.com"
  return b.size() > suffix.size() && std::string_view(b).ends_with(suffix);
}

bool pathCovers(const RouteMatch& a, const RouteMatch& b) {
  if (!a.path.empty())
    return b.path == a.path;
  if (!a.path_prefix.empty())
    return (!b.path.empty() && b.path.starts_with(a.path_prefix)) ||
           (!b.path_prefix.empty() && b.path_prefix.starts_with(a.path_prefix));
  if (!a.path_regex.empty())
    return b.path_regex == a.path_regex;
  return true;
}

bool covers(const RouteMatch& a, const RouteMatch& b) {
  if (!hostCovers(a.host, b.host) || !pathCovers(a, b))
    return false;
  if (!a.methods.empty()) {
    if (b.methods.empty())
      return false;
    for (const std::string& m : b.methods)
      if (std::find(a.methods.begin(), a.methods.end(), m) == a.methods.end())
        return false;
  }
  for (const HeaderMatch& h : a.headers) {
    const bool inB = std::any_of(b.headers.begin(), b.headers.end(), [&](const HeaderMatch& x) {
      return x.name == h.name && x.kind == h.kind && x.value == h.value;
    });
    if (!inB)
      return false;
  }
  return true;
}

} // namespace

void warnShadowedRoutes(Reader& r, Config& cfg) {
  for (std::size_t l = 0; l < cfg.listeners.size(); ++l) {
    const std::vector<Route>& routes = cfg.listeners[l].routes;
    if (cfg.listeners[l].protocol != Protocol::Http)
      continue;
    for (std::size_t j = 1; j < routes.size(); ++j) {
      for (std::size_t i = 0; i < j; ++i) {
        if (!covers(routes[i].match, routes[j].match))
          continue;
        const std::string base = join(indexed("listeners", l), "routes");
        r.warnAt(indexed(base, j), "route " + std::to_string(j) +
                                       " can never match: route " + std::to_string(i) +
                                       " (line " + std::to_string(r.lineOf(indexed(base, i))) +
                                       ") matches every request it would");
        break;
      }
    }
  }
}

void validateConfig(Reader& r, Config& cfg) {
  checkUniqueNames(r, cfg.listeners, "listeners", "listener");
  checkUniqueNames(r, cfg.clusters, "clusters", "cluster");
  resolveRoutes(r, cfg);
  checkAddresses(r, cfg);
  warnShadowedRoutes(r, cfg);
  loadTls(r, cfg);
  checkAccessLogs(r, cfg);
}

} // namespace ringway::config
