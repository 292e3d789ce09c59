#include <gtest/gtest.h>

#include <string>

#include "http/driver.h"
#include "http/parser.h"

namespace ringway::http {
namespace {

using test::driveWhole;
using test::requestError;

constexpr auto Req = Parser::Kind::Request;
const std::string ChunkedHead =
    "POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
const std::string HeadLine = "head POST /up 1.1 [Host: h] [Transfer-Encoding: chunked] chunked\n";

TEST(Chunked, DecodesData) {
  EXPECT_EQ(driveWhole(Req, ChunkedHead + "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
            HeadLine + "body 'hello world'\ncomplete keep-alive\n");
}

TEST(Chunked, HexSizesAnyCaseAndLeadingZeros) {
  const std::string data(26, 'x');
  EXPECT_EQ(
      driveWhole(Req, ChunkedHead + "1A\r\n" + data + "\r\n001a\r\n" + data + "\r\n0000\r\n\r\n"),
      HeadLine + "body '" + data + data + "'\ncomplete keep-alive\n");
}

TEST(Chunked, BodyEventsAreViewsIntoTheInputAndConsumedCoversFraming) {
  const std::string msg = ChunkedHead + "3\r\nabc\r\n0\r\n\r\n";
  Parser p(Req);
  std::string_view in = msg;
  Step s = p.parse(in);
  ASSERT_EQ(s.event, Event::Head);
  in.remove_prefix(s.consumed);
  s = p.parse(in);
  ASSERT_EQ(s.event, Event::Body);
  EXPECT_EQ(s.body, "abc");
  EXPECT_EQ(s.body.data(), in.data() + 3);
  EXPECT_EQ(s.consumed, 6u); // "3\r\nabc"
  in.remove_prefix(s.consumed);
  s = p.parse(in);
  ASSERT_EQ(s.event, Event::Complete);
  EXPECT_EQ(s.consumed, in.size()); // "\r\n0\r\n\r\n"
  EXPECT_EQ(p.bodyBytes(), 3u);
}

TEST(Chunked, ExtensionsAreSkipped) {
  EXPECT_EQ(driveWhole(Req, ChunkedHead + "3;name\r\nabc\r\n"
                                          "3;a=b;c=\"q;u\\\"o te\"\r\ndef\r\n"
                                          "3 ; a = b ; c\r\nghi\r\n"
                                          "0;last=\"1\"\r\n\r\n"),
            HeadLine + "body 'abcdefghi'\ncomplete keep-alive\n");
}

TEST(Chunked, TrailersAreParsed) {
  EXPECT_EQ(driveWhole(Req, ChunkedHead + "1\r\na\r\n0\r\nChecksum: abc\r\nX-T:  1 \r\n\r\n"),
            HeadLine + "body 'a'\ntrailer [Checksum: abc]\ntrailer [X-T: 1]\n"
                       "complete keep-alive\n");
}

TEST(Chunked, TrailersSplitAcrossInputsAreAssembled) {
  Parser p(Req);
  EXPECT_EQ(test::drive(p, {ChunkedHead + "0\r\nChec", "ksum: a", "bc\r", "\n\r", "\n"}),
            HeadLine + "trailer [Checksum: abc]\ncomplete keep-alive\n");
}

TEST(Chunked, PipelinedAfterChunked) {
  EXPECT_EQ(driveWhole(Req, ChunkedHead + "0\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"),
            HeadLine + "complete keep-alive\nhead GET / 1.1 [Host: h] none\ncomplete keep-alive\n");
}

TEST(Chunked, BodyLimitCountsDecodedBytesAndRefusesBeforeData) {
  const std::string msg = ChunkedHead + "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
  EXPECT_EQ(requestError(msg, {}, 10), "ok");
  EXPECT_EQ(requestError(msg, {}, 9), "413 body_too_large");
  Parser p(Req);
  test::DriveOptions o;
  o.bodyLimit = 9;
  // The second chunk's size line alone is enough to refuse it.
  EXPECT_EQ(test::drive(p, {ChunkedHead + "5\r\nhello\r\n5\r\n"}, o),
            HeadLine + "body 'hello'\nerror 413 body_too_large\n");
}

struct Bad {
  const char* name;
  const char* body;
  const char* expected;
};

class ChunkedRejection : public ::testing::TestWithParam<Bad> {};

TEST_P(ChunkedRejection, StatusAndReason) {
  EXPECT_EQ(requestError(ChunkedHead + GetParam().body), GetParam().expected) << GetParam().body;
}

const Bad Rejections[] = {
    {"NotHex", "g\r\n", "400 invalid_chunk_size"},
    {"Empty", "\r\n", "400 invalid_chunk_size"},
    {"LeadingSpace", " 5\r\nhello\r\n0\r\n\r\n", "400 invalid_chunk_size"},
    {"Negative", "-5\r\n", "400 invalid_chunk_size"},
    {"HexPrefix", "0x5\r\n", "400 invalid_chunk_size"},
    {"Plus", "+5\r\n", "400 invalid_chunk_size"},
    {"Overflow", "10000000000000000\r\n", "400 chunk_size_overflow"},
    {"MaxIsNotOverflow", "ffffffffffffffff\r\n", "ok"},
    {"BareLfAfterSize", "5\nhello\r\n0\r\n\r\n", "400 bare_lf"},
    {"BareCrAfterSize", "5\rhello\r\n", "400 bare_cr"},
    {"TrailingSpaceNoExt", "5 \r\nhello\r\n", "400 invalid_chunk_extension"},
    {"ExtNoName", "5;\r\nhello\r\n", "400 invalid_chunk_extension"},
    {"ExtBadNameChar", "5;a@b\r\nhello\r\n", "400 invalid_chunk_extension"},
    {"ExtNoValue", "5;a=\r\nhello\r\n", "400 invalid_chunk_extension"},
    {"ExtBareLf", "5;a=b\nhello\r\n", "400 bare_lf"},
    {"ExtCtlInQuoted", "5;a=\"x\x01\"\r\nhello\r\n", "400 invalid_chunk_extension"},
    {"ExtUnterminatedQuote", "5;a=\"x\r\nhello\r\n", "400 invalid_chunk_extension"},
    {"ExtTokenAfterQuoted", "5;a=\"x\"y\r\nhello\r\n", "400 invalid_chunk_extension"},
    {"DataTooLong", "5\r\nhello!\r\n0\r\n\r\n", "400 invalid_chunk_data"},
    {"DataMissingCrlf", "5\r\nhello0\r\n\r\n", "400 invalid_chunk_data"},
    {"DataBareCr", "5\r\nhello\rX", "400 bare_cr"},
    {"DataBareLf", "5\r\nhello\n0\r\n\r\n", "400 bare_lf"},
    {"TrailerObsFold", "0\r\nA: b\r\n c\r\n\r\n", "400 obs_fold"},
    {"TrailerBadName", "0\r\nA B: c\r\n\r\n", "400 invalid_header_name"},
    {"TrailerWsBeforeColon", "0\r\nA : c\r\n\r\n", "400 whitespace_before_colon"},
    {"TrailerCtl", "0\r\nA: \x01\r\n\r\n", "400 invalid_header_value"},
    {"TrailerBareLf", "0\r\nA: b\n\r\n", "400 bare_lf"},
    {"TrailerBareCr", "0\r\nA: b\rc\r\n\r\n", "400 bare_cr"},
    {"TrailerNoColon", "0\r\nAB\r\n\r\n", "400 missing_colon"},
    {"TrailerContentLength", "0\r\nContent-Length: 5\r\n\r\n", "400 forbidden_trailer"},
    {"TrailerTransferEncoding", "0\r\nTransfer-Encoding: chunked\r\n\r\n", "400 forbidden_trailer"},
    {"TrailerHost", "0\r\nHost: evil\r\n\r\n", "400 forbidden_trailer"},
};

INSTANTIATE_TEST_SUITE_P(Rules, ChunkedRejection, ::testing::ValuesIn(Rejections),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(ChunkedLimits, ChunkLineTooLong) {
  Limits l;
  l.maxChunkLineBytes = 16;
  EXPECT_EQ(requestError(ChunkedHead + "5;aaaaaaaa\r\nhello\r\n0\r\n\r\n", l), "ok");
  EXPECT_EQ(requestError(ChunkedHead + "5;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nhello\r\n", l),
            "400 chunk_line_too_long");
  // Leading zeros cannot spin forever either.
  EXPECT_EQ(requestError(ChunkedHead + std::string(100, '0'), l), "400 chunk_line_too_long");
}

TEST(ChunkedLimits, TrailerLimits) {
  Limits l;
  l.maxHeadBytes = 128;
  l.maxHeaders = 2;
  EXPECT_EQ(requestError(ChunkedHead + "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", l),
            "431 too_many_headers");
  EXPECT_EQ(requestError(ChunkedHead + "0\r\nA: " + std::string(200, 'a') + "\r\n\r\n", l),
            "431 trailer_too_large");
}

} // namespace
} // namespace ringway::http
