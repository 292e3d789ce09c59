// The TLS parts of the schema: a listener's `tls:` block, a cluster's `tls:` block, `match:
// { sni }` on routes of listeners that see the SNI, and loading every certificate, key and CA
// they name, so `ringway --check` reports a bad file at the key that names it.
#include <algorithm>
#include <chrono>

#include "config/schema.h"
#include "config/tls_options.h"
#include "tls/client_context.h"
#include "tls/context_error.h"
#include "tls/server_context.h"
#include "tls/ticket_keys.h"

namespace ringway::config {
namespace {

using YAML::Node;

bool isHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

// "Example.COM." -> "example.com"; nullopt unless a DNS name or "*." and one.
std::optional<std::string> normalizeServerName(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c | 0x20);
  if (!s.empty() && s.back() == '.')
    s.pop_back();
  const std::string_view rest = s.starts_with("*.") ? std::string_view(s).substr(2) : s;
  if (rest.empty() || rest.front() == '.' || !std::all_of(rest.begin(), rest.end(), isHostChar))
    return std::nullopt;
  return s;
}

std::optional<std::string> readServerName(Reader& r, const Node& n, const std::string& p) {
  auto v = readString(r, n, p);
  if (!v)
    return std::nullopt;
  auto name = normalizeServerName(*v);
  if (!name)
    r.problem(n, p,
              "invalid server name '" + *v +
                  "': expected a DNS name such as api.example.com or *.example.com");
  return name;
}

std::optional<std::string> readVersion(Reader& r, const Node& n, const std::string& p) {
  static constexpr std::string_view Versions[] = {"1.2", "1.3"};
  if (auto i = readChoice(r, n, p, Versions))
    return std::string(Versions[*i]);
  return std::nullopt;
}

std::optional<std::string> readFile(Reader& r, const Node& n, const std::string& p) {
  auto v = readString(r, n, p);
  if (v && v->empty()) {
    r.problem(n, p, "a file name must not be empty");
    return std::nullopt;
  }
  return v;
}

void readAlpn(Reader& r, const Node& n, const std::string& p, std::vector<std::string>& out) {
  readSequence(r, n, p, "alpn needs at least one protocol name; leave the key out for none",
               [&](const Node& item, const std::string& itemPath) {
                 auto v = readString(r, item, itemPath);
                 if (!v)
                   return;
                 if (v->empty() || v->size() > 255)
                   r.problem(item, itemPath, "an ALPN protocol name is 1 to 255 bytes");
                 else
                   out.push_back(std::move(*v));
               });
}

constexpr Key<TlsCertificate> CertificateKeys[] = {
    {"cert", Required,
     [](Reader& r, const Node& n, const std::string& p, TlsCertificate& c) {
       if (auto v = readFile(r, n, p))
         c.cert = std::move(*v);
     }},
    {"key", Required,
     [](Reader& r, const Node& n, const std::string& p, TlsCertificate& c) {
       if (auto v = readFile(r, n, p))
         c.key = std::move(*v);
     }},
    {"server_names", Optional,
     [](Reader& r, const Node& n, const std::string& p, TlsCertificate& c) {
       readSequence(r, n, p, "server_names is empty; leave it out for the default certificate",
                    [&](const Node& item, const std::string& itemPath) {
                      if (auto v = readServerName(r, item, itemPath))
                        c.server_names.push_back(std::move(*v));
                    });
     }},
};

constexpr Key<ListenerTls> ListenerTlsKeys[] = {
    {"certificates", Required,
     [](Reader& r, const Node& n, const std::string& p, ListenerTls& t) {
       readSequence(r, n, p, "tls needs at least one certificate",
                    [&](const Node& item, const std::string& itemPath) {
                      TlsCertificate c;
                      readMapping(r, item, itemPath, c, CertificateKeys);
                      t.certificates.push_back(std::move(c));
                    });
     }},
    {"min_version", Optional,
     [](Reader& r, const Node& n, const std::string& p, ListenerTls& t) {
       if (auto v = readVersion(r, n, p))
         t.min_version = *v;
     }},
    {"alpn", Optional,
     [](Reader& r, const Node& n, const std::string& p, ListenerTls& t) {
       readAlpn(r, n, p, t.alpn);
     }},
    {"session_tickets", Optional,
     [](Reader& r, const Node& n, const std::string& p, ListenerTls& t) {
       if (auto v = readBool(r, n, p))
         t.session_tickets = *v;
     }},
    {"ticket_rotation", Optional,
     [](Reader& r, const Node& n, const std::string& p, ListenerTls& t) {
       if (auto v = readDuration(r, n, p, Duration(1000)))
         t.ticket_rotation = *v;
     }},
    {"handshake_timeout", Optional,
     [](Reader& r, const Node& n, const std::string& p, ListenerTls& t) {
       if (auto v = readDuration(r, n, p, Duration(1)))
         t.handshake_timeout = *v;
     }},
    {"client_ca", Optional,
     [](Reader& r, const Node& n, const std::string& p, ListenerTls& t) {
       if (auto v = readFile(r, n, p))
         t.client_ca = std::move(*v);
     }},
};

constexpr Key<ClusterTls> ClusterTlsKeys[] = {
    {"server_name", Optional,
     [](Reader& r, const Node& n, const std::string& p, ClusterTls& t) {
       auto v = readString(r, n, p);
       if (!v)
         return;
       // A DNS name (SNI + hostname check) or an IP literal (IP SAN check, no SNI).
       Address a;
       std::string why;
       const bool ip = parseAddress(*v + ":1", a, why) || parseAddress("[" + *v + "]:1", a, why);
       if (ip) {
         t.server_name = *v;
         return;
       }
       auto name = normalizeServerName(*v);
       if (!name || name->starts_with("*.")) {
         r.problem(n, p, "invalid server_name '" + *v + "': expected a DNS name or an IP address");
         return;
       }
       t.server_name = std::move(*name);
     }},
    {"ca", Optional,
     [](Reader& r, const Node& n, const std::string& p, ClusterTls& t) {
       if (auto v = readFile(r, n, p))
         t.ca = std::move(*v);
     }},
    {"verify", Optional,
     [](Reader& r, const Node& n, const std::string& p, ClusterTls& t) {
       if (auto v = readBool(r, n, p))
         t.verify = *v;
     }},
    {"cert", Optional,
     [](Reader& r, const Node& n, const std::string& p, ClusterTls& t) {
       if (auto v = readFile(r, n, p))
         t.cert = std::move(*v);
     }},
    {"key", Optional,
     [](Reader& r, const Node& n, const std::string& p, ClusterTls& t) {
       if (auto v = readFile(r, n, p))
         t.key = std::move(*v);
     }},
    {"alpn", Optional,
     [](Reader& r, const Node& n, const std::string& p, ClusterTls& t) {
       readAlpn(r, n, p, t.alpn);
     }},
    {"min_version", Optional,
     [](Reader& r, const Node& n, const std::string& p, ClusterTls& t) {
       if (auto v = readVersion(r, n, p))
         t.min_version = *v;
     }},
};

std::string directoryOf(const std::string& file) {
  const std::size_t slash = file.rfind('/');
  return slash == std::string::npos ? std::string() : file.substr(0, slash + 1);
}

// Relative file names are relative to the configuration file, as nginx's are to its prefix.
void resolve(const std::string& dir, std::string& path) {
  if (!path.empty() && path.front() != '/' && !dir.empty())
    path = dir + path;
}

// A ContextError names the file first ("<file>: ..."): report it at the key that named it.
std::string keyFor(const std::string& what,
                   std::initializer_list<std::pair<const char*, const std::string*>> keys) {
  for (const auto& [key, file] : keys)
    if (!file->empty() && what.starts_with(*file + ":"))
      return key;
  return "";
}

void loadListenerTls(Reader& r, const std::string& path, ListenerTls& t) {
  const std::string certs = join(path, "certificates");
  bool ok = true;
  // One context per entry first, so an error or warning points at that entry.
  for (std::size_t i = 0; i < t.certificates.size(); ++i) {
    const TlsCertificate& c = t.certificates[i];
    const std::string cp = indexed(certs, i);
    if (c.cert.empty() || c.key.empty()) { // missing, already reported
      ok = false;
      continue;
    }
    tls::ServerOptions o;
    o.certificates = {tls::CertificateSpec{c.cert, c.key, c.server_names}};
    o.session_tickets = false;
    o.session_cache_size = 1;
    try {
      tls::ServerContext ctx(o);
      for (const std::string& w : ctx.warnings())
        r.warnAt(join(cp, "cert"), w);
    } catch (const tls::ContextError& e) {
      const std::string key = keyFor(e.what(), {{"key", &c.key}, {"cert", &c.cert}});
      r.problemAt(key.empty() ? cp : join(cp, key), e.what());
      ok = false;
    }
  }
  if (!ok)
    return;
  try { // the whole set: two entries claiming one name, the client CA, ...
    tls::ServerOptions o = serverOptions(t);
    o.session_tickets = false;
    o.session_cache_size = 1;
    tls::ServerContext ctx(o);
  } catch (const tls::ContextError& e) {
    const std::string key = keyFor(e.what(), {{"client_ca", &t.client_ca}});
    r.problemAt(key.empty() ? certs : join(path, key), e.what());
    return;
  }
  if (t.session_tickets) {
    try {
      t.ticket_keys = std::make_shared<tls::TicketKeys>(
          std::chrono::duration_cast<std::chrono::seconds>(t.ticket_rotation));
    } catch (const tls::ContextError& e) {
      r.problemAt(join(path, "session_tickets"), e.what());
    }
  }
}

void loadClusterTls(Reader& r, const std::string& path, const ClusterTls& t) {
  if (t.verify && t.server_name.empty()) {
    if (r.has(join(path, "server_name"))) // given but invalid: reported already
      return;
    r.problemAt(path, "tls.server_name is required while verify is on (it is the name the "
                      "certificate must carry)");
    return;
  }
  if (t.cert.empty() != t.key.empty()) {
    r.problemAt(join(path, t.cert.empty() ? "key" : "cert"),
                "a client certificate needs both cert and key");
    return;
  }
  try {
    tls::ClientContext ctx(clientOptions(t));
    for (const std::string& w : ctx.warnings())
      r.warnAt(join(path, "verify"), w);
  } catch (const tls::ContextError& e) {
    const std::string key = keyFor(e.what(), {{"ca", &t.ca}, {"key", &t.key}, {"cert", &t.cert}});
    r.problemAt(key.empty() ? path : join(path, key), e.what());
  }
}

} // namespace

void readListenerTls(Reader& r, const YAML::Node& n, const std::string& p, Listener& l) {
  ListenerTls t;
  if (readMapping(r, n, p, t, ListenerTlsKeys))
    l.tls = std::move(t);
}

void readClusterTls(Reader& r, const YAML::Node& n, const std::string& p, Cluster& c) {
  ClusterTls t;
  if (readMapping(r, n, p, t, ClusterTlsKeys))
    c.tls = std::move(t);
}

void readSniMatch(Reader& r, const YAML::Node& n, const std::string& p, RouteMatch& m) {
  if (auto v = readServerName(r, n, p))
    m.sni = std::move(*v);
}

bool sniRouted(const Listener& l) {
  return l.protocol == Protocol::TlsPassthrough || (l.protocol == Protocol::Tcp && l.tls);
}

void checkListenerTls(Reader& r, const std::string& path, const Listener& l) {
  if (l.protocol == Protocol::TlsPassthrough && r.has(join(path, "tls")))
    r.problemAt(join(path, "tls"), "tls_passthrough forwards TLS untouched and takes no tls "
                                   "block; to terminate TLS use protocol: tcp with tls");
  if (l.protocol != Protocol::TlsPassthrough && r.has(join(path, "client_hello_timeout")))
    r.problemAt(join(path, "client_hello_timeout"),
                "client_hello_timeout is only for protocol: tls_passthrough");
  const std::string routes = join(path, "routes");
  if (!sniRouted(l)) {
    for (std::size_t i = 0; i < l.routes.size(); ++i)
      if (!l.routes[i].match.sni.empty())
        r.problemAt(
            join(join(indexed(routes, i), "match"), "sni"),
            "match on sni needs a listener that sees it: protocol tls_passthrough, or "
            "tcp with tls" +
                std::string(l.protocol == Protocol::Http ? " (on http, match on host)" : ""));
    return;
  }
  std::optional<std::size_t> fallback;
  std::unordered_map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < l.routes.size(); ++i) {
    const std::string rp = indexed(routes, i);
    const RouteMatch& m = l.routes[i].match;
    if (!m.host.empty() || !m.path.empty() || !m.path_prefix.empty() || !m.path_regex.empty() ||
        !m.methods.empty() || !m.headers.empty())
      r.problemAt(join(rp, "match"),
                  "a " + std::string(toString(l.protocol)) + " route matches on sni only");
    if (m.sni.empty()) {
      if (fallback)
        r.problemAt(rp, "only one route may go without a match (the default; it was route " +
                            std::to_string(*fallback) + ")");
      else
        fallback = i;
      continue;
    }
    const auto [it, fresh] = seen.emplace(m.sni, i);
    if (!fresh)
      r.problemAt(join(join(rp, "match"), "sni"), "sni '" + m.sni + "' is matched by route " +
                                                      std::to_string(it->second) + " already");
  }
}

void loadTls(Reader& r, Config& cfg) {
  const std::string dir = directoryOf(cfg.file);
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    if (!cfg.listeners[i].tls)
      continue;
    ListenerTls& t = *cfg.listeners[i].tls;
    for (TlsCertificate& c : t.certificates) {
      resolve(dir, c.cert);
      resolve(dir, c.key);
    }
    resolve(dir, t.client_ca);
    loadListenerTls(r, join(indexed("listeners", i), "tls"), t);
  }
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const Listener& l = cfg.listeners[i];
    if (l.protocol != Protocol::TlsPassthrough)
      continue;
    for (std::size_t j = 0; j < l.routes.size(); ++j) {
      const Route& route = l.routes[j];
      if (route.cluster.empty() || route.cluster_index >= cfg.clusters.size() ||
          !cfg.clusters[route.cluster_index].tls ||
          cfg.clusters[route.cluster_index].name != route.cluster)
        continue;
      r.problemAt(join(indexed(join(indexed("listeners", i), "routes"), j), "cluster"),
                  "cluster '" + route.cluster +
                      "' has tls, but tls_passthrough forwards the "
                      "client's bytes, already TLS, as they are; remove the cluster's tls");
    }
  }
  for (std::size_t i = 0; i < cfg.clusters.size(); ++i) {
    if (!cfg.clusters[i].tls)
      continue;
    ClusterTls& t = *cfg.clusters[i].tls;
    resolve(dir, t.ca);
    resolve(dir, t.cert);
    resolve(dir, t.key);
    loadClusterTls(r, join(indexed("clusters", i), "tls"), t);
  }
}

tls::ServerOptions serverOptions(const ListenerTls& t) {
  tls::ServerOptions o;
  for (const TlsCertificate& c : t.certificates)
    o.certificates.push_back(tls::CertificateSpec{c.cert, c.key, c.server_names});
  o.min_version = t.min_version;
  o.alpn = t.alpn;
  o.session_tickets = t.session_tickets;
  o.ticket_keys = t.ticket_keys;
  o.session_lifetime = std::chrono::duration_cast<std::chrono::seconds>(t.ticket_rotation);
  o.client_ca_file = t.client_ca;
  return o;
}

tls::ClientOptions clientOptions(const ClusterTls& t) {
  tls::ClientOptions o;
  o.server_name = t.server_name;
  o.ca_file = t.ca;
  o.verify = t.verify;
  o.cert_path = t.cert;
  o.key_path = t.key;
  o.alpn = t.alpn;
  o.min_version = t.min_version;
  return o;
}

} // namespace ringway::config
