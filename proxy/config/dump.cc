#include "config/dump.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>

#include "config/reader.h"

namespace ringway::config {

std::string formatDuration(Duration d) {
  const int64_t ms = d.count();
  if (ms == 0) return "0ms";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

// ---- JSON ----

void appendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
    case '"':
      out += "\\\"";
      break;
    case '\\':
      out += "\\\\";
      break;
    case '\n':
      out += "\\n";
      break;
    case '\r':
      out += "\\r";
      break;
    case '\t':
      out += "\\t";
      break;
    default:
      if (c < 0x20 || c == 0x7f) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      } else {
        out += ch;
      }
    }
  }
  out += '"';
}

void JsonWriter::newline() {
  if (!pretty_) return;
  out_ += '\n';
  out_.append(2 * empty_.size(), ' ');
}

void JsonWriter::beforeValue() {
  if (afterKey_) {
    afterKey_ = false;
    return;
  }
  if (empty_.empty()) return;  // top level
  if (!empty_.back()) out_ += ',';
  empty_.back() = false;
  newline();
}

void JsonWriter::open(char c) {
  beforeValue();
  out_ += c;
  empty_.push_back(true);
}

void JsonWriter::close(char c) {
  const bool wasEmpty = empty_.empty() || empty_.back();
  if (!empty_.empty()) empty_.pop_back();
  if (!wasEmpty) newline();
  out_ += c;
}

JsonWriter& JsonWriter::beginObject() {
  open('{');
  return *this;
}
JsonWriter& JsonWriter::endObject() {
  close('}');
  return *this;
}
JsonWriter& JsonWriter::beginArray() {
  open('[');
  return *this;
}
JsonWriter& JsonWriter::endArray() {
  close(']');
  return *this;
}

JsonWriter& JsonWriter::key(std::string_view k) {
  beforeValue();
  appendJsonString(out_, k);
  out_ += pretty_ ? ": " : ":";
  afterKey_ = true;
  return *this;
}

JsonWriter& JsonWriter::string(std::string_view s) {
  beforeValue();
  appendJsonString(out_, s);
  return *this;
}

JsonWriter& JsonWriter::number(uint64_t v) {
  beforeValue();
  out_ += std::to_string(v);
  return *this;
}

JsonWriter& JsonWriter::number(int64_t v) {
  beforeValue();
  out_ += std::to_string(v);
  return *this;
}

JsonWriter& JsonWriter::boolean(bool b) {
  beforeValue();
  out_ += b ? "true" : "false";
  return *this;
}

JsonWriter& JsonWriter::null() {
  beforeValue();
  out_ += "null";
  return *this;
}

namespace {

// One walk over the config for both formats: a sink with the operations both support.
template <class Sink>
void walk(const Config& c, Sink& s) {
  s.beginMap();
  if (c.workers_auto)
    s.kv("workers", std::string("auto"));
  else
    s.kv("workers", static_cast<uint64_t>(c.workers));
  s.kv("workers_resolved", static_cast<uint64_t>(c.workers));
  s.kv("cpu_affinity", c.cpu_affinity);
  s.kv("log_level", std::string(toString(c.log_level)));

  s.key("admin");
  s.beginMap();
  s.kv("address", c.admin.address ? c.admin.address->text : std::string("off"));
  s.endMap();

  s.key("io");
  s.beginMap();
  s.kv("backend", std::string(toString(c.io.backend)));
  s.kv("buffer_size", formatSize(c.io.buffer_size));
  s.kv("buffers_per_worker", static_cast<uint64_t>(c.io.buffers_per_worker));
  s.kv("zerocopy_threshold",
       c.io.zerocopy_threshold ? formatSize(*c.io.zerocopy_threshold) : std::string("off"));
  s.kv("ring_entries", static_cast<uint64_t>(c.io.ring_entries));
  s.kv("max_inflight_per_connection", formatSize(c.io.max_inflight_per_connection));
  s.endMap();

  s.key("defaults");
  s.beginMap();
  s.kv("connect_timeout", formatDuration(c.defaults.connect_timeout));
  s.kv("idle_timeout", formatDuration(c.defaults.idle_timeout));
  s.kv("drain_timeout", formatDuration(c.defaults.drain_timeout));
  s.endMap();

  s.key("listeners");
  s.beginSeq();
  for (const Listener& l : c.listeners) {
    s.beginMap();
    s.kv("name", l.name);
    s.kv("address", l.address.text);
    s.kv("protocol", std::string(toString(l.protocol)));
    s.key("routes");
    s.beginSeq();
    for (const Route& r : l.routes) {
      s.beginMap();
      s.kv("cluster", r.cluster);
      s.endMap();
    }
    s.endSeq();
    s.kv("idle_timeout", formatDuration(l.idle_timeout));
    s.kv("backlog", static_cast<uint64_t>(l.backlog));
    s.endMap();
  }
  s.endSeq();

  s.key("clusters");
  s.beginSeq();
  for (const Cluster& cl : c.clusters) {
    s.beginMap();
    s.kv("name", cl.name);
    s.key("endpoints");
    s.beginSeq();
    for (const Endpoint& e : cl.endpoints) {
      s.beginMap();
      s.kv("address", e.address.text);
      s.kv("weight", static_cast<uint64_t>(e.weight));
      s.endMap();
    }
    s.endSeq();
    s.kv("lb", std::string(toString(cl.lb)));
    s.kv("connect_timeout", formatDuration(cl.connect_timeout));
    s.endMap();
  }
  s.endSeq();
  s.endMap();
}

struct JsonSink {
  JsonWriter w;
  void beginMap() { w.beginObject(); }
  void endMap() { w.endObject(); }
  void beginSeq() { w.beginArray(); }
  void endSeq() { w.endArray(); }
  void key(const char* k) { w.key(k); }
  void kv(const char* k, const std::string& v) { w.key(k).string(v); }
  void kv(const char* k, uint64_t v) { w.key(k).number(v); }
  void kv(const char* k, bool v) { w.key(k).boolean(v); }
};

// "workers_resolved" is not a config key, so the YAML leaves it out (its header comment says
// what "auto" became): the YAML form must load back.
struct YamlSink {
  YAML::Emitter e;
  void beginMap() { e << YAML::BeginMap; }
  void endMap() { e << YAML::EndMap; }
  void beginSeq() { e << YAML::BeginSeq; }
  void endSeq() { e << YAML::EndSeq; }
  void key(const char* k) { e << YAML::Key << k << YAML::Value; }
  void kv(const char* k, const std::string& v) {
    // Addresses and names are quoted so a value like "off" or "1:2" stays a string.
    e << YAML::Key << k << YAML::Value << YAML::DoubleQuoted << v;
  }
  void kv(const char* k, uint64_t v) {
    if (std::string_view(k) == "workers_resolved") return;
    e << YAML::Key << k << YAML::Value << v;
  }
  void kv(const char* k, bool v) {
    e << YAML::Key << k << YAML::Value << YAML::TrueFalseBool << v;
  }
};

}  // namespace

std::string toJson(const Config& cfg) {
  JsonSink s;
  walk(cfg, s);
  std::string out = s.w.str();
  out += '\n';
  return out;
}

std::string toYaml(const Config& cfg) {
  YamlSink s;
  walk(cfg, s);
  std::string out = "# effective configuration";
  if (!cfg.file.empty()) out += " of " + cfg.file;
  if (cfg.workers_auto) out += " (workers: auto = " + std::to_string(cfg.workers) + ")";
  out += "\n";
  out += s.e.c_str();
  out += '\n';
  return out;
}

}  // namespace ringway::config
