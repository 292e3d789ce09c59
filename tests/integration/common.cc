#include "integration/common.h"

#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

namespace ringway::itest {

namespace {

// Process-wide setup, before any test: a peer may reset us mid-send (MSG_NOSIGNAL covers
// our sends, this covers the rest), and 1,000 proxied connections need ~4,000 descriptors.
const bool g_setUp = [] {
  ::signal(SIGPIPE, SIG_IGN);
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
  return true;
}();

} // namespace

// ---------------------------------------------------------------------------------------
// Scale and seeds

std::size_t scaled(std::size_t n) {
  std::size_t div = sanitized() ? 4 : 1;
  if (const char* e = std::getenv("RINGWAY_IT_SCALE"); e != nullptr && std::atoi(e) > 0)
    div = static_cast<std::size_t>(std::atoi(e));
  return std::max<std::size_t>(1, n / div);
}

uint64_t testSeed() {
  if (const char* e = std::getenv("RINGWAY_IT_SEED"); e != nullptr && *e != '\0')
    return std::strtoull(e, nullptr, 0);
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string hex64(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%016llx", static_cast<unsigned long long>(v));
  return b;
}

// ---------------------------------------------------------------------------------------
// Deadlines

int Deadline::remainingMs(int cap) const {
  const auto left = std::chrono::duration_cast<Ms>(end_ - Clock::now()).count();
  if (left <= 0)
    return 0;
  return static_cast<int>(std::min<long long>(left, cap));
}

bool waitFor(const std::function<bool()>& cond, Ms limit) {
  Deadline d(limit);
  for (;;) {
    if (cond())
      return true;
    if (d.expired())
      return cond();
    std::this_thread::sleep_for(5ms);
  }
}

} // namespace ringway::itest
