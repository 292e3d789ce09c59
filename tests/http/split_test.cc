// Splitting a stream at any byte boundary must not change what the parser reports.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "http/driver.h"
#include "http/parser.h"

namespace ringway::http {
namespace {

struct Case {
  const char* name;
  Parser::Kind kind;
  Method requestMethod;
  bool eof;
  std::string stream;
};

std::vector<Case> cases() {
  const auto Req = Parser::Kind::Request;
  const auto Resp = Parser::Kind::Response;
  return {
      {"Get", Req, Method::Get, false,
       "GET /a?b=c HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n"},
      {"PostContentLength", Req, Method::Get, false,
       "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world"},
      {"Chunked", Req, Method::Get, false,
       "PUT /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
       "5;ext=\"q\\\"x\"\r\nhello\r\nA;a;b=c\r\n0123456789\r\n0\r\nT1: x\r\nT2: y z\r\n\r\n"},
      {"Pipelined", Req, Method::Get, true,
       "\r\nGET /1 HTTP/1.1\r\nHost: h\r\n\r\nPOST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
       "\r\nabc\r\nDELETE /3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
       "PATCH /4 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n"},
      {"ManyHeaders", Req, Method::Get, false,
       "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC:3\r\nD:\t4 \r\nE:\r\nCookie: a=b; c=d\r\n"
       "User-Agent: test/1.0 (x; y)\r\n\r\n"},
      {"Response", Resp, Method::Get, false,
       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbody"},
      {"ResponseChunkedPipelined", Resp, Method::Get, false,
       "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
       "3\r\nabc\r\n0\r\nX: y\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"},
      {"ResponseUntilClose", Resp, Method::Get, true,
       "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nall the rest until close"},
      {"ResponseHead", Resp, Method::Head, false,
       "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"},
      // Errors must be the same error wherever the stream is cut.
      {"ErrorBareCr", Req, Method::Get, false, "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n"},
      {"ErrorBareLf", Req, Method::Get, false, "GET / HTTP/1.1\r\nHost: h\nX: a\r\n\r\n"},
      {"ErrorSmuggle", Req, Method::Get, false,
       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n"},
      {"ErrorChunkData", Req, Method::Get, false,
       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n"},
      {"ErrorTruncated", Resp, Method::Get, true,
       "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab"},
  };
}

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class SplitTest : public ::testing::TestWithParam<Case> {
protected:
  std::string run(const std::vector<std::string>& pieces) {
    const Case& c = GetParam();
    Parser p(c.kind);
    test::DriveOptions o;
    o.eof = c.eof;
    o.requestMethod = c.requestMethod;
    bool broken = false;
    o.broken = &broken;
    std::string out = test::drive(p, pieces, o);
    EXPECT_FALSE(broken) << out;
    return out;
  }
};

TEST_P(SplitTest, EveryTwoWaySplitMatchesWhole) {
  const std::string& s = GetParam().stream;
  const std::string whole = run({s});
  ASSERT_FALSE(whole.empty());
  for (size_t k = 0; k <= s.size(); ++k)
    ASSERT_EQ(run({s.substr(0, k), s.substr(k)}), whole) << "split at " << k;
}

TEST_P(SplitTest, OneByteAtATimeMatchesWhole) {
  const std::string& s = GetParam().stream;
  std::vector<std::string> bytes;
  for (const char c : s)
    bytes.emplace_back(1, c);
  EXPECT_EQ(run(bytes), run({s}));
}

TEST_P(SplitTest, RandomSplitsMatchWhole) {
  const std::string& s = GetParam().stream;
  const std::string whole = run({s});
  std::mt19937 rng(12345);
  for (int round = 0; round < 200; ++round) {
    std::vector<std::string> pieces;
    size_t at = 0;
    while (at < s.size()) {
      const size_t n = std::uniform_int_distribution<size_t>(0, 12)(rng);
      pieces.push_back(s.substr(at, n));
      at += n;
    }
    ASSERT_EQ(run(pieces), whole) << "round " << round;
  }
}

INSTANTIATE_TEST_SUITE_P(Streams, SplitTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return std::string(info.param.name); });

} // namespace
} // namespace ringway::http
