// HTTP families: requests, durations and errors of protocol: http listeners, and their upstream
// clusters (connects, reuses, time to first response byte). Workers keep the counters in
// net::HttpStats, sized from the configuration; this sums them over workers at scrape time.
#include <array>
#include <cctype>
#include <iterator>
#include <map>
#include <string>

#include "core/metrics_internal.h"
#include "core/server.h"
#include "metrics/family.h"
#include "net/listener_stats.h"

namespace ringway::core {

namespace {

using metrics::addCounter;
using metrics::addGauge;
using net::HttpStats;
using net::UpstreamStats;

bool decimal(const std::string& s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c)))
      return false;
  return true;
}

struct UpstreamSum {
  double connects = 0, connectErrors = 0, connectTimeouts = 0, active = 0, reuses = 0;
  HistogramSum responseDuration;
  void add(const UpstreamStats& s) {
    connects += load(s.connects);
    connectErrors += load(s.connectErrors);
    connectTimeouts += load(s.connectTimeouts);
    active += load(s.active);
    reuses += load(s.reuses);
    responseDuration.add(s.responseDuration);
  }
};

// The clusters an http listener's routes name, by index, in route order.
std::vector<std::size_t> clustersOf(const config::Listener& l) {
  std::vector<std::size_t> out;
  for (const config::Route& r : l.routes) {
    if (r.cluster.empty())
      continue;
    bool seen = false;
    for (std::size_t c : out)
      seen = seen || c == r.cluster_index;
    if (!seen)
      out.push_back(r.cluster_index);
  }
  return out;
}

// One listener's upstream counters for cluster `c`, summed over workers.
UpstreamSum upstreamOf(const Server& server, std::size_t listener, std::size_t c) {
  UpstreamSum sum;
  for (const auto& w : server.workers()) {
    if (!readable(*w) || listener >= w->listeners().size())
      continue;
    const HttpStats* hs = w->listeners()[listener]->stats().http;
    if (hs != nullptr && c < hs->upstream.size() && hs->upstream[c])
      sum.add(*hs->upstream[c]);
  }
  return sum;
}

} // namespace

std::vector<std::string> routeLabels(const config::Listener& l) {
  std::map<std::string, int> names;
  for (const config::Route& r : l.routes)
    if (!r.name.empty())
      ++names[r.name];
  std::vector<std::string> out;
  for (std::size_t i = 0; i < l.routes.size(); ++i) {
    const std::string& n = l.routes[i].name;
    out.push_back(n.empty() || names[n] > 1 || decimal(n) ? std::to_string(i) : n);
  }
  return out;
}

void httpUpstreamSamples(const Server& server, std::size_t listener,
                         prometheus::MetricFamily& connectErrors,
                         prometheus::MetricFamily& upstreamActive) {
  const config::Config& cfg = server.config();
  const config::Listener& lc = cfg.listeners[listener];
  for (std::size_t c : clustersOf(lc)) {
    const std::string& cluster = cfg.clusters[c].name;
    const UpstreamSum s = upstreamOf(server, listener, c);
    addCounter(connectErrors, {{"cluster", cluster}, {"listener", lc.name}, {"reason", "error"}},
               s.connectErrors);
    addCounter(connectErrors, {{"cluster", cluster}, {"listener", lc.name}, {"reason", "timeout"}},
               s.connectTimeouts);
    addGauge(upstreamActive, {{"cluster", cluster}, {"listener", lc.name}}, s.active);
  }
}

void httpFamilies(const Server& server, std::vector<prometheus::MetricFamily>& out) {
  const config::Config& cfg = server.config();
  auto requests = metrics::counterFamily(
      "ringway_http_requests_total",
      "HTTP requests answered (counted when the response's last byte is queued), by route, its "
      "cluster, method (folded: GET HEAD POST PUT DELETE PATCH OPTIONS CONNECT TRACE, else OTHER) "
      "and status class. route=\"\" cluster=\"\": rejected before routing.");
  auto durations = metrics::histogramFamily(
      "ringway_http_request_duration_seconds",
      "From the request's first byte to its response's last byte queued for the client.");
  auto errors = metrics::counterFamily(
      "ringway_http_request_errors_total",
      "Requests answered with an error status by ringway itself (400 408 413 414 431 404 417 501 "
      "505 502 503 504), or whose response was cut short (response_aborted), by cause.");
  auto upstreamResponse = metrics::histogramFamily(
      "ringway_http_upstream_response_duration_seconds",
      "From the request head queued for the upstream to the first byte of its response.");
  auto reuses = metrics::counterFamily(
      "ringway_upstream_pool_reuses_total",
      "Requests sent on a kept-alive (pooled) upstream connection instead of a new one.");

  std::map<std::size_t, UpstreamSum> clusters;
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::Listener& lc = cfg.listeners[i];
    if (lc.protocol != config::Protocol::Http)
      continue;
    const std::size_t slots = lc.routes.size() + 1;
    std::vector<double> counts(slots * HttpStats::kMethods * HttpStats::kClasses, 0);
    std::vector<HistogramSum> hist(slots);
    std::array<double, HttpStats::kErrors> errs{};
    bool any = false;
    for (const auto& w : server.workers()) {
      if (!readable(*w) || i >= w->listeners().size())
        continue;
      const HttpStats* hs = w->listeners()[i]->stats().http;
      if (hs == nullptr || hs->routeSlots != slots)
        continue;
      any = true;
      for (std::size_t k = 0; k < counts.size(); ++k)
        counts[k] += load(hs->requests[k]);
      for (std::size_t s = 0; s < slots; ++s)
        hist[s].add(hs->durations[s]);
      for (std::size_t e = 0; e < errs.size(); ++e)
        errs[e] += load(hs->errors[e]);
    }
    if (!any)
      continue;
    const std::vector<std::string> routes = routeLabels(lc);
    for (std::size_t s = 0; s < slots; ++s) {
      const bool routed = s < lc.routes.size();
      const std::string route = routed ? routes[s] : "";
      const std::string cluster = routed ? lc.routes[s].cluster : "";
      for (std::size_t m = 0; m < HttpStats::kMethods; ++m)
        for (std::size_t c = 0; c < HttpStats::kClasses; ++c) {
          const double n = counts[(s * HttpStats::kMethods + m) * HttpStats::kClasses + c];
          if (n == 0)
            continue; // 10 methods x 5 classes per route: only the series that happened
          addCounter(requests,
                     {{"cluster", cluster},
                      {"code_class", HttpStats::kClassNames[c]},
                      {"listener", lc.name},
                      {"method", HttpStats::kMethodNames[m]},
                      {"route", route}},
                     n);
        }
      metrics::addHistogram(durations,
                            {{"cluster", cluster}, {"listener", lc.name}, {"route", route}},
                            hist[s].render());
    }
    for (std::size_t e = 0; e < errs.size(); ++e)
      addCounter(errors, {{"listener", lc.name}, {"reason", HttpStats::kErrorNames[e]}}, errs[e]);
    for (std::size_t c : clustersOf(lc)) {
      const UpstreamSum s = upstreamOf(server, i, c);
      UpstreamSum& t = clusters[c];
      t.connects += s.connects;
      t.reuses += s.reuses;
      for (std::size_t b = 0; b < s.responseDuration.counts.size(); ++b)
        t.responseDuration.counts[b] += s.responseDuration.counts[b];
      t.responseDuration.sumNs += s.responseDuration.sumNs;
    }
  }
  for (const auto& [c, s] : clusters) {
    const std::string& cluster = cfg.clusters[c].name;
    metrics::addHistogram(upstreamResponse, {{"cluster", cluster}}, s.responseDuration.render());
    addCounter(reuses, {{"cluster", cluster}}, s.reuses);
  }
  for (auto* f : {&requests, &durations, &errors, &upstreamResponse, &reuses})
    out.push_back(std::move(*f));
}

} // namespace ringway::core
