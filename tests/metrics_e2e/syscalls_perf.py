#!/usr/bin/env python3
"""ringway_syscalls_total is honest: it agrees with the kernel's count (issue #5).

Usage: syscalls_perf.py RINGWAY_BINARY. Runs with io.backend io_uring, then epoll (both count
syscalls; the threads backend has no worker loop). One worker (thread "ringway-w0"). perf counts
raw_syscalls:sys_enter on that thread only (-t TID), enabled and disabled through a control
FIFO so that its window is exactly:

    enable perf -> scrape 1 -> fixed load -> scrape 2 -> disable perf

The HTTP listener writes an access log (io_uring: write SQEs; epoll: a writer thread the worker
wakes). The counter's delta (scrape 2 - scrape 1) and perf's count must agree within 2 %. The load
runs once before perf is enabled (see load(): malloc's arena growth is glibc's, not ours). What falls
between the edges of the two windows is the idle worker's 100 ms tick (an io_uring_enter and
a getrusage) for the few milliseconds between enabling perf and the first scrape, and between
the second scrape and disabling it; the load (thousands of syscalls) dominates. The scrapes
themselves run on the admin thread, which perf -t does not count.

Exit 77 (skipped, saying why) when perf is missing or not permitted (perf_event_paranoid,
no tracefs, a container without CAP_PERFMON).
"""
import os
import re
import select
import shutil
import signal
import subprocess
import time

import harness
from harness import log

TOLERANCE = 0.02
CONNECTIONS = 60          # HTTP client connections, one after another
REQUESTS_PER_CONN = 25    # keep-alive requests on each (to a pooled upstream)
L4_CONNECTIONS = 60       # TCP echo round trips, one connection each
RARE = 40                 # direct responses, 502s from a refusing cluster, TLS handshakes


def perf_usable(perf):
    r = subprocess.run([perf, "stat", "-x,", "-e", "raw_syscalls:sys_enter", "--", "true"],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        lines = [ln.strip() for ln in r.stderr.decode(errors="replace").splitlines()]
        why = [ln for ln in lines if ln.startswith(("Error", "Hint", "event syntax error"))]
        return False, " / ".join(why or lines[:3])
    return True, None


def worker_tid(pid, name="ringway-w0"):
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                if f.read().strip() == name:
                    return int(tid)
        except OSError:
            continue
    return None


def syscalls(text):
    return harness.metric_value(text, "ringway_syscalls_total", worker="0")


def enters(text):
    # None with the epoll backend (no ring)
    return harness.metric_value(text, "ringway_io_uring_enter_total", worker="0") or 0


class PerfControl:
    """perf stat -t TID, started disabled (-D -1), enabled/disabled through FIFOs."""

    def __init__(self, perf, tid, tmp):
        self.ctl, self.ack = os.path.join(tmp, "perf-ctl"), os.path.join(tmp, "perf-ack")
        os.mkfifo(self.ctl)
        os.mkfifo(self.ack)
        self.out = os.path.join(tmp, "perf.csv")
        self.proc = subprocess.Popen(
            [perf, "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-t", str(tid), "-D", "-1",
             f"--control=fifo:{self.ctl},{self.ack}", "-o", self.out],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        log("perf started, pid", self.proc.pid, "on tid", tid)
        # Opening a FIFO blocks until the other end opens it: do it with a deadline.
        self.ctl_fd = self._open(self.ctl, os.O_WRONLY)
        self.ack_fd = self._open(self.ack, os.O_RDONLY)

    def _open(self, path, mode):
        for _ in harness.deadline_loop(15, 0.02):
            try:
                return os.open(path, mode | os.O_NONBLOCK)
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("perf exited: " + self.proc.stderr.read().decode())
        raise RuntimeError("perf did not open its control FIFO")

    def command(self, cmd):
        os.write(self.ctl_fd, cmd.encode() + b"\n")
        r, _, _ = select.select([self.ack_fd], [], [], 10)
        if not r:
            raise RuntimeError(f"perf did not acknowledge '{cmd}'")
        data = os.read(self.ack_fd, 64)
        if b"ack" not in data:
            raise RuntimeError(f"perf answered {data!r} to '{cmd}'")

    def finish(self):
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.communicate(timeout=5)
            raise RuntimeError("perf did not stop on SIGINT")
        os.close(self.ctl_fd)
        os.close(self.ack_fd)
        text = open(self.out).read()
        for line in text.splitlines():
            f = line.split(",")
            if len(f) > 2 and f[2].startswith("raw_syscalls:sys_enter"):
                if not re.fullmatch(r"\d+", f[0]):
                    raise RuntimeError(f"perf did not count: {line!r}")
                return int(f[0])
        raise RuntimeError(f"no count in perf output:\n{text}\n{err.decode()}")


def run(binary, tmp):
    perf = shutil.which("perf")
    if perf is None:
        log("SKIP: perf is not installed (Debian package linux-perf)")
        return harness.SKIP
    ok, why = perf_usable(perf)
    if not ok:
        log("SKIP: perf stat -e raw_syscalls:sys_enter is not permitted here:", why)
        return harness.SKIP
    libs = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
    runtime = re.search(r"lib(asan|tsan|msan|lsan)\.so", libs)
    if runtime:
        log(f"SKIP: {binary} runs under {runtime.group(1).upper()}: the sanitizer runtime makes "
            "syscalls of its own on the worker thread (shadow memory, its allocator) that "
            "ringway cannot count")
        return harness.SKIP
    # Both event-loop backends count syscalls (threads has no per-worker counter).
    failed = 0
    for backend in ("io_uring", "epoll"):
        failed += measure(binary, os.path.join(tmp, backend), perf, backend) != 0
    return 1 if failed else 0


def measure(binary, tmp, perf, backend):
    os.mkdir(tmp)
    backends = harness.Backends(tmp)
    rw = harness.Ringway(binary, harness.config_yaml(backends, workers=1, backend=backend,
                                                access_log=os.path.join(tmp, "access.log")), tmp,
                         expect=("web", "l4", "secure"))
    log(f"--- backend {backend}")
    perfc = None
    try:
        tid = worker_tid(rw.proc.pid)
        if tid is None:
            names = [open(f"/proc/{rw.proc.pid}/task/{t}/comm").read().strip()
                     for t in os.listdir(f"/proc/{rw.proc.pid}/task")]
            log("FAIL: no thread named ringway-w0; threads:", names)
            return 1
        web, l4 = rw.addr("web"), rw.addr("l4")
        def load():
            statuses = []
            for _ in range(CONNECTIONS):
                statuses += harness.http_requests(web, ["/app/x"] * REQUESTS_PER_CONN)
            echoed = sum(harness.tcp_echo(l4, os.urandom(4096)) for _ in range(L4_CONNECTIONS))
            # The rarer paths: a direct response, a cluster that refuses (502, and a log line),
            # TLS handshakes, full and resumed.
            rare = harness.http_requests(web, ["/", "/dead/x"] * RARE)
            resumed = sum(harness.tls_handshakes(rw.addr("secure"), RARE // 2)
                          for _ in range(2))
            return statuses, echoed, rare, resumed

        # Warm-up: the worker's malloc arena grows to its working size here. glibc's own
        # mmap/mprotect/brk while it grows have no call site in ringway to count them.
        load()
        perfc = PerfControl(perf, tid, tmp)
        perfc.command("enable")
        before = rw.scrape()
        t0 = time.monotonic()
        statuses, echoed, rare, resumed = load()
        # The last connections' closes finish on the worker after the client has its bytes:
        # wait until it holds none, so they fall inside the window too.
        for _ in harness.deadline_loop(5, 0.01):
            if harness.metric_value(rw.scrape(), "ringway_worker_connections_active") == 0:
                break
        after = rw.scrape()
        perfc.command("disable")
        elapsed = time.monotonic() - t0
        kernel = perfc.finish()
        perfc = None

        ok_http = sum(1 for s in statuses if s == 200)
        log(f"load: {ok_http}/{len(statuses)} HTTP 200 on {CONNECTIONS} connections, "
            f"{echoed}/{L4_CONNECTIONS} L4 echoes, {RARE} direct responses ({rare.count(200)} "
            f"200), {RARE} to a refusing cluster ({rare.count(502)} 502), {RARE} TLS handshakes "
            f"({resumed} resumed), {elapsed:.2f} s")
        delta = syscalls(after) - syscalls(before)
        enter_delta = enters(after) - enters(before)
        diff = delta - kernel
        rel = abs(diff) / kernel if kernel else 1.0
        log(f"perf raw_syscalls:sys_enter on tid {tid}: {kernel}")
        log(f"ringway_syscalls_total{{worker=\"0\"}} delta: {delta:.0f} "
            f"(io_uring_enter {enter_delta:.0f}, other {delta - enter_delta:.0f})")
        log(f"difference: {diff:+.0f} ({100 * rel:.2f} %, allowed {100 * TOLERANCE:.0f} %)")
        if (ok_http != len(statuses) or echoed != L4_CONNECTIONS or rare.count(200) != RARE or
                rare.count(502) != RARE):
            log("FAIL: the load did not go through as planned")
            return 1
        if kernel < 2000:
            log("FAIL: the load made too few syscalls for a 2 % comparison")
            return 1
        if rel > TOLERANCE:
            log("FAIL: ringway_syscalls_total and the kernel disagree by more than 2 %")
            return 1
        return 0
    finally:
        if perfc is not None:
            perfc.proc.kill()
            perfc.proc.wait(timeout=5)
        rw.stop()
        backends.stop()


if __name__ == "__main__":
    harness.main_guard(run)
