// Reads SNI and ALPN out of a TLS ClientHello without terminating TLS (passthrough routing).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace ringway::tls {

enum class PeekStatus : uint8_t {
  NeedMore, // a prefix of a plausible ClientHello: read more and call again with all bytes
  Done,     // the whole ClientHello was parsed
  NotTls,   // not a TLS handshake, or a malformed ClientHello (reason says which)
  TooLarge, // the ClientHello would not fit in max_bytes
};

struct ClientHello {
  static constexpr std::size_t DefaultMaxBytes = 16 * 1024;

  uint16_t legacy_version = 0;                  // 0x0303 for TLS 1.2 and 1.3 clients
  std::optional<std::string> server_name;       // the SNI host_name as sent: untrusted
  std::optional<std::vector<std::string>> alpn; // offered protocols in client order
  std::size_t wire_bytes = 0; // bytes of the input up to the hello's end, record headers included
};

struct PeekResult {
  PeekStatus status = PeekStatus::NeedMore;
  const char* reason = ""; // static; why NotTls or TooLarge
  ClientHello hello;       // filled when Done
};

// Pure and stateless: call with everything received so far (the input is not retained).
// The hello may span several handshake records and any number of reads. max_bytes bounds
// what the caller must buffer: the hello with its record headers.
PeekResult peekClientHello(std::span<const std::byte> received,
                           std::size_t max_bytes = ClientHello::DefaultMaxBytes);

} // namespace ringway::tls
