// process_* metrics: /proc/<pid>/stat parsing (comm with spaces and parentheses), and a real
// read of this process.
#include "metrics/process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <ctime>

namespace ringway::metrics {
namespace {

TEST(ProcessMetrics, ParsesStatFieldsAfterTheLastParenthesis) {
  // Fields 14/15 utime/stime = 250 + 50 ticks, 22 starttime = 1000 ticks, 23 vsize, 24 rss.
  const std::string stat =
      "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 "
      "123456789 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
  const auto s = parseProcStat(stat, 1'700'000'000, 100, 4096);
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->cpuSeconds, 3.0);
  EXPECT_DOUBLE_EQ(s->startTimeSeconds, 1'700'000'010);
  EXPECT_DOUBLE_EQ(s->virtualBytes, 123456789);
  EXPECT_DOUBLE_EQ(s->residentBytes, 2000.0 * 4096);
}

TEST(ProcessMetrics, RejectsTruncatedStat) {
  EXPECT_FALSE(parseProcStat("4242 (x) S 1 2 3", 0, 100, 4096).has_value());
  EXPECT_FALSE(parseProcStat("no parenthesis", 0, 100, 4096).has_value());
}

TEST(ProcessMetrics, ReadsThisProcess) {
  const auto s = readProcess();
  ASSERT_TRUE(s.has_value()) << "/proc not mounted?";
  EXPECT_GT(s->residentBytes, 0);
  EXPECT_GE(s->virtualBytes, s->residentBytes);
  ASSERT_TRUE(s->openFds.has_value());
  EXPECT_GE(*s->openFds, 3) << "stdin, stdout, stderr";
  const int extra = ::dup(0);
  ASSERT_GE(extra, 0);
  EXPECT_EQ(*readProcess()->openFds, *s->openFds + 1) << "the directory's own fd is not counted";
  ::close(extra);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(s->startTimeSeconds, now + 1);
  EXPECT_GT(s->startTimeSeconds, now - 24 * 3600.0);
}

} // namespace
} // namespace ringway::metrics
