// The HTTP parts of the schema: routes (match, actions, rewrites), the listener's http keys, a
// cluster's keepalive, and the checks that need a whole route or listener.
#include <re2/re2.h>

#include <algorithm>

#include "config/schema.h"

namespace ringway::config {
namespace {

using YAML::Node;

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
    return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), isTokenChar);
}

// A field value we put on the wire ourselves: no CR, LF or NUL (no field injection), no other
// control characters but HTAB.
bool isSafeValue(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u == '\t' || (u >= 0x20 && u != 0x7f);
  });
}

bool isHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c | 0x20);
  return s;
}

std::optional<std::string> readToken(Reader& r, const Node& n, const std::string& p,
                                     std::string_view what) {
  auto v = readString(r, n, p);
  if (!v)
    return std::nullopt;
  if (!isToken(*v)) {
    r.problem(n, p, "invalid " + std::string(what) + " '" + *v + "': expected an HTTP token");
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> readValue(Reader& r, const Node& n, const std::string& p) {
  auto v = readString(r, n, p);
  if (!v)
    return std::nullopt;
  if (!isSafeValue(*v)) {
    r.problem(n, p, "value must not contain control characters (CR, LF, NUL, ...)");
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> readPath(Reader& r, const Node& n, const std::string& p) {
  auto v = readString(r, n, p);
  if (!v)
    return std::nullopt;
  if (v->empty() || (*v)[0] != '/') {
    r.problem(n, p, "a path must start with '/' (got '" + *v + "')");
    return std::nullopt;
  }
  if (!isSafeValue(*v) || v->find(' ') != std::string::npos || v->find('?') != std::string::npos ||
      v->find('#') != std::string::npos) {
    r.problem(n, p, "a path must not contain spaces, control characters, '?' or '#'");
    return std::nullopt;
  }
  return v;
}

std::optional<std::string> readRegex(Reader& r, const Node& n, const std::string& p) {
  auto v = readString(r, n, p);
  if (!v)
    return std::nullopt;
  RE2::Options o;
  o.set_log_errors(false);
  const RE2 re(*v, o);
  if (!re.ok()) {
    r.problem(n, p, "invalid regular expression (RE2 syntax): " + re.error());
    return std::nullopt;
  }
  return v;
}

std::optional<uint16_t> readStatus(Reader& r, const Node& n, const std::string& p, int64_t min,
                                   int64_t max) {
  if (auto v = readInt(r, n, p, min, max))
    return static_cast<uint16_t>(*v);
  return std::nullopt;
}

// ---- match ----

constexpr Key<HeaderMatch> HeaderMatchKeys[] = {
    {"name", Required,
     [](Reader& r, const Node& n, const std::string& p, HeaderMatch& h) {
       if (auto v = readToken(r, n, p, "header name"))
         h.name = lower(*v);
     }},
    {"value", Optional,
     [](Reader& r, const Node& n, const std::string& p, HeaderMatch& h) {
       if (auto v = readValue(r, n, p)) {
         h.kind = HeaderMatch::Kind::Exact;
         h.value = *v;
       }
     }},
    {"present", Optional,
     [](Reader& r, const Node& n, const std::string& p, HeaderMatch& h) {
       if (auto v = readBool(r, n, p)) {
         if (!*v)
           r.problem(n, p, "present: false is not supported; leave the header match out");
         h.kind = HeaderMatch::Kind::Present;
       }
     }},
    {"regex", Optional,
     [](Reader& r, const Node& n, const std::string& p, HeaderMatch& h) {
       if (auto v = readRegex(r, n, p)) {
         h.kind = HeaderMatch::Kind::Regex;
         h.value = *v;
       }
     }},
};

constexpr Key<RouteMatch> MatchKeys[] = {
    {"host", Optional,
     [](Reader& r, const Node& n, const std::string& p, RouteMatch& m) {
       auto v = readString(r, n, p);
       if (!v)
         return;
       std::string h = lower(*v);
       const std::string_view rest = h.starts_with("*.") ? std::string_view(h).substr(2) : h;
       if (rest.empty() || !std::all_of(rest.begin(), rest.end(), isHostChar)) {
         r.problem(n, p,
                   "invalid host '" + *v +
                       "': expected a name such as api.example.com or *.example.com (no port: "
                       "ports are ignored when matching)");
         return;
       }
       m.host = std::move(h);
     }},
    {"path", Optional,
     [](Reader& r, const Node& n, const std::string& p, RouteMatch& m) {
       if (auto v = readPath(r, n, p))
         m.path = *v;
     }},
    {"sni", Optional, readSniMatch}, // tls_schema.cc: tcp with tls and tls_passthrough only
    {"path_prefix", Optional,
     [](Reader& r, const Node& n, const std::string& p, RouteMatch& m) {
       if (auto v = readPath(r, n, p))
         m.path_prefix = *v;
     }},
    {"path_regex", Optional,
     [](Reader& r, const Node& n, const std::string& p, RouteMatch& m) {
       if (auto v = readRegex(r, n, p))
         m.path_regex = *v;
     }},
    {"method", Optional,
     [](Reader& r, const Node& n, const std::string& p, RouteMatch& m) {
       if (n.IsScalar()) {
         if (auto v = readToken(r, n, p, "method"))
           m.methods.push_back(*v);
         return;
       }
       readSequence(r, n, p, "method needs at least one name",
                    [&](const Node& item, const std::string& itemPath) {
                      if (auto v = readToken(r, item, itemPath, "method"))
                        m.methods.push_back(*v);
                    });
     }},
    {"headers", Optional,
     [](Reader& r, const Node& n, const std::string& p, RouteMatch& m) {
       readSequence(r, n, p, "headers needs at least one entry",
                    [&](const Node& item, const std::string& itemPath) {
                      HeaderMatch h;
                      if (readMapping(r, item, itemPath, h, HeaderMatchKeys)) {
                        const int kinds = r.has(join(itemPath, "value")) +
                                          r.has(join(itemPath, "present")) +
                                          r.has(join(itemPath, "regex"));
                        if (kinds != 1)
                          r.problemAt(itemPath, "a header match takes exactly one of value, "
                                                "present or regex");
                      }
                      m.headers.push_back(std::move(h));
                    });
     }},
};

// ---- actions ----

constexpr Key<DirectResponse> DirectResponseKeys[] = {
    {"status", Required,
     [](Reader& r, const Node& n, const std::string& p, DirectResponse& d) {
       if (auto v = readStatus(r, n, p, 200, 599))
         d.status = *v;
     }},
    {"body", Optional,
     [](Reader& r, const Node& n, const std::string& p, DirectResponse& d) {
       if (auto v = readString(r, n, p)) {
         if (v->size() > 1024 * 1024)
           r.problem(n, p, "a direct_response body is limited to 1MiB");
         else
           d.body = std::move(*v);
       }
     }},
    {"content_type", Optional,
     [](Reader& r, const Node& n, const std::string& p, DirectResponse& d) {
       if (auto v = readValue(r, n, p))
         d.content_type = *v;
     }},
};

constexpr Key<Redirect> RedirectKeys[] = {
    {"location", Required,
     [](Reader& r, const Node& n, const std::string& p, Redirect& d) {
       auto v = readValue(r, n, p);
       if (v && v->empty())
         r.problem(n, p, "location must not be empty");
       else if (v)
         d.location = *v;
     }},
    {"status", Optional,
     [](Reader& r, const Node& n, const std::string& p, Redirect& d) {
       auto v = readStatus(r, n, p, 300, 399);
       if (v && *v != 301 && *v != 302 && *v != 303 && *v != 307 && *v != 308) {
         r.problem(n, p, "a redirect status is 301, 302, 303, 307 or 308 (got " +
                             std::to_string(*v) + ")");
         return;
       }
       if (v)
         d.status = *v;
     }},
};

constexpr Key<HeaderValue> HeaderValueKeys[] = {
    {"name", Required,
     [](Reader& r, const Node& n, const std::string& p, HeaderValue& h) {
       if (auto v = readToken(r, n, p, "header name"))
         h.name = *v;
     }},
    {"value", Required,
     [](Reader& r, const Node& n, const std::string& p, HeaderValue& h) {
       if (auto v = readValue(r, n, p))
         h.value = *v;
     }},
};

void readHeaderValues(Reader& r, const Node& n, const std::string& p,
                      std::vector<HeaderValue>& out) {
  readSequence(r, n, p, "the list is empty; leave the key out",
               [&](const Node& item, const std::string& itemPath) {
                 HeaderValue h;
                 readMapping(r, item, itemPath, h, HeaderValueKeys);
                 out.push_back(std::move(h));
               });
}

void readHeaderNames(Reader& r, const Node& n, const std::string& p,
                     std::vector<std::string>& out) {
  readSequence(r, n, p, "the list is empty; leave the key out",
               [&](const Node& item, const std::string& itemPath) {
                 if (auto v = readToken(r, item, itemPath, "header name"))
                   out.push_back(lower(*v));
               });
}

constexpr Key<Route> RouteKeys[] = {
    {"name", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       if (auto v = readName(r, n, p))
         route.name = std::move(*v);
     }},
    {"match", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       if (!readMapping(r, n, p, route.match, MatchKeys))
         return;
       const RouteMatch& m = route.match;
       if (!m.path.empty() + !m.path_prefix.empty() + !m.path_regex.empty() > 1)
         r.problemAt(p, "a match takes at most one of path, path_prefix and path_regex");
     }},
    {"cluster", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       if (auto v = readName(r, n, p))
         route.cluster = std::move(*v);
     }},
    {"direct_response", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       DirectResponse d;
       if (readMapping(r, n, p, d, DirectResponseKeys))
         route.direct_response = std::move(d);
     }},
    {"redirect", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       Redirect d;
       if (readMapping(r, n, p, d, RedirectKeys))
         route.redirect = std::move(d);
     }},
    {"timeout", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       if (isOff(n))
         route.timeout = Duration(0);
       else if (auto v = readDuration(r, n, p, Duration(1)))
         route.timeout = *v;
     }},
    {"host_rewrite", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       auto v = readString(r, n, p);
       if (!v)
         return;
       const bool ok = !v->empty() && std::all_of(v->begin(), v->end(), [](char c) {
         return isHostChar(static_cast<char>(c | 0x20)) || c == ':' || c == '[' || c == ']';
       });
       if (!ok) {
         r.problem(n, p, "invalid host_rewrite '" + *v + "': expected a host[:port]");
         return;
       }
       route.host_rewrite = *v;
     }},
    {"prefix_rewrite", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       if (auto v = readPath(r, n, p))
         route.prefix_rewrite = *v;
     }},
    {"request_headers_to_add", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       readHeaderValues(r, n, p, route.request_headers_to_add);
     }},
    {"request_headers_to_remove", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       readHeaderNames(r, n, p, route.request_headers_to_remove);
     }},
    {"response_headers_to_add", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       readHeaderValues(r, n, p, route.response_headers_to_add);
     }},
    {"response_headers_to_remove", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       readHeaderNames(r, n, p, route.response_headers_to_remove);
     }},
    {"max_body_size", Optional,
     [](Reader& r, const Node& n, const std::string& p, Route& route) {
       if (auto v = readSize(r, n, p, 0, SIZE_MAX))
         route.max_body_size = *v;
     }},
};

constexpr std::string_view HttpOnlyRouteKeys[] = {
    "match",          "direct_response",        "redirect",
    "timeout",        "host_rewrite",           "prefix_rewrite",
    "request_headers_to_add", "request_headers_to_remove", "response_headers_to_add",
    "response_headers_to_remove", "max_body_size",
};

constexpr std::string_view HttpOnlyListenerKeys[] = {
    "request_header_timeout", "max_body_size", "max_header_size", "max_headers", "x_forwarded",
    "access_log",
};

constexpr XForwarded XForwardedModes[] = {XForwarded::Append, XForwarded::Replace,
                                          XForwarded::Off};

constexpr Key<Keepalive> KeepaliveKeys[] = {
    {"max_idle", Optional,
     [](Reader& r, const Node& n, const std::string& p, Keepalive& k) {
       if (auto v = readInt(r, n, p, 0, 65536))
         k.max_idle = static_cast<uint32_t>(*v);
     }},
    {"idle_timeout", Optional,
     [](Reader& r, const Node& n, const std::string& p, Keepalive& k) {
       if (auto v = readDuration(r, n, p, Duration(1)))
         k.idle_timeout = *v;
     }},
};

} // namespace

void readRoute(Reader& r, const YAML::Node& node, const std::string& path, Route& route) {
  readMapping(r, node, path, route, RouteKeys);
}

void readHttpListenerKey(Reader& r, const YAML::Node& n, const std::string& p, Listener& l) {
  const std::string key = fieldName(p);
  if (key == "request_header_timeout") {
    if (auto v = readDuration(r, n, p, Duration(1)))
      l.http.request_header_timeout = *v;
  } else if (key == "max_body_size") {
    if (auto v = readSize(r, n, p, 0, SIZE_MAX))
      l.http.max_body_size = *v;
  } else if (key == "max_header_size") {
    if (auto v = readSize(r, n, p, 1024, 1024 * 1024))
      l.http.max_header_size = *v;
  } else if (key == "max_headers") {
    if (auto v = readInt(r, n, p, 1, 10000))
      l.http.max_headers = static_cast<uint32_t>(*v);
  } else if (key == "x_forwarded") {
    std::array<std::string_view, 3> names;
    for (std::size_t i = 0; i < 3; ++i)
      names[i] = toString(XForwardedModes[i]);
    if (auto i = readChoice(r, n, p, names))
      l.http.x_forwarded = XForwardedModes[*i];
  }
}

void readKeepalive(Reader& r, const YAML::Node& n, const std::string& p, Keepalive& k) {
  if (isOff(n)) {
    k.max_idle = 0;
    return;
  }
  readMapping(r, n, p, k, KeepaliveKeys, "a mapping or 'off'");
}

void checkRoutes(Reader& r, const std::string& path, const Listener& l) {
  const std::string routes = join(path, "routes");
  if (l.protocol != Protocol::Http) {
    for (std::size_t i = 0; i < l.routes.size(); ++i) {
      const std::string rp = indexed(routes, i);
      for (std::string_view k : HttpOnlyRouteKeys)
        if (r.has(join(rp, k)) &&
            !(k == "match" && (sniRouted(l) || !l.routes[i].match.sni.empty()))) // tls_schema
          r.problemAt(join(rp, k), "'" + std::string(k) + "' is only for protocol: http routes");
      if (!r.has(join(rp, "cluster")))
        r.problemAt(rp, "missing required key 'cluster'");
    }
    for (std::string_view k : HttpOnlyListenerKeys)
      if (r.has(join(path, k)))
        r.problemAt(join(path, k), "'" + std::string(k) + "' is only for protocol: http listeners");
    return;
  }
  for (std::size_t i = 0; i < l.routes.size(); ++i) {
    const std::string rp = indexed(routes, i);
    const Route& route = l.routes[i];
    const int actions =
        r.has(join(rp, "cluster")) + r.has(join(rp, "direct_response")) + r.has(join(rp, "redirect"));
    if (actions != 1)
      r.problemAt(rp, "a route takes exactly one of cluster, direct_response or redirect");
    if (!route.prefix_rewrite.empty() && route.match.path_prefix.empty() &&
        route.match.path.empty())
      r.problemAt(join(rp, "prefix_rewrite"),
                  "prefix_rewrite needs a match on path_prefix (or path) to know what to replace");
    if (route.cluster.empty() && !r.has(join(rp, "cluster")))
      for (std::string_view k : {"timeout", "host_rewrite", "prefix_rewrite",
                                 "request_headers_to_add", "request_headers_to_remove"})
        if (r.has(join(rp, k)))
          r.problemAt(join(rp, k), "'" + std::string(k) + "' only applies to a route with a cluster");
  }
}

} // namespace ringway::config
