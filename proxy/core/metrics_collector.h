// The one prometheus::Collectable that reads every worker at scrape time (STYLE.md §4).
// Workers keep plain relaxed atomics; Collect() loads them on the scraping thread and builds
// the MetricFamily protos by hand. Nothing here runs on a worker thread.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "core/worker.h"

namespace ringway::core {

class Server;

// "starting", "serving", "failed", "draining", "stopped": as ringway_worker_state and the
// admin endpoint /workers spell them.
const char* workerStateName(Worker::State s);

// "io_uring" or "epoll": what the workers run (config io.backend "auto" means io_uring unless
// main.cc fell back to epoll).
const char* backendName(const Server& server);

class MetricsCollector final : public prometheus::Collectable {
public:
  // server must outlive the collector and must have been start()ed (workers() is read).
  explicit MetricsCollector(const Server& server) : server_(server) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

private:
  const Server& server_;
};

} // namespace ringway::core
