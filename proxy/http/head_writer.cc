#include "http/head_writer.h"

#include <cstring>

#include "http/chars.h"
#include "http/fields.h"

namespace ringway::http {

namespace {

std::string_view versionText(Version v) { return v == Version::Http10 ? "HTTP/1.0" : "HTTP/1.1"; }

} // namespace

void HeadWriter::put(std::string_view s) {
  // Keep counting past the end so size() tells the caller how much a retry needs.
  if (size_ + s.size() <= out_.size() && !s.empty())
    std::memcpy(out_.data() + size_, s.data(), s.size());
  size_ += s.size();
}

void HeadWriter::checkValue(std::string_view s) {
  // Added values come from the proxy, but one with CR/LF would inject fields: refuse it.
  for (const char c : s)
    if (c == '\r' || c == '\n' || c == '\0')
      valid_ = false;
}

void HeadWriter::requestLine(std::string_view method, std::string_view target, Version version) {
  if (!isToken(method))
    valid_ = false;
  checkValue(target);
  put(method);
  put(" ");
  put(target);
  put(" ");
  put(versionText(version));
  put("\r\n");
}

void HeadWriter::statusLine(uint16_t status, std::string_view reason, Version version) {
  if (status < 100 || status > 999)
    valid_ = false;
  checkValue(reason);
  const char digits[3] = {static_cast<char>('0' + status / 100 % 10),
                          static_cast<char>('0' + status / 10 % 10),
                          static_cast<char>('0' + status % 10)};
  put(versionText(version));
  put(" ");
  put({digits, 3});
  put(" ");
  put(reason);
  put("\r\n");
}

void HeadWriter::header(std::string_view name, std::string_view value) { header(name, {value}); }

void HeadWriter::header(std::string_view name, std::initializer_list<std::string_view> valueParts) {
  if (!isToken(name))
    valid_ = false;
  put(name);
  put(": ");
  for (const std::string_view part : valueParts) {
    checkValue(part);
    put(part);
  }
  put("\r\n");
}

void HeadWriter::forward(std::span<const Header> headers, std::span<const std::string_view> drop) {
  const HopByHop hop(headers);
  for (const Header& h : headers) {
    if (hop.contains(h.name))
      continue;
    bool dropped = false;
    for (const std::string_view d : drop)
      dropped = dropped || equalsIgnoreCase(h.name, d);
    if (!dropped)
      header(h.name, h.value);
  }
}

bool HeadWriter::finish() {
  put("\r\n");
  return fits() && valid_;
}

} // namespace ringway::http
