#include <gtest/gtest.h>

#include <string>

#include "http/driver.h"
#include "http/parser.h"

namespace ringway::http {
namespace {

using test::driveWhole;
using test::requestError;

constexpr auto Req = Parser::Kind::Request;

TEST(RequestParser, SimpleGetIsParsedInPlace) {
  const std::string msg =
      "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
  Parser p(Req);
  const Step s = p.parse(msg);
  ASSERT_EQ(s.event, Event::Head);
  EXPECT_EQ(s.consumed, msg.size());
  EXPECT_EQ(p.method(), Method::Get);
  EXPECT_EQ(p.methodName(), "GET");
  EXPECT_EQ(p.target(), "/index.html?q=1");
  EXPECT_EQ(p.targetForm(), TargetForm::Origin);
  EXPECT_EQ(p.version(), Version::Http11);
  ASSERT_EQ(p.headers().size(), 2u);
  EXPECT_EQ(p.headers()[1].name, "Accept");
  EXPECT_EQ(p.headers()[1].value, "*/*");
  // Zero copy: the views point into the input.
  EXPECT_EQ(p.target().data(), msg.data() + 4);
  EXPECT_EQ(p.headers()[0].value.data(), msg.data() + msg.find("example.com"));
  EXPECT_EQ(p.framing().kind, BodyKind::None);
  EXPECT_EQ(p.parse(std::string_view(msg).substr(s.consumed)).event, Event::Complete);
  EXPECT_TRUE(p.keepAlive());
  EXPECT_EQ(p.parse({}).event, Event::NeedMore);
}

TEST(RequestParser, SplitHeadIsAssembledAndSizedToWhatArrived) {
  const std::string a = "GET / HTTP/1.1\r\nHo";
  const std::string b = "st: x\r\n\r\n";
  Parser p(Req);
  EXPECT_EQ(p.parse(a).event, Event::NeedMore);
  const Step s = p.parse(b);
  ASSERT_EQ(s.event, Event::Head);
  EXPECT_EQ(s.consumed, b.size());
  EXPECT_EQ(p.headers()[0].value, "x");
  // Not pointing into either input: the parser owns the assembled copy.
  EXPECT_FALSE(p.target().data() >= a.data() && p.target().data() < a.data() + a.size());
}

TEST(RequestParser, ContentLengthBody) {
  EXPECT_EQ(driveWhole(Req, "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"),
            "head POST /u 1.1 [Host: h] [Content-Length: 5] length=5\n"
            "body 'hello'\n"
            "complete keep-alive\n");
}

TEST(RequestParser, ZeroContentLength) {
  EXPECT_EQ(driveWhole(Req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"),
            "head POST / 1.1 [Host: h] [Content-Length: 0] length=0\ncomplete keep-alive\n");
}

TEST(RequestParser, IdenticalRepeatedContentLengthIsAccepted) {
  EXPECT_EQ(driveWhole(Req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc"),
            "head POST / 1.1 [Host: h] [Content-Length: 3, 3] length=3\nbody 'abc'\n"
            "complete keep-alive\n");
  EXPECT_EQ(requestError("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
                         "Content-Length: 3\r\n\r\nabc"),
            "ok");
}

TEST(RequestParser, Pipelining) {
  EXPECT_EQ(driveWhole(Req, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
                            "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
                            "\r\n" // stray CRLF after a body is ignored (RFC 9112 2.2)
                            "GET /c HTTP/1.0\r\n\r\n"),
            "head GET /a 1.1 [Host: h] none\ncomplete keep-alive\n"
            "head POST /b 1.1 [Host: h] [Content-Length: 2] length=2\nbody 'hi'\n"
            "complete keep-alive\n"
            "head GET /c 1.0 none\ncomplete close\n");
}

TEST(RequestParser, PipelinedHeadViewsStayInPlace) {
  const std::string msg = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n";
  Parser p(Req);
  std::string_view in = msg;
  Step s = p.parse(in);
  in.remove_prefix(s.consumed);
  EXPECT_EQ(p.parse(in).event, Event::Complete);
  s = p.parse(in);
  ASSERT_EQ(s.event, Event::Head);
  EXPECT_EQ(p.target(), "/b");
  EXPECT_EQ(p.target().data(), msg.data() + msg.find("/b"));
}

TEST(RequestParser, KeepAliveSemantics) {
  auto ka = [](std::string_view msg) {
    Parser p(Req);
    p.parse(msg);
    return p.keepAlive();
  };
  EXPECT_TRUE(ka("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
  EXPECT_FALSE(ka("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"));
}

TEST(RequestParser, ConnectionUpgradeIsReported) {
  Parser p(Req);
  p.parse("GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n");
  EXPECT_TRUE(p.connectionUpgrade());
}

TEST(RequestParser, TargetForms) {
  auto form = [](std::string_view msg) {
    Parser p(Req);
    EXPECT_EQ(p.parse(msg).event, Event::Head) << msg;
    return p.targetForm();
  };
  EXPECT_EQ(form("GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\n\r\n"),
            TargetForm::Absolute);
  EXPECT_EQ(form("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"),
            TargetForm::Authority);
  EXPECT_EQ(form("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n"), TargetForm::Authority);
  EXPECT_EQ(form("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"), TargetForm::Asterisk);
  EXPECT_EQ(form("GET //double HTTP/1.1\r\nHost: h\r\n\r\n"), TargetForm::Origin);
}

TEST(RequestParser, EmptyHostIsAllowed) {
  EXPECT_EQ(requestError("GET / HTTP/1.1\r\nHost:\r\n\r\n"), "ok");
}

TEST(RequestParser, HeaderValueWhitespaceIsTrimmedAndObsTextAllowed) {
  Parser p(Req);
  ASSERT_EQ(p.parse("GET / HTTP/1.1\r\nHost: h\r\nX: \t a\tb \xe9 \t\r\nY:\r\n\r\n").event,
            Event::Head);
  EXPECT_EQ(p.headers()[1].value, "a\tb \xe9");
  EXPECT_EQ(p.headers()[2].value, "");
}

TEST(RequestParser, LeadingEmptyLinesAreSkippedEvenWhenSplit) {
  Parser p(Req);
  EXPECT_EQ(test::drive(p, {"\r", "\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"}),
            "head GET / 1.1 [Host: h] none\ncomplete keep-alive\n");
}

TEST(RequestParser, FinishBetweenMessagesIsClean) {
  test::DriveOptions eof;
  eof.eof = true;
  EXPECT_EQ(driveWhole(Req, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", eof),
            "head GET / 1.1 [Host: h] none\ncomplete keep-alive\nclosed\n");
  EXPECT_EQ(driveWhole(Req, "", eof), "closed\n");
  EXPECT_EQ(driveWhole(Req, "\r\n\r", eof), "closed\n");
  EXPECT_EQ(driveWhole(Req, "GET / HT", eof), "error 400 unexpected_eof\n");
  EXPECT_EQ(driveWhole(Req, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab", eof),
            "head POST / 1.1 [Host: h] [Content-Length: 4] length=4\nbody 'ab'\n"
            "error 400 unexpected_eof\n");
}

TEST(RequestParser, ErrorIsSticky) {
  Parser p(Req);
  EXPECT_EQ(p.parse("GET / HTTP/1.1\r\nHost : h\r\n\r\n").event, Event::Error);
  EXPECT_EQ(p.parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n").event, Event::Error);
  EXPECT_EQ(p.finish().event, Event::Error);
  EXPECT_FALSE(p.keepAlive());
  EXPECT_EQ(p.error().code, ErrorCode::WhitespaceBeforeColon);
}

// --- Rejections: each rule with its exact status and reason ---------------------------------

struct Bad {
  const char* name;
  const char* msg;
  const char* expected;
};

class RequestRejection : public ::testing::TestWithParam<Bad> {};

TEST_P(RequestRejection, StatusAndReason) {
  EXPECT_EQ(requestError(GetParam().msg), GetParam().expected) << GetParam().msg;
}

const Bad Rejections[] = {
    // Framing: smuggling defence
    {"ClAndTe",
     "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
     "400 content_length_with_transfer_encoding"},
    {"TeAndCl",
     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
     "400 content_length_with_transfer_encoding"},
    {"TeGzip", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n",
     "400 unsupported_transfer_encoding"},
    {"TeGzipChunked", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
     "400 unsupported_transfer_encoding"},
    {"TeChunkedTwice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
     "400 unsupported_transfer_encoding"},
    {"TeChunkedTwoLines",
     "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
     "chunked\r\n\r\n",
     "400 unsupported_transfer_encoding"},
    {"TeChunkedNotLast", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
     "400 unsupported_transfer_encoding"},
    {"TeIdentity", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: identity\r\n\r\n",
     "400 unsupported_transfer_encoding"},
    {"TeEmpty", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n\r\n",
     "400 unsupported_transfer_encoding"},
    {"TeChunkedParam", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked;q=1\r\n\r\n",
     "400 unsupported_transfer_encoding"},
    {"TeChunkedWithJunk", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: xchunked\r\n\r\n",
     "400 unsupported_transfer_encoding"},
    {"TeHttp10", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
     "400 transfer_encoding_http10"},
    {"ClDiffers", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
     "400 conflicting_content_length"},
    {"ClListDiffers", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 4\r\n\r\n",
     "400 conflicting_content_length"},
    {"ClNegative", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n",
     "400 invalid_content_length"},
    {"ClPlus", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: +1\r\n\r\n",
     "400 invalid_content_length"},
    {"ClHex", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0x10\r\n\r\n",
     "400 invalid_content_length"},
    {"ClEmpty", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length:\r\n\r\n",
     "400 invalid_content_length"},
    {"ClSpaceInside", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1 2\r\n\r\n",
     "400 invalid_content_length"},
    {"ClTrailingComma", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1,\r\n\r\n",
     "400 invalid_content_length"},
    {"ClOverflow", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551616\r\n\r\n",
     "400 invalid_content_length"},
    // Line syntax
    {"BareCrInHeader", "GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", "400 bare_cr"},
    {"BareCrInRequestLine", "GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", "400 bare_cr"},
    {"BareCrEndsHead", "GET / HTTP/1.1\r\nHost: h\r\n\rX\r\n\r\n", "400 bare_cr"},
    {"BareLf", "GET / HTTP/1.1\nHost: h\r\n\r\n", "400 bare_lf"},
    {"BareLfEndsHead", "GET / HTTP/1.1\r\nHost: h\r\n\n", "400 bare_lf"},
    {"ObsFold", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", "400 obs_fold"},
    {"ObsFoldTab", "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n", "400 obs_fold"},
    {"WsBeforeFirstField", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", "400 obs_fold"},
    // Field names and values
    {"WsBeforeColon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", "400 whitespace_before_colon"},
    {"TabBeforeColon", "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", "400 whitespace_before_colon"},
    {"SpaceInName", "GET / HTTP/1.1\r\nHost: h\r\nX Y: z\r\n\r\n", "400 invalid_header_name"},
    {"EmptyName", "GET / HTTP/1.1\r\nHost: h\r\n: z\r\n\r\n", "400 invalid_header_name"},
    {"NameWithSlash", "GET / HTTP/1.1\r\nHost: h\r\nX/Y: z\r\n\r\n", "400 invalid_header_name"},
    {"NameWithHighByte", "GET / HTTP/1.1\r\nHost: h\r\nX\xc3\xa9: z\r\n\r\n",
     "400 invalid_header_name"},
    {"NoColon", "GET / HTTP/1.1\r\nHost: h\r\nXYZ\r\n\r\n", "400 missing_colon"},
    {"CtlInValue",
     "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01"
     "b\r\n\r\n",
     "400 invalid_header_value"},
    {"DelInValue", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n", "400 invalid_header_value"},
    {"EscInValue", "GET / HTTP/1.1\r\nHost: h\r\nX: \x1b[0m\r\n\r\n", "400 invalid_header_value"},
    // Host
    {"MissingHost", "GET / HTTP/1.1\r\nX: y\r\n\r\n", "400 missing_host"},
    {"TwoHosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", "400 multiple_host"},
    {"TwoHostsHttp10", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", "400 multiple_host"},
    {"HostWithSpace", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400 invalid_host"},
    {"HostWithSlash", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "400 invalid_host"},
    {"HostWithAt", "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", "400 invalid_host"},
    // Request line
    {"NoVersion", "GET /\r\nHost: h\r\n\r\n", "400 invalid_request_line"},
    {"OnlyMethod", "GET\r\nHost: h\r\n\r\n", "400 invalid_request_line"},
    {"DoubleSpace", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_request_line"},
    {"LeadingSpace", " GET / HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_request_line"},
    {"TrailingSpace", "GET / HTTP/1.1 \r\nHost: h\r\n\r\n", "400 invalid_version"},
    {"MethodWithSlash", "GE/T / HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_method"},
    {"MethodWithTab", "GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_method"},
    {"MethodWithHighByte", "G\xc9T / HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_method"},
    {"LowercaseVersion", "GET / http/1.1\r\nHost: h\r\n\r\n", "400 invalid_version"},
    {"VersionOneDigit", "GET / HTTP/1\r\nHost: h\r\n\r\n", "400 invalid_version"},
    {"VersionLong", "GET / HTTP/1.10\r\nHost: h\r\n\r\n", "400 invalid_version"},
    {"Http2", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", "505 unsupported_version"},
    {"Http12", "GET / HTTP/1.2\r\nHost: h\r\n\r\n", "505 unsupported_version"},
    {"Http09Style", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", "505 unsupported_version"},
    {"TargetWithFragment", "GET /a#b HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_target"},
    {"TargetWithCtl", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_target"},
    {"TargetWithHighByte", "GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_target"},
    {"TargetNoSlash", "GET index.html HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_target"},
    {"AsteriskNotOptions", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_target"},
    {"ConnectOriginForm", "CONNECT / HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_target"},
    {"ConnectNoPort", "CONNECT a.example HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_target"},
    {"ConnectBadPort", "CONNECT a.example:x HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_target"},
    {"AbsoluteBadScheme", "GET 1http://a/ HTTP/1.1\r\nHost: h\r\n\r\n", "400 invalid_target"},
};

INSTANTIATE_TEST_SUITE_P(Rules, RequestRejection, ::testing::ValuesIn(Rejections),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(RequestParser, NulInValueIsRejected) {
  // Built explicitly: a C string literal would stop at the NUL.
  const std::string msg = std::string("GET / HTTP/1.1\r\nHost: h\r\nX: a") + '\0' + "b\r\n\r\n";
  EXPECT_EQ(requestError(msg), "400 invalid_header_value");
}

// --- Limits ----------------------------------------------------------------------------------

TEST(RequestLimits, UriTooLong) {
  Limits l;
  l.maxTargetBytes = 32;
  EXPECT_EQ(requestError("GET /" + std::string(31, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", l), "ok");
  EXPECT_EQ(requestError("GET /" + std::string(32, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n", l),
            "414 uri_too_long");
}

TEST(RequestLimits, UriTooLongDetectedBeforeLineEnds) {
  Limits l;
  l.maxTargetBytes = 100;
  // No CRLF yet: the parser gives up without buffering up to the head limit.
  Parser p(Req, l);
  EXPECT_EQ(p.parse("GET /" + std::string(400, 'a')).event, Event::Error);
  EXPECT_EQ(p.error().status, 414);
  EXPECT_EQ(p.error().code, ErrorCode::UriTooLong);
}

TEST(RequestLimits, HeadTooLarge) {
  Limits l;
  l.maxHeadBytes = 64;
  const std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  const std::string fits = head + std::string(64 - head.size() - 4, 'v') + "\r\n\r\n";
  ASSERT_EQ(fits.size(), 64u);
  EXPECT_EQ(requestError(fits, l), "ok");
  const std::string over = head + std::string(64 - head.size() - 3, 'v') + "\r\n\r\n";
  EXPECT_EQ(requestError(over, l), "431 head_too_large");
  // Unterminated head: refused as soon as it passes the limit.
  EXPECT_EQ(requestError(head + std::string(100, 'v'), l), "431 head_too_large");
}

TEST(RequestLimits, HeadLimitHitInRequestLineIs414) {
  Limits l;
  l.maxHeadBytes = 64;
  EXPECT_EQ(requestError("GET /" + std::string(100, 'a'), l), "414 uri_too_long");
}

TEST(RequestLimits, EmptyLineFloodIsBounded) {
  Limits l;
  l.maxHeadBytes = 64;
  std::string flood;
  for (int i = 0; i < 40; ++i)
    flood += "\r\n";
  EXPECT_EQ(requestError(flood, l), "431 head_too_large");
}

TEST(RequestLimits, TooManyHeaders) {
  Limits l;
  l.maxHeaders = 3;
  EXPECT_EQ(requestError("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", l), "ok");
  EXPECT_EQ(requestError("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", l),
            "431 too_many_headers");
}

TEST(RequestLimits, BodyLimitSetAfterHead) {
  const std::string msg = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
  EXPECT_EQ(requestError(msg, {}, 10), "ok");
  EXPECT_EQ(requestError(msg, {}, 9), "413 body_too_large");
  Limits l;
  l.maxBodyBytes = 9;
  EXPECT_EQ(requestError(msg, l), "413 body_too_large");
  // The per-message override wins over the default, both ways.
  EXPECT_EQ(requestError(msg, l, 100), "ok");
}

TEST(RequestLimits, BodyLimitResetsForTheNextMessage) {
  Limits l;
  l.maxBodyBytes = 3;
  Parser p(Req, l);
  std::string_view in = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
                        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
  Step s = p.parse(in);
  ASSERT_EQ(s.event, Event::Head);
  p.setBodyLimit(5);
  in.remove_prefix(s.consumed);
  s = p.parse(in);
  ASSERT_EQ(s.event, Event::Body);
  in.remove_prefix(s.consumed);
  ASSERT_EQ(p.parse(in).event, Event::Complete);
  s = p.parse(in);
  ASSERT_EQ(s.event, Event::Head);
  in.remove_prefix(s.consumed);
  EXPECT_EQ(p.parse(in).event, Event::Error);
  EXPECT_EQ(p.error().status, 413);
}

TEST(RequestParser, ReleaseMemoryBetweenMessages) {
  Parser p(Req);
  EXPECT_EQ(test::drive(p, {"GET / HTTP/1.1\r\nHo", "st: h\r\n\r\n"}),
            "head GET / 1.1 [Host: h] none\ncomplete keep-alive\n");
  EXPECT_EQ(p.parse({}).event, Event::NeedMore);
  p.releaseMemory();
  EXPECT_EQ(test::drive(p, {"GET /2 HTTP/1.1\r\nHost: h\r\n\r\n"}),
            "head GET /2 1.1 [Host: h] none\ncomplete keep-alive\n");
}

} // namespace
} // namespace ringway::http
