// Server: binds every listener, starts one Worker per configured worker, stops them.
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "config/config.h"
#include "core/worker.h"

namespace ringway::core {

class Server {
 public:
  explicit Server(std::shared_ptr<const config::Config> cfg);
  ~Server();

  // Binds, starts the workers and waits until each serves. Throws std::runtime_error with a
  // message for the operator (bind failure, io_uring unavailable, ...).
  void start();
  void drain();    // graceful: see Worker::drain
  void stopNow();
  void reopenLogs();  // SIGUSR1: every worker reopens its access logs
  bool finished() const;  // every worker stopped
  void wait();            // join every worker

  // "127.0.0.1:41234" for each config listener, port 0 resolved.
  const std::vector<std::string>& boundAddresses() const { return bound_; }
  const std::vector<std::unique_ptr<Worker>>& workers() const { return workers_; }
  const config::Config& config() const { return *cfg_; }

 private:
  std::shared_ptr<const config::Config> cfg_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::string> bound_;
};

}  // namespace ringway::core
