#include <gtest/gtest.h>

#include <string>

#include "http/driver.h"
#include "http/parser.h"

namespace ringway::http {
namespace {

using test::driveWhole;
using test::responseError;

constexpr auto Resp = Parser::Kind::Response;

test::DriveOptions answering(Method m, bool eof = false) {
  test::DriveOptions o;
  o.requestMethod = m;
  o.eof = eof;
  return o;
}

TEST(ResponseParser, ContentLength) {
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
            "head 200 'OK' 1.1 [Content-Length: 2] length=2\nbody 'ok'\ncomplete keep-alive\n");
}

TEST(ResponseParser, StatusLineVariants) {
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            "head 404 'Not Found' 1.1 [Content-Length: 0] length=0\ncomplete keep-alive\n");
  // Empty reason, with and without the SP before it.
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 204 \r\n\r\n"),
            "head 204 '' 1.1 none\ncomplete keep-alive\n");
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 204\r\n\r\n"),
            "head 204 '' 1.1 none\ncomplete keep-alive\n");
}

TEST(ResponseParser, UntilCloseWithoutFraming) {
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 200 OK\r\n\r\nabc", answering(Method::Get, true)),
            "head 200 'OK' 1.1 until-close\nbody 'abc'\ncomplete close\n");
}

TEST(ResponseParser, NonChunkedTransferCodingReadsUntilClose) {
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
                       answering(Method::Get, true)),
            "head 200 'OK' 1.1 [Transfer-Encoding: gzip] until-close\nbody 'zz'\ncomplete close\n");
}

TEST(ResponseParser, ChunkedAsFinalCodingAfterOthers) {
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                             "2\r\nzz\r\n0\r\n\r\n"),
            "head 200 'OK' 1.1 [Transfer-Encoding: gzip, chunked] chunked\nbody 'zz'\n"
            "complete keep-alive\n");
}

TEST(ResponseParser, NoBodyStatusesAndHead) {
  // The fields promise a body, but these responses never have one: the next bytes are the next
  // response.
  for (const char* status :
       {"100 Continue", "101 Switching Protocols", "204 No Content", "304 Not Modified"}) {
    const std::string msg = std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 5\r\n\r\n";
    Parser p(Resp);
    const Step s = p.parse(msg);
    ASSERT_EQ(s.event, Event::Head) << status;
    EXPECT_EQ(p.framing().kind, BodyKind::None) << status;
    EXPECT_EQ(p.parse(std::string_view(msg).substr(s.consumed)).event, Event::Complete);
  }
  EXPECT_EQ(
      driveWhole(Resp, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", answering(Method::Head)),
      "head 200 'OK' 1.1 [Content-Length: 5] none\ncomplete keep-alive\n");
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                       answering(Method::Head)),
            "head 200 'OK' 1.1 [Transfer-Encoding: chunked] none\ncomplete keep-alive\n");
  EXPECT_EQ(
      driveWhole(Resp, "HTTP/1.1 200 Connection established\r\n\r\n", answering(Method::Connect)),
      "head 200 'Connection established' 1.1 none\ncomplete keep-alive\n");
}

TEST(ResponseParser, InterimThenFinal) {
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"),
            "head 100 'Continue' 1.1 none\ncomplete keep-alive\n"
            "head 200 'OK' 1.1 [Content-Length: 1] length=1\nbody 'x'\ncomplete keep-alive\n");
}

TEST(ResponseParser, Http10KeepAlive) {
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx"),
            "head 200 'OK' 1.0 [Content-Length: 1] length=1\nbody 'x'\ncomplete close\n");
  EXPECT_EQ(
      driveWhole(Resp, "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx"),
      "head 200 'OK' 1.0 [Connection: keep-alive] [Content-Length: 1] length=1\nbody 'x'\n"
      "complete keep-alive\n");
}

TEST(ResponseParser, TruncatedBodyIsAnError) {
  EXPECT_EQ(
      driveWhole(Resp, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab",
                 answering(Method::Get, true)),
      "head 200 'OK' 1.1 [Content-Length: 5] length=5\nbody 'ab'\nerror 502 unexpected_eof\n");
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
                       answering(Method::Get, true)),
            "head 200 'OK' 1.1 [Transfer-Encoding: chunked] chunked\nbody 'ab'\n"
            "error 502 unexpected_eof\n");
}

TEST(ResponseParser, BodyLimitIs502) {
  test::DriveOptions o;
  o.bodyLimit = 2;
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", o),
            "head 200 'OK' 1.1 [Content-Length: 5] length=5\nerror 502 body_too_large\n");
  EXPECT_EQ(driveWhole(Resp, "HTTP/1.1 200 OK\r\n\r\nhello", o),
            "head 200 'OK' 1.1 until-close\nbody 'he'\nerror 502 body_too_large\n");
}

struct Bad {
  const char* name;
  const char* msg;
  const char* expected;
};

class ResponseRejection : public ::testing::TestWithParam<Bad> {};

TEST_P(ResponseRejection, StatusAndReason) {
  EXPECT_EQ(responseError(GetParam().msg), GetParam().expected) << GetParam().msg;
}

const Bad Rejections[] = {
    {"ClAndTe", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     "502 content_length_with_transfer_encoding"},
    {"ChunkedNotLast", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     "502 invalid_transfer_encoding"},
    {"ChunkedTwice", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
     "502 invalid_transfer_encoding"},
    {"TeEmptyElement", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, , chunked\r\n\r\n",
     "502 invalid_transfer_encoding"},
    {"TeHttp10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
     "502 transfer_encoding_http10"},
    {"ClConflict", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
     "502 conflicting_content_length"},
    {"ClInvalid", "HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n", "502 invalid_content_length"},
    {"BareCr", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", "502 bare_cr"},
    {"BareLf", "HTTP/1.1 200 OK\nX: a\r\n\r\n", "502 bare_lf"},
    {"ObsFold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", "502 obs_fold"},
    {"WsBeforeColon", "HTTP/1.1 200 OK\r\nX : a\r\n\r\n", "502 whitespace_before_colon"},
    {"CtlInValue", "HTTP/1.1 200 OK\r\nX: a\x02\r\n\r\n", "502 invalid_header_value"},
    {"Http2", "HTTP/2.0 200 OK\r\n\r\n", "502 unsupported_version"},
    {"Garbage", "HTPT/1.1 200 OK\r\n\r\n", "502 invalid_version"},
    {"ShortStatus", "HTTP/1.1 20 OK\r\n\r\n", "502 invalid_status"},
    {"LongStatus", "HTTP/1.1 2000 OK\r\n\r\n", "502 invalid_status"},
    {"StatusBelow100", "HTTP/1.1 099 OK\r\n\r\n", "502 invalid_status"},
    {"StatusAbove599", "HTTP/1.1 600 OK\r\n\r\n", "502 invalid_status"},
    {"NoSpaceAfterVersion", "HTTP/1.1200 OK\r\n\r\n", "502 invalid_status_line"},
    {"TabBeforeReason", "HTTP/1.1 200\tOK\r\n\r\n", "502 invalid_status_line"},
    {"CtlInReason", "HTTP/1.1 200 O\x01K\r\n\r\n", "502 invalid_status_line"},
    {"BadChunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     "502 invalid_chunk_size"},
};

INSTANTIATE_TEST_SUITE_P(Rules, ResponseRejection, ::testing::ValuesIn(Rejections),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ResponseLimits, AllLimitsAre502) {
  Limits l;
  l.maxHeadBytes = 40;
  l.maxHeaders = 1;
  EXPECT_EQ(responseError("HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", Method::Get, l),
            "502 too_many_headers");
  EXPECT_EQ(
      responseError("HTTP/1.1 200 OK\r\nA: " + std::string(40, 'a') + "\r\n\r\n", Method::Get, l),
      "502 head_too_large");
}

} // namespace
} // namespace ringway::http
