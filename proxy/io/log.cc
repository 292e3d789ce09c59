#include "io/log.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <ctime>

#include "io/thread_syscalls.h"

namespace ringway::io {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::Info)};
thread_local int t_worker = -1;
const char* const kNames[] = {"debug", "info", "warn", "error"};
}  // namespace

void setLogLevel(Level level) { g_level.store(static_cast<int>(level)); }
bool logEnabled(Level level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}
void setLogWorker(int id) { t_worker = id; }

void logf(Level level, const char* fmt, ...) {
  char line[1024];
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t{};
  gmtime_r(&ts.tv_sec, &t);
  int n = std::snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
                        t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
                        ts.tv_nsec / 1000000, kNames[static_cast<int>(level)]);
  if (t_worker >= 0)
    n += std::snprintf(line + n, sizeof line - n, "worker=%d ", t_worker);
  else
    n += std::snprintf(line + n, sizeof line - n, "main ");
  va_list ap;
  va_start(ap, fmt);
  int m = std::vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  n = (m < 0) ? n : std::min<int>(n + m, sizeof line - 2);
  line[n++] = '\n';
  // One write per line so lines from several workers never interleave.
  ssize_t w = ::write(STDERR_FILENO, line, n);
  (void)w;
  countThreadSyscall();  // a worker's log line is one of its syscalls
}

}  // namespace ringway::io
