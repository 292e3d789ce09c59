// Hand-built prometheus-cpp MetricFamily protos, filled at scrape time from counters the
// workers keep themselves (see STYLE.md §4: no prometheus::Counter on the hot path).
#pragma once

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ringway::metrics {

using Labels = std::vector<prometheus::ClientMetric::Label>;

prometheus::MetricFamily counterFamily(std::string name, std::string help);
prometheus::MetricFamily gaugeFamily(std::string name, std::string help);
prometheus::MetricFamily histogramFamily(std::string name, std::string help);

// Appends one sample. The family's type decides which field of ClientMetric is set.
void addCounter(prometheus::MetricFamily& f, Labels labels, double value);
void addGauge(prometheus::MetricFamily& f, Labels labels, double value);
void addHistogram(prometheus::MetricFamily& f, Labels labels,
                  prometheus::ClientMetric::Histogram h);

// A Prometheus histogram from per-bucket (not cumulative) counts: counts[i] counts the
// observations <= bounds[i] and > bounds[i-1]; counts[bounds.size()] counts the ones above
// the last bound. The result has cumulative buckets, le = each bound, then le = +Inf.
// counts.size() must be bounds.size() + 1; extra or missing entries are ignored / zero.
prometheus::ClientMetric::Histogram
histogramFromBuckets(std::span<const double> bounds, std::span<const uint64_t> counts, double sum);

} // namespace ringway::metrics
