// Syntax of a complete head (start line, field lines) and the framing decision (RFC 9112 6.3).
#include <cstring>

#include "http/chars.h"
#include "http/fields.h"
#include "http/parser.h"

namespace ringway::http {

namespace {

// Splits the next CRLF-terminated line off `block`. The scanner already checked that every LF
// follows a CR, so only a CR that is not followed by LF is left to catch here.
ErrorCode nextLine(std::string_view block, size_t& pos, std::string_view& line) {
  const auto* cr =
      static_cast<const char*>(std::memchr(block.data() + pos, '\r', block.size() - pos));
  if (cr == nullptr) // cannot happen: a block ends in CRLF
    return ErrorCode::BareLf;
  const size_t at = static_cast<size_t>(cr - block.data());
  if (at + 1 >= block.size() || block[at + 1] != '\n')
    return ErrorCode::BareCr;
  line = block.substr(pos, at - pos);
  pos = at + 2;
  return ErrorCode::None;
}

// field-line = field-name ":" OWS field-value OWS  (RFC 9112 5)
ErrorCode parseFieldLine(std::string_view line, Header& out) {
  if (isWs(line[0]))
    return ErrorCode::ObsFold; // a continuation line (or whitespace before the first field)
  size_t k = 0;
  while (k < line.size() && isTchar(line[k]))
    ++k;
  if (k == line.size())
    return ErrorCode::MissingColon;
  if (line[k] != ':') {
    size_t j = k;
    while (j < line.size() && isWs(line[j]))
      ++j;
    if (j > k && j < line.size() && line[j] == ':' && k > 0)
      return ErrorCode::WhitespaceBeforeColon; // RFC 9112 5.1: MUST reject with 400
    if (line.find(':', k) == std::string_view::npos)
      return ErrorCode::MissingColon;
    return ErrorCode::InvalidHeaderName;
  }
  if (k == 0)
    return ErrorCode::InvalidHeaderName;
  out.name = line.substr(0, k);
  out.value = trimWs(line.substr(k + 1));
  for (const char c : out.value)
    if (!isFieldValueChar(c))
      return ErrorCode::InvalidHeaderValue;
  return ErrorCode::None;
}

// HTTP-version = "HTTP/" DIGIT "." DIGIT; a well-formed version other than 1.0/1.1 is 505.
ErrorCode parseVersion(std::string_view v, Version& out) {
  if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !isDigit(v[5]) || v[6] != '.' || !isDigit(v[7]))
    return ErrorCode::InvalidVersion;
  if (v[5] == '1' && v[7] == '1')
    out = Version::Http11;
  else if (v[5] == '1' && v[7] == '0')
    out = Version::Http10;
  else
    return ErrorCode::UnsupportedVersion;
  return ErrorCode::None;
}

bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

} // namespace

ErrorCode Parser::parseHeadBlock(std::string_view head) {
  size_t pos = 0;
  std::string_view line;
  if (const ErrorCode e = nextLine(head, pos, line); e != ErrorCode::None)
    return e;
  if (const ErrorCode e = kind_ == Kind::Request ? parseRequestLine(line) : parseStatusLine(line);
      e != ErrorCode::None)
    return e;
  for (;;) {
    if (const ErrorCode e = nextLine(head, pos, line); e != ErrorCode::None)
      return e;
    if (line.empty())
      break;
    Header h;
    if (const ErrorCode e = parseFieldLine(line, h); e != ErrorCode::None)
      return e;
    if (headers_.size() >= limits_.maxHeaders)
      return ErrorCode::TooManyHeaders;
    headers_.push_back(h);
    if (const ErrorCode e = addField(h); e != ErrorCode::None)
      return e;
  }
  return decideFraming();
}

// request-line = method SP request-target SP HTTP-version, single spaces only (RFC 9112 3).
ErrorCode Parser::parseRequestLine(std::string_view line) {
  const size_t sp1 = line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0)
    return ErrorCode::InvalidRequestLine;
  methodName_ = line.substr(0, sp1);
  if (!isToken(methodName_))
    return ErrorCode::InvalidMethod;
  method_ = parseMethod(methodName_);
  const size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1)
    return ErrorCode::InvalidRequestLine; // HTTP/0.9, or two spaces
  target_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (target_.size() > limits_.maxTargetBytes)
    return ErrorCode::UriTooLong;
  if (const ErrorCode e = parseVersion(line.substr(sp2 + 1), version_); e != ErrorCode::None)
    return e;
  return parseTarget();
}

ErrorCode Parser::parseTarget() {
  for (const char c : target_)
    if (!isTargetChar(c))
      return ErrorCode::InvalidTarget;
  if (method_ == Method::Connect) { // authority-form = uri-host ":" port, and nothing else
    const size_t colon = target_.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == target_.size())
      return ErrorCode::InvalidTarget;
    for (const char c : target_.substr(0, colon))
      if (!isHostChar(c))
        return ErrorCode::InvalidTarget;
    for (const char c : target_.substr(colon + 1))
      if (!isDigit(c))
        return ErrorCode::InvalidTarget;
    targetForm_ = TargetForm::Authority;
    return ErrorCode::None;
  }
  if (target_[0] == '/') {
    targetForm_ = TargetForm::Origin;
    return ErrorCode::None;
  }
  if (target_ == "*") {
    targetForm_ = TargetForm::Asterisk;
    return method_ == Method::Options ? ErrorCode::None : ErrorCode::InvalidTarget;
  }
  // absolute-form: scheme ":" hier-part, scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  if (!isAlpha(target_[0]))
    return ErrorCode::InvalidTarget;
  size_t k = 1;
  while (k < target_.size() && (isAlpha(target_[k]) || isDigit(target_[k]) || target_[k] == '+' ||
                                target_[k] == '-' || target_[k] == '.'))
    ++k;
  if (k + 1 >= target_.size() || target_[k] != ':')
    return ErrorCode::InvalidTarget;
  targetForm_ = TargetForm::Absolute;
  return ErrorCode::None;
}

// status-line = HTTP-version SP status-code SP [ reason-phrase ]; a missing final SP is accepted.
ErrorCode Parser::parseStatusLine(std::string_view line) {
  if (const ErrorCode e = parseVersion(line.substr(0, 8), version_); e != ErrorCode::None)
    return e;
  if (line.size() < 9 || line[8] != ' ')
    return ErrorCode::InvalidStatusLine;
  if (line.size() < 12 || !isDigit(line[9]) || !isDigit(line[10]) || !isDigit(line[11]) ||
      (line.size() > 12 && isDigit(line[12])))
    return ErrorCode::InvalidStatus;
  status_ = static_cast<uint16_t>((line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0'));
  if (status_ < 100 || status_ > 599)
    return ErrorCode::InvalidStatus;
  if (line.size() > 12) {
    if (line[12] != ' ')
      return ErrorCode::InvalidStatusLine;
    reason_ = line.substr(13);
    for (const char c : reason_)
      if (!isFieldValueChar(c))
        return ErrorCode::InvalidStatusLine;
  }
  return ErrorCode::None;
}

ErrorCode Parser::addField(const Header& h) {
  // Dispatch on length first: most fields are none of these four.
  switch (h.name.size()) {
  case 4:
    if (equalsIgnoreCase(h.name, "host")) {
      ++facts_.hosts;
      if (kind_ == Kind::Request)
        for (const char c : h.value)
          if (!isHostChar(c))
            return ErrorCode::InvalidHost;
    }
    break;
  case 10:
    if (equalsIgnoreCase(h.name, "connection")) {
      const ConnectionOptions o = parseConnection(h.value);
      facts_.close |= o.close;
      facts_.keepAlive |= o.keepAlive;
      facts_.upgrade |= o.upgrade;
    }
    break;
  case 14:
    if (equalsIgnoreCase(h.name, "content-length"))
      return addContentLength(h.value);
    break;
  case 17:
    if (equalsIgnoreCase(h.name, "transfer-encoding"))
      addTransferEncoding(h.value);
    break;
  default:
    break;
  }
  return ErrorCode::None;
}

// Content-Length = 1*DIGIT. A list of identical values ("5, 5", or the field repeated with the
// same value) is one length (RFC 9110 8.6 allows this); any difference is an error.
ErrorCode Parser::addContentLength(std::string_view value) {
  size_t i = 0;
  for (;;) {
    while (i < value.size() && isWs(value[i]))
      ++i;
    if (i == value.size() || !isDigit(value[i]))
      return ErrorCode::InvalidContentLength;
    uint64_t n = 0;
    for (; i < value.size() && isDigit(value[i]); ++i) {
      const auto d = static_cast<uint64_t>(value[i] - '0');
      if (n > (UINT64_MAX - d) / 10)
        return ErrorCode::InvalidContentLength;
      n = n * 10 + d;
    }
    while (i < value.size() && isWs(value[i]))
      ++i;
    if (facts_.hasContentLength && n != facts_.contentLength)
      return ErrorCode::ConflictingContentLength;
    facts_.hasContentLength = true;
    facts_.contentLength = n;
    if (i == value.size())
      return ErrorCode::None;
    if (value[i] != ',')
      return ErrorCode::InvalidContentLength;
    ++i;
  }
}

// Transfer-Encoding = #transfer-coding. Codings are collected across field lines (they form one
// list); the decision waits until all fields are seen.
void Parser::addTransferEncoding(std::string_view value) {
  facts_.hasTransferEncoding = true;
  for (;;) {
    const size_t comma = value.find(',');
    const std::string_view coding = trimWs(value.substr(0, comma));
    if (!isToken(coding)) // empty elements and parameters are not accepted either
      facts_.teMalformed = true;
    const bool chunked = equalsIgnoreCase(coding, "chunked");
    ++facts_.teCodings;
    facts_.teChunked += chunked ? 1 : 0;
    facts_.teLastChunked = chunked;
    if (comma == std::string_view::npos)
      return;
    value.remove_prefix(comma + 1);
  }
}

ErrorCode Parser::decideFraming() {
  const FieldFacts& f = facts_;
  if (kind_ == Kind::Request) {
    if (f.hosts > 1)
      return ErrorCode::MultipleHost;
    if (f.hosts == 0 && version_ == Version::Http11)
      return ErrorCode::MissingHost;
    if (f.hasTransferEncoding) {
      if (f.hasContentLength)
        return ErrorCode::ContentLengthWithTransferEncoding;
      if (version_ == Version::Http10)
        return ErrorCode::TransferEncodingHttp10;
      // A proxy must not guess at codings it cannot decode: only a lone "chunked" is framing.
      if (f.teMalformed || f.teCodings != 1 || f.teChunked != 1)
        return ErrorCode::UnsupportedTransferEncoding;
      framing_ = {BodyKind::Chunked, 0};
    } else if (f.hasContentLength) {
      framing_ = {BodyKind::ContentLength, f.contentLength};
    }
    return ErrorCode::None;
  }
  if (f.hasTransferEncoding) {
    if (f.hasContentLength)
      return ErrorCode::ContentLengthWithTransferEncoding;
    if (version_ == Version::Http10)
      return ErrorCode::TransferEncodingHttp10;
    if (f.teMalformed || f.teChunked > 1 || (f.teChunked == 1 && !f.teLastChunked))
      return ErrorCode::InvalidTransferEncoding;
  }
  // RFC 9112 6.3 items 1 and 2: these never have content, whatever the fields say.
  const bool noBody = status_ < 200 || status_ == 204 || status_ == 304 ||
                      requestMethod_ == Method::Head ||
                      (requestMethod_ == Method::Connect && status_ / 100 == 2);
  if (noBody)
    framing_ = {BodyKind::None, 0};
  else if (f.hasTransferEncoding) // e.g. "gzip": no chunked, so the close delimits the body
    framing_ = {f.teLastChunked ? BodyKind::Chunked : BodyKind::UntilClose, 0};
  else if (f.hasContentLength)
    framing_ = {BodyKind::ContentLength, f.contentLength};
  else
    framing_ = {BodyKind::UntilClose, 0};
  return ErrorCode::None;
}

ErrorCode Parser::parseTrailerBlock(std::string_view block) {
  size_t pos = 0;
  std::string_view line;
  for (;;) {
    if (const ErrorCode e = nextLine(block, pos, line); e != ErrorCode::None)
      return e;
    if (line.empty())
      return ErrorCode::None;
    Header h;
    if (const ErrorCode e = parseFieldLine(line, h); e != ErrorCode::None)
      return e;
    // Framing and routing fields in trailers would let a later hop re-frame the message.
    if (equalsIgnoreCase(h.name, "content-length") ||
        equalsIgnoreCase(h.name, "transfer-encoding") || equalsIgnoreCase(h.name, "host"))
      return ErrorCode::ForbiddenTrailer;
    if (trailers_.size() >= limits_.maxHeaders)
      return ErrorCode::TooManyHeaders;
    trailers_.push_back(h);
  }
}

} // namespace ringway::http
