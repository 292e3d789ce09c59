#include <gtest/gtest.h>

#include <limits>

#include "config/loader.h"
#include "config/units.h"

namespace ringway::config {
namespace {

TEST(ParseDuration, AcceptsEachUnit) {
  Duration d{};
  ASSERT_TRUE(parseDuration("250ms", d));
  EXPECT_EQ(d.count(), 250);
  ASSERT_TRUE(parseDuration("5s", d));
  EXPECT_EQ(d.count(), 5000);
  ASSERT_TRUE(parseDuration("1m", d));
  EXPECT_EQ(d.count(), 60'000);
  ASSERT_TRUE(parseDuration("2h", d));
  EXPECT_EQ(d.count(), 2 * 3'600'000);
  ASSERT_TRUE(parseDuration("0s", d));
  EXPECT_EQ(d.count(), 0);
  ASSERT_TRUE(parseDuration("007ms", d));
  EXPECT_EQ(d.count(), 7);
}

TEST(ParseDuration, RejectsBareNumbersAndJunk) {
  Duration d{42};
  for (const char* bad : {"", "60", "s", "ms", "-5s", "+5s", "1.5s", "5 s", " 5s", "5s ", "5sec",
                          "5S", "5d", "5us", "1h30m", "0x10s"}) {
    EXPECT_FALSE(parseDuration(bad, d)) << "'" << bad << "'";
  }
  EXPECT_EQ(d.count(), 42) << "a failed parse must leave the output alone";
}

TEST(ParseDuration, ClassifiesErrors) {
  Duration d{};
  EXPECT_EQ(parseDurationDetailed("60", d), UnitError::MissingUnit);
  EXPECT_EQ(parseDurationDetailed("5sec", d), UnitError::UnknownUnit);
  EXPECT_EQ(parseDurationDetailed("1.5s", d), UnitError::BadNumber);
  EXPECT_EQ(parseDurationDetailed("", d), UnitError::BadNumber);
  EXPECT_EQ(parseDurationDetailed("-1s", d), UnitError::BadNumber);
}

TEST(ParseDuration, Overflow) {
  Duration d{};
  // The limit is what fits in int64 nanoseconds: 9223372036854 ms.
  ASSERT_TRUE(parseDuration("9223372036854ms", d));
  EXPECT_EQ(d.count(), 9223372036854);
  EXPECT_EQ(parseDurationDetailed("9223372036855ms", d), UnitError::Overflow);
  EXPECT_EQ(parseDurationDetailed("2562048h", d), UnitError::Overflow);
  EXPECT_EQ(parseDurationDetailed("99999999999999999999999ms", d), UnitError::Overflow);
  EXPECT_EQ(parseDurationDetailed("18446744073709551615h", d), UnitError::Overflow);
  ASSERT_TRUE(parseDuration("2562047h", d));
  EXPECT_EQ(d.count(), 2562047LL * 3'600'000);
}

TEST(ParseSize, AcceptsEachUnit) {
  std::size_t s = 0;
  ASSERT_TRUE(parseSize("512B", s));
  EXPECT_EQ(s, 512u);
  ASSERT_TRUE(parseSize("16KiB", s));
  EXPECT_EQ(s, 16u * 1024);
  ASSERT_TRUE(parseSize("4MiB", s));
  EXPECT_EQ(s, 4u * 1024 * 1024);
  ASSERT_TRUE(parseSize("1GiB", s));
  EXPECT_EQ(s, std::size_t(1) << 30);
  ASSERT_TRUE(parseSize("0B", s));
  EXPECT_EQ(s, 0u);
}

TEST(ParseSize, RejectsBareNumbersDecimalUnitsAndJunk) {
  std::size_t s = 7;
  for (const char* bad :
       {"", "16384", "KiB", "16KB", "16kib", "16K", "16 KiB", "1.5MiB", "-1B", "16KiBB", "1TiB"}) {
    EXPECT_FALSE(parseSize(bad, s)) << "'" << bad << "'";
  }
  EXPECT_EQ(s, 7u);
  EXPECT_EQ(parseSizeDetailed("16384", s), UnitError::MissingUnit);
  EXPECT_EQ(parseSizeDetailed("16KB", s), UnitError::UnknownUnit);
}

TEST(ParseSize, Overflow) {
  std::size_t s = 0;
  ASSERT_TRUE(parseSize("18446744073709551615B", s));
  EXPECT_EQ(s, std::numeric_limits<std::size_t>::max());
  EXPECT_EQ(parseSizeDetailed("18446744073709551616B", s), UnitError::Overflow);
  EXPECT_EQ(parseSizeDetailed("17179869184GiB", s), UnitError::Overflow); // 2^34 * 2^30
  ASSERT_TRUE(parseSize("17179869183GiB", s));
  EXPECT_EQ(s, (std::size_t(17179869183)) << 30);
}

} // namespace
} // namespace ringway::config
