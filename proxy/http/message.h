// Vocabulary shared by the parser, the field helpers and the head writer.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ringway::http {

// Views into the received bytes (or the parser's assembly buffer when the head was split).
struct Header {
  std::string_view name;  // as received; compare with equalsIgnoreCase
  std::string_view value; // leading and trailing whitespace removed
};

// Only these two are accepted; anything else is 505 (see README.md).
enum class Version : uint8_t { Http10, Http11 };

// Methods the framing rules care about, plus the common ones for routing; the exact spelling is
// always available as a string.
enum class Method : uint8_t { Other, Get, Head, Post, Put, Delete, Connect, Options, Trace, Patch };

// Methods are case-sensitive (RFC 9110 9.1): "get" is Method::Other.
Method parseMethod(std::string_view name);

enum class BodyKind : uint8_t {
  None,          // no body: no framing headers, or a response that cannot have one
  ContentLength, // exactly Framing::contentLength bytes
  Chunked,       // chunked coding; body events carry the decoded data
  UntilClose,    // responses only: the body ends when the upstream closes
};

struct Framing {
  BodyKind kind = BodyKind::None;
  uint64_t contentLength = 0; // BodyKind::ContentLength only
};

enum class TargetForm : uint8_t { Origin, Absolute, Authority, Asterisk };

// First header named `name` (case-insensitive), or nullptr.
const Header* findHeader(std::span<const Header> headers, std::string_view name);

} // namespace ringway::http
