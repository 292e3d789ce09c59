// Differential test against Debian's libhttp-parser (nodejs/http-parser 2.9) on VALID input:
// both parsers must agree on method, target, status, version, header list, framing, body,
// trailers and keep-alive. Our parser is stricter, so only messages both accept are generated;
// rejections are covered by tests/http.
#include <gtest/gtest.h>
#include <http_parser.h>

#include <climits>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "http/parser.h"

// Exported by libhttp_parser 2.9 but missing from its header.
extern "C" int http_message_needs_eof(const http_parser* parser);

namespace ringway::http {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct Msg {
  std::string method, target, reason;
  int status = 0;
  int minor = 1;
  Fields headers, trailers;
  std::string framing; // "none", "length=N", "chunked", "until-close"
  std::string body;
  bool keepAlive = false;
  bool operator==(const Msg&) const = default;
};

std::string render(const std::vector<Msg>& msgs) {
  std::string out;
  for (const Msg& m : msgs) {
    out += m.method.empty() ? std::to_string(m.status) + " '" + m.reason + "'"
                            : m.method + " " + m.target;
    out += " 1." + std::to_string(m.minor) + " " + m.framing + (m.keepAlive ? " ka" : " close");
    for (const auto& [n, v] : m.headers)
      out += "\n  [" + n + ": " + v + "]";
    out += "\n  body(" + std::to_string(m.body.size()) + ") '" + m.body + "'";
    for (const auto& [n, v] : m.trailers)
      out += "\n  trailer [" + n + ": " + v + "]";
    out += "\n";
  }
  return out;
}

// --- libhttp-parser side -----------------------------------------------------------------------

struct Ref {
  std::vector<Msg> msgs;
  Msg cur;
  bool inTrailers = false;
  bool lastWasValue = true;
  bool skipBody = false;
};

Ref& ref(http_parser* p) { return *static_cast<Ref*>(p->data); }

int onBegin(http_parser* p) {
  ref(p).cur = {};
  ref(p).inTrailers = false;
  ref(p).lastWasValue = true;
  return 0;
}
int onUrl(http_parser* p, const char* at, size_t n) {
  ref(p).cur.target.append(at, n);
  return 0;
}
int onStatus(http_parser* p, const char* at, size_t n) {
  ref(p).cur.reason.append(at, n);
  return 0;
}
int onField(http_parser* p, const char* at, size_t n) {
  Ref& r = ref(p);
  Fields& f = r.inTrailers ? r.cur.trailers : r.cur.headers;
  if (r.lastWasValue)
    f.emplace_back();
  f.back().first.append(at, n);
  r.lastWasValue = false;
  return 0;
}
int onValue(http_parser* p, const char* at, size_t n) {
  Ref& r = ref(p);
  Fields& f = r.inTrailers ? r.cur.trailers : r.cur.headers;
  f.back().second.append(at, n);
  r.lastWasValue = true;
  return 0;
}
int onHeadersComplete(http_parser* p) {
  Ref& r = ref(p);
  Msg& m = r.cur;
  m.minor = p->http_minor;
  if (p->type == HTTP_REQUEST)
    m.method = http_method_str(static_cast<http_method>(p->method));
  else
    m.status = p->status_code;
  if (r.skipBody)
    m.framing = "none";
  else if (p->flags & F_CHUNKED)
    m.framing = "chunked";
  else if (p->content_length != ULLONG_MAX)
    m.framing = "length=" + std::to_string(p->content_length);
  else if (http_message_needs_eof(p))
    m.framing = "until-close";
  else
    m.framing = "none";
  r.inTrailers = true; // any field callback from here on is a trailer
  r.lastWasValue = true;
  return r.skipBody ? 1 : 0;
}
int onBody(http_parser* p, const char* at, size_t n) {
  ref(p).cur.body.append(at, n);
  return 0;
}
int onComplete(http_parser* p) {
  Ref& r = ref(p);
  r.cur.keepAlive = http_should_keep_alive(p) != 0;
  r.msgs.push_back(r.cur);
  return 0;
}

std::vector<Msg> referenceParse(http_parser_type type, const std::string& stream, bool eof,
                                bool head, std::string& error) {
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_message_begin = onBegin;
  s.on_url = onUrl;
  s.on_status = onStatus;
  s.on_header_field = onField;
  s.on_header_value = onValue;
  s.on_headers_complete = onHeadersComplete;
  s.on_body = onBody;
  s.on_message_complete = onComplete;
  http_parser p;
  http_parser_init(&p, type);
  Ref r;
  r.skipBody = head;
  p.data = &r;
  const size_t n = http_parser_execute(&p, &s, stream.data(), stream.size());
  if (HTTP_PARSER_ERRNO(&p) == HPE_OK && eof)
    http_parser_execute(&p, &s, nullptr, 0);
  if (HTTP_PARSER_ERRNO(&p) != HPE_OK)
    error = std::string(http_errno_name(HTTP_PARSER_ERRNO(&p))) + " at " + std::to_string(n);
  return r.msgs;
}

// --- our side ----------------------------------------------------------------------------------

std::vector<Msg> ourParse(Parser::Kind kind, const std::string& stream, bool eof, Method reqMethod,
                          std::string& error) {
  Parser p(kind);
  p.setRequestMethod(reqMethod);
  std::vector<Msg> msgs;
  Msg cur;
  auto complete = [&]() {
    for (const Header& h : p.trailers())
      cur.trailers.emplace_back(h.name, h.value);
    cur.keepAlive = p.keepAlive();
    msgs.push_back(cur);
    cur = {};
  };
  std::string_view in = stream;
  for (;;) {
    const Step s = p.parse(in);
    in.remove_prefix(s.consumed);
    if (s.event == Event::NeedMore)
      break;
    if (s.event == Event::Error) {
      error = std::string(errorName(p.error().code));
      return msgs;
    }
    if (s.event == Event::Head) {
      if (kind == Parser::Kind::Request) {
        cur.method = p.methodName();
        cur.target = p.target();
      } else {
        cur.status = p.status();
        cur.reason = p.reason();
      }
      cur.minor = p.version() == Version::Http11 ? 1 : 0;
      for (const Header& h : p.headers())
        cur.headers.emplace_back(h.name, h.value);
      switch (p.framing().kind) {
      case BodyKind::None:
        cur.framing = "none";
        break;
      case BodyKind::ContentLength:
        cur.framing = "length=" + std::to_string(p.framing().contentLength);
        break;
      case BodyKind::Chunked:
        cur.framing = "chunked";
        break;
      case BodyKind::UntilClose:
        cur.framing = "until-close";
        break;
      }
    } else if (s.event == Event::Body) {
      cur.body.append(s.body);
    } else if (s.event == Event::Complete) {
      complete();
    }
  }
  if (eof && p.finish().event == Event::Complete)
    complete();
  return msgs;
}

// --- generators of valid messages --------------------------------------------------------------

class Gen {
public:
  explicit Gen(uint32_t seed) : rng_(seed) {}

  size_t below(size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng_); }
  bool coin() { return below(2) == 0; }

  std::string pick(const std::string& alphabet, size_t min, size_t max) {
    std::string s;
    const size_t n = min + below(max - min + 1);
    for (size_t i = 0; i < n; ++i)
      s += alphabet[below(alphabet.size())];
    return s;
  }

  std::string token(size_t min, size_t max) {
    return pick("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min, max);
  }

  // Printable, no leading/trailing whitespace (http-parser keeps trailing whitespace; we trim it).
  std::string value() {
    if (below(8) == 0)
      return "";
    std::string v = pick("abcdefghijklmnopqrstuvwxyz0123456789 ;=,/:.\"()*+!?", 1, 40);
    v[0] = 'v';
    v.back() = 'v';
    return v;
  }

  std::string target() {
    std::string t = "/" + pick("abcdefghijklmnopqrstuvwxyz0123456789/._~-%", 0, 30);
    if (coin())
      t += "?" + pick("abcdefghijklmnopqrstuvwxyz0123456789=&%+", 0, 20);
    return t;
  }

  // Random extra fields that are none of the framing, host or connection ones.
  std::string extraFields() {
    std::string out;
    const size_t n = below(8);
    for (size_t i = 0; i < n; ++i)
      out += "X-" + token(1, 12) + ":" + (coin() ? " " : "") + value() + "\r\n";
    return out;
  }

  // A body with its framing fields; `chunkedOk` false for HTTP/1.0.
  std::pair<std::string, std::string> body(bool chunkedOk, bool allowNone) {
    const size_t kind = below(3);
    if (kind == 0 && allowNone)
      return {"", ""};
    const std::string data = pick("abcdefghijklmnopqrstuvwxyz\r\n0123456789", 0, 200);
    if (kind == 2 && chunkedOk) {
      std::string b;
      size_t at = 0;
      while (at < data.size()) {
        const size_t n = std::min(data.size() - at, 1 + below(60));
        char size[32];
        std::snprintf(size, sizeof size, coin() ? "%zx" : "%zX", n);
        b += size;
        if (below(4) == 0)
          b += ";" + token(1, 6) + (coin() ? "=" + token(1, 6) : "");
        b += "\r\n" + data.substr(at, n) + "\r\n";
        at += n;
      }
      b += "0\r\n";
      if (below(3) == 0)
        b += "X-Trailer-" + token(1, 5) + ": " + value() + "\r\n";
      b += "\r\n";
      return {"Transfer-Encoding: chunked\r\n", b};
    }
    return {"Content-Length: " + std::to_string(data.size()) + "\r\n", data};
  }

  // http-parser refuses bytes after a message that does not keep the connection alive, so only
  // the last message of a stream may close it.
  std::string request(bool last) {
    static const char* Methods[] = {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
    const bool http11 = below(4) != 0;
    std::string m = Methods[below(6)];
    std::string head = m + " " + target() + (http11 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
    std::string fields = "Host: " + token(1, 12) +
                         (coin() ? ":" + std::to_string(below(65536)) : "") + "\r\n" +
                         extraFields();
    if (!http11 && (!last || coin()))
      fields += "Connection: keep-alive\r\n";
    else if (http11 && last && below(4) == 0)
      fields += "Connection: close\r\n";
    auto [framing, body] = this->body(http11, true);
    return head + fields + framing + "\r\n" + body;
  }

  // Returns the response and whether it must be the last one (read until close).
  std::pair<std::string, bool> response(bool last) {
    static const int Statuses[] = {200, 201, 204, 301, 304, 404, 500, 503};
    const bool http11 = below(4) != 0;
    const int status = Statuses[below(8)];
    std::string head = std::string(http11 ? "HTTP/1.1 " : "HTTP/1.0 ") + std::to_string(status) +
                       " " + (coin() ? "Reason " + token(1, 8) : "OK") + "\r\n" + extraFields();
    if (!http11 && (!last || coin()))
      head += "Connection: keep-alive\r\n";
    if (status == 204 || status == 304)
      return {head + "\r\n", false};
    if (last && below(5) == 0) // no framing: the close ends the body
      return {head + "\r\n" + pick("abcdefghij \r\n", 0, 50), true};
    auto [framing, body] = this->body(http11, false);
    return {head + framing + "\r\n" + body, false};
  }

private:
  std::mt19937 rng_;
};

std::string escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '\r')
      out += "\\r";
    else if (c == '\n')
      out += "\\n\n";
    else
      out += c;
  }
  return out;
}

TEST(HttpParserDiff, HandWrittenRequests) {
  for (const char* s : {
           "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET /x?y=z HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
           // Not "Content-Length: 3, 3": we accept identical repeats (RFC 9110 8.6), it does not.
           "POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
           "PUT /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
           "3;e=\"v\"\r\nabc\r\n0\r\nT: 1\r\n\r\n",
           "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n",
           "GET http://a.example/x HTTP/1.1\r\nHost: a.example\r\nConnection: close\r\n\r\n",
       }) {
    std::string e1, e2;
    const auto ours = ourParse(Parser::Kind::Request, s, false, Method::Get, e1);
    const auto theirs = referenceParse(HTTP_REQUEST, s, false, false, e2);
    EXPECT_EQ(e1, "") << s;
    EXPECT_EQ(e2, "") << s;
    EXPECT_EQ(render(ours), render(theirs)) << escaped(s);
  }
}

TEST(HttpParserDiff, ResponseToHead) {
  const std::string s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n";
  std::string e1, e2;
  const auto ours = ourParse(Parser::Kind::Response, s, false, Method::Head, e1);
  const auto theirs = referenceParse(HTTP_RESPONSE, s, false, true, e2);
  EXPECT_EQ(e1 + e2, "");
  EXPECT_EQ(render(ours), render(theirs));
}

TEST(HttpParserDiff, RandomRequestStreams) {
  for (uint32_t seed = 1; seed <= 1500; ++seed) {
    Gen g(seed);
    std::string stream;
    const size_t n = 1 + g.below(4);
    for (size_t i = 0; i < n; ++i)
      stream += g.request(i + 1 == n);
    std::string e1, e2;
    const auto ours = ourParse(Parser::Kind::Request, stream, false, Method::Get, e1);
    const auto theirs = referenceParse(HTTP_REQUEST, stream, false, false, e2);
    ASSERT_EQ(e1, "") << "seed " << seed << "\n" << escaped(stream);
    ASSERT_EQ(e2, "") << "seed " << seed << "\n" << escaped(stream);
    ASSERT_EQ(ours.size(), n) << "seed " << seed;
    ASSERT_EQ(render(ours), render(theirs)) << "seed " << seed << "\n" << escaped(stream);
  }
}

TEST(HttpParserDiff, RandomResponseStreams) {
  for (uint32_t seed = 1; seed <= 1500; ++seed) {
    Gen g(seed);
    std::string stream;
    const size_t n = 1 + g.below(4);
    bool eof = false;
    for (size_t i = 0; i < n && !eof; ++i) {
      auto [msg, last] = g.response(i + 1 == n);
      stream += msg;
      eof = last;
    }
    std::string e1, e2;
    const auto ours = ourParse(Parser::Kind::Response, stream, eof, Method::Get, e1);
    const auto theirs = referenceParse(HTTP_RESPONSE, stream, eof, false, e2);
    ASSERT_EQ(e1, "") << "seed " << seed << "\n" << escaped(stream);
    ASSERT_EQ(e2, "") << "seed " << seed << "\n" << escaped(stream);
    ASSERT_EQ(render(ours), render(theirs)) << "seed " << seed << "\n" << escaped(stream);
  }
}

} // namespace
} // namespace ringway::http
