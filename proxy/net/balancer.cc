#include "net/balancer.h"

namespace ringway::net {

Balancer::Balancer(const config::Cluster& c, uint64_t seed)
    : cluster_(&c), current_(c.endpoints.size(), 0), rng_(seed | 1) {
  for (const auto& e : c.endpoints) total_ += e.weight;
}

std::size_t Balancer::pick() {
  const auto& eps = cluster_->endpoints;
  if (eps.size() == 1) return 0;
  if (cluster_->lb == config::LbPolicy::Random) {
    rng_ ^= rng_ << 13;  // xorshift64: cheap, per worker, good enough to spread load
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    int64_t r = static_cast<int64_t>(rng_ % static_cast<uint64_t>(total_));
    for (std::size_t i = 0; i < eps.size(); ++i) {
      r -= eps[i].weight;
      if (r < 0) return i;
    }
    return eps.size() - 1;
  }
  // Smooth weighted round robin: weights 5,1,1 give a b a a c a a, not a a a a a b c.
  std::size_t best = 0;
  for (std::size_t i = 0; i < eps.size(); ++i) {
    current_[i] += eps[i].weight;
    if (current_[i] > current_[best]) best = i;
  }
  current_[best] -= total_;
  return best;
}

}  // namespace ringway::net
