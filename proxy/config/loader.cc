#include "config/loader.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "config/reader.h"
#include "config/schema.h"

namespace ringway::config {
namespace {

std::string joinLines(const std::vector<Problem>& problems) {
  std::string out;
  for (const Problem& p : problems) {
    if (!out.empty())
      out += '\n';
    out += p.str();
  }
  return out;
}

} // namespace

// Without a known position (unreadable file) the line:col part is left out rather than
// printing a misleading 0:0.
std::string Problem::str() const {
  std::string out = file;
  if (line > 0)
    out += ":" + std::to_string(line) + ":" + std::to_string(col);
  out += ": " + message;
  if (!path.empty())
    out += " (at " + path + ")";
  return out;
}

ConfigError::ConfigError(std::vector<Problem> problems)
    : std::runtime_error(joinLines(problems)), problems_(std::move(problems)) {}

std::shared_ptr<const Config> loadString(const std::string& yaml, const std::string& name) {
  Reader r(name);
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(yaml);
  } catch (const YAML::Exception& e) { // ParserException: syntax error, with its mark
    r.problem(e.mark, "", e.msg);
    throw ConfigError(r.take());
  }
  if (docs.empty() || docs.front().IsNull()) {
    r.problem(YAML::Mark(), "",
              "configuration is empty; expected a mapping with at least 'listeners'");
    throw ConfigError(r.take());
  }
  if (docs.size() > 1)
    r.problem(docs[1], "",
              "only one YAML document is allowed (found " + std::to_string(docs.size()) + ")");

  auto cfg = std::make_shared<Config>();
  cfg->file = name;
  {  // the admin listener is on unless the file says `admin: off`, as the README documents
    Address a;
    std::string why;
    if (parseAddress(kDefaultAdminAddress, a, why)) cfg->admin.address = a;
  }
  try {
    readConfig(r, docs.front(), *cfg);
    validateConfig(r, *cfg);
  } catch (const YAML::Exception& e) {
    // The readers avoid throwing accessors; this keeps a surprise from escaping unconverted.
    r.problem(e.mark, "", e.msg);
  }
  if (!r.ok())
    throw ConfigError(r.take());
  cfg->warnings = r.takeWarnings();
  return cfg;
}

std::shared_ptr<const Config> loadFile(const std::string& path) {
  const auto fail = [&](int err) {
    throw ConfigError(
        {Problem{path, 0, 0, std::string("cannot read file: ") + std::strerror(err), ""}});
  };
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    fail(errno);
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n == 0)
      break;
    if (n < 0) {
      if (errno == EINTR)
        continue;
      const int err = errno;
      ::close(fd);
      fail(err);
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return loadString(text, path);
}

} // namespace ringway::config
