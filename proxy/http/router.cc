#include "http/router.h"

#include <re2/re2.h>

#include "http/chars.h"
#include "http/parser.h"

namespace ringway::http {

namespace {

std::unique_ptr<re2::RE2> compile(const std::string& pattern) {
  RE2::Options o;
  o.set_log_errors(false);
  auto re = std::make_unique<re2::RE2>(pattern, o);
  return re->ok() ? std::move(re) : nullptr;  // the config loader already rejected bad ones
}

bool fullMatch(const re2::RE2* re, std::string_view s) {
  return re != nullptr && re2::RE2::FullMatch(re2::StringPiece(s.data(), s.size()), *re);
}

// The authority of an absolute-form target: "http://user@h:1/x" -> "h:1".
std::string_view authorityOf(std::string_view target) {
  const size_t scheme = target.find("://");
  if (scheme == std::string_view::npos) return {};
  std::string_view rest = target.substr(scheme + 3);
  const size_t end = rest.find_first_of("/?");
  rest = rest.substr(0, end);
  const size_t at = rest.rfind('@');
  return at == std::string_view::npos ? rest : rest.substr(at + 1);
}

}  // namespace

std::string_view hostWithoutPort(std::string_view host) {
  if (!host.empty() && host[0] == '[') {
    const size_t close = host.find(']');
    return close == std::string_view::npos ? host : host.substr(0, close + 1);
  }
  const size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  return host;
}

std::string_view originForm(std::string_view target, TargetForm form) {
  if (form != TargetForm::Absolute) return target;
  const size_t scheme = target.find("://");
  if (scheme == std::string_view::npos) return "/";
  const std::string_view rest = target.substr(scheme + 3);
  const size_t start = rest.find_first_of("/?");
  if (start == std::string_view::npos) return "/";
  return rest.substr(start);
}

std::string_view targetPath(std::string_view target, TargetForm form) {
  std::string_view t = originForm(target, form);
  const size_t q = t.find('?');
  if (q != std::string_view::npos) t = t.substr(0, q);
  return t.empty() ? std::string_view("/") : t;
}

RouteInput routeInput(const Parser& p) {
  RouteInput in;
  in.method = p.methodName();
  in.headers = p.headers();
  in.path = targetPath(p.target(), p.targetForm());
  if (p.targetForm() == TargetForm::Absolute) {
    in.host = authorityOf(p.target());
  } else if (const Header* h = findHeader(p.headers(), "host")) {
    in.host = h->value;
  }
  return in;
}

Router::Router(const std::vector<config::Route>& routes) {
  routes_.reserve(routes.size());
  for (const config::Route& r : routes) {
    Compiled c;
    const config::RouteMatch& m = r.match;
    if (m.host.starts_with("*.")) {
      c.hostKind = HostKind::Suffix;
      c.host = m.host.substr(1);
    } else if (!m.host.empty()) {
      c.hostKind = HostKind::Exact;
      c.host = m.host;
    }
    if (!m.path.empty()) {
      c.pathKind = PathKind::Exact;
      c.path = m.path;
    } else if (!m.path_prefix.empty()) {
      c.pathKind = PathKind::Prefix;
      c.path = m.path_prefix;
    } else if (!m.path_regex.empty()) {
      c.pathKind = PathKind::Regex;
      c.pathRegex = compile(m.path_regex);
    }
    c.methods = m.methods;
    for (const config::HeaderMatch& h : m.headers) {
      CompiledHeader ch{h.name, h.kind, h.value, nullptr};
      if (h.kind == config::HeaderMatch::Kind::Regex) ch.regex = compile(h.value);
      c.headers.push_back(std::move(ch));
    }
    routes_.push_back(std::move(c));
  }
}

Router::~Router() = default;

bool Router::matches(const Compiled& c, const RouteInput& in) {
  if (c.hostKind != HostKind::Any) {
    const std::string_view host = hostWithoutPort(in.host);
    if (c.hostKind == HostKind::Exact) {
      if (!equalsIgnoreCase(host, c.host)) return false;
    } else {
      // "*.example.com" wants at least one label before ".example.com".
      if (host.size() <= c.host.size() ||
          !equalsIgnoreCase(host.substr(host.size() - c.host.size()), c.host))
        return false;
    }
  }
  switch (c.pathKind) {
    case PathKind::Any: break;
    case PathKind::Exact:
      if (in.path != c.path) return false;
      break;
    case PathKind::Prefix:
      if (!in.path.starts_with(c.path)) return false;
      break;
    case PathKind::Regex:
      if (!fullMatch(c.pathRegex.get(), in.path)) return false;
      break;
  }
  if (!c.methods.empty()) {
    bool any = false;
    for (const std::string& m : c.methods) any = any || in.method == m;
    if (!any) return false;
  }
  for (const CompiledHeader& h : c.headers) {
    bool any = false;
    for (const Header& f : in.headers) {
      if (!equalsIgnoreCase(f.name, h.name)) continue;
      switch (h.kind) {
        case config::HeaderMatch::Kind::Present: any = true; break;
        case config::HeaderMatch::Kind::Exact: any = f.value == h.value; break;
        case config::HeaderMatch::Kind::Regex: any = fullMatch(h.regex.get(), f.value); break;
      }
      if (any) break;
    }
    if (!any) return false;
  }
  return true;
}

int Router::match(const RouteInput& in) const {
  for (std::size_t i = 0; i < routes_.size(); ++i)
    if (matches(routes_[i], in)) return static_cast<int>(i);
  return -1;
}

}  // namespace ringway::http
