// Picks an endpoint of one cluster. One per worker and cluster: no shared state.
#pragma once

#include <cstdint>
#include <vector>

#include "config/config.h"

namespace ringway::net {

class Balancer {
 public:
  explicit Balancer(const config::Cluster& c, uint64_t seed);
  // Index into cluster.endpoints.
  std::size_t pick();
  const config::Cluster& cluster() const { return *cluster_; }

 private:
  const config::Cluster* cluster_;
  std::vector<int64_t> current_;  // smooth weighted round robin, as nginx does it
  int64_t total_ = 0;
  uint64_t rng_;
};

}  // namespace ringway::net
