#include <arpa/inet.h>

#include <charconv>
#include <cstring>

#include "config/config.h"
#include "config/loader.h"

namespace ringway::config {
namespace {

bool parsePort(std::string_view text, uint16_t& out) {
  unsigned v = 0;
  if (text.empty() || text.size() > 5)
    return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v > 65535)
    return false;
  out = static_cast<uint16_t>(v);
  return true;
}

} // namespace

uint16_t Address::port() const {
  switch (storage.ss_family) {
  case AF_INET:
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  case AF_INET6:
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  default:
    return 0;
  }
}

// Only numeric hosts: resolving names at load time would make the config depend on DNS, and
// workers bind the same address on every core, so it must not change between them.
bool parseAddress(const std::string& text, Address& out, std::string& why) {
  if (text.empty()) {
    why = "address is empty (expected a.b.c.d:port or [v6]:port)";
    return false;
  }
  std::string host;
  std::string_view portText;
  bool v6 = false;
  if (text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string::npos) {
      why = "missing ']' after IPv6 address";
      return false;
    }
    host = text.substr(1, close - 1);
    if (close + 1 >= text.size() || text[close + 1] != ':') {
      why = "missing port after ']' (expected [v6]:port)";
      return false;
    }
    portText = std::string_view(text).substr(close + 2);
    v6 = true;
  } else {
    const std::size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      why = "missing port (expected a.b.c.d:port or [v6]:port)";
      return false;
    }
    host = text.substr(0, colon);
    if (host.find(':') != std::string::npos) {
      why = "IPv6 addresses need brackets, e.g. [::1]:8080";
      return false;
    }
    portText = std::string_view(text).substr(colon + 1);
  }

  if (host.empty()) {
    why = "missing host (expected a.b.c.d:port or [v6]:port)";
    return false;
  }
  uint16_t port = 0;
  if (!parsePort(portText, port)) {
    why = "invalid port '" + std::string(portText) + "' (expected a number 0..65535)";
    return false;
  }

  Address a;
  a.text = text;
  if (v6) {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(port);
    if (inet_pton(AF_INET6, host.c_str(), &sin6.sin6_addr) != 1) {
      why = "'" + host + "' is not a numeric IPv6 address";
      return false;
    }
    std::memcpy(&a.storage, &sin6, sizeof sin6);
    a.length = sizeof sin6;
  } else {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    if (inet_pton(AF_INET, host.c_str(), &sin.sin_addr) != 1) {
      why = "'" + host + "' is not a numeric IPv4 address (host names are not resolved)";
      return false;
    }
    std::memcpy(&a.storage, &sin, sizeof sin);
    a.length = sizeof sin;
  }
  out = std::move(a);
  return true;
}

} // namespace ringway::config
