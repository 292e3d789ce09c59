"""What bench/aio measures: scenarios (a load x a set of ringway processes) and the round loop.

Every scenario runs its proxies interleaved: round 1 A B C, round 2 A B C, ... so drift on a
shared machine spreads over all of them. Each cell records the 1-minute load average it ran at.
"""
import os
import subprocess
import time
from dataclasses import dataclass, field

import aiolib
from aiolib import BACKENDS, CellError
from ringbench import procs, report as rbreport

KiB = 1024
# 4 and 256 KiB were measured too (they sat on the curve between their neighbours): left out
# so the full run stays under 20 minutes with the HTTP scenarios.
ZC_SIZES = [1 * KiB, 16 * KiB, 64 * KiB, 1024 * KiB]
# (label, io block): the buffer pool sweep; 256 x 16 KiB is the default.
POOLS = [("4KiBx256", "buffer_size: 4KiB, buffers_per_worker: 256"),
         ("16KiBx64", "buffer_size: 16KiB, buffers_per_worker: 64"),
         ("16KiBx256", "buffer_size: 16KiB, buffers_per_worker: 256"),
         ("64KiBx1024", "buffer_size: 64KiB, buffers_per_worker: 1024")]


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
    group: str  # report section
    metrics: list
    cell: object  # fn(lab, proxy, duration) -> (metrics, raw text)
    proxies: list = field(default_factory=lambda: [(b, None, "") for b in BACKENDS])
    restart_each_cell: bool = False
    x: object = None  # the swept value (conns, size, pool) for charts
    shorter: bool = False  # sweeps: one second less per cell (the run stays under 15 min)
    order: int = 0  # position in build(), for the report


GBIT = Metric("gbit_s", "Gbit/s", True, "{:,.2f}")
CPU_GB = Metric("cpu_s_per_gb", "proxy CPU s/GB", False, "{:,.3f}")
CPU_PCT = Metric("proxy_cpu_pct", "proxy CPU %", None, "{:,.0f}")
REQ_S = Metric("req_s", "req/s")
P99 = Metric("p99_ms", "p99 ms", False, "{:,.2f}")
CPU_REQ = Metric("cpu_us_per_req", "proxy CPU µs/req", False, "{:,.2f}")
VCS = Metric("vcs_per_req", "vol. ctx sw/req", False, "{:,.3f}")
IVCS = Metric("ivcs_per_req", "invol. ctx sw/req", False, "{:,.4f}")
TEARDOWN = Metric("teardown_s", "s to close all after the client left", False, "{:,.1f}")
LEFTOVER = Metric("leftover_fds", "fds never closed", False, "{:,.0f}")
OTHER = Metric("other_pct", "other tasks on proxy CPU %", None, "{:,.0f}")
WRK_ERR = Metric("errors", "wrk errors (connect, timeout, non-2xx)", False, "{:,.0f}")


def build(idle_n):
    s = []
    for streams in (1, 8):
        s.append(Scenario(f"bulk-{streams}", f"L4 bulk, iperf3 -P {streams}", "bulk",
                          [GBIT, CPU_GB, CPU_PCT, OTHER],
                          lambda lab, p, d, n=streams: aiolib.bulk(lab, p, n, d), x=streams))
    for conns in (64, 1000, idle_n):
        s.append(Scenario(f"rr-{conns}", f"request/response 64 B -> 100 B, {conns:,} connections",
                          "rr", [REQ_S, P99, CPU_REQ, VCS, IVCS, CPU_PCT, TEARDOWN, LEFTOVER,
                                 OTHER],
                          lambda lab, p, d, n=conns: aiolib.rr(lab, p, n, d), x=conns))
    for conns in (64, 1000, idle_n):
        s.append(Scenario(f"http-{conns}", f"HTTP keep-alive, 100 B responses, wrk -t1 -c{conns}",
                          "http", [REQ_S, P99, CPU_REQ, VCS, IVCS, CPU_PCT, WRK_ERR, OTHER],
                          lambda lab, p, d, n=conns: aiolib.http(lab, p, n, d), x=conns))
    s.append(Scenario("syscalls-http", "syscalls per request (perf stat; HTTP, 64 connections)",
                      "syscalls", [Metric("syscalls_per_req", "syscalls/req", False, "{:,.2f}"),
                                   REQ_S],
                      lambda lab, p, d: aiolib.http(lab, p, 64, d, perf=True), shorter=True))
    s.append(Scenario("syscalls-rr", "syscalls per request (perf stat; rr, 64 connections)",
                      "syscalls", [Metric("syscalls_per_req", "syscalls/req", False, "{:,.2f}"),
                                   REQ_S],
                      lambda lab, p, d: aiolib.rr(lab, p, 64, d, perf=True), shorter=True))
    s.append(Scenario("syscalls-bulk", "syscalls per MB (perf stat; iperf3 -P 8)", "syscalls",
                      [Metric("syscalls_per_mb", "syscalls/MB", False, "{:,.2f}"), GBIT],
                      lambda lab, p, d: aiolib.bulk(lab, p, 8, d, perf=True), shorter=True))
    s.append(Scenario("idle", f"memory per idle proxied connection ({idle_n:,} held)", "idle",
                      [Metric("kib_per_conn", "KiB RSS/conn", False, "{:,.2f}"),
                       Metric("kstack_kib_per_conn", "KiB kernel stack/conn", False, "{:,.2f}"),
                       Metric("held", "conns held")],
                      lambda lab, p, d: aiolib.idle(lab, p, idle_n, 8), restart_each_cell=True))
    zc_pair = [("io_uring", "buffer_size: 16KiB, buffers_per_worker: 256, zerocopy_threshold: off",
                "zc-off"),
               ("io_uring", "buffer_size: 16KiB, buffers_per_worker: 256, zerocopy_threshold: 1KiB",
                "zc-on")]
    for size in ZC_SIZES:
        label = f"{size // KiB}KiB"
        s.append(Scenario(f"zc-{label}", f"SEND_ZC off/on, 16 connections, {label} responses",
                          "zc", [Metric("mb_s", "MB/s", True, "{:,.1f}"), CPU_GB,
                                 Metric("zc_sends_per_req", "ZC sends/req", None, "{:,.2f}"),
                                 Metric("zc_copied_pct", "% ZC copied", None, "{:,.0f}")],
                          lambda lab, p, d, n=size: aiolib.rr(lab, p, 16, d, resp=n),
                          proxies=zc_pair, x=size, shorter=True))
    for label, io in POOLS:
        s.append(Scenario(f"pool-{label}", f"buffer pool {label}, iperf3 -P 8", "pool",
                          [GBIT, CPU_GB],
                          lambda lab, p, d: aiolib.bulk(lab, p, 8, d),
                          proxies=[("io_uring", io, label), ("epoll", io, label)], x=label,
                          shorter=True))
    for i, sc in enumerate(s):
        sc.order = i
    return s


def probe_uring(lab, binary):
    """'ok', or why ringway cannot run io_uring here (its own probe, via --backend io_uring)."""
    p = aiolib.Proxy(lab, binary, "io_uring", tag="probe")
    try:
        p.start()
        return "ok"
    except (RuntimeError, CellError) as e:
        log = p.proc.log.read_text()[-300:] if p.proc else ""
        return f"{e} {log}".strip()
    finally:
        p.stop()


def run(sc, lab, binary, rounds, duration, rawdir, log, uring_ok=True):
    proxies = [aiolib.Proxy(lab, binary, b, io, tag) for b, io, tag in sc.proxies
               if uring_ok or b != "io_uring"]
    out = {p.name: [] for p in proxies}
    d = rawdir / sc.name
    d.mkdir(parents=True, exist_ok=True)
    started = []
    try:
        failed = {}
        if not sc.restart_each_cell:
            for p in proxies:
                try:
                    p.start()
                    started.append(p)
                except (CellError, RuntimeError, OSError) as e:
                    failed[p.name] = f"start: {e}"
        for rnd in range(rounds):
            for p in proxies:
                load = os.getloadavg()[0]
                try:
                    if p.name in failed:
                        raise CellError(failed[p.name])
                    if sc.restart_each_cell:
                        p.start()
                    metrics, raw = sc.cell(lab, p, max(2, duration - 1) if sc.shorter else duration)
                    cell = {"round": rnd, "metrics": metrics, "load1": round(load, 2)}
                except (CellError, RuntimeError, OSError, subprocess.SubprocessError) as e:
                    metrics, raw = None, str(e)
                    cell = {"round": rnd, "error": str(e), "load1": round(load, 2)}
                finally:
                    if sc.restart_each_cell:
                        p.stop()
                    elif p.proc is not None and p.name not in failed:
                        # Cells must not inherit a predecessor's leftovers (leaked sockets
                        # would run into the fd limit): a proxy that did not get back to its
                        # baseline is restarted, and the cell says so.
                        _, left = p.settle(limit_s=15)
                        if left > 8:
                            cell["restarted_after"] = f"{left} descriptors still open"
                            log(f"  {sc.name:<14} {p.name}: {left} descriptors still open; "
                                "restarting it")
                            p.stop()
                            try:
                                p.start()
                            except (CellError, RuntimeError, OSError) as e:
                                failed[p.name] = f"restart: {e}"
                (d / f"{p.name}-r{rnd}.txt").write_text(raw)
                out[p.name].append(cell)
                head = sc.metrics[0]
                shown = (head.fmt.format(metrics[head.key]) + " " + head.label
                         if metrics and metrics.get(head.key) is not None else cell.get("error"))
                log(f"  {sc.name:<14} round {rnd + 1}/{rounds} {p.name:<18} {shown}"
                    f"  (load {load:.1f})")
                time.sleep(0.2)
    finally:
        for p in started:
            p.stop()
    entry = {"title": sc.title, "group": sc.group, "x": sc.x, "order": sc.order,
             "metrics": [{"key": m.key, "label": m.label, "higher_is_better": m.higher_is_better,
                          "fmt": m.fmt} for m in sc.metrics],
             "peers": {}}
    for name, cells in out.items():
        summary = {}
        for m in sc.metrics:
            s = rbreport.summarize([c["metrics"].get(m.key) for c in cells if "metrics" in c])
            if s:
                summary[m.key] = s
        entry["peers"][name] = {"cells": cells, "summary": summary,
                                "errors": [c["error"] for c in cells if "error" in c]}
    return entry
