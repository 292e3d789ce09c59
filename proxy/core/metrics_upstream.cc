// Upstream families that every listener kind feeds: connect times per cluster and connect
// results per endpoint, and the per-cluster samples of L4 listeners. Workers keep the counters
// in net::UpstreamStats (HTTP listeners: HttpStats::upstream; tcp and tls_passthrough
// listeners: ListenerStats::upstream); this sums them over listeners and workers at scrape time.
#include <array>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/metrics_internal.h"
#include "core/server.h"
#include "metrics/family.h"
#include "net/listener_stats.h"

namespace ringway::core {

namespace {

using metrics::addCounter;
using metrics::addGauge;
using net::UpstreamStats;

// One listener's counters for cluster c on one worker; null if its routes do not name c.
const UpstreamStats* clusterStats(const net::ListenerStats& s, std::size_t c) {
  const auto& v = s.http != nullptr ? s.http->upstream : s.upstream;
  return c < v.size() ? v[c].get() : nullptr;
}

// Calls f(stats) for every listener's counters of cluster c, on every worker that can be read.
template <class F> void forEachStats(const Server& server, std::size_t c, F&& f) {
  for (const auto& w : server.workers()) {
    if (!readable(*w))
      continue;
    const auto& ls = w->listeners();
    for (std::size_t i = 0; i < ls.size(); ++i)
      if (const UpstreamStats* u = clusterStats(ls[i]->stats(), c))
        f(*u);
  }
}

// Clusters some listener's routes name, by index, in configuration order.
std::vector<std::size_t> routedClusters(const config::Config& cfg) {
  std::vector<bool> named(cfg.clusters.size(), false);
  for (const config::Listener& l : cfg.listeners)
    for (const config::Route& r : l.routes)
      if (!r.cluster.empty() && r.cluster_index < named.size())
        named[r.cluster_index] = true;
  std::vector<std::size_t> out;
  for (std::size_t c = 0; c < named.size(); ++c)
    if (named[c])
      out.push_back(c);
  return out;
}

} // namespace

void l4UpstreamSamples(const Server& server, std::size_t listener,
                       prometheus::MetricFamily& connectErrors,
                       prometheus::MetricFamily& upstreamActive) {
  const config::Config& cfg = server.config();
  const config::Listener& lc = cfg.listeners[listener];
  std::vector<std::size_t> clusters;
  for (const config::Route& r : lc.routes) {
    bool seen = r.cluster.empty();
    for (std::size_t c : clusters)
      seen = seen || c == r.cluster_index;
    if (!seen)
      clusters.push_back(r.cluster_index);
  }
  for (std::size_t c : clusters) {
    double errors = 0, timeouts = 0, active = 0;
    for (const auto& w : server.workers()) {
      if (!readable(*w) || listener >= w->listeners().size())
        continue;
      if (const UpstreamStats* u = clusterStats(w->listeners()[listener]->stats(), c)) {
        errors += load(u->connectErrors);
        timeouts += load(u->connectTimeouts);
        active += load(u->active);
      }
    }
    const std::string& cluster = cfg.clusters[c].name;
    addCounter(connectErrors, {{"cluster", cluster}, {"listener", lc.name}, {"reason", "error"}},
               errors);
    addCounter(connectErrors, {{"cluster", cluster}, {"listener", lc.name}, {"reason", "timeout"}},
               timeouts);
    addGauge(upstreamActive, {{"cluster", cluster}, {"listener", lc.name}}, active);
  }
}

void upstreamFamilies(const Server& server, std::vector<prometheus::MetricFamily>& out) {
  const config::Config& cfg = server.config();
  auto connectDuration = metrics::histogramFamily(
      "ringway_upstream_connect_duration_seconds",
      "Successful upstream connects of every listener kind, from the connect's start to its "
      "completion (with the TLS handshake for clusters with tls).");
  auto endpointConnects = metrics::counterFamily(
      "ringway_upstream_endpoint_connects_total",
      "Upstream connection attempts per endpoint (its address as configured) by result: ok, "
      "error (refused, unreachable, no socket, TLS failed), timeout (connect_timeout passed).");

  for (std::size_t c : routedClusters(cfg)) {
    const config::Cluster& cl = cfg.clusters[c];
    HistogramSum hist;
    // By the address as written; an address listed twice is one series.
    std::map<std::string, std::array<double, 3>> byEndpoint;
    for (const config::Endpoint& e : cl.endpoints)
      byEndpoint[e.address.text] = {0, 0, 0};
    forEachStats(server, c, [&](const UpstreamStats& u) {
      hist.add(u.connectDuration);
      for (std::size_t e = 0; e < u.endpointCount && e < cl.endpoints.size(); ++e) {
        std::array<double, 3>& t = byEndpoint[cl.endpoints[e].address.text];
        t[0] += load(u.endpoint[e].ok);
        t[1] += load(u.endpoint[e].errors);
        t[2] += load(u.endpoint[e].timeouts);
      }
    });
    metrics::addHistogram(connectDuration, {{"cluster", cl.name}}, hist.render());
    for (const auto& [endpoint, t] : byEndpoint) {
      addCounter(endpointConnects, {{"cluster", cl.name}, {"endpoint", endpoint}, {"result", "ok"}},
                 t[0]);
      addCounter(endpointConnects,
                 {{"cluster", cl.name}, {"endpoint", endpoint}, {"result", "error"}}, t[1]);
      addCounter(endpointConnects,
                 {{"cluster", cl.name}, {"endpoint", endpoint}, {"result", "timeout"}}, t[2]);
    }
  }
  out.push_back(std::move(connectDuration));
  out.push_back(std::move(endpointConnects));
}

} // namespace ringway::core
