#include "metrics/exposition.h"

#include <prometheus/text_serializer.h>

#include <sstream>
#include <utility>

namespace ringway::metrics {

Exposition::Exposition() : registry_(std::make_shared<prometheus::Registry>()) {
  collectables_.push_back(registry_);
}

void Exposition::add(std::shared_ptr<const prometheus::Collectable> c) {
  std::lock_guard<std::mutex> lock(mutex_);
  collectables_.push_back(std::move(c));
}

std::vector<prometheus::MetricFamily> Exposition::collect() const {
  std::vector<std::shared_ptr<const prometheus::Collectable>> cs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    cs = collectables_;
  }
  std::vector<prometheus::MetricFamily> out;
  for (const auto& c : cs)
    for (auto& f : c->Collect())
      if (!f.metric.empty())
        out.push_back(std::move(f));
  return out;
}

std::string Exposition::render() const {
  std::ostringstream os;
  prometheus::TextSerializer().Serialize(os, collect());
  return std::move(os).str();
}

} // namespace ringway::metrics
