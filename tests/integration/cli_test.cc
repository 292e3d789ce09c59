// The command line of the real binary: --check, --version.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "integration/proxy_process.h"
#include "integration/support.h"

namespace ringway::itest {
namespace {

using ::testing::HasSubstr;

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty())
      v.push_back(l);
  return v;
}

TEST(Cli, CheckAcceptsAValidConfig) {
  TempDir dir;
  ProxyConfig pc;
  pc.workers = 2;
  pc.endpoints = {"127.0.0.1:9", "127.0.0.1:10"};
  const std::string path = dir.write("ok.yaml", pc.yaml());
  const RunResult r = runBinary({"--check", "-c", path});
  EXPECT_EQ(r.exitCode, 0) << "stderr:\n" << r.err;
  EXPECT_THAT(r.out, HasSubstr(path + ": ok"));
  EXPECT_EQ(r.err, "");
}

TEST(Cli, CheckReportsEveryProblemWithPositionAndPath) {
  TempDir dir;
  // Line 3: a bad duration; line 7: an unknown cluster; line 10: an unknown key.
  const std::string yaml = "workers: 1\n"
                           "admin: off\n"
                           "defaults: { connect_timeout: 5 parsecs }\n"
                           "listeners:\n"
                           "  - name: raw\n"
                           "    address: \"127.0.0.1:0\"\n"
                           "    routes: [ { cluster: nope } ]\n"
                           "clusters:\n"
                           "  - name: be\n"
                           "    endpoinz: [ { address: \"127.0.0.1:9\" } ]\n";
  const std::string path = dir.write("bad.yaml", yaml);
  const RunResult r = runBinary({"--check", "-c", path});
  EXPECT_EQ(r.exitCode, 1) << "stdout:\n" << r.out << "stderr:\n" << r.err;
  const auto ls = lines(r.err);
  ASSERT_GE(ls.size(), 4u) << "expected at least three problems and a summary:\n" << r.err;
  // FILE:LINE:COL: message (at path)
  const std::regex problem(
      "^" + std::regex_replace(path, std::regex(R"([.^$|()\[\]{}*+?\\])"), R"(\$&)") +
      R"(:([0-9]+):([0-9]+): .+ \(at [A-Za-z_.\[\]0-9]+\)$)");
  std::vector<int> lineNumbers;
  for (std::size_t i = 0; i + 1 < ls.size(); ++i) {
    std::smatch m;
    EXPECT_TRUE(std::regex_match(ls[i], m, problem))
        << "not FILE:LINE:COL: message (at path): " << ls[i];
    if (!m.empty())
      lineNumbers.push_back(std::stoi(m[1]));
  }
  EXPECT_THAT(lineNumbers, ::testing::IsSupersetOf({3, 7, 10})) << r.err;
  EXPECT_THAT(r.err, HasSubstr("(at defaults.connect_timeout)"));
  EXPECT_THAT(r.err, HasSubstr("(at listeners[0].routes[0].cluster)"));
  EXPECT_THAT(ls.back(), HasSubstr("problems")) << "the last line sums up";
  EXPECT_EQ(r.out, "");
}

TEST(Cli, CheckReportsAMissingFile) {
  const RunResult r = runBinary({"--check", "-c", "/nonexistent/ringway.yaml"});
  EXPECT_EQ(r.exitCode, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/ringway.yaml"));
}

TEST(Cli, VersionPrintsTheVersion) {
  const RunResult r = runBinary({"--version"});
  EXPECT_EQ(r.exitCode, 0) << r.err;
  EXPECT_EQ(r.out, std::string("ringway ") + RINGWAY_VERSION + "\n");
}

} // namespace
} // namespace ringway::itest
