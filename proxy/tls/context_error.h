// Startup-time failure of a TLS context: names the file and the OpenSSL reason.
#pragma once

#include <stdexcept>
#include <string>

namespace ringway::tls {

// Thrown only while building a ServerContext or ClientContext (startup or config reload),
// never on the data path, where Session reports failures as Status + Failure.
class ContextError : public std::runtime_error {
public:
  explicit ContextError(const std::string& what) : std::runtime_error(what) {}
};

} // namespace ringway::tls
