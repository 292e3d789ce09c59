#include "config/dump.h"

#include <yaml-cpp/yaml.h>

#include <cstdio>

#include "config/reader.h"

namespace ringway::config {

std::string formatDuration(Duration d) {
  const int64_t ms = d.count();
  if (ms == 0)
    return "0ms";
  if (ms % 3'600'000 == 0)
    return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0)
    return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
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
  if (!pretty_)
    return;
  out_ += '\n';
  out_.append(2 * empty_.size(), ' ');
}

void JsonWriter::beforeValue() {
  if (afterKey_) {
    afterKey_ = false;
    return;
  }
  if (empty_.empty())
    return; // top level
  if (!empty_.back())
    out_ += ',';
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
  if (!empty_.empty())
    empty_.pop_back();
  if (!wasEmpty)
    newline();
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

// Key material never leaves the process: the config holds file *paths* for certificates and
// keys, and this guard keeps it so should a PEM blob ever end up in one of those fields.
std::string pathOnly(const std::string& v) {
  return v.find("-----BEGIN") == std::string::npos ? v : std::string("<redacted PEM>");
}

// One walk over the config for both formats: a sink with the operations both support. Keys
// are written only where the loader accepts them (http-only keys on http listeners, tls blocks
// where configured, ...), so the YAML form loads back.
template <class Sink> void walkRoute(const Listener& l, const Route& r, Sink& s) {
  s.beginMap();
  if (!r.name.empty())
    s.kv("name", r.name);
  const RouteMatch& m = r.match;
  if (!m.host.empty() || !m.path.empty() || !m.path_prefix.empty() || !m.path_regex.empty() ||
      !m.methods.empty() || !m.headers.empty() || !m.sni.empty()) {
    s.key("match");
    s.beginMap();
    if (!m.host.empty())
      s.kv("host", m.host);
    if (!m.path.empty())
      s.kv("path", m.path);
    if (!m.path_prefix.empty())
      s.kv("path_prefix", m.path_prefix);
    if (!m.path_regex.empty())
      s.kv("path_regex", m.path_regex);
    if (!m.methods.empty())
      s.list("method", m.methods);
    if (!m.headers.empty()) {
      s.key("headers");
      s.beginSeq();
      for (const HeaderMatch& h : m.headers) {
        s.beginMap();
        s.kv("name", h.name);
        if (h.kind == HeaderMatch::Kind::Present)
          s.kv("present", true);
        else
          s.kv(h.kind == HeaderMatch::Kind::Regex ? "regex" : "value", h.value);
        s.endMap();
      }
      s.endSeq();
    }
    if (!m.sni.empty())
      s.kv("sni", m.sni);
    s.endMap();
  }
  if (!r.cluster.empty())
    s.kv("cluster", r.cluster);
  if (r.direct_response) {
    s.key("direct_response");
    s.beginMap();
    s.kv("status", static_cast<uint64_t>(r.direct_response->status));
    s.kv("body", r.direct_response->body);
    s.kv("content_type", r.direct_response->content_type);
    s.endMap();
  }
  if (r.redirect) {
    s.key("redirect");
    s.beginMap();
    s.kv("location", r.redirect->location);
    s.kv("status", static_cast<uint64_t>(r.redirect->status));
    s.endMap();
  }
  if (l.protocol == Protocol::Http) {
    if (r.timeout.count() != 0)
      s.kv("timeout", formatDuration(r.timeout));
    if (!r.host_rewrite.empty())
      s.kv("host_rewrite", r.host_rewrite);
    if (!r.prefix_rewrite.empty())
      s.kv("prefix_rewrite", r.prefix_rewrite);
    auto headers = [&](const char* key, const std::vector<HeaderValue>& hs) {
      if (hs.empty())
        return;
      s.key(key);
      s.beginSeq();
      for (const HeaderValue& h : hs) {
        s.beginMap();
        s.kv("name", h.name);
        s.kv("value", h.value);
        s.endMap();
      }
      s.endSeq();
    };
    headers("request_headers_to_add", r.request_headers_to_add);
    if (!r.request_headers_to_remove.empty())
      s.list("request_headers_to_remove", r.request_headers_to_remove);
    headers("response_headers_to_add", r.response_headers_to_add);
    if (!r.response_headers_to_remove.empty())
      s.list("response_headers_to_remove", r.response_headers_to_remove);
    if (r.max_body_size)
      s.kv("max_body_size", formatSize(*r.max_body_size));
  }
  s.endMap();
}

template <class Sink> void walkListener(const Listener& l, Sink& s) {
  s.beginMap();
  s.kv("name", l.name);
  s.kv("address", l.address.text);
  s.kv("protocol", std::string(toString(l.protocol)));
  s.key("routes");
  s.beginSeq();
  for (const Route& r : l.routes)
    walkRoute(l, r, s);
  s.endSeq();
  s.kv("idle_timeout", formatDuration(l.idle_timeout));
  s.kv("backlog", static_cast<uint64_t>(l.backlog));
  if (l.protocol == Protocol::Http) {
    s.kv("request_header_timeout", formatDuration(l.http.request_header_timeout));
    if (l.http.max_body_size != UINT64_MAX) // absent: unlimited
      s.kv("max_body_size", formatSize(l.http.max_body_size));
    s.kv("max_header_size", formatSize(l.http.max_header_size));
    s.kv("max_headers", static_cast<uint64_t>(l.http.max_headers));
    s.kv("x_forwarded", std::string(toString(l.http.x_forwarded)));
    if (l.access_log) {
      s.key("access_log");
      s.beginMap();
      s.kv("path", l.access_log->path);
      s.kv("format", std::string(toString(l.access_log->format)));
      s.endMap();
    }
  }
  if (l.protocol == Protocol::TlsPassthrough)
    s.kv("client_hello_timeout", formatDuration(l.client_hello_timeout));
  if (l.tls) {
    const ListenerTls& t = *l.tls;
    s.key("tls");
    s.beginMap();
    s.key("certificates");
    s.beginSeq();
    for (const TlsCertificate& c : t.certificates) {
      s.beginMap();
      s.kv("cert", pathOnly(c.cert));
      s.kv("key", pathOnly(c.key));
      if (!c.server_names.empty())
        s.list("server_names", c.server_names);
      s.endMap();
    }
    s.endSeq();
    s.kv("min_version", t.min_version);
    if (!t.alpn.empty())
      s.list("alpn", t.alpn);
    s.kv("session_tickets", t.session_tickets);
    s.kv("ticket_rotation", formatDuration(t.ticket_rotation));
    s.kv("handshake_timeout", formatDuration(t.handshake_timeout));
    if (!t.client_ca.empty())
      s.kv("client_ca", pathOnly(t.client_ca));
    s.endMap();
  }
  s.endMap();
}

template <class Sink> void walkCluster(const Cluster& cl, Sink& s) {
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
  s.key("keepalive");
  s.beginMap();
  s.kv("max_idle", static_cast<uint64_t>(cl.keepalive.max_idle));
  s.kv("idle_timeout", formatDuration(cl.keepalive.idle_timeout));
  s.endMap();
  if (cl.tls) {
    const ClusterTls& t = *cl.tls;
    s.key("tls");
    s.beginMap();
    if (!t.server_name.empty())
      s.kv("server_name", t.server_name);
    if (!t.ca.empty())
      s.kv("ca", pathOnly(t.ca));
    s.kv("verify", t.verify);
    if (!t.cert.empty())
      s.kv("cert", pathOnly(t.cert));
    if (!t.key.empty())
      s.kv("key", pathOnly(t.key));
    if (!t.alpn.empty())
      s.list("alpn", t.alpn);
    s.kv("min_version", t.min_version);
    s.endMap();
  }
  s.endMap();
}

template <class Sink> void walk(const Config& c, Sink& s) {
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
  s.kv("splice", c.io.splice);
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
  for (const Listener& l : c.listeners)
    walkListener(l, s);
  s.endSeq();

  s.key("clusters");
  s.beginSeq();
  for (const Cluster& cl : c.clusters)
    walkCluster(cl, s);
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
  void list(const char* k, const std::vector<std::string>& vs) {
    w.key(k).beginArray();
    for (const auto& v : vs)
      w.string(v);
    w.endArray();
  }
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
    if (std::string_view(k) == "workers_resolved")
      return;
    e << YAML::Key << k << YAML::Value << v;
  }
  void kv(const char* k, bool v) { e << YAML::Key << k << YAML::Value << YAML::TrueFalseBool << v; }
  void list(const char* k, const std::vector<std::string>& vs) {
    e << YAML::Key << k << YAML::Value << YAML::Flow << YAML::BeginSeq;
    for (const auto& v : vs)
      e << YAML::DoubleQuoted << v;
    e << YAML::EndSeq;
  }
};

} // namespace

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
  if (!cfg.file.empty())
    out += " of " + cfg.file;
  if (cfg.workers_auto)
    out += " (workers: auto = " + std::to_string(cfg.workers) + ")";
  out += "\n";
  out += s.e.c_str();
  out += '\n';
  return out;
}

} // namespace ringway::config
