#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "http/chars.h"
#include "http/error.h"
#include "http/fields.h"
#include "http/message.h"

namespace ringway::http {
namespace {

std::vector<std::string> elements(std::string_view list) {
  std::vector<std::string> out;
  std::string_view e;
  while (nextListElement(list, e))
    out.emplace_back(e);
  return out;
}

TEST(Fields, ListElementsAreTrimmedAndEmptyOnesSkipped) {
  EXPECT_EQ(elements(" a ,b,, \t,c\t"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(elements(""), std::vector<std::string>{});
  EXPECT_EQ(elements(" , ,"), std::vector<std::string>{});
}

TEST(Fields, ListContainsIgnoresCase) {
  EXPECT_TRUE(listContains("keep-alive, Upgrade", "upgrade"));
  EXPECT_FALSE(listContains("keep-alive, Upgraded", "upgrade"));
}

TEST(Fields, ConnectionOptions) {
  const ConnectionOptions o = parseConnection("Keep-Alive, X-Foo ,  CLOSE,upgrade");
  EXPECT_TRUE(o.close);
  EXPECT_TRUE(o.keepAlive);
  EXPECT_TRUE(o.upgrade);
  const ConnectionOptions none = parseConnection("closed, keepalive");
  EXPECT_FALSE(none.close || none.keepAlive || none.upgrade);
}

TEST(Fields, FixedHopByHopSet) {
  for (const char* n : {"Connection", "keep-alive", "Proxy-Connection", "TE", "Trailer",
                        "transfer-encoding", "UPGRADE"})
    EXPECT_TRUE(isHopByHopName(n)) << n;
  for (const char* n : {"Host", "Content-Length", "Trailers", "Upgrade-Insecure-Requests", "X-TE"})
    EXPECT_FALSE(isHopByHopName(n)) << n;
}

TEST(Fields, ConnectionNamesMoreHopByHopFields) {
  const Header headers[] = {{"Connection", "X-Secret, keep-alive"},
                            {"connection", "x-other"},
                            {"X-Secret", "1"},
                            {"X-Public", "2"}};
  const HopByHop hop(headers);
  EXPECT_TRUE(hop.contains("x-secret"));
  EXPECT_TRUE(hop.contains("X-OTHER"));
  EXPECT_TRUE(hop.contains("Keep-Alive"));
  EXPECT_TRUE(hop.contains("TE"));
  EXPECT_FALSE(hop.contains("X-Public"));
}

TEST(Fields, ManyConnectionNamesStillClassified) {
  std::string list;
  for (int i = 0; i < 40; ++i)
    list += "x-" + std::to_string(i) + ", ";
  const Header headers[] = {{"Connection", list}};
  const HopByHop hop(headers);
  EXPECT_TRUE(hop.contains("X-0"));
  EXPECT_TRUE(hop.contains("x-39"));
  EXPECT_FALSE(hop.contains("x-40"));
}

TEST(Fields, FindHeader) {
  const Header headers[] = {{"Host", "a"}, {"X", "1"}, {"x", "2"}};
  ASSERT_NE(findHeader(headers, "x"), nullptr);
  EXPECT_EQ(findHeader(headers, "x")->value, "1");
  EXPECT_EQ(findHeader(headers, "y"), nullptr);
}

TEST(Fields, ParseMethodIsCaseSensitive) {
  EXPECT_EQ(parseMethod("GET"), Method::Get);
  EXPECT_EQ(parseMethod("CONNECT"), Method::Connect);
  EXPECT_EQ(parseMethod("get"), Method::Other);
  EXPECT_EQ(parseMethod("PROPFIND"), Method::Other);
}

TEST(Fields, CharClasses) {
  EXPECT_TRUE(isToken("X-Forwarded-For"));
  EXPECT_FALSE(isToken("a b"));
  EXPECT_FALSE(isToken(""));
  EXPECT_FALSE(isToken("a:b"));
  EXPECT_TRUE(equalsIgnoreCase("Content-LENGTH", "content-length"));
  EXPECT_FALSE(equalsIgnoreCase("a", "ab"));
}

TEST(Errors, EveryCodeHasANameAndAStatus) {
  for (int c = 1; c <= static_cast<int>(ErrorCode::BodyTooLarge); ++c) {
    const auto code = static_cast<ErrorCode>(c);
    EXPECT_NE(errorName(code), "unknown") << c;
    const uint16_t s = requestErrorStatus(code);
    EXPECT_TRUE(s == 400 || s == 413 || s == 414 || s == 431 || s == 505) << c;
  }
  EXPECT_EQ(requestErrorStatus(ErrorCode::UnsupportedVersion), 505);
  EXPECT_EQ(requestErrorStatus(ErrorCode::UriTooLong), 414);
}

} // namespace
} // namespace ringway::http
