// TLS families: listeners that terminate TLS (`tls:` block), tls_passthrough listeners, and
// listeners whose clusters are reached over TLS. Only those listeners get series, so a build
// without TLS listeners shows no TLS family at all.
#include <algorithm>
#include <map>
#include <string>

#include "core/metrics_internal.h"
#include "core/server.h"
#include "metrics/family.h"
#include "net/listener_stats.h"

namespace ringway::core {

namespace {

using metrics::addCounter;

// Sums one ReasonCounts table over workers, by reason text.
void addReasons(std::map<std::string, double>& sum, const net::ReasonCounts& rc) {
  for (std::size_t i = 0; i < net::ReasonCounts::Slots; ++i) {
    const char* name = rc.name(i);
    if (name == nullptr)
      break;
    sum[name] += static_cast<double>(rc.count(i));
  }
}

bool upstreamTls(const config::Config& cfg, const config::Listener& l) {
  for (const config::Route& r : l.routes)
    if (!r.cluster.empty() && r.cluster_index < cfg.clusters.size() &&
        cfg.clusters[r.cluster_index].tls)
      return true;
  return false;
}

} // namespace

void tlsFamilies(const Server& server, std::vector<prometheus::MetricFamily>& out) {
  const config::Config& cfg = server.config();
  auto handshakes = metrics::counterFamily(
      "ringway_tls_handshakes_total",
      "TLS handshakes completed with clients; resumed=true: an earlier session was resumed.");
  auto failures = metrics::counterFamily(
      "ringway_tls_handshake_failures_total",
      "Failed client TLS handshakes, by reason (the TLS library's reason text, or 'handshake "
      "timeout').");
  auto alerts = metrics::counterFamily("ringway_tls_alerts_received_total",
                                       "Fatal TLS alerts clients sent during the handshake.");
  auto notTls = metrics::counterFamily(
      "ringway_tls_not_tls_total", "Connections that sent something other than a TLS ClientHello.");
  auto noRoute = metrics::counterFamily(
      "ringway_tls_no_route_total",
      "Connections closed because no route matched the client's SNI (and none is the default).");
  auto helloErrors = metrics::counterFamily(
      "ringway_tls_passthrough_client_hello_errors_total",
      "tls_passthrough connections closed while reading the ClientHello: reason=timeout "
      "(client_hello_timeout) or too_large.");
  auto upHandshakes = metrics::counterFamily(
      "ringway_upstream_tls_handshakes_total",
      "TLS handshakes completed with upstream endpoints; resumed=true: session resumed.");
  auto upFailures = metrics::counterFamily(
      "ringway_upstream_tls_handshake_failures_total",
      "Failed upstream TLS handshakes, by reason (e.g. certificate verify failed).");

  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::Listener& lc = cfg.listeners[i];
    const bool terminates = lc.tls.has_value();
    const bool passthrough = lc.protocol == config::Protocol::TlsPassthrough;
    const bool upstream = upstreamTls(cfg, lc);
    if (!terminates && !passthrough && !upstream)
      continue;
    double hs = 0, resumed = 0, nt = 0, nr = 0, helloTimeout = 0, helloLarge = 0, upHs = 0,
           upResumed = 0;
    std::map<std::string, double> failed, alerted, upFailed;
    for (const auto& w : server.workers()) {
      if (!readable(*w) || i >= w->listeners().size())
        continue;
      const net::TlsStats& t = w->listeners()[i]->stats().tls;
      // The worker bumps handshakes before resumed: reading resumed first keeps
      // handshakes - resumed from going below zero between the two loads.
      const double r = load(t.resumed);
      resumed += r;
      hs += std::max(load(t.handshakes), r);
      nt += load(t.notTls);
      nr += load(t.noRoute);
      helloTimeout += load(t.clientHelloTimeouts);
      helloLarge += load(t.clientHelloTooLarge);
      const double ur = load(t.upstreamResumed);
      upResumed += ur;
      upHs += std::max(load(t.upstreamHandshakes), ur);
      addReasons(failed, t.failures);
      addReasons(alerted, t.alerts);
      addReasons(upFailed, t.upstreamFailures);
    }
    const std::string& l = lc.name;
    if (terminates) {
      addCounter(handshakes, {{"listener", l}, {"resumed", "false"}}, hs - resumed);
      addCounter(handshakes, {{"listener", l}, {"resumed", "true"}}, resumed);
      for (const auto& [reason, n] : failed)
        addCounter(failures, {{"listener", l}, {"reason", reason}}, n);
      for (const auto& [alert, n] : alerted)
        addCounter(alerts, {{"alert", alert}, {"listener", l}}, n);
    }
    if (terminates || passthrough) {
      addCounter(notTls, {{"listener", l}}, nt);
      addCounter(noRoute, {{"listener", l}}, nr);
    }
    if (passthrough) {
      addCounter(helloErrors, {{"listener", l}, {"reason", "timeout"}}, helloTimeout);
      addCounter(helloErrors, {{"listener", l}, {"reason", "too_large"}}, helloLarge);
    }
    if (upstream) {
      const std::string cluster = listenerCluster(lc);
      addCounter(upHandshakes, {{"cluster", cluster}, {"listener", l}, {"resumed", "false"}},
                 upHs - upResumed);
      addCounter(upHandshakes, {{"cluster", cluster}, {"listener", l}, {"resumed", "true"}},
                 upResumed);
      for (const auto& [reason, n] : upFailed)
        addCounter(upFailures, {{"cluster", cluster}, {"listener", l}, {"reason", reason}}, n);
    }
  }
  for (auto* f : {&handshakes, &failures, &alerts, &notTls, &noRoute, &helloErrors, &upHandshakes,
                  &upFailures})
    out.push_back(std::move(*f));
}

} // namespace ringway::core
