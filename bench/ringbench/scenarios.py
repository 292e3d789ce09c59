"""What each scenario sends, what it measures, and the loop that interleaves peers.

A cell = one scenario x one peer x one round. It returns {metric: number} and the raw
tool output, which the runner stores under raw/<scenario>/.
"""
import os
import select
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field

from . import parsers, peers, procs


class CellError(RuntimeError):
    def __init__(self, msg, raw=None):
        super().__init__(msg)
        self.raws = {"failed": raw} if raw else {}


def _parse(fn, text, raw):
    try:
        return fn(text)
    except parsers.ParseError as e:
        raise CellError(str(e), raw) from e


@dataclass
class Metric:
    key: str
    label: str
    higher_is_better: bool = True
    fmt: str = "{:,.0f}"


@dataclass
class Scenario:
    name: str
    title: str
    feature: str  # listener kind the peer must support: http, tls, l4
    metrics: list  # [Metric]; the first is the headline (charts, spread flag)
    cell: object  # fn(ctx, peer) -> (metrics dict, {suffix: raw text})
    direct: bool = True  # does 'direct' (no proxy) make sense here
    restart_each_cell: bool = False  # fresh process per cell (memory baselines)
    peer_names: tuple = ()  # restrict to these peers (scaling)
    note: str = ""
    in_quick: bool = True  # part of `bench/run --quick` unless named on the command line


@dataclass
class Ctx:
    lab: object
    duration: int
    idle_conns: int
    settle_s: float
    log: object = print
    extra: dict = field(default_factory=dict)


def _cpu_during(peer, fn):
    pids = peer.pids()
    before = procs.cpu_seconds(pids)
    t0 = time.monotonic()
    result = fn()
    wall = time.monotonic() - t0
    return result, (procs.cpu_seconds(pids) - before if pids else None), wall


def _per(cpu, n, scale):
    return None if cpu is None or not n else cpu * scale / n


def _wrk(ctx, peer, path, extra_args=()):
    url = f"http://127.0.0.1:{peer.ports['http']}{path}"
    argv = ["wrk", "-t1", "-c64", f"-d{ctx.duration}s", "--latency", *extra_args, url]
    (rc, out, err), cpu, _ = _cpu_during(
        peer, lambda: procs.run(argv, peers.CLIENT_CPUS, ctx.duration + 30))
    raw = f"$ {' '.join(argv)}\n{out}{err}"
    if rc != 0:
        raise CellError(f"wrk exited {rc}: {err.strip()[:200]}", raw)
    r = _parse(parsers.wrk, out, raw)
    if r["requests"] == 0 or r["non_2xx"] > 0:
        raise CellError(f"wrk: {r['requests']} requests, {r['non_2xx']} non-2xx", raw)
    return r, cpu, raw


def http_small(ctx, peer):
    r, cpu, raw = _wrk(ctx, peer, "/small")
    return {"req_s": r["req_s"], "p50": r["p50"], "p75": r["p75"], "p90": r["p90"],
            "p99": r["p99"], "cpu_us_per_req": _per(cpu, r["requests"], 1e6)}, {"wrk": raw}


def http_64k(ctx, peer):
    r, cpu, raw = _wrk(ctx, peer, "/64k")
    return {"mb_s": r["bytes_s"] / 1e6, "req_s": r["req_s"], "p99": r["p99"],
            "cpu_s_per_gb": _per(cpu, r["bytes"], 1e9)}, {"wrk": raw}


def http_close(ctx, peer):
    r, cpu, raw = _wrk(ctx, peer, "/small", ["-H", "Connection: close"])
    return {"conn_s": r["req_s"], "p99": r["p99"],
            "cpu_us_per_conn": _per(cpu, r["requests"], 1e6)}, {"wrk": raw}


def _iperf(ctx, peer, streams):
    argv = ["iperf3", "-c", "127.0.0.1", "-p", peer.ports["l4"], "-t", ctx.duration,
            "-P", streams, "-J"]
    (rc, out, err), cpu, _ = _cpu_during(
        peer, lambda: procs.run(argv, peers.CLIENT_CPUS, ctx.duration + 30))
    raw = f"$ {' '.join(map(str, argv))}\n{out}{err}"
    r = _parse(parsers.iperf3, out, raw)  # fails with iperf3's own error text
    if rc != 0:
        raise CellError(f"iperf3 exited {rc}", raw)
    return r, cpu, raw


def l4(streams):
    def cell(ctx, peer):
        r, cpu, raw = _iperf(ctx, peer, streams)
        return {"gbit_s": r["bits_s"] / 1e9, "cpu_s_per_gb": _per(cpu, r["bytes"], 1e9),
                "retransmits": r["retransmits"]}, {"iperf3": raw}
    return cell


def _perf_during(peer, fn):
    pids = peer.pids()
    argv = ["perf", "stat", "-x,", "-e", "raw_syscalls:sys_enter", "-p",
            ",".join(map(str, pids))]
    perf = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)  # let perf attach before traffic starts
    try:
        result = fn()
    finally:
        perf.send_signal(signal.SIGINT)
        _, err = perf.communicate(timeout=20)
    return result, parsers.perf_stat(err)["count"], f"$ {' '.join(argv)}\n{err}"


def syscalls_http(ctx, peer):
    (r, cpu, raw), n, praw = _perf_during(peer, lambda: _wrk(ctx, peer, "/small"))
    return ({"syscalls_per_req": n / r["requests"], "req_s": r["req_s"]},
            {"wrk": raw, "perf": praw})


def syscalls_l4(ctx, peer):
    (r, cpu, raw), n, praw = _perf_during(peer, lambda: _iperf(ctx, peer, 8))
    return ({"syscalls_per_mb": n / (r["bytes"] / 1e6), "gbit_s": r["bits_s"] / 1e9},
            {"iperf3": raw, "perf": praw})


def _h2load(ctx, peer, path):
    url = f"https://127.0.0.1:{peer.ports['tls']}{path}"
    argv = ["h2load", "--h1", "-t1", "-c64", "-D", ctx.duration, f"--groups={peers.TLS_GROUP}",
            f"--tls13-ciphers={peers.TLS_SUITE}", url]
    (rc, out, err), cpu, _ = _cpu_during(
        peer, lambda: procs.run(argv, peers.CLIENT_CPUS, ctx.duration + 30))
    raw = f"$ {' '.join(map(str, argv))}\n{out}{err}"
    r = _parse(parsers.h2load, out, raw)
    if rc != 0 or r["requests"] == 0 or r["errors"]:
        raise CellError(f"h2load rc {rc}, {r['requests']} ok, {r['errors']} errors", raw)
    return r, cpu, raw


def tls_keepalive(ctx, peer):
    r, cpu, raw = _h2load(ctx, peer, "/small")
    return {"req_s": r["req_s"], "mean_ms": r.get("req_mean_ms"),
            "cpu_us_per_req": _per(cpu, r["requests"], 1e6)}, {"h2load": raw}


S_TIME_CLIENTS = 4  # s_time is one connection at a time; run a few side by side


def tls_handshakes(mode):
    """mode -new: full handshakes; -reuse: resumed (TLS 1.3 tickets / session cache)."""
    def cell(ctx, peer):
        argv = ["taskset", "-c", peers.CLIENT_CPUS, "openssl", "s_time", "-connect",
                # s_time stops in the second after -time elapsed: ask for one less
                f"127.0.0.1:{peer.ports['tls']}", mode, "-time", str(max(1, ctx.duration - 1)),
                "-www", "/small"]
        env = dict(os.environ, OPENSSL_CONF=str(ctx.lab.openssl_cnf))

        def go():
            ps = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                   text=True, env=env) for _ in range(S_TIME_CLIENTS)]
            return [p.communicate(timeout=ctx.duration + 30)[0] for p in ps]
        outs, cpu, wall = _cpu_during(peer, go)
        rs = [_parse(parsers.s_time, o, "\n".join(outs)) for o in outs]
        conns = sum(r["connections"] for r in rs)
        resumed = sum(r["resumed"] for r in rs)
        if conns == 0:
            raise CellError("s_time made no connection")
        raw = {f"s_time{i}": f"$ OPENSSL_CONF={ctx.lab.openssl_cnf} {' '.join(argv)}\n{o}"
               for i, o in enumerate(outs)}
        return {"hs_s": conns / wall, "resumed_pct": 100.0 * resumed / conns,
                "cpu_us_per_hs": _per(cpu, conns, 1e6)}, raw
    return cell


def _hold(port, n, payload):
    """Open n connections to port in batches, send payload on each; return the sockets."""
    held, failed = [], 0
    for start in range(0, n, 500):
        pending = {}
        poller = select.poll()
        for _ in range(min(500, n - start)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            pending[s.fileno()] = s
            poller.register(s, select.POLLOUT)
        deadline = time.monotonic() + 15
        while pending and time.monotonic() < deadline:
            for fd, _ in poller.poll(500):
                s = pending.pop(fd, None)
                poller.unregister(fd)
                if s is None:
                    continue
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                    failed += 1
                    s.close()
                    continue
                if payload:
                    s.send(payload)
                held.append(s)
        for s in pending.values():
            failed += 1
            s.close()
    return held, failed


def _still_open(socks):
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN | select.POLLRDHUP)
    return len(socks) - len(poller.poll(0))  # any event = closed or answered


def _settle(pids, max_s):
    """Wait until the proxy's RSS stops moving (it accepts and allocates asynchronously)."""
    last, stable, t_end = None, 0, time.monotonic() + max_s
    while time.monotonic() < t_end and stable < 3:
        time.sleep(0.25)
        rss = procs.memory_kib(pids)[0]
        stable = stable + 1 if last is not None and abs(rss - last) <= max(64, last // 500) else 0
        last = rss


def idle(kind, payload):
    def cell(ctx, peer):
        port = peer.ports[kind]
        time.sleep(0.3)
        pids = peer.pids()
        rss0, pss0 = procs.memory_kib(pids)
        socks, failed = _hold(port, ctx.idle_conns, payload)
        try:
            _settle(peer.pids(), ctx.settle_s)
            pids = peer.pids()
            rss1, pss1 = procs.memory_kib(pids)
            n = _still_open(socks)
        finally:
            for s in socks:
                s.close()
        if n == 0:
            raise CellError(f"no connection stayed open ({failed} failed to connect)")
        raw = (f"connections requested {ctx.idle_conns}, connected {len(socks)}, failed {failed},"
               f" still open {n}\npayload {payload!r}\npids {pids}\n"
               f"before: VmRSS {rss0} KiB, Pss {pss0} KiB\nafter:  VmRSS {rss1} KiB, Pss {pss1} KiB\n")
        return {"kib_per_conn": (rss1 - rss0) / n, "pss_kib_per_conn": (pss1 - pss0) / n,
                "held": n, "rss_idle_mib": rss0 / 1024}, {"mem": raw}
    return cell


HALF_HEAD = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: ringway-bench\r\n"

CPU_REQ = Metric("cpu_us_per_req", "proxy CPU µs/req", False, "{:,.2f}")
CPU_GB = Metric("cpu_s_per_gb", "proxy CPU s/GB", False, "{:,.3f}")
P50 = Metric("p50", "p50 ms", False, "{:,.2f}")
P99 = Metric("p99", "p99 ms", False, "{:,.2f}")
GBIT = Metric("gbit_s", "Gbit/s", True, "{:,.2f}")

ALL = [
    Scenario("http-small", "small responses, keep-alive (wrk -t1 -c64)", "http",
             [Metric("req_s", "req/s"), P50, P99, CPU_REQ], http_small),
    Scenario("http-64k", "64 KiB responses, keep-alive (wrk -t1 -c64)", "http",
             [Metric("mb_s", "MB/s", True, "{:,.1f}"), P99, CPU_GB], http_64k),
    Scenario("http-close", "new connection per request (wrk, Connection: close)", "http",
             [Metric("conn_s", "conn/s"), P99,
              Metric("cpu_us_per_conn", "proxy CPU µs/conn", False, "{:,.2f}")], http_close),
    Scenario("l4-1", "L4 bulk, 1 stream (iperf3)", "l4",
             [GBIT, CPU_GB, Metric("retransmits", "retransmits", False)], l4(1)),
    Scenario("l4-8", "L4 bulk, 8 streams (iperf3 -P 8)", "l4",
             [GBIT, CPU_GB, Metric("retransmits", "retransmits", False)], l4(8)),
    Scenario("syscalls-http", "syscalls per request (perf stat, http-small load)", "http",
             [Metric("syscalls_per_req", "syscalls/req", False, "{:,.2f}"),
              Metric("req_s", "req/s")], syscalls_http, direct=False, in_quick=False),
    Scenario("syscalls-l4", "syscalls per MB (perf stat, L4 8 streams)", "l4",
             [Metric("syscalls_per_mb", "syscalls/MB", False, "{:,.2f}"), GBIT],
             syscalls_l4, direct=False, in_quick=False),
    Scenario("idle-http", "memory per idle HTTP connection (nothing sent)", "http",
             [Metric("kib_per_conn", "KiB RSS/conn", False, "{:,.2f}"),
              Metric("pss_kib_per_conn", "KiB PSS/conn", False, "{:,.2f}"),
              Metric("held", "conns held")], idle("http", b""),
             direct=False, restart_each_cell=True),
    Scenario("idle-http-half", "memory per HTTP connection with half a request head",
             "http", [Metric("kib_per_conn", "KiB RSS/conn", False, "{:,.2f}"),
                      Metric("pss_kib_per_conn", "KiB PSS/conn", False, "{:,.2f}"),
                      Metric("held", "conns held")], idle("http", HALF_HEAD),
             direct=False, restart_each_cell=True),
    Scenario("idle-l4", "memory per idle L4 connection (nothing sent)", "l4",
             [Metric("kib_per_conn", "KiB RSS/conn", False, "{:,.2f}"),
              Metric("pss_kib_per_conn", "KiB PSS/conn", False, "{:,.2f}"),
              Metric("held", "conns held")], idle("l4idle", b""),
             direct=False, restart_each_cell=True),
    Scenario("tls-ka", "TLS 1.3 keep-alive requests (h2load --h1 -c64)", "tls",
             [Metric("req_s", "req/s"), Metric("mean_ms", "mean ms", False, "{:,.2f}"),
              CPU_REQ], tls_keepalive),
    Scenario("tls-full", "TLS 1.3 full handshakes (4x openssl s_time -new)", "tls",
             [Metric("hs_s", "handshakes/s"),
              Metric("cpu_us_per_hs", "proxy CPU µs/hs", False, "{:,.1f}"),
              Metric("resumed_pct", "% resumed", False, "{:,.0f}")], tls_handshakes("-new")),
    Scenario("tls-resume", "TLS 1.3 resumed handshakes (4x openssl s_time -reuse)", "tls",
             [Metric("hs_s", "handshakes/s"),
              Metric("cpu_us_per_hs", "proxy CPU µs/hs", False, "{:,.1f}"),
              Metric("resumed_pct", "% resumed", True, "{:,.0f}")], tls_handshakes("-reuse")),
    Scenario("scale-l4", "ringway 1 vs 2 workers, L4 8 streams", "l4",
             [GBIT, CPU_GB], l4(8), direct=False, peer_names=("ringway", "ringway-2w"),
             in_quick=False,
             note="2 cores: with 2 workers the proxy also runs on CPU 0, shared with iperf3 "
                  "client and server, so this shows contention, not headroom."),
    Scenario("scale-http", "ringway 1 vs 2 workers, small keep-alive HTTP", "http",
             [Metric("req_s", "req/s"), P99, CPU_REQ], http_small, direct=False,
             peer_names=("ringway", "ringway-2w"), in_quick=False,
             note="2 cores: with 2 workers the proxy also runs on CPU 0, shared with wrk "
                  "and the backend, so this shows contention, not headroom."),
]
BY_NAME = {s.name: s for s in ALL}


def run_scenario(sc, peer_list, ctx, rounds, warmup_s, rawdir):
    """Peers interleaved per round (A B C A B C ...). Returns {peer: [cell results]}."""
    out = {p.name: [] for p in peer_list}
    sc_dir = rawdir / sc.name
    sc_dir.mkdir(parents=True, exist_ok=True)
    started = []
    try:
        if not sc.restart_each_cell:
            for p in peer_list:
                p.start()
                started.append(p)
            if warmup_s:
                warm = Ctx(ctx.lab, warmup_s, ctx.idle_conns, ctx.settle_s)
                for p in peer_list:
                    try:
                        sc.cell(warm, p)
                    except (CellError, parsers.ParseError, subprocess.SubprocessError):
                        pass
        for rnd in range(rounds):
            for p in peer_list:
                if sc.restart_each_cell:
                    p.start()
                try:
                    metrics, raws = sc.cell(ctx, p)
                    cell = {"round": rnd, "metrics": metrics}
                except (CellError, parsers.ParseError, subprocess.SubprocessError, OSError) as e:
                    metrics, raws = None, getattr(e, "raws", {})
                    cell = {"round": rnd, "error": str(e)}
                finally:
                    if sc.restart_each_cell:
                        p.stop()
                for suffix, text in raws.items():
                    (sc_dir / f"{p.name}-r{rnd}-{suffix}.txt").write_text(text)
                out[p.name].append(cell)
                head = sc.metrics[0]
                shown = (head.fmt.format(metrics[head.key]) + " " + head.label
                         if metrics and metrics.get(head.key) is not None
                         else cell.get("error", "n/a"))
                ctx.log(f"  {sc.name:<15} round {rnd + 1}/{rounds} {p.name:<11} {shown}")
                time.sleep(0.2)
    finally:
        for p in started:
            p.stop()
    return out
