// The generic helpers behind the loader's messages.
#include <gtest/gtest.h>

#include "config/reader.h"

namespace ringway::config {
namespace {

constexpr std::string_view Keys[] = {"workers", "cpu_affinity", "log_level", "io", "listeners"};

TEST(EditDistance, Basics) {
  EXPECT_EQ(editDistance("", ""), 0u);
  EXPECT_EQ(editDistance("abc", ""), 3u);
  EXPECT_EQ(editDistance("endpoint", "endpoints"), 1u);
  EXPECT_EQ(editDistance("wrokers", "workers"), 2u);
  EXPECT_EQ(editDistance("kitten", "sitting"), 3u);
}

TEST(DidYouMean, SuggestsTheClosest) {
  EXPECT_EQ(didYouMean("wrokers", Keys), "; did you mean 'workers'?");
  EXPECT_EQ(didYouMean("listener", Keys), "; did you mean 'listeners'?");
  EXPECT_EQ(didYouMean("cpu_afinity", Keys), "; did you mean 'cpu_affinity'?");
  EXPECT_EQ(didYouMean("log", Keys), "; did you mean 'log_level'?") << "prefix of a key";
}

TEST(DidYouMean, StaysQuietWhenNothingIsClose) {
  EXPECT_EQ(didYouMean("a", Keys), "");
  EXPECT_EQ(didYouMean("threads", Keys), "");
  EXPECT_EQ(didYouMean("x", {}), "");
}

TEST(Paths, JoinIndexAndFieldName) {
  EXPECT_EQ(join("", "workers"), "workers");
  EXPECT_EQ(join("io", "buffer_size"), "io.buffer_size");
  EXPECT_EQ(indexed("listeners", 2), "listeners[2]");
  EXPECT_EQ(fieldName("listeners[0].backlog"), "backlog");
  EXPECT_EQ(fieldName("listeners[3]"), "listeners");
  EXPECT_EQ(fieldName("workers"), "workers");
}

TEST(FormatSize, PicksTheLargestExactUnit) {
  EXPECT_EQ(formatSize(0), "0B");
  EXPECT_EQ(formatSize(1000), "1000B");
  EXPECT_EQ(formatSize(1024), "1KiB");
  EXPECT_EQ(formatSize(1536 * 1024), "1536KiB");
  EXPECT_EQ(formatSize(std::size_t(1) << 20), "1MiB");
  EXPECT_EQ(formatSize(std::size_t(3) << 30), "3GiB");
}

TEST(ReaderTest, ProblemAtFallsBackToTheNearestParent) {
  Reader r("f.yaml");
  YAML::Mark m;
  m.line = 4;
  m.column = 2;
  r.note("listeners[0]", m);
  r.problemAt("listeners[0].routes[1]", "x");
  r.problemAt("clusters", "y");
  const auto problems = r.take();
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].str(), "f.yaml: y (at clusters)") << "unknown position sorts first";
  EXPECT_EQ(problems[1].str(), "f.yaml:5:3: x (at listeners[0].routes[1])");
}

} // namespace
} // namespace ringway::config
