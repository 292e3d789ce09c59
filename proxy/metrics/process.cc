#include "metrics/process.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace ringway::metrics {

namespace {

std::optional<std::string> slurp(const char* path) {
  std::ifstream in(path);
  if (!in)
    return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<double> bootTime() {
  const auto stat = slurp("/proc/stat");
  if (!stat)
    return std::nullopt;
  const std::size_t at = stat->find("\nbtime ");
  if (at == std::string::npos)
    return std::nullopt;
  return std::strtod(stat->c_str() + at + 7, nullptr);
}

std::optional<double> openFds() {
  DIR* d = ::opendir("/proc/self/fd");
  if (d == nullptr)
    return std::nullopt;
  double n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.')
      ++n;
  ::closedir(d);
  return n - 1; // the directory's own fd
}

} // namespace

std::optional<ProcessSample> parseProcStat(const std::string& stat, double bootTime,
                                           double ticksPerSecond, double pageSize) {
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the fields after the
  // last ')' are fixed. Numbered as in proc(5): 3 is state.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || ticksPerSecond <= 0)
    return std::nullopt;
  std::istringstream in(stat.substr(close + 1));
  std::vector<std::string> f(3); // f[3] = field 3
  std::string tok;
  while (in >> tok)
    f.push_back(tok);
  if (f.size() <= 24)
    return std::nullopt;
  const auto num = [&](std::size_t i) { return std::strtod(f[i].c_str(), nullptr); };
  ProcessSample s;
  s.cpuSeconds = (num(14) + num(15)) / ticksPerSecond; // utime + stime
  s.startTimeSeconds = bootTime + num(22) / ticksPerSecond;
  s.virtualBytes = num(23);
  s.residentBytes = num(24) * pageSize;
  return s;
}

std::optional<ProcessSample> readProcess() {
  const auto stat = slurp("/proc/self/stat");
  const auto boot = bootTime();
  if (!stat || !boot)
    return std::nullopt;
  auto s = parseProcStat(*stat, *boot, static_cast<double>(::sysconf(_SC_CLK_TCK)),
                         static_cast<double>(::sysconf(_SC_PAGESIZE)));
  if (!s)
    return std::nullopt;
  s->openFds = openFds();
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
    s->maxFds = static_cast<double>(rl.rlim_cur);
  return s;
}

} // namespace ringway::metrics
