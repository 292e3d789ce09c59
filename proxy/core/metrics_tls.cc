// TLS families: listeners that terminate TLS (`tls:` block), tls_passthrough listeners, and
// listeners whose clusters are reached over TLS. Only those listeners get series, so a build
// without TLS listeners shows no TLS family at all.
#include <algorithm>
#include <array>
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
      "Client TLS handshakes by protocol version and result (success, failure); a failure before "
      "a version was agreed has version=\"unknown\".");
  auto resumptions = metrics::counterFamily(
      "ringway_tls_resumptions_total",
      "Client TLS handshakes that resumed an earlier session (ticket or session cache).");
  auto duration = metrics::histogramFamily(
      "ringway_tls_handshake_duration_seconds",
      "Completed client TLS handshakes: from the first bytes of the ClientHello to handshake "
      "done.");
  auto expiry = metrics::gaugeFamily(
      "ringway_tls_certificate_expiry_timestamp_seconds",
      "notAfter of the listener's certificate for each configured server name, in unix seconds "
      "(server_name=\"\": a default certificate without names).");
  auto failures = metrics::counterFamily(
      "ringway_tls_handshake_failures_total",
      "Failed client TLS handshakes, by reason (the TLS library's reason text, or 'handshake "
      "timeout'); summed over reasons, equals ringway_tls_handshakes_total{result=\"failure\"}.");
  auto sessionErrors = metrics::counterFamily(
      "ringway_tls_session_errors_total",
      "Established client TLS sessions that failed (a bad record, a fatal alert), by reason.");
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
    double resumed = 0, nt = 0, nr = 0, helloTimeout = 0, helloLarge = 0, upHs = 0, upResumed = 0,
           durationNanos = 0;
    std::array<double, net::TlsVersions> succeeded{}, failedByVersion{};
    std::array<uint64_t, net::HandshakeBounds.size() + 1> buckets{};
    std::map<std::string, double> failed, alerted, upFailed, broken;
    const std::vector<net::CertificateExpiry>* certificates = nullptr;
    for (const auto& w : server.workers()) {
      if (!readable(*w) || i >= w->listeners().size())
        continue;
      const net::TlsStats& t = w->listeners()[i]->stats().tls;
      resumed += load(t.resumed);
      for (std::size_t v = 0; v < net::TlsVersions; ++v) {
        succeeded[v] += load(t.succeededByVersion[v]);
        failedByVersion[v] += load(t.failedByVersion[v]);
      }
      for (std::size_t b = 0; b < buckets.size(); ++b)
        buckets[b] += t.durationBuckets[b].load(std::memory_order_relaxed);
      durationNanos += load(t.durationNanos);
      if (certificates == nullptr) // the same on every worker: set once at start
        certificates = &t.certificates;
      nt += load(t.notTls);
      nr += load(t.noRoute);
      helloTimeout += load(t.clientHelloTimeouts);
      helloLarge += load(t.clientHelloTooLarge);
      const double ur = load(t.upstreamResumed);
      upResumed += ur;
      upHs += std::max(load(t.upstreamHandshakes), ur);
      addReasons(failed, t.failures);
      addReasons(broken, t.sessionErrors);
      addReasons(alerted, t.alerts);
      addReasons(upFailed, t.upstreamFailures);
    }
    const std::string& l = lc.name;
    if (terminates) {
      // Success series for the versions the listener can agree; failures for those and for
      // "unknown" (failed before a version was agreed).
      const std::size_t firstVersion = lc.tls->min_version == "1.3" ? 1 : 0;
      for (std::size_t v = firstVersion; v < net::TlsVersions; ++v) {
        const char* version = net::tlsVersionLabel(v);
        if (v != static_cast<std::size_t>(net::TlsVersion::Unknown))
          addCounter(handshakes, {{"listener", l}, {"result", "success"}, {"version", version}},
                     succeeded[v]);
        addCounter(handshakes, {{"listener", l}, {"result", "failure"}, {"version", version}},
                   failedByVersion[v]);
      }
      addCounter(resumptions, {{"listener", l}}, resumed);
      metrics::addHistogram(
          duration, {{"listener", l}},
          metrics::histogramFromBuckets(net::HandshakeBounds, buckets, durationNanos / 1e9));
      if (certificates != nullptr)
        for (const net::CertificateExpiry& c : *certificates)
          metrics::addGauge(expiry, {{"listener", l}, {"server_name", c.serverName}},
                            static_cast<double>(c.notAfter));
      for (const auto& [reason, n] : failed)
        addCounter(failures, {{"listener", l}, {"reason", reason}}, n);
      for (const auto& [reason, n] : broken)
        addCounter(sessionErrors, {{"listener", l}, {"reason", reason}}, n);
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
  for (auto* f : {&handshakes, &resumptions, &duration, &expiry, &failures, &sessionErrors, &alerts,
                  &notTls, &noRoute, &helloErrors, &upHandshakes, &upFailures})
    out.push_back(std::move(*f));
}

} // namespace ringway::core
