#pragma once

namespace ringway::io {

class Loop;

// ringway_syscalls_total counts every syscall a worker thread makes, at its call site. A few
// call sites are in code that is not ours: glibc's write(2) for a log line, and OpenSSL's
// getpid(2) (below). They count on the loop of the thread they run on, which the worker sets
// for its thread; on other threads (main, admin) they count nothing.
void setThreadLoop(Loop* loop);  // nullptr: this thread counts nothing
void countThreadSyscall();

}  // namespace ringway::io
