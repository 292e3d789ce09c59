#include "http/message.h"

#include "http/chars.h"

namespace ringway::http {

Method parseMethod(std::string_view name) {
  switch (name.size()) {
  case 3:
    if (name == "GET")
      return Method::Get;
    if (name == "PUT")
      return Method::Put;
    break;
  case 4:
    if (name == "HEAD")
      return Method::Head;
    if (name == "POST")
      return Method::Post;
    break;
  case 5:
    if (name == "PATCH")
      return Method::Patch;
    if (name == "TRACE")
      return Method::Trace;
    break;
  case 6:
    if (name == "DELETE")
      return Method::Delete;
    break;
  case 7:
    if (name == "CONNECT")
      return Method::Connect;
    if (name == "OPTIONS")
      return Method::Options;
    break;
  default:
    break;
  }
  return Method::Other;
}

const Header* findHeader(std::span<const Header> headers, std::string_view name) {
  for (const Header& h : headers)
    if (equalsIgnoreCase(h.name, name))
      return &h;
  return nullptr;
}

} // namespace ringway::http
