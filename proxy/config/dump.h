// The effective configuration as text, for the admin endpoint /config: every value after
// defaults and "auto" are resolved. The YAML form loads back to the same Config.
//
// Secrets: certificates, keys and CAs appear as the file paths the config names, never their
// contents (a field holding PEM text would be shown as "<redacted PEM>"); ticket keys never.
// Keys the loader takes only in some places (http options, tls blocks, route extras) appear
// only there; an http listener's max_body_size is left out when unlimited.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"

namespace ringway::config {

// The largest unit that divides exactly: "250ms", "30s", "5m", "1h" (0 is "0ms").
std::string formatDuration(Duration d);
// Sizes use config::formatSize (config/reader.h): "16KiB", "1MiB", "1000B".

// Pretty-printed JSON object; durations and sizes as the strings above, "off" for things
// that are switched off, so the JSON and YAML forms read alike.
std::string toJson(const Config& cfg);
// Block-style YAML that loadString() accepts; starts with a comment naming cfg.file.
std::string toYaml(const Config& cfg);

// A small streaming JSON writer (objects, arrays, strings, numbers, booleans) that places
// commas itself. Also used by the admin server's /workers.
class JsonWriter {
public:
  explicit JsonWriter(bool pretty = true) : pretty_(pretty) {}
  JsonWriter& beginObject();
  JsonWriter& endObject();
  JsonWriter& beginArray();
  JsonWriter& endArray();
  JsonWriter& key(std::string_view k);
  JsonWriter& string(std::string_view s);
  JsonWriter& number(uint64_t v);
  JsonWriter& number(int64_t v);
  JsonWriter& boolean(bool b);
  JsonWriter& null();
  // The text so far; complete once every begin has its end.
  const std::string& str() const { return out_; }

private:
  void open(char c);
  void close(char c);
  void beforeValue();
  void newline();

  std::string out_;
  std::vector<bool> empty_; // per open container: nothing written in it yet
  bool afterKey_ = false;
  bool pretty_;
};

// s as a JSON string literal, quotes included; control characters and non-UTF-8-safe bytes
// below 0x20 are escaped, bytes >= 0x80 pass through.
void appendJsonString(std::string& out, std::string_view s);

} // namespace ringway::config
