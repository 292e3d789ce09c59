// `access_log: { path: FILE, format: json | combined }` on http listeners, and the check that
// the file can be written (run after everything is read, when the config file's directory is
// known: relative paths are relative to it, as TLS files are).
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "config/schema.h"

namespace ringway::config {
namespace {

using YAML::Node;

constexpr AccessLogFormat Formats[] = {AccessLogFormat::Combined, AccessLogFormat::Json};

constexpr Key<AccessLog> AccessLogKeys[] = {
    {"path", Required,
     [](Reader& r, const Node& n, const std::string& p, AccessLog& a) {
       auto v = readString(r, n, p);
       if (!v)
         return;
       if (v->empty()) {
         r.problem(n, p, "the access log path must not be empty");
         return;
       }
       a.path = std::move(*v);
     }},
    {"format", Optional,
     [](Reader& r, const Node& n, const std::string& p, AccessLog& a) {
       std::array<std::string_view, std::size(Formats)> names;
       for (std::size_t i = 0; i < names.size(); ++i)
         names[i] = toString(Formats[i]);
       if (auto i = readChoice(r, n, p, names))
         a.format = Formats[*i];
     }},
};

std::string directoryPart(const std::string& file) {
  const std::size_t slash = file.rfind('/');
  return slash == std::string::npos ? std::string() : file.substr(0, slash + 1);
}

} // namespace

void readAccessLog(Reader& r, const YAML::Node& n, const std::string& p, Listener& l) {
  AccessLog a;
  if (readMapping(r, n, p, a, AccessLogKeys, "a mapping { path: FILE, format: json | combined }"))
    l.access_log = std::move(a);
}

void checkAccessLogs(Reader& r, Config& cfg) {
  const std::string dir = directoryPart(cfg.file);
  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    Listener& l = cfg.listeners[i];
    if (!l.access_log || l.access_log->path.empty())
      continue;
    std::string& path = l.access_log->path;
    if (path.front() != '/' && !dir.empty())
      path = dir + path;
    const std::string at = join(join(indexed("listeners", i), "access_log"), "path");
    // The file may not exist yet (it is created at start, 0644); its directory must, and we must
    // be able to write there. An existing file must be writable and not a directory.
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) {
      if (S_ISDIR(st.st_mode))
        r.problemAt(at, "'" + path + "' is a directory; expected a file to append to");
      else if (::access(path.c_str(), W_OK) != 0)
        r.problemAt(at, "cannot write to '" + path + "': " + std::strerror(errno));
      continue;
    }
    if (errno != ENOENT) {
      r.problemAt(at, "cannot use '" + path + "': " + std::strerror(errno));
      continue;
    }
    const std::size_t slash = path.rfind('/');
    const std::string parent = slash == std::string::npos ? "."
                               : slash == 0               ? "/"
                                                          : path.substr(0, slash);
    if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      r.problemAt(at, "directory '" + parent + "' of the access log does not exist");
      continue;
    }
    if (::access(parent.c_str(), W_OK | X_OK) != 0)
      r.problemAt(at, "cannot create files in '" + parent + "': " + std::strerror(errno));
  }
}

} // namespace ringway::config
