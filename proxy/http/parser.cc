// Driving state machine, head assembly and body framing. Head syntax is in parser_head.cc.
#include "http/parser.h"

#include <algorithm>
#include <cstring>

#include "http/chars.h"

namespace ringway::http {

namespace {

// Room for the method, two spaces and the version around a target of maxTargetBytes, so an
// over-long request line is cut off (414) before it fills the head buffer.
constexpr size_t StartLineSlack = 64;
// Buffers above this are freed when a message ends rather than kept for the next one: an idle
// keep-alive connection should not pin a large head.
constexpr size_t RetainBytes = 2048;
constexpr size_t RetainHeaders = 64;

enum class LineEnd : uint8_t { More, Line, BareLf };

struct Scanned {
  LineEnd end;
  size_t length; // LineEnd::Line: bytes of the line before its LF, CR included
};

template <class Scan> Scanned scanLine(std::string_view in, size_t& i, Scan& scan) {
  const size_t rest = in.size() - i;
  // An empty input may have a null data(), which memchr must not see.
  const auto* lf =
      rest == 0 ? nullptr : static_cast<const char*>(std::memchr(in.data() + i, '\n', rest));
  if (lf == nullptr) {
    if (rest > 0) {
      scan.prevCr = in.back() == '\r';
      scan.line += rest;
      scan.total += rest;
    }
    i = in.size();
    return {LineEnd::More, 0};
  }
  const size_t at = static_cast<size_t>(lf - in.data());
  // The CR may have ended the previous input.
  const bool cr = at > i ? in[at - 1] == '\r' : (scan.line > 0 && scan.prevCr);
  const size_t length = scan.line + (at - i);
  scan.total += at - i + 1;
  scan.line = 0;
  scan.prevCr = false;
  i = at + 1;
  return {cr ? LineEnd::Line : LineEnd::BareLf, length};
}

template <class T> void clearRetaining(T& buf, size_t keep) {
  if (buf.capacity() > keep)
    T().swap(buf);
  else
    buf.clear();
}

} // namespace

Parser::Parser(Kind kind, const Limits& limits) : kind_(kind), limits_(limits) { startMessage(); }

void Parser::startMessage() {
  state_ = State::Head;
  ext_ = ExtState::Ws;
  scan_ = {};
  clearRetaining(headBuf_, RetainBytes);
  clearRetaining(headers_, RetainHeaders);
  methodName_ = target_ = reason_ = {};
  method_ = Method::Other;
  targetForm_ = TargetForm::Origin;
  version_ = Version::Http11;
  status_ = 0;
  facts_ = {};
  framing_ = {};
  bodyLimit_ = limits_.maxBodyBytes;
  bodyBytes_ = remaining_ = chunkSize_ = 0;
  chunkLine_ = 0;
  chunkDigits_ = false;
  trailerScan_ = {};
  clearRetaining(trailerBuf_, RetainBytes);
  clearRetaining(trailers_, RetainHeaders);
}

void Parser::releaseMemory() {
  if (state_ == State::Done)
    startMessage(); // the caller is done with the last message's views
  if (state_ != State::Head || !headBuf_.empty())
    return; // a message is in progress: its partial head lives in the buffers
  std::string().swap(headBuf_);
  std::vector<Header>().swap(headers_);
  std::string().swap(trailerBuf_);
  std::vector<Header>().swap(trailers_);
}

bool Parser::keepAlive() const {
  if (state_ == State::Failed || framing_.kind == BodyKind::UntilClose || facts_.close)
    return false;
  return version_ == Version::Http11 || facts_.keepAlive;
}

Step Parser::fail(ErrorCode code, size_t at) {
  state_ = State::Failed;
  error_ = {kind_ == Kind::Request ? requestErrorStatus(code) : uint16_t{502}, code};
  return {Event::Error, at, {}};
}

Step Parser::parse(std::string_view in) {
  if (state_ == State::Done)
    startMessage();
  if (state_ == State::Head)
    return parseHead(in);
  return parseBody(in, 0);
}

Step Parser::parseHead(std::string_view in) {
  // In a request an over-long first line is a long URI (414); in a response just a big head.
  const bool request = kind_ == Kind::Request;
  const size_t startLineLimit =
      request ? limits_.maxTargetBytes + StartLineSlack : limits_.maxHeadBytes;
  // Leading empty lines are not counted in `total`, so a limit hit before the start line ends
  // is the start line's.
  auto tooLong = [&]() {
    return fail(request && !scan_.sawLine ? ErrorCode::UriTooLong : ErrorCode::HeadTooLarge);
  };
  size_t i = 0;
  size_t start = 0; // first byte of the head in `in` (leading empty lines are skipped)
  for (;;) {
    const Scanned line = scanLine(in, i, scan_);
    // Limits before syntax, and both in byte order, so the error does not depend on where the
    // input was split: a limit passed before this LF would have been seen at a split there.
    const size_t length = line.end == LineEnd::More ? scan_.line : line.length;
    if ((!scan_.sawLine && length > startLineLimit) || scan_.total > limits_.maxHeadBytes)
      return tooLong();
    if (line.end == LineEnd::BareLf)
      return fail(ErrorCode::BareLf, i);
    if (line.end == LineEnd::More) {
      // The caller may recycle `in` once we return: keep the partial head.
      if (start < in.size())
        headBuf_.append(in.substr(start));
      return {Event::NeedMore, in.size(), {}};
    }
    if (line.length == 1) { // empty line
      if (scan_.sawLine)
        break;
      // RFC 9112 2.2: ignore empty lines before the start line (clients send a stray CRLF after
      // a POST body), but not without bound. Only a CR can be buffered before one.
      scan_.leading += scan_.total;
      scan_.total = 0;
      if (scan_.leading > limits_.maxHeadBytes)
        return fail(ErrorCode::HeadTooLarge, i);
      headBuf_.clear();
      start = i;
      continue;
    }
    scan_.sawLine = true;
  }
  std::string_view head;
  if (headBuf_.empty()) {
    head = in.substr(start, i - start); // zero copy: the whole head is in this input
  } else {
    headBuf_.append(in.data() + start, i - start);
    head = headBuf_;
  }
  if (const ErrorCode e = parseHeadBlock(head); e != ErrorCode::None)
    return fail(e, i);
  state_ = State::BodyStart;
  return {Event::Head, i, {}};
}

Step Parser::parseBody(std::string_view in, size_t off) {
  for (;;) {
    switch (state_) {
    case State::BodyStart:
      switch (framing_.kind) {
      case BodyKind::None:
        state_ = State::Ending;
        break;
      case BodyKind::ContentLength:
        if (framing_.contentLength > bodyLimit_)
          return fail(ErrorCode::BodyTooLarge, off);
        remaining_ = framing_.contentLength;
        state_ = remaining_ == 0 ? State::Ending : State::Fixed;
        break;
      case BodyKind::Chunked:
        state_ = State::ChunkSize;
        break;
      case BodyKind::UntilClose:
        state_ = State::UntilClose;
        break;
      }
      break;
    case State::Fixed: {
      if (off == in.size())
        return {Event::NeedMore, off, {}};
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size() - off));
      remaining_ -= n;
      bodyBytes_ += n;
      if (remaining_ == 0)
        state_ = State::Ending;
      return {Event::Body, off + n, in.substr(off, n)};
    }
    case State::UntilClose: {
      if (off == in.size())
        return {Event::NeedMore, off, {}};
      // Deliver up to the limit, then fail: the same events however the input was split.
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(in.size() - off, bodyLimit_ - bodyBytes_));
      if (n == 0)
        return fail(ErrorCode::BodyTooLarge, off);
      bodyBytes_ += n;
      return {Event::Body, off + n, in.substr(off, n)};
    }
    case State::Trailers:
      return parseTrailers(in, off);
    case State::Ending:
      state_ = State::Done;
      return {Event::Complete, off, {}};
    case State::Failed:
      return {Event::Error, off, {}};
    case State::Head:
    case State::Done: // parse() starts the next message; never reached from here
      return {Event::NeedMore, off, {}};
    default:
      return parseChunked(in, off);
    }
  }
}

Step Parser::parseChunked(std::string_view in, size_t off) {
  size_t i = off;
  while (i < in.size()) {
    const char c = in[i];
    switch (state_) {
    case State::ChunkSize:
      if (isHexDigit(c)) {
        if (chunkSize_ > (UINT64_MAX >> 4))
          return fail(ErrorCode::ChunkSizeOverflow, i);
        chunkSize_ = (chunkSize_ << 4) | static_cast<uint64_t>(hexValue(c));
        chunkDigits_ = true;
      } else if (c == '\n') {
        return fail(ErrorCode::BareLf, i);
      } else if (!chunkDigits_) {
        return fail(ErrorCode::InvalidChunkSize, i);
      } else if (c == '\r') {
        state_ = State::ChunkLf;
      } else if (c == ';') {
        state_ = State::ChunkExt;
        ext_ = ExtState::AfterSemi;
      } else if (isWs(c)) {
        state_ = State::ChunkExt;
        ext_ = ExtState::Ws;
      } else {
        return fail(ErrorCode::InvalidChunkSize, i);
      }
      if (++chunkLine_ > limits_.maxChunkLineBytes)
        return fail(ErrorCode::ChunkLineTooLong, i);
      ++i;
      break;
    case State::ChunkExt: {
      // Extensions are validated (a lax parser here is a smuggling vector) and then ignored.
      bool ok = true;
      switch (ext_) {
      case ExtState::Ws: // BWS only ever precedes ';'
        ok = isWs(c) || c == ';';
        if (c == ';')
          ext_ = ExtState::AfterSemi;
        break;
      case ExtState::AfterSemi:
        ok = isWs(c) || isTchar(c);
        if (isTchar(c))
          ext_ = ExtState::Name;
        break;
      case ExtState::Name:
      case ExtState::Token:
      case ExtState::AfterQuoted:
        if (c == '\r') {
          state_ = State::ChunkLf;
        } else if (c == ';') {
          ext_ = ExtState::AfterSemi;
        } else if (c == '=' && ext_ == ExtState::Name) {
          ext_ = ExtState::AfterEq;
        } else if (isWs(c)) {
          ext_ = ext_ == ExtState::Name ? ExtState::AfterName : ExtState::Ws;
        } else {
          ok = isTchar(c) && ext_ != ExtState::AfterQuoted;
        }
        break;
      case ExtState::AfterName:
        ok = isWs(c) || c == '=' || c == ';';
        if (c == '=')
          ext_ = ExtState::AfterEq;
        else if (c == ';')
          ext_ = ExtState::AfterSemi;
        break;
      case ExtState::AfterEq:
        ok = isWs(c) || isTchar(c) || c == '"';
        if (c == '"')
          ext_ = ExtState::Quoted;
        else if (isTchar(c))
          ext_ = ExtState::Token;
        break;
      case ExtState::Quoted:
        if (c == '"')
          ext_ = ExtState::AfterQuoted;
        else if (c == '\\')
          ext_ = ExtState::QuotedPair;
        else
          ok = isQdtext(c);
        break;
      case ExtState::QuotedPair:
        ok = c == '\t' || (c >= 0x20 && c != 0x7f); // HTAB / SP / VCHAR / obs-text
        ext_ = ExtState::Quoted;
        break;
      }
      if (!ok)
        return fail(c == '\n' ? ErrorCode::BareLf : ErrorCode::InvalidChunkExtension, i);
      if (++chunkLine_ > limits_.maxChunkLineBytes)
        return fail(ErrorCode::ChunkLineTooLong, i);
      ++i;
      break;
    }
    case State::ChunkLf:
      if (c != '\n')
        return fail(ErrorCode::BareCr, i);
      ++i;
      if (chunkSize_ == 0) {
        state_ = State::Trailers;
        return parseTrailers(in, i);
      }
      // Refuse before the data arrives, so an oversized upload is cut off early.
      if (chunkSize_ > bodyLimit_ - bodyBytes_)
        return fail(ErrorCode::BodyTooLarge, i);
      remaining_ = chunkSize_;
      state_ = State::ChunkData;
      break;
    case State::ChunkData: {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size() - i));
      remaining_ -= n;
      bodyBytes_ += n;
      if (remaining_ == 0)
        state_ = State::ChunkDataCr;
      return {Event::Body, i + n, in.substr(i, n)};
    }
    case State::ChunkDataCr:
      if (c != '\r')
        return fail(c == '\n' ? ErrorCode::BareLf : ErrorCode::InvalidChunkData, i);
      state_ = State::ChunkDataLf;
      ++i;
      break;
    case State::ChunkDataLf:
      if (c != '\n')
        return fail(ErrorCode::BareCr, i);
      state_ = State::ChunkSize;
      chunkSize_ = 0;
      chunkLine_ = 0;
      chunkDigits_ = false;
      ++i;
      break;
    default:
      return parseBody(in, i);
    }
  }
  return {Event::NeedMore, i, {}};
}

Step Parser::parseTrailers(std::string_view in, size_t off) {
  size_t i = off;
  for (;;) {
    const Scanned line = scanLine(in, i, trailerScan_);
    if (trailerScan_.total > limits_.maxHeadBytes)
      return fail(ErrorCode::TrailerTooLarge, i);
    if (line.end == LineEnd::BareLf)
      return fail(ErrorCode::BareLf, i);
    if (line.end == LineEnd::More) {
      // Trailers are rare and small: always copied, so a split section needs no special case.
      trailerBuf_.append(in.substr(off));
      return {Event::NeedMore, in.size(), {}};
    }
    if (line.length == 1)
      break;
  }
  trailerBuf_.append(in.data() + off, i - off);
  if (const ErrorCode e = parseTrailerBlock(trailerBuf_); e != ErrorCode::None)
    return fail(e, i);
  state_ = State::Done;
  return {Event::Complete, i, {}};
}

Step Parser::finish() {
  switch (state_) {
  case State::Failed:
    return {Event::Error, 0, {}};
  case State::Done:
    return {Event::Closed, 0, {}};
  case State::Head:
    // Nothing started but (the CR of) an empty line: a clean close between messages.
    if (!scan_.sawLine && (headBuf_.empty() || headBuf_ == "\r"))
      return {Event::Closed, 0, {}};
    return fail(ErrorCode::UnexpectedEof);
  case State::BodyStart:
    if (framing_.kind == BodyKind::None ||
        (framing_.kind == BodyKind::ContentLength && framing_.contentLength == 0))
      break;
    if (framing_.kind == BodyKind::UntilClose)
      break;
    return fail(ErrorCode::UnexpectedEof);
  case State::Ending:
  case State::UntilClose:
    break;
  default:
    return fail(ErrorCode::UnexpectedEof);
  }
  state_ = State::Done;
  return {Event::Complete, 0, {}};
}

} // namespace ringway::http
