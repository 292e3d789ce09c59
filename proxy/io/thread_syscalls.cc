#include "io/thread_syscalls.h"

#include <sys/syscall.h>
#include <unistd.h>

#include "io/loop.h"

namespace ringway::io {
namespace {
thread_local Loop* t_loop = nullptr;
}  // namespace

void setThreadLoop(Loop* loop) { t_loop = loop; }

void countThreadSyscall() {
  if (t_loop != nullptr) t_loop->countSyscall();
}

}  // namespace ringway::io

// OpenSSL 3's random generator calls getpid() on every draw to notice a fork
// (openssl_get_fork_id), about five times per TLS handshake, on the worker thread; glibc has
// not cached the pid since 2.25, so each is a syscall. The executable exports this definition
// in place of glibc's (libcrypto calls it through the PLT), so those calls are counted where
// they are made. Without it a handshake-heavy worker under-reported its syscalls by a third
// (tests/metrics_e2e/syscalls_perf.py compares with perf).
extern "C" pid_t getpid() noexcept {
  ringway::io::countThreadSyscall();
  return static_cast<pid_t>(::syscall(SYS_getpid));
}
