// A small JSON reader for tests: documents the admin endpoint serves (/workers, /config),
// the Grafana dashboard, and the access log's json lines. One copy for tests/core and
// tests/httpproxy.
#pragma once

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace ringway::testsupport {

struct Json {
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json>;
  std::variant<std::nullptr_t, bool, double, std::string, Array, Object> v;

  bool isObject() const { return std::holds_alternative<Object>(v); }
  bool isArray() const { return std::holds_alternative<Array>(v); }
  bool isString() const { return std::holds_alternative<std::string>(v); }
  bool isNumber() const { return std::holds_alternative<double>(v); }
  const Object& object() const { return std::get<Object>(v); }
  const Array& array() const { return std::get<Array>(v); }
  const std::string& str() const { return std::get<std::string>(v); }
  double number() const { return std::get<double>(v); }
  std::string literal; // a number as it was written ("400", "0.000123")
  // Member lookup; nullptr when this is not an object or has no such key.
  const Json* get(const std::string& key) const;
};

struct JsonOptions {
  // No white space between tokens: what ringway's access log writes, checked as such.
  bool compact = false;
  // \u00XX is the byte XX (how the access log writes bytes that are not UTF-8), so a decoded
  // string equals the bytes that were sent; \u0100 and up are rejected. Otherwise \u is
  // decoded to UTF-8.
  bool bytesEscapes = false;
};

// Throws std::runtime_error("json: ... at offset N") on malformed input or trailing junk.
Json parseJson(std::string_view text, const JsonOptions& options = {});

} // namespace ringway::testsupport
