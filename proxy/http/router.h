// Router: picks the first configured route whose match holds for a request. Built once per
// listener and worker from config::Route; match() reads only the parsed head and does not
// allocate (RE2's lazy DFA may grow its cache on the first requests, then stops).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "http/message.h"

namespace re2 {
class RE2;
}

namespace ringway::http {

class Parser;

// What routing looks at.
struct RouteInput {
  std::string_view host;    // Host (or the absolute-form target's authority), port included
  std::string_view path;    // target before '?', e.g. "/v1/users"; "*" for OPTIONS *
  std::string_view method;  // as sent, case-sensitive
  std::span<const Header> headers;
};

// The routing view of a parsed request head. An absolute-form target's authority wins over
// Host (RFC 9112 3.2.2).
RouteInput routeInput(const Parser& p);

// "Example.COM:8080" -> "Example.COM"; "[::1]:80" -> "[::1]"; one trailing dot dropped.
std::string_view hostWithoutPort(std::string_view host);

// "/a/b?x=1" -> "/a/b"; "http://h:1/a?x" -> "/a"; "http://h" -> "/".
std::string_view targetPath(std::string_view target, TargetForm form);
// The part of the target from the path on: "http://h/a?x" -> "/a?x" (origin-form for upstream).
std::string_view originForm(std::string_view target, TargetForm form);

class Router {
 public:
  explicit Router(const std::vector<config::Route>& routes);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Index of the first route that matches, or -1.
  int match(const RouteInput& in) const;
  std::size_t size() const { return routes_.size(); }

 private:
  enum class HostKind : uint8_t { Any, Exact, Suffix };
  enum class PathKind : uint8_t { Any, Exact, Prefix, Regex };
  struct CompiledHeader {
    std::string name;  // lower case
    config::HeaderMatch::Kind kind;
    std::string value;
    std::unique_ptr<re2::RE2> regex;
  };
  struct Compiled {
    HostKind hostKind = HostKind::Any;
    std::string host;  // lower case; Suffix: ".example.com"
    PathKind pathKind = PathKind::Any;
    std::string path;
    std::unique_ptr<re2::RE2> pathRegex;
    std::vector<std::string> methods;
    std::vector<CompiledHeader> headers;
  };
  static bool matches(const Compiled& c, const RouteInput& in);

  std::vector<Compiled> routes_;
};

}  // namespace ringway::http
