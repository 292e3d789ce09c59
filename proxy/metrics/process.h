// The standard process metrics (process_cpu_seconds_total, process_resident_memory_bytes, ...),
// read from /proc/self at scrape time, on the scraping thread.
#pragma once

#include <optional>
#include <string>

namespace ringway::metrics {

struct ProcessSample {
  double cpuSeconds = 0; // user + system, all threads
  double residentBytes = 0;
  double virtualBytes = 0;
  double startTimeSeconds = 0; // unix time
  std::optional<double> openFds;
  std::optional<double> maxFds; // RLIMIT_NOFILE soft limit
};

// nullopt when /proc/self/stat cannot be read or parsed (no /proc mounted).
std::optional<ProcessSample> readProcess();

// Parses the text of /proc/<pid>/stat and /proc/stat's btime; for tests. ticksPerSecond and
// pageSize as sysconf() gives them.
std::optional<ProcessSample> parseProcStat(const std::string& stat, double bootTime,
                                           double ticksPerSecond, double pageSize);

} // namespace ringway::metrics
