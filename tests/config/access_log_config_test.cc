// access_log on http listeners: keys, format names, and the writable-location check.
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "config/dump.h"
#include "config_test_util.h"

namespace ringway::config {
namespace {

using ::testing::HasSubstr;
using testing::load;
using testing::problemsOf;

std::string httpListener(const std::string& accessLog, const std::string& protocol = "http") {
  return R"(listeners:
  - name: web
    address: "127.0.0.1:0"
    protocol: )" +
         protocol + "\n" + accessLog + R"(    routes: [ { cluster: up } ]
clusters:
  - name: up
    endpoints: [ { address: "127.0.0.1:8080" } ]
)";
}

class TempDir {
public:
  TempDir() {
    char t[] = "/tmp/ringway-alcfg-XXXXXX";
    path_ = mkdtemp(t);
  }
  ~TempDir() {
    std::string cmd = "rm -rf '" + path_ + "'";
    if (std::system(cmd.c_str()) != 0) {
    }
  }
  const std::string& path() const { return path_; }

private:
  std::string path_;
};

TEST(AccessLogConfig, OffUnlessConfigured) {
  auto cfg = load(httpListener(""));
  ASSERT_EQ(cfg->listeners.size(), 1u);
  EXPECT_FALSE(cfg->listeners[0].access_log.has_value());
}

TEST(AccessLogConfig, PathAndFormat) {
  TempDir d;
  auto cfg =
      load(httpListener("    access_log: { path: \"" + d.path() + "/a.log\", format: json }\n"));
  ASSERT_EQ(cfg->listeners.size(), 1u);
  ASSERT_TRUE(cfg->listeners[0].access_log.has_value());
  EXPECT_EQ(cfg->listeners[0].access_log->path, d.path() + "/a.log");
  EXPECT_EQ(cfg->listeners[0].access_log->format, AccessLogFormat::Json);
}

TEST(AccessLogConfig, FormatDefaultsToCombined) {
  TempDir d;
  auto cfg = load(httpListener("    access_log: { path: \"" + d.path() + "/a.log\" }\n"));
  ASSERT_TRUE(cfg->listeners[0].access_log.has_value());
  EXPECT_EQ(cfg->listeners[0].access_log->format, AccessLogFormat::Combined);
}

// Column of `word` in `line`, 1-based, as the loader reports it.
int col(const std::string& line, const std::string& word) {
  return static_cast<int>(line.find(word)) + 1;
}

TEST(AccessLogConfig, UnknownFormatSuggestsTheNearestOne) {
  TempDir d;
  const std::string line = "    access_log: { path: \"" + d.path() + "/a.log\", format: jsn }\n";
  EXPECT_ONE_PROBLEM(httpListener(line), 5, col(line, "jsn"), "listeners[0].access_log.format",
                     "invalid format 'jsn' (expected combined or json); did you mean 'json'?");
}

TEST(AccessLogConfig, UnknownKeyAndMissingPath) {
  auto problems = problemsOf(httpListener("    access_log: { fromat: json }\n"));
  ASSERT_EQ(problems.size(), 2u);
  std::string all;
  for (const auto& p : problems)
    all += p.str() + "\n";
  EXPECT_THAT(all, HasSubstr("did you mean 'format'?"));
  EXPECT_THAT(all, HasSubstr("missing required key 'path'"));
}

TEST(AccessLogConfig, MissingDirectoryIsAnErrorAtThePath) {
  EXPECT_ONE_PROBLEM(
      httpListener("    access_log: { path: /nonexistent-ringway-dir/a.log, format: combined }\n"),
      5, 25, "listeners[0].access_log.path",
      "directory '/nonexistent-ringway-dir' of the access log does not exist");
}

TEST(AccessLogConfig, ADirectoryIsNotAFile) {
  TempDir d;
  EXPECT_ONE_PROBLEM(httpListener("    access_log: { path: \"" + d.path() + "\" }\n"), 5, 25,
                     "listeners[0].access_log.path", "is a directory");
}

TEST(AccessLogConfig, UnwritableDirectory) {
  if (geteuid() == 0)
    GTEST_SKIP() << "root may write anywhere";
  TempDir d;
  ASSERT_EQ(chmod(d.path().c_str(), 0555), 0);
  EXPECT_ONE_PROBLEM(httpListener("    access_log: { path: \"" + d.path() + "/a.log\" }\n"), 5, 25,
                     "listeners[0].access_log.path", "cannot create files in");
}

TEST(AccessLogConfig, OnlyForHttpListeners) {
  TempDir d;
  auto problems =
      problemsOf(httpListener("    access_log: { path: \"" + d.path() + "/a.log\" }\n", "tcp"));
  std::string all;
  for (const auto& p : problems)
    all += p.str() + "\n";
  EXPECT_THAT(all, HasSubstr("'access_log' is only for protocol: http listeners"));
}

TEST(AccessLogConfig, RelativePathIsRelativeToTheConfigFile) {
  TempDir d;
  const std::string yaml = httpListener("    access_log: { path: logs/web.log, format: json }\n");
  ASSERT_EQ(mkdir((d.path() + "/logs").c_str(), 0755), 0);
  auto cfg = loadString(yaml, d.path() + "/ringway.yaml");
  ASSERT_TRUE(cfg->listeners[0].access_log.has_value());
  EXPECT_EQ(cfg->listeners[0].access_log->path, d.path() + "/logs/web.log");
}

TEST(AccessLogConfig, Dumped) {
  TempDir d;
  auto cfg =
      load(httpListener("    access_log: { path: \"" + d.path() + "/a.log\", format: json }\n"));
  const std::string dumped = toYaml(*cfg);
  EXPECT_THAT(dumped, HasSubstr("access_log"));
  EXPECT_THAT(dumped, HasSubstr("json"));
}

} // namespace
} // namespace ringway::config
