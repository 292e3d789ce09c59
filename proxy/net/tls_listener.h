// TLS on L4 listeners: SNI routing, TLS-terminated tcp listeners (handshake first, then the
// route the SNI picks), and the listener wrapper that ticks a worker's TLS deadlines.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "net/listener.h"

namespace ringway::net {

// Picks a route by SNI: the exact name, then the longest `*.` suffix ("*.example.com" takes
// a.example.com and a.b.example.com, not example.com), then the route without a match.
class SniRouter {
 public:
  explicit SniRouter(const config::Listener& l);
  // Index into l.routes; nullopt: nothing matches and there is no default.
  std::optional<std::size_t> route(std::optional<std::string_view> sni) const;

 private:
  std::unordered_map<std::string, std::size_t> exact_;
  std::vector<std::pair<std::string, std::size_t>> wildcards_;  // ".example.com", longest first
  std::optional<std::size_t> default_;
};

// "Example.COM." -> "example.com": how SNI and route names compare.
std::string normalizeSni(std::string_view sni);

// A tcp listener with `tls:`: TLS-terminated L4.
std::unique_ptr<Listener> makeTlsTcpListener(WorkerContext& ctx, const config::Listener& cfg,
                                             int listenFd);

// Builds this worker's TLS contexts for l (its own, its routes' clusters'); logs and returns
// false when one fails to load.
bool prepareTls(WorkerContext& ctx, const config::Listener& l);

// Wraps a listener that uses TLS (its own, or a cluster's) so the worker's handshake deadlines
// are checked on its ticks.
std::unique_ptr<Listener> withTlsTicks(WorkerContext& ctx, std::unique_ptr<Listener> l);

}  // namespace ringway::net
