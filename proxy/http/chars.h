// Character classes of RFC 9110/9112 as one 256-entry table, so each byte costs one load.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace ringway::http {

namespace detail {

enum CharBits : uint8_t {
  TcharBit = 1,   // token characters (RFC 9110 5.6.2)
  ValueBit = 2,   // field-value: VCHAR, SP, HTAB, obs-text
  HexBit = 4,     // HEXDIG
  TargetBit = 8,  // request-target: visible ASCII except '#' (fragments never go on the wire)
  HostBit = 16,   // reg-name / IP-literal / port: unreserved, sub-delims, ':', '[', ']', '%'
  QdtextBit = 32, // quoted-string text: HTAB, SP, 0x21, 0x23-0x5B, 0x5D-0x7E, obs-text
};

constexpr std::array<uint8_t, 256> makeCharTable() {
  std::array<uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c) {
    uint8_t b = 0;
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    const bool digit = c >= '0' && c <= '9';
    if (alpha || digit ||
        std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos)
      b |= TcharBit;
    if (c == '\t' || (c >= 0x20 && c <= 0x7e) || c >= 0x80)
      b |= ValueBit;
    if (digit || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
      b |= HexBit;
    if (c >= 0x21 && c <= 0x7e && c != '#')
      b |= TargetBit;
    if (alpha || digit ||
        std::string_view("-._~!$&'()*+,;=:[]%").find(static_cast<char>(c)) !=
            std::string_view::npos)
      b |= HostBit;
    if (c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
        (c >= 0x5d && c <= 0x7e) || c >= 0x80)
      b |= QdtextBit;
    t[static_cast<size_t>(c)] = b;
  }
  return t;
}

inline constexpr std::array<uint8_t, 256> CharTable = makeCharTable();

inline bool hasBit(char c, uint8_t bit) {
  return (CharTable[static_cast<unsigned char>(c)] & bit) != 0;
}

} // namespace detail

inline bool isTchar(char c) { return detail::hasBit(c, detail::TcharBit); }
inline bool isFieldValueChar(char c) { return detail::hasBit(c, detail::ValueBit); }
inline bool isHexDigit(char c) { return detail::hasBit(c, detail::HexBit); }
inline bool isTargetChar(char c) { return detail::hasBit(c, detail::TargetBit); }
inline bool isHostChar(char c) { return detail::hasBit(c, detail::HostBit); }
inline bool isQdtext(char c) { return detail::hasBit(c, detail::QdtextBit); }
inline bool isDigit(char c) { return c >= '0' && c <= '9'; }
inline bool isWs(char c) { return c == ' ' || c == '\t'; }

inline int hexValue(char c) {
  if (c <= '9')
    return c - '0';
  return (c | 0x20) - 'a' + 10;
}

inline char asciiLower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c; }

// Field names and list tokens compare case-insensitively (RFC 9110 5.1); ASCII only, no locale.
inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (asciiLower(a[i]) != asciiLower(b[i]))
      return false;
  return true;
}

inline std::string_view trimWs(std::string_view s) {
  while (!s.empty() && isWs(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && isWs(s.back()))
    s.remove_suffix(1);
  return s;
}

inline bool isToken(std::string_view s) {
  if (s.empty())
    return false;
  for (char c : s)
    if (!isTchar(c))
      return false;
  return true;
}

} // namespace ringway::http
