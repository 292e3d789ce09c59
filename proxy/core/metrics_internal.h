// Shared by the MetricsCollector's translation units; not an interface.
#pragma once

#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/worker.h"
#include "metrics/family.h"
#include "net/listener_stats.h"

namespace ringway::core {

class Server;

// A worker's loop and listeners exist from Serving on and live until the Worker is destroyed,
// so Stopped workers still report their final counts. The acquire load of the state orders
// the reads that follow after the worker built what they read.
bool readable(const Worker& w);

// The cluster a listener's upstream counters belong to: the one its routes name, or "" when
// they name several (SNI or HTTP routing): the counters are kept per listener.
std::string listenerCluster(const config::Listener& l);

inline double load(const std::atomic<uint64_t>& c) {
  return static_cast<double>(c.load(std::memory_order_relaxed));
}

// Per-bucket counts and the sum in nanoseconds of DurationHistograms, added up over workers.
struct HistogramSum {
  std::array<uint64_t, net::DurationHistogram::kBoundsNs.size() + 1> counts{};
  uint64_t sumNs = 0;
  void add(const net::DurationHistogram& h) {
    for (std::size_t i = 0; i < counts.size(); ++i)
      counts[i] += h.buckets[i].load(std::memory_order_relaxed);
    sumNs += h.sumNs.load(std::memory_order_relaxed);
  }
  prometheus::ClientMetric::Histogram render() const {
    static const std::array<double, net::DurationHistogram::kBoundsNs.size()> bounds = [] {
      std::array<double, net::DurationHistogram::kBoundsNs.size()> b{};
      for (std::size_t i = 0; i < b.size(); ++i)
        b[i] = static_cast<double>(net::DurationHistogram::kBoundsNs[i]) / 1e9;
      return b;
    }();
    return metrics::histogramFromBuckets(bounds, counts, static_cast<double>(sumNs) / 1e9);
  }
};

// TLS families (metrics_tls.cc), for listeners that terminate or pass through TLS.
void tlsFamilies(const Server& server, std::vector<prometheus::MetricFamily>& out);

// HTTP families (metrics_http.cc): requests, durations, errors of protocol: http listeners and
// their clusters' connects, reuses and response times.
void httpFamilies(const Server& server, std::vector<prometheus::MetricFamily>& out);
// An http listener's upstream connect errors and active connections, one sample per cluster
// its routes name (the per-listener counters mix clusters).
void httpUpstreamSamples(const Server& server, std::size_t listener,
                         prometheus::MetricFamily& connectErrors,
                         prometheus::MetricFamily& upstreamActive);
// Upstream families of every listener kind (metrics_upstream.cc): connect times and connect
// results per endpoint.
void upstreamFamilies(const Server& server, std::vector<prometheus::MetricFamily>& out);
// An L4 (tcp, tls_passthrough) listener's upstream connect errors and active connections, one
// sample per cluster its routes name.
void l4UpstreamSamples(const Server& server, std::size_t listener,
                       prometheus::MetricFamily& connectErrors,
                       prometheus::MetricFamily& upstreamActive);
// The route label of each of l's routes: its name when it has one that is unique in the
// listener and not all digits, else its index ("0", "1", ...).
std::vector<std::string> routeLabels(const config::Listener& l);

} // namespace ringway::core
