"""bench/aio: the three ringway backends under the same loads. Peers, loads and counters.

Reuses bench/ringbench: procs (pinned processes stopped by PID, ports, /proc readers),
parsers (iperf3, perf stat), peers (CPU layout, fd budget), scenarios (the idle-connection
holder). What is new here: one ringway per backend, the rrload request/response load, and
per-window counters (context switches per thread, perf syscalls, /metrics).
"""
import os
import re
import select
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from ringbench import parsers, peers, procs, scenarios

BACKENDS = ["io_uring", "epoll", "threads"]
CLIENT_CPUS, PROXY_CPUS = peers.CLIENT_CPUS, peers.PROXY_CPUS
DEFAULT_IO = "buffer_size: 16KiB, buffers_per_worker: 256, zerocopy_threshold: off"


class CellError(RuntimeError):
    pass


def loadavg():
    return [round(x, 2) for x in os.getloadavg()]


class Lab:
    """Temp dir, the upstreams (iperf3 -s for bulk, rrload server for request/response),
    both pinned to the client CPU; rrload built from bench/aio/rrload.cc."""

    def __init__(self, tmp, here):
        self.tmp = Path(tmp)
        self.logs = self.tmp / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.http_port = procs.free_port()
        self.rrload = self.tmp / "rrload"
        subprocess.run(["g++", "-O2", "-std=c++20", "-o", self.rrload, here / "rrload.cc"],
                       check=True)
        self.iperf_port = procs.free_port()
        self.rr_port = procs.free_port()
        self.procs = []

    def start(self):
        iperf = procs.Proc("upstream-iperf3", ["iperf3", "-s", "-p", self.iperf_port],
                           CLIENT_CPUS, self.logs)
        rr = procs.Proc("upstream-rrload", [self.rrload, "server", "--port", self.rr_port],
                        CLIENT_CPUS, self.logs)
        nginx = self._nginx()
        self.procs = [iperf, rr, nginx]
        procs.wait_port(self.iperf_port, proc=iperf)
        procs.wait_port(self.rr_port, proc=rr)
        procs.wait_port(self.http_port, proc=nginx)

    def _nginx(self):
        """The HTTP upstream: nginx (one worker, no access log, keep-alive without limits)
        answering /small with 100 bytes from its config (its worker runs as nobody and could
        not read files in our 0700 temp dir), on the client CPU like the other upstreams."""
        prefix = self.tmp / "nginx"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        fds = peers.fd_budget()
        conf = prefix / "nginx.conf"
        conf.write_text(f"""
worker_processes 1;
worker_rlimit_nofile {fds};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {fds - 100}; }}
http {{
  access_log off;
  default_type application/octet-stream;
  tcp_nodelay on;
  keepalive_requests 1000000000; keepalive_timeout 300s;
  client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp;
  fastcgi_temp_path {prefix}/tmp; uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
  server {{
    listen 127.0.0.1:{self.http_port} backlog=4096;
    location = /small {{ return 200 "{peers.SMALL_BODY.decode()}"; }}
  }}
}}
""")
        return procs.Proc("upstream-nginx", ["nginx", "-p", prefix, "-c", conf, "-g",
                                             "daemon off;"], CLIENT_CPUS, self.logs)

    def stop(self):
        for p in self.procs:
            p.stop()


class Proxy:
    """One ringway process on one backend, pinned to the proxy CPU, with three tcp listeners:
    l4 (to iperf3), rr (to rrload), idle (to rrload, only ever held open), and an http
    listener (to nginx)."""

    def __init__(self, lab, binary, backend, io=None, tag=""):
        self.lab, self.binary, self.backend = lab, binary, backend
        self.io = io or os.environ.get("RINGWAY_IO", DEFAULT_IO)
        self.name = backend + (f"-{tag}" if tag else "")
        self.proc = None
        self.ports = {}
        self.admin = None

    def yaml(self):
        lab, p = self.lab, self.ports
        admin = f'admin: {{ address: "127.0.0.1:{self.admin}" }}' if self.admin else "admin: off"
        return "\n".join([
            "workers: 1", "cpu_affinity: false", "log_level: info", admin,
            f"io: {{ backend: {self.backend}, {self.io} }}",
            # connect_timeout: generous, because the upstream shares a loaded CPU with the client:
            # a 1 s timeout failed connects under load in the first runs, not the proxies.
            "defaults: { connect_timeout: 10s, idle_timeout: 300s, drain_timeout: 1s }",
            "listeners:",
            f'  - {{ name: l4, address: "127.0.0.1:{p["l4"]}", protocol: tcp,'
            ' routes: [ { cluster: iperf } ] }',
            f'  - {{ name: rr, address: "127.0.0.1:{p["rr"]}", protocol: tcp,'
            ' routes: [ { cluster: rr } ] }',
            f'  - {{ name: idle, address: "127.0.0.1:{p["idle"]}", protocol: tcp,'
            ' routes: [ { cluster: rr } ] }',
            f'  - {{ name: http, address: "127.0.0.1:{p["http"]}", protocol: http,'
            ' routes: [ { cluster: web } ] }',
            "clusters:",
            f'  - {{ name: iperf, endpoints: [ {{ address: "127.0.0.1:{lab.iperf_port}" }} ] }}',
            f'  - {{ name: rr, endpoints: [ {{ address: "127.0.0.1:{lab.rr_port}" }} ] }}',
            # Every backend keeps its upstream connections: the loop backends' pools hold as
            # many idle ones as there are clients (the default 64 would close and reopen them
            # at 1,000 connections); the threads backend keeps one per connection thread. Idle
            # ones close after 1 s, so a cell ends with the descriptors it started with.
            f'  - {{ name: web, endpoints: [ {{ address: "127.0.0.1:{lab.http_port}" }} ],'
            ' keepalive: { max_idle: 10000, idle_timeout: 1s } }', ""])

    def start(self):
        self.ports = {k: procs.free_port() for k in ("l4", "rr", "idle", "http")}
        # The threads backend has no admin server (proxy/core/threads_server.h).
        self.admin = procs.free_port() if self.backend != "threads" else None
        conf = self.lab.tmp / f"ringway-{self.name}.yaml"
        conf.write_text(self.yaml())
        self.proc = procs.Proc(f"ringway-{self.name}",
                               [self.binary, "-c", conf, "--backend", self.backend],
                               PROXY_CPUS, self.lab.logs)
        for port in self.ports.values():
            procs.wait_port(port, proc=self.proc)
        if self.admin:
            procs.wait_port(self.admin, proc=self.proc)
        self.base_fds, self.base_threads = self.fds(), threads_of([self.proc.pid])
        # The log names the backend that serves ("auto" could have fallen back).
        want = "serving with threads" if self.backend == "threads" else f"({self.backend})"
        end = time.monotonic() + 10
        while want not in self.proc.log.read_text():
            if time.monotonic() > end or self.proc.poll() is not None:
                log = self.proc.log.read_text()
                self.stop()
                raise CellError(f"{self.name}: log does not say {want!r}: {log[-400:]}")
            time.sleep(0.05)

    def stop(self):
        if self.proc:
            self.proc.stop()
            self.proc = None

    def pids(self):
        return self.proc.pids() if self.proc else []

    def fds(self):
        try:
            return len(os.listdir(f"/proc/{self.proc.pid}/fd"))
        except OSError:
            return 0

    def settle(self, limit_s=40):
        """After the clients left: wait until the proxy has closed their connections (its fd
        and thread counts back to where they were after start), or until nothing has changed
        for 3 s. Returns (seconds, descriptors still open beyond the baseline)."""
        t0 = last_change = time.monotonic()
        last = None
        while time.monotonic() - t0 < limit_s:
            now = (self.fds(), threads_of([self.proc.pid]))
            if now[0] <= self.base_fds and now[1] <= self.base_threads:
                return time.monotonic() - t0, 0
            if now != last:
                last, last_change = now, time.monotonic()
            elif time.monotonic() - last_change > 3:
                break
            time.sleep(0.05)
        return time.monotonic() - t0, max(0, self.fds() - self.base_fds)

    def metrics(self):
        """Sums over labels of every ringway_* sample at /metrics ({} without admin)."""
        if not self.admin:
            return {}
        body = urllib.request.urlopen(f"http://127.0.0.1:{self.admin}/metrics", timeout=5).read()
        out = {}
        for line in body.decode().splitlines():
            m = re.match(r"^(ringway_[a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
            if m:
                out[m.group(1)] = out.get(m.group(1), 0.0) + float(m.group(3))
        return out


def ctx_switches(pids):
    """(voluntary, involuntary) summed over every thread alive now. Threads that ended since
    the last sample are missing: windows are measured on connections held open throughout."""
    vol = inv = 0
    for pid in pids:
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                for line in (task / "status").read_text().splitlines():
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        inv += int(line.split()[1])
            except OSError:
                pass
    return vol, inv


def threads_of(pids):
    return sum(len(list(Path(f"/proc/{p}/task").glob("*"))) for p in pids)


def kernel_stack_kib():
    """Machine-wide KernelStack from /proc/meminfo: a thread's kernel stack is not in RSS."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("KernelStack:"):
            return int(line.split()[1])
    return 0


class Perf:
    """perf stat -e raw_syscalls:sys_enter on the proxy's threads (new ones inherit it)."""

    def __init__(self, pids):
        self.argv = ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p",
                     ",".join(map(str, pids))]
        self.p = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True)
        time.sleep(0.3)  # attached before the window opens

    def stop(self):
        self.p.send_signal(signal.SIGINT)
        _, err = self.p.communicate(timeout=20)
        try:
            return parsers.perf_stat(err)["count"], err
        except parsers.ParseError as e:
            raise CellError(f"perf: {e}: {err[-300:]}") from e


def cpu_busy_s(cpu):
    """user + nice + system seconds of one CPU from /proc/stat (irq and softirq left out:
    loopback traffic is processed there, and it is ours)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            f = line.split()
            return (int(f[1]) + int(f[2]) + int(f[3])) / procs.CLK_TCK
    return 0.0


def _window(proxy, run, duration, perf):
    """Counters of the proxy around one measurement window; run() drives the load."""
    pids = proxy.pids()
    m0 = proxy.metrics()
    pf = Perf(pids) if perf else None
    cpu0, cs0, t0 = procs.cpu_seconds(pids), ctx_switches(pids), time.monotonic()
    busy0 = cpu_busy_s(int(PROXY_CPUS))
    result = run()
    wall = time.monotonic() - t0
    busy1 = cpu_busy_s(int(PROXY_CPUS))
    cpu1, cs1 = procs.cpu_seconds(pids), ctx_switches(pids)
    syscalls, praw = pf.stop() if pf else (None, "")
    m1 = proxy.metrics()
    delta = {k: m1[k] - m0.get(k, 0.0) for k in m1}
    # What other tasks ran on the proxy's CPU meanwhile (other engineers' builds): the noise.
    other = max(0.0, (busy1 - busy0) - (cpu1 - cpu0))
    return result, {"cpu_s": cpu1 - cpu0, "wall_s": wall, "other_pct": 100 * other / wall,
                    "vcs": cs1[0] - cs0[0],
                    "ivcs": cs1[1] - cs0[1], "syscalls": syscalls, "perf_raw": praw,
                    "metrics": delta}


def bulk(lab, proxy, streams, duration, perf=False):
    """iperf3 through the l4 listener: Gbit/s received, proxy CPU s/GB."""
    argv = ["iperf3", "-c", "127.0.0.1", "-p", proxy.ports["l4"], "-t", duration,
            "-P", streams, "-J"]
    (rc, out, err), w = _window(proxy, lambda: procs.run(argv, CLIENT_CPUS, duration + 30),
                                duration, perf)
    try:
        r = parsers.iperf3(out)
    except parsers.ParseError as e:
        raise CellError(f"iperf3: {e} {err[-200:]}") from e
    if rc != 0:
        raise CellError(f"iperf3 exited {rc}")
    gb = r["bytes"] / 1e9
    res = {"gbit_s": r["bits_s"] / 1e9, "cpu_s_per_gb": w["cpu_s"] / gb if gb else None,
           "proxy_cpu_pct": 100 * w["cpu_s"] / w["wall_s"], "retransmits": r["retransmits"],
           "other_pct": w["other_pct"]}
    if perf:
        res["syscalls_per_mb"] = w["syscalls"] / (r["bytes"] / 1e6)
    return res, f"$ {' '.join(map(str, argv))}\n{out}\n{w['perf_raw']}"


def rr(lab, proxy, conns, duration, req=64, resp=100, perf=False, ready_timeout=90):
    """rrload through the rr listener: a closed loop of one request per connection."""
    argv = ["taskset", "-c", CLIENT_CPUS, lab.rrload, "client", "--port", proxy.ports["rr"],
            "--conns", conns, "--req", req, "--resp", resp]
    argv = [str(a) for a in argv]
    cl = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, bufsize=1)
    try:
        ready = _readline(cl, ready_timeout)
        m = re.match(r"ready ok=(\d+) failed=(\d+)", ready or "")
        if not m:
            raise CellError(f"rrload: no ready line ({ready!r}) {cl.stderr.read()[-200:] if cl.poll() is not None else ''}")
        ok, failed = int(m.group(1)), int(m.group(2))
        if failed:
            raise CellError(f"rrload: {failed} of {conns} connections failed")
        time.sleep(0.5)  # warm: every connection has done some round trips

        def go():
            cl.stdin.write("start\n")
            cl.stdin.flush()
            time.sleep(duration)
            cl.stdin.write("stop\n")
            cl.stdin.flush()
            return _readline(cl, 30)
        line, w = _window(proxy, go, duration, perf)
    finally:
        try:
            cl.stdin.close()
        except OSError:
            pass
        try:
            cl.wait(10)
        except subprocess.TimeoutExpired:
            cl.kill()
            cl.wait()
    # The client has exited: every connection ends; how long until the proxy has closed them?
    teardown_s, leftover = proxy.settle()
    import json
    try:
        r = json.loads(line)
    except (TypeError, ValueError) as e:
        raise CellError(f"rrload: bad result {line!r}") from e
    n = r["requests"]
    if n == 0:
        raise CellError("rrload: no request completed")
    if r["errors"] or r["alive"] < ok:
        raise CellError(f"rrload: {r['errors']} errors, {r['alive']} of {ok} connections alive;"
                        f" {line}")
    res = {"req_s": n / r["seconds"], "p50_ms": r["p50_us"] / 1e3, "p99_ms": r["p99_us"] / 1e3,
           "cpu_us_per_req": 1e6 * w["cpu_s"] / n, "proxy_cpu_pct": 100 * w["cpu_s"] / w["wall_s"],
           "vcs_per_req": w["vcs"] / n, "ivcs_per_req": w["ivcs"] / n,
           "mb_s": r["bytes"] / r["seconds"] / 1e6, "other_pct": w["other_pct"],
           "cpu_s_per_gb": w["cpu_s"] / (r["bytes"] / 1e9) if r["bytes"] else None}
    res["teardown_s"], res["leftover_fds"] = teardown_s, leftover
    if perf:
        res["syscalls_per_req"] = w["syscalls"] / n
    zc, copied = w["metrics"].get("ringway_send_zc_total"), w["metrics"].get(
        "ringway_send_zc_copied_total")
    if zc is not None:
        res["zc_sends_per_req"] = zc / n
        res["zc_copied_pct"] = 100 * copied / zc if zc else None
    return res, f"$ {' '.join(argv)}\n{ready}\n{line}\n{w['perf_raw']}\nmetrics delta {w['metrics']}"


def http(lab, proxy, conns, duration, perf=False):
    """wrk -t1 -cN --latency through the http listener to nginx's /small (100 bytes), keep-alive.

    The counters (CPU, context switches, perf syscalls) are read over an inner window, once
    every connection is open and before wrk ends: the threads backend's connection threads
    exist only while wrk's connections do, and their counts leave with them. Per request =
    counter delta / (wrk's req/s x window); req/s and p99 are wrk's, over its whole run."""
    ramp = 1.0 if conns <= 1000 else 2.5
    total = int(ramp + duration + 1.5)  # whole seconds (wrk), at least 0.5 s after the window
    url = f"http://127.0.0.1:{proxy.ports['http']}/small"
    argv = ["taskset", "-c", CLIENT_CPUS, "wrk", "-t1", f"-c{conns}", f"-d{total}s",
            "--latency", "--timeout", "10s", url]
    wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Ramp: until the proxy holds a descriptor per client (or the ramp time is up).
        end = time.monotonic() + ramp
        while time.monotonic() < end and proxy.fds() < proxy.base_fds + conns:
            time.sleep(0.05)
        time.sleep(max(0.0, end - time.monotonic()))
        open_fds = proxy.fds() - proxy.base_fds
        _, w = _window(proxy, lambda: time.sleep(duration), duration, perf)
        out, err = wrk.communicate(timeout=total + 60)
    finally:
        if wrk.poll() is None:
            wrk.kill()
            wrk.wait()
    raw = f"$ {' '.join(argv)}\n{out}{err}\ninner window {w['wall_s']:.2f} s; proxy fds " \
          f"above baseline at its start {open_fds}\n{w['perf_raw']}"
    try:
        r = parsers.wrk(out)
    except parsers.ParseError as e:
        raise CellError(f"{e}: {err[-200:]}") from e
    if wrk.returncode != 0:
        raise CellError(f"wrk exited {wrk.returncode}: {err[-200:]}")
    if r["requests"] == 0:
        raise CellError("wrk: no request completed")
    if r["non_2xx"] * 2 > r["requests"]:
        raise CellError(f"wrk: {r['non_2xx']} of {r['requests']} responses not 2xx (upstream?)")
    n = r["req_s"] * w["wall_s"]  # requests in the inner window, at wrk's average rate
    res = {"req_s": r["req_s"], "p50_ms": r["p50"], "p99_ms": r["p99"],
           "cpu_us_per_req": 1e6 * w["cpu_s"] / n, "proxy_cpu_pct": 100 * w["cpu_s"] / w["wall_s"],
           "vcs_per_req": w["vcs"] / n, "ivcs_per_req": w["ivcs"] / n,
           "other_pct": w["other_pct"], "errors": r["errors"], "non_2xx": r["non_2xx"],
           "open_conns": open_fds}
    se = r.get("socket_errors", {})
    res["socket_errors"] = sum(se.values()) if se else 0
    if perf:
        res["syscalls_per_req"] = w["syscalls"] / n
    # The proxy closes wrk's connections (and, on threads, ends their threads) after wrk exits.
    proxy.settle(limit_s=20)
    return res, raw


def _readline(p, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            return p.stdout.readline().strip()
        if p.poll() is not None:
            return None
    return None


def idle(lab, proxy, n, settle_s):
    """RSS (and kernel stacks) per idle proxied connection, on a freshly started proxy."""
    time.sleep(0.3)
    pids = proxy.pids()
    rss0, _ = procs.memory_kib(pids)
    k0, th0 = kernel_stack_kib(), threads_of(pids)
    socks, failed = scenarios._hold(proxy.ports["idle"], n, b"")
    try:
        scenarios._settle(proxy.pids(), settle_s)
        pids = proxy.pids()
        rss1, _ = procs.memory_kib(pids)
        k1, th1 = kernel_stack_kib(), threads_of(pids)
        held = scenarios._still_open(socks)
    finally:
        for s in socks:
            s.close()
    if held == 0:
        raise CellError(f"no connection stayed open ({failed} failed)")
    return ({"kib_per_conn": (rss1 - rss0) / held, "kstack_kib_per_conn": (k1 - k0) / held,
             "held": held, "threads_added": th1 - th0},
            f"held {held} of {n} (failed {failed}); RSS {rss0} -> {rss1} KiB; KernelStack "
            f"{k0} -> {k1} KiB; threads {th0} -> {th1}\n")
