// Test helper: feeds a parser a list of pieces and renders every event as one line of text, so a
// whole-message run and a split run can be compared with a single EXPECT_EQ (and a failure shows
// both transcripts). Body pieces are merged, since their boundaries follow the input's.
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "http/error.h"
#include "http/parser.h"

namespace ringway::http::test {

inline std::string renderHead(const Parser& p) {
  std::string out = "head ";
  if (p.kind() == Parser::Kind::Request) {
    out += std::string(p.methodName()) + " " + std::string(p.target());
  } else {
    out += std::to_string(p.status()) + " '" + std::string(p.reason()) + "'";
  }
  out += p.version() == Version::Http11 ? " 1.1" : " 1.0";
  for (const Header& h : p.headers())
    out += " [" + std::string(h.name) + ": " + std::string(h.value) + "]";
  switch (p.framing().kind) {
  case BodyKind::None:
    out += " none";
    break;
  case BodyKind::ContentLength:
    out += " length=" + std::to_string(p.framing().contentLength);
    break;
  case BodyKind::Chunked:
    out += " chunked";
    break;
  case BodyKind::UntilClose:
    out += " until-close";
    break;
  }
  return out + "\n";
}

struct DriveOptions {
  bool eof = false;       // call finish() after the last piece
  uint64_t bodyLimit = 0; // when non-zero, set after each Head event
  Method requestMethod = Method::Get;
  bool* broken = nullptr; // set when the parser breaks its contract (see drive)
};

// Each piece lives in its own heap buffer that is scribbled over and freed once the parser says
// NeedMore, as a recycled provided buffer would be: a parser that kept a view into it fails the
// comparison, or ASan catches it.
inline std::string drive(Parser& p, const std::vector<std::string>& pieces,
                         const DriveOptions& opt = {}) {
  std::string out;
  std::string body;
  auto flushBody = [&]() {
    if (!body.empty())
      out += "body '" + body + "'\n";
    body.clear();
  };
  p.setRequestMethod(opt.requestMethod);
  for (const std::string& piece : pieces) {
    std::unique_ptr<char[]> buf(new char[piece.size() + 1]);
    std::memcpy(buf.get(), piece.data(), piece.size());
    std::string_view in(buf.get(), piece.size());
    for (;;) {
      const Step s = p.parse(in);
      // Contract: consumed stays within the input, a body is a view into the consumed bytes,
      // NeedMore means everything was used.
      const bool bodyInside =
          s.body.empty() ||
          (s.body.data() >= in.data() && s.body.data() + s.body.size() <= in.data() + s.consumed);
      if (s.consumed > in.size() || !bodyInside ||
          (s.event == Event::NeedMore && s.consumed != in.size())) {
        if (opt.broken != nullptr)
          *opt.broken = true;
        return out + "contract broken\n";
      }
      in.remove_prefix(s.consumed);
      if (s.event == Event::NeedMore)
        break;
      if (s.event == Event::Head) {
        flushBody();
        out += renderHead(p);
        if (opt.bodyLimit != 0)
          p.setBodyLimit(opt.bodyLimit);
      } else if (s.event == Event::Body) {
        body.append(s.body);
      } else if (s.event == Event::Complete) {
        if (body.size() != p.bodyBytes() && opt.broken != nullptr)
          *opt.broken = true;
        flushBody();
        for (const Header& h : p.trailers())
          out += "trailer [" + std::string(h.name) + ": " + std::string(h.value) + "]\n";
        out += p.keepAlive() ? "complete keep-alive\n" : "complete close\n";
      } else if (s.event == Event::Error) {
        flushBody();
        return out + "error " + std::to_string(p.error().status) + " " +
               std::string(errorName(p.error().code)) + "\n";
      }
    }
    std::memset(buf.get(), 'X', piece.size());
  }
  flushBody();
  if (opt.eof) {
    const Step s = p.finish();
    if (s.event == Event::Complete)
      out += p.keepAlive() ? "complete keep-alive\n" : "complete close\n";
    else if (s.event == Event::Closed)
      out += "closed\n";
    else if (s.event == Event::Error)
      out += "error " + std::to_string(p.error().status) + " " +
             std::string(errorName(p.error().code)) + "\n";
  }
  return out;
}

inline std::string driveWhole(Parser::Kind kind, std::string_view msg, const DriveOptions& opt = {},
                              const Limits& limits = {}) {
  Parser p(kind, limits);
  return drive(p, {std::string(msg)}, opt);
}

// The error a request gets, as "<status> <reason>", or "ok".
inline std::string requestError(std::string_view msg, const Limits& limits = {},
                                uint64_t bodyLimit = 0) {
  Parser p(Parser::Kind::Request, limits);
  DriveOptions opt;
  opt.bodyLimit = bodyLimit;
  drive(p, {std::string(msg)}, opt);
  if (!p.failed())
    return "ok";
  return std::to_string(p.error().status) + " " + std::string(errorName(p.error().code));
}

inline std::string responseError(std::string_view msg, Method requestMethod = Method::Get,
                                 const Limits& limits = {}) {
  Parser p(Parser::Kind::Response, limits);
  DriveOptions opt;
  opt.requestMethod = requestMethod;
  drive(p, {std::string(msg)}, opt);
  if (!p.failed())
    return "ok";
  return std::to_string(p.error().status) + " " + std::string(errorName(p.error().code));
}

} // namespace ringway::http::test
