// The checkers the integration tests rely on: they must catch what they claim to catch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <vector>

#include "integration/support.h"

namespace ringway::itest {
namespace {

using ::testing::HasSubstr;

std::vector<uint8_t> bytesOf(uint64_t seed, std::size_t n) {
  std::vector<uint8_t> v(n);
  RandomStream(seed).fill(0, v.data(), n);
  return v;
}

TEST(RandomStream, AnySliceMatchesTheWholeStream) {
  const auto all = bytesOf(42, 1000);
  for (std::size_t off : {0, 1, 7, 8, 9, 500, 993}) {
    std::vector<uint8_t> part(1000 - off);
    RandomStream(42).fill(off, part.data(), part.size());
    EXPECT_TRUE(std::equal(part.begin(), part.end(), all.begin() + static_cast<long>(off)))
        << "offset " << off;
  }
  EXPECT_NE(bytesOf(42, 64), bytesOf(43, 64));
}

TEST(StreamChecker, AcceptsTheStreamInAnyChunking) {
  const auto all = bytesOf(7, 100000);
  StreamChecker c("dir", 7, all.size());
  for (std::size_t off = 0, k = 1; off < all.size(); off += k, k = k * 3 % 9001 + 1)
    c.feed(all.data() + off, std::min(k, all.size() - off));
  EXPECT_TRUE(c.intact()) << c.report();
  EXPECT_EQ(c.checksum(), RandomStream(7).checksum(all.size()));
}

TEST(StreamChecker, ReportsTheFirstDifferingOffsetWithHex) {
  auto all = bytesOf(7, 100000);
  all[70001] ^= 0x40;
  all[70010] ^= 0x01;
  StreamChecker c("client->upstream", 7, all.size());
  c.feed(all.data(), 70000);
  c.feed(all.data() + 70000, all.size() - 70000);
  EXPECT_FALSE(c.intact());
  const std::string r = c.report();
  EXPECT_THAT(r, HasSubstr("first difference at offset 70001"));
  EXPECT_THAT(r, HasSubstr("seed=0x0000000000000007"));
  EXPECT_THAT(r, HasSubstr("expected @69985: "));
  EXPECT_THAT(r, HasSubstr("received @69985: "));
}

TEST(StreamChecker, ReportsMissingAndExtraBytes) {
  const auto all = bytesOf(9, 1000);
  StreamChecker shortOne("dir", 9, 1000);
  shortOne.feed(all.data(), 600);
  EXPECT_FALSE(shortOne.intact());
  EXPECT_THAT(shortOne.report(), HasSubstr("400 missing"));

  const auto more = bytesOf(9, 1010);
  StreamChecker longOne("dir", 9, 1000);
  longOne.feed(more.data(), more.size());
  EXPECT_FALSE(longOne.intact());
  EXPECT_THAT(longOne.report(), HasSubstr("first difference at offset 1000"));
}

} // namespace
} // namespace ringway::itest
