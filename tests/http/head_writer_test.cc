#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "http/head_writer.h"
#include "http/parser.h"

namespace ringway::http {
namespace {

TEST(HeadWriter, RewritesARequestForUpstream) {
  const std::string in =
      "GET /x HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, X-Hop\r\n"
      "X-Hop: 1\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Forwarded-For: 10.0.0.1\r\n"
      "Accept: */*\r\n\r\n";
  Parser p(Parser::Kind::Request);
  ASSERT_EQ(p.parse(in).event, Event::Head);
  char buf[512];
  HeadWriter w(buf);
  w.requestLine(p.methodName(), p.target());
  const std::string_view drop[] = {"x-forwarded-for"};
  w.forward(p.headers(), drop);
  const Header* xff = findHeader(p.headers(), "X-Forwarded-For");
  ASSERT_NE(xff, nullptr);
  w.header("X-Forwarded-For", {xff->value, ", ", "192.0.2.7"});
  w.header("Via", "1.1 ringway");
  ASSERT_TRUE(w.finish());
  EXPECT_EQ(w.view(), "GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n"
                      "X-Forwarded-For: 10.0.0.1, 192.0.2.7\r\nVia: 1.1 ringway\r\n\r\n");
  // What we write parses back.
  Parser again(Parser::Kind::Request);
  EXPECT_EQ(again.parse(w.view()).event, Event::Head);
}

TEST(HeadWriter, StatusLine) {
  char buf[64];
  HeadWriter w(buf);
  w.statusLine(502, "Bad Gateway");
  w.header("Content-Length", "0");
  ASSERT_TRUE(w.finish());
  EXPECT_EQ(w.view(), "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
  char buf2[64];
  HeadWriter w10(buf2);
  w10.statusLine(200, "OK", Version::Http10);
  ASSERT_TRUE(w10.finish());
  EXPECT_EQ(w10.view(), "HTTP/1.0 200 OK\r\n\r\n");
}

TEST(HeadWriter, OverflowReportsTheSizeNeeded) {
  char small[16];
  HeadWriter w(small);
  w.requestLine("GET", "/a/long/path");
  w.header("Host", "example.com");
  EXPECT_FALSE(w.finish());
  EXPECT_TRUE(w.valid());
  EXPECT_FALSE(w.fits());
  EXPECT_EQ(w.view(), "");
  const size_t need = w.size();
  std::string big(need, '\0');
  HeadWriter retry(big);
  retry.requestLine("GET", "/a/long/path");
  retry.header("Host", "example.com");
  ASSERT_TRUE(retry.finish());
  EXPECT_EQ(retry.size(), need);
  EXPECT_EQ(retry.view(), "GET /a/long/path HTTP/1.1\r\nHost: example.com\r\n\r\n");
}

TEST(HeadWriter, RefusesInjection) {
  char buf[128];
  HeadWriter w(buf);
  w.requestLine("GET", "/");
  w.header("X", "a\r\nEvil: 1");
  EXPECT_FALSE(w.finish());
  EXPECT_FALSE(w.valid());
  HeadWriter w2(buf);
  w2.header("Bad Name", "v");
  EXPECT_FALSE(w2.finish());
  HeadWriter w3(buf);
  w3.requestLine("G T", "/");
  EXPECT_FALSE(w3.finish());
}

} // namespace
} // namespace ringway::http
