// What /metrics serves: a prometheus::Registry (ordinary prometheus-cpp families, for the
// few counters kept off the data path, such as the admin server's own) plus scrape-time
// Collectables that read the workers' atomics. Rendered in the text format 0.0.4 by
// prometheus-cpp's TextSerializer.
//
// A prometheus-cpp 1.0 Registry holds only the families it built itself, so the
// Collectables sit beside it here rather than inside it, the way prometheus::Exposer keeps
// them.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace ringway::metrics {

class Exposition {
public:
  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

  Exposition();
  Exposition(const Exposition&) = delete;
  Exposition& operator=(const Exposition&) = delete;

  prometheus::Registry& registry() { return *registry_; }
  void add(std::shared_ptr<const prometheus::Collectable> c);

  // Every family of the registry and of each Collectable, in the order they were added
  // (registry first). Families without samples are dropped: no HELP/TYPE for nothing.
  std::vector<prometheus::MetricFamily> collect() const;
  std::string render() const;

private:
  std::shared_ptr<prometheus::Registry> registry_;
  mutable std::mutex mutex_; // guards collectables_ (add() may race a scrape)
  std::vector<std::shared_ptr<const prometheus::Collectable>> collectables_;
};

} // namespace ringway::metrics
