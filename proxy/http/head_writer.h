// Writes a request or response head into a caller-provided buffer, with fields dropped and added
// on the way (hop-by-hop removal, X-Forwarded-For, Via...). Never allocates:
//
//   char buf[4096];
//   http::HeadWriter w(buf);
//   w.requestLine(p.methodName(), p.target());
//   w.forward(p.headers(), dropNames);      // hop-by-hop fields are always dropped
//   w.header("X-Forwarded-For", {prior, ", ", clientIp});
//   if (!w.finish()) retry with a buffer of w.size() bytes, or reject if !w.valid()
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string_view>

#include "http/message.h"

namespace ringway::http {

class HeadWriter {
public:
  explicit HeadWriter(std::span<char> out) : out_(out) {}

  void requestLine(std::string_view method, std::string_view target,
                   Version version = Version::Http11);
  void statusLine(uint16_t status, std::string_view reason, Version version = Version::Http11);
  void header(std::string_view name, std::string_view value);
  // A value built from parts, e.g. {prior, ", ", clientIp}, without a temporary string.
  void header(std::string_view name, std::initializer_list<std::string_view> valueParts);
  // Copies `headers` except hop-by-hop ones (HopByHop) and those named in `drop`
  // (case-insensitive). A proxy re-adds framing (Transfer-Encoding/Content-Length) itself.
  void forward(std::span<const Header> headers, std::span<const std::string_view> drop = {});
  // Ends the head. True when everything fit and was valid; otherwise size() is what a retry
  // needs (when valid()).
  bool finish();

  size_t size() const { return size_; } // bytes written, or needed on overflow
  bool fits() const { return size_ <= out_.size(); }
  bool valid() const { return valid_; } // false: a name or value held CR, LF or NUL
  std::string_view view() const { return {out_.data(), fits() ? size_ : 0}; }

private:
  void put(std::string_view s);
  void checkValue(std::string_view s);

  std::span<char> out_;
  size_t size_ = 0;
  bool valid_ = true;
};

} // namespace ringway::http
