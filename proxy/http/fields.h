// Field helpers a proxy needs: list splitting, Connection options, hop-by-hop classification.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

#include "http/message.h"

namespace ringway::http {

// Splits the next element off a comma-separated list (RFC 9110 5.6.1), trimmed of whitespace;
// empty elements are skipped as the RFC asks of recipients. False once the list is used up.
bool nextListElement(std::string_view& list, std::string_view& element);

// Does the list hold `token` (case-insensitive)?  listContains("keep-alive, Upgrade", "upgrade")
bool listContains(std::string_view list, std::string_view token);

struct ConnectionOptions {
  bool close = false;
  bool keepAlive = false;
  bool upgrade = false;
};

ConnectionOptions parseConnection(std::string_view value);

// The fixed hop-by-hop set: Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade (RFC 9110 7.6.1; Proxy-Connection is the pre-standard alias).
bool isHopByHopName(std::string_view name);

// Classifies a message's fields: the fixed set plus every name its Connection fields list. Holds
// views into `headers`; no allocation (beyond InlineNames it scans the Connection fields again).
class HopByHop {
public:
  explicit HopByHop(std::span<const Header> headers);

  bool contains(std::string_view name) const;

private:
  static constexpr size_t InlineNames = 16;
  std::span<const Header> headers_;
  std::array<std::string_view, InlineNames> names_{};
  size_t count_ = 0;
  bool overflow_ = false;
};

} // namespace ringway::http
