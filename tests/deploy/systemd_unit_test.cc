// deploy/systemd/ringway.service: systemd's own checks. `systemd-analyze verify` must print
// nothing (it exits 0 even on unknown keys, so output is the failure signal), and
// `systemd-analyze security --offline=yes` must rate it 2.0 or better ("OK").
#include <cstdlib>
#include <regex>
#include <string>

#include <gtest/gtest.h>

#include "deploy/deploy_support.h"

using namespace ringway::deploytest;

namespace {

const char* const Unit = "deploy/systemd/ringway.service";

// verify checks that every Exec*= command exists: this copy points ExecStart= and
// ExecStartPre= at the ringway just built instead of /usr/bin/ringway. Nothing else changes.
std::string unitForVerify(const TempDir& dir, const std::string& text) {
  return dir.write("ringway.service",
                   std::regex_replace(text, std::regex("/usr/bin/ringway"), RINGWAY_BINARY));
}

CommandResult verify(const std::string& unitPath) {
  return runCommand({"systemd-analyze", "verify", "--man=no", unitPath});
}

class SystemdUnit : public ::testing::Test {
protected:
  void SetUp() override {
    text_ = readFile(sourcePath(Unit));
    ASSERT_FALSE(text_.empty()) << Unit;
  }
  std::string text_;
};

} // namespace

// Checks that run systemd-analyze skip without it; the unit's text is checked regardless.
#define REQUIRE_SYSTEMD_ANALYZE()                                                                  \
  do {                                                                                             \
    if (!haveCommand("systemd-analyze"))                                                           \
      GTEST_SKIP() << "systemd-analyze is not installed (Debian package systemd)";                 \
  } while (0)

TEST_F(SystemdUnit, VerifiesClean) {
  REQUIRE_SYSTEMD_ANALYZE();
  TempDir dir;
  const auto r = verify(unitForVerify(dir, text_));
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(r.output, "") << "systemd-analyze verify complained";
}

// The check above can fail: a misspelt key and a bad value are both reported.
TEST_F(SystemdUnit, VerifyCatchesMistakes) {
  REQUIRE_SYSTEMD_ANALYZE();
  TempDir dir;
  std::string typo =
      std::regex_replace(text_, std::regex("\nNoNewPrivileges=yes"), "\nNoNewPrivilege=yes");
  auto r = verify(unitForVerify(dir, typo));
  EXPECT_NE(r.output.find("Unknown key"), std::string::npos) << r.output;
  std::string badType = std::regex_replace(text_, std::regex("\nType=notify"), "\nType=notifyy");
  r = verify(unitForVerify(dir, badType));
  EXPECT_NE(r.output.find("Failed to parse service type"), std::string::npos) << r.output;
}

TEST_F(SystemdUnit, SecurityExposureAtMostTwo) {
  REQUIRE_SYSTEMD_ANALYZE();
  const auto r =
      runCommand({"systemd-analyze", "security", "--offline=yes", "--no-pager", sourcePath(Unit)});
  ASSERT_EQ(r.exitCode, 0) << r.output;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(r.output, m,
                                std::regex(R"(Overall exposure level for \S+: ([0-9.]+) (\w+))")))
      << r.output;
  const double exposure = std::atof(m[1].str().c_str());
  EXPECT_LE(exposure, 2.0) << r.output;
  EXPECT_EQ(m[2].str(), "OK") << r.output;
  // The io_uring system calls are allowed, or the service would silently run on epoll.
  for (const char* call : {"io_uring_setup", "io_uring_enter", "io_uring_register"})
    EXPECT_NE(text_.find(call), std::string::npos) << call;
  std::printf("systemd-analyze security: exposure %s %s\n", m[1].str().c_str(), m[2].str().c_str());
}

// What the unit promises, beyond what systemd-analyze scores.
TEST_F(SystemdUnit, DeclaresWhatTheIssueAsks) {
  for (const char* line :
       {"\nType=notify\n", "\nExecReload=/bin/kill -HUP $MAINPID\n", "\nUser=ringway\n",
        "\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n",
        "\nCapabilityBoundingSet=CAP_NET_BIND_SERVICE\n", "\nProtectSystem=strict\n",
        "\nNoNewPrivileges=yes\n", "\nPrivateTmp=yes\n", "\nLimitNOFILE=131072\n"})
    EXPECT_NE(text_.find(line), std::string::npos) << "missing " << line;
  // SIGTERM drains for drain_timeout (30 s by default): systemd must wait longer.
  std::smatch m;
  ASSERT_TRUE(std::regex_search(text_, m, std::regex(R"(\nTimeoutStopSec=(\d+)s\n)")));
  EXPECT_GT(std::atoi(m[1].str().c_str()), 30);
  const std::string sysusers = readFile(sourcePath("deploy/systemd/ringway.sysusers"));
  EXPECT_NE(sysusers.find("\nu ringway "), std::string::npos) << sysusers;
}
