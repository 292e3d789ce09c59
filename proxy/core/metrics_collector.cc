#include "core/metrics_collector.h"

#include <openssl/crypto.h>

#include <array>
#include <iterator>
#include <optional>
#include <string>

#include "core/metrics_internal.h"
#include "core/server.h"
#include "core/worker.h"
#include "io/ring.h"
#include "metrics/family.h"
#include "metrics/process.h"
#include "metrics/uring_ops.h"

#ifndef RINGWAY_LIBURING_VERSION // set by CMakeLists.txt from pkg-config
#define RINGWAY_LIBURING_VERSION "unknown"
#endif

namespace ringway::core {

namespace {

using metrics::addCounter;
using metrics::addGauge;
using metrics::Labels;

} // namespace

bool readable(const Worker& w) {
  const auto s = w.state();
  return (s == Worker::State::Serving || s == Worker::State::Draining ||
          s == Worker::State::Stopped) &&
         w.loop() != nullptr;
}

std::string listenerCluster(const config::Listener& l) {
  std::string name;
  for (const config::Route& r : l.routes) {
    if (r.cluster.empty())
      continue; // direct_response, redirect
    if (name.empty())
      name = r.cluster;
    else if (name != r.cluster)
      return "";
  }
  return name;
}

const char* workerStateName(Worker::State s) {
  switch (s) {
  case Worker::State::Starting:
    return "starting";
  case Worker::State::Serving:
    return "serving";
  case Worker::State::Failed:
    return "failed";
  case Worker::State::Draining:
    return "draining";
  case Worker::State::Stopped:
    return "stopped";
  }
  return "unknown";
}

namespace {

// ringway_start_time_seconds, ringway_config_reloads_total and the standard process_* metrics
// (from /proc/self, read here on the scraping thread).
void processFamilies(std::vector<prometheus::MetricFamily>& out) {
  const std::optional<metrics::ProcessSample> p = metrics::readProcess();
  auto start = metrics::gaugeFamily("ringway_start_time_seconds",
                                    "When the process started, in seconds since the epoch.");
  // Reload is not built yet: both results stay 0 so dashboards and alerts have the series.
  auto reloads = metrics::counterFamily(
      "ringway_config_reloads_total",
      "Configuration reloads by result (success, failure). Reload is not implemented: always 0.");
  addCounter(reloads, {{"result", "success"}}, 0);
  addCounter(reloads, {{"result", "failure"}}, 0);
  auto cpu = metrics::counterFamily("process_cpu_seconds_total",
                                    "Total user and system CPU time spent in seconds.");
  auto rss =
      metrics::gaugeFamily("process_resident_memory_bytes", "Resident memory size in bytes.");
  auto vsz = metrics::gaugeFamily("process_virtual_memory_bytes", "Virtual memory size in bytes.");
  auto fds = metrics::gaugeFamily("process_open_fds", "Number of open file descriptors.");
  auto maxFds = metrics::gaugeFamily("process_max_fds", "Maximum number of open file descriptors.");
  auto started = metrics::gaugeFamily("process_start_time_seconds",
                                      "Start time of the process since unix epoch in seconds.");
  if (p) {
    addGauge(start, {}, p->startTimeSeconds);
    addCounter(cpu, {}, p->cpuSeconds);
    addGauge(rss, {}, p->residentBytes);
    addGauge(vsz, {}, p->virtualBytes);
    if (p->openFds)
      addGauge(fds, {}, *p->openFds);
    if (p->maxFds)
      addGauge(maxFds, {}, *p->maxFds);
    addGauge(started, {}, p->startTimeSeconds);
  }
  for (auto* f : {&start, &reloads, &cpu, &rss, &vsz, &fds, &maxFds, &started})
    out.push_back(std::move(*f));
}

constexpr Worker::State kStates[] = {Worker::State::Starting, Worker::State::Serving,
                                     Worker::State::Failed, Worker::State::Draining,
                                     Worker::State::Stopped};

// Access logs (net/access_log.h), per listener that has one: lines written and dropped.
void accessLogFamilies(const Server& server, std::vector<prometheus::MetricFamily>& out) {
  auto lines = metrics::counterFamily("ringway_access_log_lines_total",
                                      "Access log lines written to the file.");
  auto dropped = metrics::counterFamily(
      "ringway_access_log_dropped_lines_total",
      "Access log lines dropped: the disk did not keep up (the per-worker buffers were full) or "
      "the write failed.");
  const config::Config& cfg = server.config();
  for (const config::Listener& lc : cfg.listeners) {
    if (!lc.access_log || lc.protocol != config::Protocol::Http) continue;
    double n = 0, d = 0;
    for (const auto& w : server.workers()) {
      if (!readable(*w)) continue;
      for (const auto& a : w->accessLogs())
        if (&a->listener() == &lc) {
          n += static_cast<double>(a->lines());
          d += static_cast<double>(a->dropped());
        }
    }
    addCounter(lines, {{"listener", lc.name}}, n);
    addCounter(dropped, {{"listener", lc.name}}, d);
  }
  out.push_back(std::move(lines));
  out.push_back(std::move(dropped));
}

void listenerFamilies(const Server& server, std::vector<prometheus::MetricFamily>& out) {
  const config::Config& cfg = server.config();
  auto accepted = metrics::counterFamily("ringway_downstream_connections_total",
                                         "Client connections accepted.");
  auto active =
      metrics::gaugeFamily("ringway_downstream_connections_active", "Client connections open now.");
  auto bytes = metrics::counterFamily(
      "ringway_downstream_bytes_total",
      "Bytes received from clients (direction=rx) and sent towards them (direction=tx).");
  auto errors = metrics::counterFamily(
      "ringway_downstream_connection_errors_total",
      "Client-side connection errors: failed accepts, resets (RST seen on either side of a "
      "proxied connection), idle timeouts.");
  auto connectErrors = metrics::counterFamily(
      "ringway_upstream_connect_errors_total",
      "Failed upstream connection attempts: reason=timeout (connect timeout), reason=error "
      "(refused, unreachable, no socket, ...).");
  auto upstreamActive = metrics::gaugeFamily(
      "ringway_upstream_connections_active",
      "Upstream connections open or connecting now, by the listener that opened them.");

  for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::Listener& lc = cfg.listeners[i];
    double acc = 0, act = 0, rx = 0, tx = 0, acceptErr = 0, resets = 0, idle = 0;
    for (const auto& w : server.workers()) {
      if (!readable(*w) || i >= w->listeners().size())
        continue;
      const net::ListenerStats& s = w->listeners()[i]->stats();
      acc += load(s.accepted);
      act += load(s.active);
      rx += load(s.bytesIn);
      tx += load(s.bytesOut);
      acceptErr += load(s.acceptErrors);
      resets += load(s.resets);
      idle += load(s.idleTimeouts);
    }
    addCounter(accepted, {{"listener", lc.name}}, acc);
    addGauge(active, {{"listener", lc.name}}, act);
    addCounter(bytes, {{"direction", "rx"}, {"listener", lc.name}}, rx);
    addCounter(bytes, {{"direction", "tx"}, {"listener", lc.name}}, tx);
    addCounter(errors, {{"listener", lc.name}, {"reason", "accept"}}, acceptErr);
    addCounter(errors, {{"listener", lc.name}, {"reason", "reset"}}, resets);
    addCounter(errors, {{"listener", lc.name}, {"reason", "idle_timeout"}}, idle);
    if (lc.protocol == config::Protocol::Http) {  // per cluster: its routes may name several
      httpUpstreamSamples(server, i, connectErrors, upstreamActive);
      continue;
    }
    l4UpstreamSamples(server, i, connectErrors, upstreamActive); // per cluster too (SNI)
  }

  out.push_back(std::move(accepted));
  out.push_back(std::move(active));
  out.push_back(std::move(bytes));
  out.push_back(std::move(errors));
  out.push_back(std::move(connectErrors));
  out.push_back(std::move(upstreamActive));
}

void workerFamilies(const Server& server, std::vector<prometheus::MetricFamily>& out) {
  auto state = metrics::gaugeFamily("ringway_worker_state",
                                    "1 for the state each worker is in, 0 for the others.");
  auto connections = metrics::gaugeFamily("ringway_worker_connections_active",
                                          "Proxied connections a worker holds now.");
  auto cpu = metrics::counterFamily("ringway_worker_cpu_seconds_total",
                                    "CPU time (user + system) of the worker thread.");
  auto switches = metrics::counterFamily(
      "ringway_worker_context_switches_total",
      "Context switches of the worker thread: voluntary (it blocked) or involuntary "
      "(preempted).");
  auto loops = metrics::counterFamily("ringway_worker_loop_iterations_total",
                                      "Event loop wakeups (submit-and-wait calls).");
  auto batch = metrics::histogramFamily("ringway_worker_loop_batch_cqes",
                                        "Completions handled per event loop wakeup.");
  auto enters = metrics::counterFamily("ringway_io_uring_enter_total",
                                       "io_uring_enter system calls made by the worker's ring.");
  auto sqes = metrics::counterFamily("ringway_io_uring_sqes_submitted_total",
                                     "Submission queue entries handed to the kernel, by opcode.");
  auto cqes = metrics::counterFamily(
      "ringway_io_uring_cqes_total",
      "Completion queue entries reaped, by the kind of operation that completed.");
  auto syscalls = metrics::counterFamily(
      "ringway_syscalls_total", "System calls made by the worker thread, io_uring_enter included.");
  auto buffersFree = metrics::gaugeFamily("ringway_buffer_ring_buffers_free",
                                          "Provided receive buffers free in the worker's pool.");
  auto enobufs = metrics::counterFamily(
      "ringway_buffer_ring_enobufs_total",
      "Receives that found the buffer pool empty (ENOBUFS) and had to wait for a buffer.");
  auto sendZc = metrics::counterFamily("ringway_send_zc_total", "Zero-copy sends issued.");
  auto sendZcCopied =
      metrics::counterFamily("ringway_send_zc_copied_total",
                             "Zero-copy sends that the kernel completed by copying after all.");
  auto spliced = metrics::counterFamily(
      "ringway_spliced_bytes_total",
      "Bytes L4 relays moved with splice(2) through kernel pipes, never copied to user space.");
  auto spliceFallbacks = metrics::counterFamily(
      "ringway_splice_fallbacks_total",
      "Splice relay directions that could not get a pipe (EMFILE) and went on through buffers.");

  std::array<double, std::size(io::RingCounters::kBatchBounds)> bounds{};
  for (std::size_t i = 0; i < bounds.size(); ++i)
    bounds[i] = static_cast<double>(io::RingCounters::kBatchBounds[i]);

  for (const auto& w : server.workers()) {
    const std::string id = std::to_string(w->id());
    const Worker::State st = w->state();
    for (Worker::State s : kStates)
      addGauge(state, {{"state", workerStateName(s)}, {"worker", id}}, s == st ? 1 : 0);
    if (!readable(*w))
      continue;
    io::Loop& loop = *w->loop();
    const Worker::Usage& u = w->usage();
    addGauge(connections, {{"worker", id}}, static_cast<double>(w->activeSessions()));
    addCounter(cpu, {{"worker", id}}, load(u.cpuMicros) / 1e6);
    addCounter(switches, {{"kind", "voluntary"}, {"worker", id}}, load(u.voluntarySwitches));
    addCounter(switches, {{"kind", "involuntary"}, {"worker", id}}, load(u.involuntarySwitches));

    const io::LoopStats& ls = loop.stats();
    addCounter(syscalls, {{"worker", id}}, load(ls.syscalls));
    addGauge(buffersFree, {{"worker", id}}, load(ls.buffersFree));
    addCounter(enobufs, {{"worker", id}}, load(ls.enobufs));
    addCounter(sendZc, {{"worker", id}}, load(ls.sendZc));
    addCounter(sendZcCopied, {{"worker", id}}, load(ls.sendZcCopied));
    addCounter(spliced, {{"worker", id}}, load(ls.splicedBytes));
    addCounter(spliceFallbacks, {{"worker", id}}, load(ls.spliceFallbacks));

    const io::RingCounters* rc = loop.ringCounters();
    if (rc == nullptr)
      continue;
    addCounter(enters, {{"worker", id}}, load(rc->enters));
    addCounter(loops, {{"worker", id}}, load(rc->loops));
    double other = 0;
    for (unsigned op = 0; op < rc->sqesByOp.size(); ++op) {
      const double n = load(rc->sqesByOp[op]);
      if (n == 0)
        continue;
      if (const char* name = metrics::uringOpName(op))
        addCounter(sqes, {{"op", name}, {"worker", id}}, n);
      else
        other += n;
    }
    if (other > 0)
      addCounter(sqes, {{"op", "other"}, {"worker", id}}, other);
    for (unsigned tag = 0; tag < rc->cqesByTag.size(); ++tag) {
      const double n = load(rc->cqesByTag[tag]);
      if (n > 0)
        addCounter(cqes, {{"op", io::tagName(tag)}, {"worker", id}}, n);
    }
    std::array<uint64_t, io::RingCounters::kBatchBuckets> counts{};
    for (std::size_t b = 0; b < counts.size(); ++b)
      counts[b] = rc->batchHist[b].load(std::memory_order_relaxed);
    metrics::addHistogram(batch, {{"worker", id}},
                          metrics::histogramFromBuckets(bounds, counts, load(rc->batchSum)));
  }

  for (auto* f : {&state, &connections, &cpu, &switches, &loops, &batch, &enters, &sqes, &cqes,
                  &syscalls, &buffersFree, &enobufs, &sendZc, &sendZcCopied, &spliced,
                  &spliceFallbacks})
    out.push_back(std::move(*f));
}

} // namespace

const char* backendName(const Server& server) {
  for (const auto& w : server.workers())
    if (readable(*w))
      return w->loop()->backend();
  return server.config().io.backend == config::Backend::Epoll ? "epoll" : "io_uring";
}

std::vector<prometheus::MetricFamily> MetricsCollector::Collect() const {
  std::vector<prometheus::MetricFamily> out;
  auto info = metrics::gaugeFamily("ringway_build_info",
                                   "Always 1; the labels say which ringway is running.");
  addGauge(info,
           {{"backend", backendName(server_)},
            {"liburing", RINGWAY_LIBURING_VERSION},
            {"openssl", OpenSSL_version(OPENSSL_VERSION_STRING)},
            {"version", RINGWAY_VERSION}},
           1);
  out.push_back(std::move(info));
  processFamilies(out);
  listenerFamilies(server_, out);
  accessLogFamilies(server_, out);
  httpFamilies(server_, out);
  upstreamFamilies(server_, out);
  tlsFamilies(server_, out);
  workerFamilies(server_, out);
  return out;
}

} // namespace ringway::core
