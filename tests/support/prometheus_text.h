// Reading a /metrics scrape (Prometheus text format 0.0.4) in tests: exact series, sums over
// label sets, family types. One copy for the admin tests (tests/core) and the HTTP metrics
// tests (tests/httpproxy).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ringway::testsupport {

// One scrape as "series -> value", the series exactly as written (labels included).
struct Scrape {
  std::string text;
  std::map<std::string, double> values;
  std::vector<std::string> order; // series in the order they came

  explicit Scrape(std::string t);
  // The value of an exact series, e.g. `ringway_downstream_connections_total{listener="a"}`.
  std::optional<double> find(const std::string& series) const;
  // Like find; -1 when absent (no counter is ever negative).
  double at(const std::string& series) const { return find(series).value_or(-1); }
  // Sum over the series of `name` (no suffix matching) whose labels contain every piece
  // ("k=\"v\"").
  double sum(const std::string& name, const std::vector<std::string>& pieces = {}) const;
};

// The same on raw text, for a single look.
std::optional<double> sample(const std::string& metricsText, const std::string& series);
double sumOf(const std::string& metricsText, const std::string& name,
             const std::vector<std::string>& labels = {});
// Family names from the "# TYPE name type" lines.
std::map<std::string, std::string> familyTypes(const std::string& metricsText);

} // namespace ringway::testsupport
