// YAML -> Config, with every problem reported at once.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"

namespace ringway::config {

struct Problem {
  std::string file;
  int line = 0;  // 1-based; 0 when unknown
  int col = 0;   // 1-based
  std::string message;
  std::string path;  // YAML path, e.g. "listeners[0].routes[0].cluster"; empty for the root
  // "FILE:LINE:COL: message (at path)"
  std::string str() const;
};

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<Problem> problems);
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

// Throw ConfigError listing every problem found. `name` is the file name used in messages.
std::shared_ptr<const Config> loadFile(const std::string& path);
std::shared_ptr<const Config> loadString(const std::string& yaml, const std::string& name);

// Helpers, exposed for tests and for the CLI.
bool parseDuration(const std::string& text, Duration& out);      // "250ms", "5s", "1m", "1h"
bool parseSize(const std::string& text, std::size_t& out);       // "512B", "16KiB", "4MiB", "1GiB"
bool parseAddress(const std::string& text, Address& out, std::string& why);

}  // namespace ringway::config
