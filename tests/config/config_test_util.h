// Shared helpers for the config tests: load a YAML string and match its problems.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "config/loader.h"

namespace ringway::config {

// gmock prints this when a Contains(...) fails, so the failure shows what was reported.
inline void PrintTo(const Problem& p, std::ostream* os) { *os << '"' << p.str() << '"'; }

} // namespace ringway::config

namespace ringway::config::testing {

// A minimal valid config; tests put their key in front of it so line numbers stay predictable.
inline constexpr const char* Minimal = R"(listeners:
  - name: raw
    address: "127.0.0.1:15432"
    routes: [ { cluster: pg } ]
clusters:
  - name: pg
    endpoints: [ { address: "127.0.0.1:5432" } ]
)";

inline std::string withMinimal(const std::string& head) { return head + Minimal; }

// The problems a load reports; fails the test if it loads cleanly.
inline std::vector<Problem> problemsOf(const std::string& yaml) {
  try {
    loadString(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "expected a ConfigError for:\n" << yaml;
  return {};
}

// Loads or fails the test with every problem listed.
inline std::shared_ptr<const Config> load(const std::string& yaml) {
  try {
    return loadString(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    ADD_FAILURE() << "unexpected ConfigError:\n" << e.what();
    return std::make_shared<const Config>();
  }
}

inline auto IsProblem(int line, int col, const std::string& path, const std::string& message) {
  using ::testing::AllOf;
  using ::testing::Field;
  using ::testing::HasSubstr;
  return AllOf(Field("line", &Problem::line, line), Field("col", &Problem::col, col),
               Field("path", &Problem::path, path),
               Field("message", &Problem::message, HasSubstr(message)));
}

// Exactly one problem, matching.
#define EXPECT_ONE_PROBLEM(yaml, line, col, path, message)                                         \
  EXPECT_THAT(                                                                                     \
      ::ringway::config::testing::problemsOf(yaml),                                                \
      ::testing::ElementsAre(::ringway::config::testing::IsProblem(line, col, path, message)))

} // namespace ringway::config::testing
