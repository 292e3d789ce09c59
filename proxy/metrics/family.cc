#include "metrics/family.h"

#include <limits>
#include <utility>

namespace ringway::metrics {

namespace {

prometheus::MetricFamily make(std::string name, std::string help, prometheus::MetricType t) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = t;
  return f;
}

} // namespace

prometheus::MetricFamily counterFamily(std::string name, std::string help) {
  return make(std::move(name), std::move(help), prometheus::MetricType::Counter);
}

prometheus::MetricFamily gaugeFamily(std::string name, std::string help) {
  return make(std::move(name), std::move(help), prometheus::MetricType::Gauge);
}

prometheus::MetricFamily histogramFamily(std::string name, std::string help) {
  return make(std::move(name), std::move(help), prometheus::MetricType::Histogram);
}

void addCounter(prometheus::MetricFamily& f, Labels labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.counter.value = value;
  f.metric.push_back(std::move(m));
}

void addGauge(prometheus::MetricFamily& f, Labels labels, double value) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.gauge.value = value;
  f.metric.push_back(std::move(m));
}

void addHistogram(prometheus::MetricFamily& f, Labels labels,
                  prometheus::ClientMetric::Histogram h) {
  prometheus::ClientMetric m;
  m.label = std::move(labels);
  m.histogram = std::move(h);
  f.metric.push_back(std::move(m));
}

prometheus::ClientMetric::Histogram
histogramFromBuckets(std::span<const double> bounds, std::span<const uint64_t> counts, double sum) {
  prometheus::ClientMetric::Histogram h;
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    h.bucket.push_back({cumulative, bounds[i]});
  }
  if (counts.size() > bounds.size())
    cumulative += counts[bounds.size()];
  h.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
  h.sample_count = cumulative;
  h.sample_sum = sum;
  return h;
}

} // namespace ringway::metrics
