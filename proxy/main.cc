// ringway: flags, config, run until a signal.
#include <signal.h>
#include <sys/resource.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "config/loader.h"
#include "core/admin_server.h"
#include "core/sd_notify.h"
#include "core/server.h"
#include "core/threads_server.h"
#include "io/log.h"
#include "io/probe.h"

using namespace ringway;

namespace {

bool parseLevel(const std::string& s, io::Level& out) {
  if (s == "debug") out = io::Level::Debug;
  else if (s == "info") out = io::Level::Info;
  else if (s == "warn") out = io::Level::Warn;
  else if (s == "error") out = io::Level::Error;
  else return false;
  return true;
}

io::Level toLevel(config::LogLevel l) {
  switch (l) {
    case config::LogLevel::Debug: return io::Level::Debug;
    case config::LogLevel::Warn: return io::Level::Warn;
    case config::LogLevel::Error: return io::Level::Error;
    default: return io::Level::Info;
  }
}

// Two descriptors per proxied connection: take every descriptor the hard limit allows, as
// HAProxy does, rather than fail at the soft limit (often 1024).
void raiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max) return;
  const rlim_t was = rl.rlim_cur;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
    LOG_DEBUG("open file limit raised from %lu to %lu", static_cast<unsigned long>(was),
              static_cast<unsigned long>(rl.rlim_max));
}

// For Type=notify systemd units (deploy/systemd); without $NOTIFY_SOCKET it does nothing.
void notifyManager(const std::string& state) {
  auto sent = core::sdNotify(state);
  if (!sent.ok())
    LOG_WARN("sd_notify: %s: %s", sent.error().what, std::strerror(sent.error().code));
}

// Waits for SIGTERM/SIGINT: the first drains, a second one (or the drain finishing) ends it.
// SIGUSR1 reopens the access logs (logrotate's postrotate).
// S: core::Server or core::ThreadsServer.
template <class S>
int runUntilSignal(S& server) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  bool draining = false;
  for (;;) {
    timespec tick{0, 100 * 1000 * 1000};
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGHUP) {
      LOG_WARN("SIGHUP: configuration reload is not implemented yet; ignoring");
    } else if (sig == SIGUSR1) {
      if constexpr (requires { server.reopenLogs(); }) {
        LOG_INFO("SIGUSR1: reopening access logs");
        server.reopenLogs();
      }
    } else if (sig == SIGTERM || sig == SIGINT) {
      if (!draining) {
        LOG_INFO("%s: draining (up to %lld ms); send it again to stop at once",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 static_cast<long long>(server.config().defaults.drain_timeout.count()));
        draining = true;
        notifyManager("STOPPING=1");
        server.drain();
      } else {
        LOG_INFO("second signal: closing every connection now");
        server.stopNow();
      }
    }
    if (server.finished()) break;
  }
  server.wait();
  LOG_INFO("stopped");
  return 0;
}

// io.backend: threads, the thread-per-connection baseline (core/threads_server.h).
int runThreads(const std::shared_ptr<const config::Config>& cfg, const std::string& path) {
  core::ThreadsServer server(cfg);
  try {
    server.start();
  } catch (const std::exception& e) {
    LOG_ERROR("%s", e.what());
    return 1;
  }
  if (cfg->admin.address)
    LOG_WARN("admin: not served by the threads backend (its metrics read per-worker loops)");
  for (const config::Listener& l : cfg->listeners)
    if (l.access_log)
      LOG_WARN("listener=%s: access_log is not written by the threads backend", l.name.c_str());
  LOG_INFO("ringway %s serving with threads (one per connection, up to %lu), config %s",
           RINGWAY_VERSION, static_cast<unsigned long>(core::ThreadsServer::MaxConnections),
           path.c_str());
  notifyManager("READY=1\nSTATUS=serving with threads (one per connection)");
  return runUntilSignal(server);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ringway: an io_uring reverse proxy"};
  std::string configPath = "config/ringway.yaml";
  bool check = false;
  bool version = false;
  unsigned workers = 0;
  std::string level;
  std::string backend;
  app.add_option("-c,--config", configPath, "configuration file")->capture_default_str();
  app.add_flag("--check", check, "validate the configuration, print problems, start nothing");
  app.add_option("--workers", workers, "worker threads (overrides the file)")
      ->check(CLI::Range(1, 1024));
  app.add_option("--log-level", level, "debug | info | warn | error (overrides the file)")
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  app.add_option("--backend", backend, "auto | io_uring | epoll | threads (overrides io.backend)")
      ->check(CLI::IsMember({"auto", "io_uring", "epoll", "threads"}));
  app.add_flag("--version", version, "print the version and exit");
  CLI11_PARSE(app, argc, argv);

  if (version) {
    std::printf("ringway %s\n", RINGWAY_VERSION);
    return 0;
  }

  std::shared_ptr<const config::Config> cfg;
  try {
    cfg = config::loadFile(configPath);
  } catch (const config::ConfigError& e) {
    for (const auto& p : e.problems()) std::fprintf(stderr, "%s\n", p.str().c_str());
    std::fprintf(stderr, "%s: %zu problem%s\n", configPath.c_str(), e.problems().size(),
                 e.problems().size() == 1 ? "" : "s");
    return 1;
  }
  // Not problems, but worth a look (a route an earlier one shadows, ...): printed at --check
  // and at start.
  for (const std::string& w : cfg->warnings) std::fprintf(stderr, "%s\n", w.c_str());
  if (check) {
    const bool threads = backend == "threads" ||
                         (backend.empty() && cfg->io.backend == config::Backend::Threads);
    if (std::string why = threads ? core::ThreadsServer::unsupported(*cfg) : ""; !why.empty()) {
      std::fprintf(stderr, "%s: %s\n", configPath.c_str(), why.c_str());
      return 1;
    }
    std::printf("%s: ok (%zu listeners, %zu clusters)\n", configPath.c_str(),
                cfg->listeners.size(), cfg->clusters.size());
    return 0;
  }
  auto eff = std::make_shared<config::Config>(*cfg);  // flags override the file
  if (workers != 0) eff->workers = workers;
  if (backend == "io_uring") eff->io.backend = config::Backend::IoUring;
  if (backend == "epoll") eff->io.backend = config::Backend::Epoll;
  if (backend == "auto") eff->io.backend = config::Backend::Auto;
  if (backend == "threads") eff->io.backend = config::Backend::Threads;
  io::Level lvl = toLevel(eff->log_level);
  if (!level.empty()) parseLevel(level, lvl);
  io::setLogLevel(lvl);

  raiseFdLimit();
  if (eff->io.backend != config::Backend::Epoll && eff->io.backend != config::Backend::Threads) {
    const io::ProbeResult& probe = io::probe();
    if (probe.ok) {
      eff->io.backend = config::Backend::IoUring;
    } else if (eff->io.backend == config::Backend::Auto) {
      LOG_WARN("io_uring is not usable here (%s); using the epoll backend", probe.why.c_str());
      eff->io.backend = config::Backend::Epoll;
    } else {
      LOG_ERROR("io.backend is io_uring, but io_uring is not usable here: %s",
                probe.why.c_str());
      return 1;
    }
  }
  cfg = std::move(eff);

  // Signals go to the main thread only: block them before any worker thread exists.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);

  if (cfg->io.backend == config::Backend::Threads) return runThreads(cfg, configPath);
  core::Server server(cfg);
  try {
    server.start();
  } catch (const std::exception& e) {
    LOG_ERROR("%s", e.what());
    return 1;
  }
  // Declared after server: destroyed (stopped) before the workers it reads.
  std::unique_ptr<core::AdminServer> admin;
  if (cfg->admin.address) {
    admin = std::make_unique<core::AdminServer>(server, *cfg->admin.address);
    try {
      admin->start();  // logs "admin listening on ADDR"
    } catch (const std::exception& e) {
      LOG_ERROR("%s", e.what());
      return 1;  // ~Server stops the workers
    }
  }
  LOG_INFO("ringway %s serving with %u workers (%s), config %s", RINGWAY_VERSION, cfg->workers,
           std::string(config::toString(cfg->io.backend)).c_str(), configPath.c_str());
  notifyManager("READY=1\nSTATUS=serving with " + std::to_string(cfg->workers) + " workers (" +
                std::string(config::toString(cfg->io.backend)) + ")");
  const int rc = runUntilSignal(server);
  if (admin) admin->stop();
  return rc;
}
