#include "http/fields.h"

#include "http/chars.h"

namespace ringway::http {

bool nextListElement(std::string_view& list, std::string_view& element) {
  while (!list.empty()) {
    const size_t comma = list.find(',');
    element = trimWs(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (!element.empty())
      return true;
  }
  return false;
}

bool listContains(std::string_view list, std::string_view token) {
  std::string_view e;
  while (nextListElement(list, e))
    if (equalsIgnoreCase(e, token))
      return true;
  return false;
}

ConnectionOptions parseConnection(std::string_view value) {
  ConnectionOptions o;
  std::string_view e;
  while (nextListElement(value, e)) {
    if (equalsIgnoreCase(e, "close"))
      o.close = true;
    else if (equalsIgnoreCase(e, "keep-alive"))
      o.keepAlive = true;
    else if (equalsIgnoreCase(e, "upgrade"))
      o.upgrade = true;
  }
  return o;
}

bool isHopByHopName(std::string_view name) {
  switch (name.size()) {
  case 2:
    return equalsIgnoreCase(name, "te");
  case 7:
    return equalsIgnoreCase(name, "trailer") || equalsIgnoreCase(name, "upgrade");
  case 10:
    return equalsIgnoreCase(name, "connection") || equalsIgnoreCase(name, "keep-alive");
  case 16:
    return equalsIgnoreCase(name, "proxy-connection");
  case 17:
    return equalsIgnoreCase(name, "transfer-encoding");
  default:
    return false;
  }
}

HopByHop::HopByHop(std::span<const Header> headers) : headers_(headers) {
  for (const Header& h : headers) {
    if (!equalsIgnoreCase(h.name, "connection"))
      continue;
    std::string_view list = h.value, e;
    while (nextListElement(list, e)) {
      if (count_ == InlineNames) {
        overflow_ = true;
        return;
      }
      names_[count_++] = e;
    }
  }
}

bool HopByHop::contains(std::string_view name) const {
  if (isHopByHopName(name))
    return true;
  for (size_t i = 0; i < count_; ++i)
    if (equalsIgnoreCase(names_[i], name))
      return true;
  if (overflow_)
    for (const Header& h : headers_)
      if (equalsIgnoreCase(h.name, "connection") && listContains(h.value, name))
        return true;
  return false;
}

} // namespace ringway::http
