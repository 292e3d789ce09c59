// The route label of ringway_http_* series: a unique, non-numeric name, else the index, so two
// routes never share a series.
#include <gtest/gtest.h>

#include "config/config.h"
#include "core/metrics_internal.h"

namespace ringway::core {
namespace {

config::Listener withRoutes(std::initializer_list<const char*> names) {
  config::Listener l;
  for (const char* n : names) {
    config::Route r;
    r.name = n;
    l.routes.push_back(r);
  }
  return l;
}

TEST(HttpMetricsLabels, NamesWhenUniqueElseIndexes) {
  EXPECT_EQ(routeLabels(withRoutes({"api", "", "static"})),
            (std::vector<std::string>{"api", "1", "static"}));
  // Duplicate names and all-digit names would collide with each other or with an index.
  EXPECT_EQ(routeLabels(withRoutes({"dup", "dup", "2", "x"})),
            (std::vector<std::string>{"0", "1", "2", "x"}));
  EXPECT_EQ(routeLabels(withRoutes({"0", ""})), (std::vector<std::string>{"0", "1"}));
  EXPECT_TRUE(routeLabels(config::Listener{}).empty());
}

} // namespace
} // namespace ringway::core
