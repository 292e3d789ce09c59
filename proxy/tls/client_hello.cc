#include "tls/client_hello.h"

#include <algorithm>
#include <cstring>
#include <utility>

namespace ringway::tls {

namespace {

constexpr uint8_t kHandshake = 22;
constexpr uint8_t kClientHello = 1;
constexpr std::size_t kRecordHeader = 5;
constexpr std::size_t kHandshakeHeader = 4;
constexpr std::size_t kMaxRecord = 16384; // 2^14: the TLSPlaintext limit
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtAlpn = 16;

// Bounds-checked cursor over untrusted bytes: every read fails instead of running past the end.
class Reader {
public:
  explicit Reader(std::span<const std::byte> b) : b_(b) {}
  std::size_t left() const { return b_.size(); }
  bool u8(uint8_t& v) {
    if (b_.empty())
      return false;
    v = static_cast<uint8_t>(b_[0]);
    b_ = b_.subspan(1);
    return true;
  }
  bool u16(uint16_t& v) {
    if (b_.size() < 2)
      return false;
    v = static_cast<uint16_t>(static_cast<uint8_t>(b_[0]) << 8 | static_cast<uint8_t>(b_[1]));
    b_ = b_.subspan(2);
    return true;
  }
  bool take(std::size_t n, std::span<const std::byte>& out) {
    if (b_.size() < n)
      return false;
    out = b_.first(n);
    b_ = b_.subspan(n);
    return true;
  }
  bool skip(std::size_t n) {
    std::span<const std::byte> unused;
    return take(n, unused);
  }
  // A vector with a 1- or 2-byte length prefix, as a sub-reader.
  bool vec8(Reader& out) {
    uint8_t n = 0;
    std::span<const std::byte> s;
    if (!u8(n) || !take(n, s))
      return false;
    out = Reader(s);
    return true;
  }
  bool vec16(Reader& out) {
    uint16_t n = 0;
    std::span<const std::byte> s;
    if (!u16(n) || !take(n, s))
      return false;
    out = Reader(s);
    return true;
  }
  std::span<const std::byte> rest() const { return b_; }

private:
  std::span<const std::byte> b_;
};

uint8_t at(std::span<const std::byte> b, std::size_t i) { return static_cast<uint8_t>(b[i]); }

std::string toString(std::span<const std::byte> s) {
  return std::string(reinterpret_cast<const char*>(s.data()), s.size());
}

PeekResult verdict(PeekStatus status, const char* reason) {
  PeekResult r;
  r.status = status;
  r.reason = reason;
  return r;
}

// Host names are ASCII without spaces or controls; anything else is not worth routing on.
bool plausibleHostName(std::span<const std::byte> name) {
  if (name.empty() || name.size() > 255)
    return false;
  return std::all_of(name.begin(), name.end(), [](std::byte c) {
    const auto u = static_cast<uint8_t>(c);
    return u > 0x20 && u < 0x7f;
  });
}

const char* parseServerName(Reader ext, ClientHello& hello) {
  Reader list(std::span<const std::byte>{});
  if (!ext.vec16(list) || ext.left() != 0 || list.left() == 0)
    return "malformed server_name";
  while (list.left() > 0) {
    uint8_t type = 0;
    Reader name(std::span<const std::byte>{});
    if (!list.u8(type) || !list.vec16(name))
      return "malformed server_name";
    if (type != 0 || hello.server_name)
      continue; // RFC 6066: one host_name; skip other types
    if (!plausibleHostName(name.rest()))
      return "invalid server_name host name";
    hello.server_name = toString(name.rest());
  }
  return nullptr;
}

const char* parseAlpn(Reader ext, ClientHello& hello) {
  Reader list(std::span<const std::byte>{});
  if (!ext.vec16(list) || ext.left() != 0 || list.left() < 2)
    return "malformed ALPN";
  std::vector<std::string> protocols;
  while (list.left() > 0) {
    Reader p(std::span<const std::byte>{});
    if (!list.vec8(p) || p.left() == 0)
      return "malformed ALPN";
    protocols.push_back(toString(p.rest()));
  }
  hello.alpn = std::move(protocols);
  return nullptr;
}

// Parses the ClientHello body (after the 4-byte handshake header).
const char* parseBody(std::span<const std::byte> body, ClientHello& hello) {
  Reader r(body);
  Reader sessionId(body), ciphers(body), compression(body);
  if (!r.u16(hello.legacy_version) || !r.skip(32))
    return "ClientHello too short";
  if (!r.vec8(sessionId) || sessionId.left() > 32)
    return "malformed session id";
  if (!r.vec16(ciphers) || ciphers.left() < 2 || ciphers.left() % 2 != 0)
    return "malformed cipher suites";
  if (!r.vec8(compression) || compression.left() < 1)
    return "malformed compression methods";
  if (r.left() == 0)
    return nullptr; // no extensions at all: legal, no SNI, no ALPN
  Reader exts(body);
  if (!r.vec16(exts) || r.left() != 0)
    return "malformed extensions block";
  bool seenSni = false, seenAlpn = false;
  while (exts.left() > 0) {
    uint16_t type = 0;
    Reader ext(body);
    if (!exts.u16(type) || !exts.vec16(ext))
      return "malformed extension";
    const char* err = nullptr;
    if (type == kExtServerName) {
      if (std::exchange(seenSni, true))
        return "duplicate server_name";
      err = parseServerName(ext, hello);
    } else if (type == kExtAlpn) {
      if (std::exchange(seenAlpn, true))
        return "duplicate ALPN";
      err = parseAlpn(ext, hello);
    }
    if (err != nullptr)
      return err;
  }
  return nullptr;
}

} // namespace

PeekResult peekClientHello(std::span<const std::byte> in, std::size_t max_bytes) {
  // Pass 1: walk the records, checking headers, until the handshake message is complete.
  std::size_t off = 0;      // start of the current record header in `in`
  std::size_t gathered = 0; // handshake bytes seen so far
  std::size_t total = 0;    // 4 + handshake length, once the header is known
  std::size_t records = 0;
  uint8_t hsHeader[kHandshakeHeader] = {};
  std::size_t end = 0; // where the hello ends in `in`
  for (;;) {
    const std::size_t avail = in.size() - off;
    // Reject early on the first bytes already here, so non-TLS traffic is not left waiting.
    if (avail >= 1 && at(in, off) != kHandshake)
      return verdict(PeekStatus::NotTls, "not a TLS handshake record");
    if (avail >= 2 && at(in, off + 1) != 3)
      return verdict(PeekStatus::NotTls, "not TLS 1.x");
    if (avail < kRecordHeader)
      break;
    const std::size_t len = static_cast<std::size_t>(at(in, off + 3)) << 8 | at(in, off + 4);
    if (len == 0)
      return verdict(PeekStatus::NotTls, "empty handshake record");
    if (len > kMaxRecord)
      return verdict(PeekStatus::NotTls, "record longer than 2^14");
    ++records;
    const std::size_t body = off + kRecordHeader;
    const std::size_t have = std::min(len, in.size() - body);
    for (std::size_t i = 0; i < have && gathered + i < kHandshakeHeader; ++i)
      hsHeader[gathered + i] = at(in, body + i);
    if (gathered < kHandshakeHeader && gathered + have >= kHandshakeHeader) {
      if (hsHeader[0] != kClientHello)
        return verdict(PeekStatus::NotTls, "first handshake message is not a ClientHello");
      total = kHandshakeHeader + (static_cast<std::size_t>(hsHeader[1]) << 16 |
                                  static_cast<std::size_t>(hsHeader[2]) << 8 | hsHeader[3]);
      if (total + kRecordHeader > max_bytes) // even in one record it would not fit
        return verdict(PeekStatus::TooLarge, "ClientHello longer than the limit");
    }
    if (total != 0) {
      // The hello ends in this record (exactly there) or beyond it.
      const std::size_t need = std::min(len, total - gathered);
      if (body + need > max_bytes)
        return verdict(PeekStatus::TooLarge, "ClientHello and its records exceed the limit");
      if (gathered + have >= total) {
        end = body + need;
        break;
      }
    }
    gathered += have;
    if (have < len)
      break; // this record is still arriving
    off = body + len;
  }
  if (end == 0) {
    if (in.size() >= max_bytes)
      return verdict(PeekStatus::TooLarge, "no complete ClientHello within the limit");
    return verdict(PeekStatus::NeedMore, "");
  }

  // Pass 2: the message is usually inside one record; copy fragments together only if not.
  std::span<const std::byte> message;
  std::vector<std::byte> joined;
  if (records == 1) {
    message = in.subspan(kRecordHeader, total);
  } else {
    joined.reserve(total);
    for (std::size_t p = 0; joined.size() < total;) {
      const std::size_t len = static_cast<std::size_t>(at(in, p + 3)) << 8 | at(in, p + 4);
      const std::size_t n = std::min(len, total - joined.size());
      const auto frag = in.subspan(p + kRecordHeader, n);
      joined.insert(joined.end(), frag.begin(), frag.end());
      p += kRecordHeader + len;
    }
    message = joined;
  }

  PeekResult result;
  if (const char* err = parseBody(message.subspan(kHandshakeHeader), result.hello)) {
    return verdict(PeekStatus::NotTls, err);
  }
  result.status = PeekStatus::Done;
  result.hello.wire_bytes = end;
  return result;
}

} // namespace ringway::tls
