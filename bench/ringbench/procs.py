"""Process, port and /proc helpers shared by peers and scenarios.

Every process the harness starts is remembered here and stopped by its PID (never by name),
so an interrupted run leaves nothing behind.
"""
import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")

# Debian package that provides each external tool the harness calls.
TOOLS = {
    "nginx": "nginx",
    "haproxy": "haproxy",
    "wrk": "wrk",
    "iperf3": "iperf3",
    "h2load": "nghttp2-client",
    "perf": "linux-perf",
    "openssl": "openssl",
    "taskset": "util-linux",
    "unshare": "util-linux",
    "ip": "iproute2",
}
EXTRA_PACKAGES = ["libnginx-mod-stream", "python3-matplotlib"]
STREAM_MODULE = "/usr/lib/nginx/modules/ngx_stream_module.so"


def _installed(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True)
    return r.returncode == 0 and "install ok installed" in r.stdout


def ensure_packages():
    """apt-get install what is missing, nothing else (idempotent; sudo when not root)."""
    want = sorted(set(TOOLS.values()) | set(EXTRA_PACKAGES))
    missing = [p for p in want if not _installed(p)]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print(f"bench: installing {' '.join(missing)}", flush=True)
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + missing,
                   check=True, env=env)


def raise_nofile(want=65536):
    """Raise RLIMIT_NOFILE for us and every child we start (peers inherit it)."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = max(want, hard) if os.geteuid() == 0 else hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, target))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


_taken = set()


def free_port():
    """Ask the kernel for a free port: bind port 0, read it back, close, then use it."""
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _taken:
            _taken.add(port)
            return port


def listening_ports():
    """Ports in LISTEN state, from /proc/net/tcp{,6}. Checking here instead of connecting
    keeps probes out of the backends (iperf3 -s takes a probe for a test and chokes)."""
    ports = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(f).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 3 and cols[3] == "0A":
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.poll()} before listening on {port}"
                               f" (see {proc.log})")
        if port in listening_ports():
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


_live = []


class Proc:
    """A process pinned with taskset; its log goes to LOGDIR/NAME.log."""

    def __init__(self, name, argv, cpus, logdir, env=None):
        self.name = name
        self.argv = ["taskset", "-c", cpus] + [str(a) for a in argv]
        self.log = Path(logdir) / f"{name}.log"
        with open(self.log, "ab") as out:
            out.write(f"$ {' '.join(self.argv)}\n".encode())
            out.flush()
            # own session: a Ctrl-C on the terminal reaches only the harness, which stops us
            self.popen = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=env,
                                          start_new_session=True)
        self.pid = self.popen.pid  # taskset execs, so this is the program's PID
        _live.append(self)

    def poll(self):
        return self.popen.poll()

    def pids(self):
        """The process and all its descendants (nginx master + workers)."""
        return tree_pids(self.pid)

    def stop(self, sig=signal.SIGTERM, timeout=5.0):
        if self.popen.poll() is None:
            family = self.pids()
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in family:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.popen.wait(timeout)
            # a worker that outlived its master is killed by its own PID
            for pid in family:
                if pid != self.pid and Path(f"/proc/{pid}").exists():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if self in _live:
            _live.remove(self)


@atexit.register
def stop_all():
    for p in list(_live):
        p.stop(timeout=3)


def tree_pids(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        if not Path(f"/proc/{p}").exists():
            continue
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                todo += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
    return sorted(set(out))


def cpu_seconds(pids):
    """utime+stime of each process (all its threads, io_uring workers included)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return total / CLK_TCK


def memory_kib(pids):
    """(RSS, PSS) in KiB summed over the processes."""
    rss = pss = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


def run(argv, cpus, timeout, env=None):
    """Run a client to completion, pinned; returns (rc, stdout, stderr)."""
    full = ["taskset", "-c", cpus] + [str(a) for a in argv]
    r = subprocess.run(full, capture_output=True, text=True, timeout=timeout, env=env)
    return r.returncode, r.stdout, r.stderr


def version(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
        text = (r.stdout + r.stderr).strip().splitlines()
        return text[0] if text else "?"
    except (OSError, subprocess.TimeoutExpired):
        return "missing"


def have(tool):
    return shutil.which(tool) is not None


def die(msg):
    print(f"bench: {msg}", file=sys.stderr)
    sys.exit(2)
