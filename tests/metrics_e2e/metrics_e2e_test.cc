// Metrics end to end, against the real ringway binary (issue #5): the scripts next to this
// file do the work in Python (standard library only); each test runs one and reports its
// verdict. Exit 0 passes, 77 skips (the script says why: no promtool, no Prometheus, perf not
// permitted), anything else fails with the script's output.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <string>

namespace {

struct Run {
  int code = -1;
  std::string output;
};

Run runScript(const std::string& script) {
  const std::string cmd = "cd '" RINGWAY_SOURCE_DIR
                          "/tests/metrics_e2e' && timeout -k 5 110 python3 -B " +
                          script + " '" RINGWAY_BINARY "' 2>&1";
  Run r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr)
    return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0)
    r.output.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string lastLine(const std::string& s) {
  std::size_t end = s.find_last_not_of('\n');
  if (end == std::string::npos)
    return s;
  std::size_t start = s.rfind('\n', end);
  return s.substr(start == std::string::npos ? 0 : start + 1, end - start);
}

void expectPass(const std::string& script) {
  const Run r = runScript(script);
  std::printf("%s", r.output.c_str());
  if (r.code == 77)
    GTEST_SKIP() << lastLine(r.output);
  EXPECT_EQ(r.code, 0) << script << " failed (124: timed out); its output is above";
}

TEST(MetricsE2e, PromtoolCheckMetricsOnARealScrape) { expectPass("check_metrics.py"); }

TEST(MetricsE2e, PrometheusEvaluatesEveryDashboardAndAlertExpression) {
  expectPass("prometheus_e2e.py");
}

TEST(MetricsE2e, SyscallCounterAgreesWithPerf) { expectPass("syscalls_perf.py"); }

} // namespace
