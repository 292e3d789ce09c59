"""bench/aio's REPORT.md and charts from results.json."""
import json
from pathlib import Path

SPREAD_FLAG_PCT = 10.0
COLORS = {"io_uring": "#d9480f", "epoll": "#2b6cb0", "threads": "#2a9d4a",
          "io_uring-zc-off": "#f08c00", "io_uring-zc-on": "#d9480f"}
GROUPS = [("bulk", "L4 bulk throughput"),
          ("rr", "Request/response (L4, rrload)"),
          ("syscalls", "System calls"),
          ("idle", "Memory per idle connection"),
          ("zc", "SEND_ZC (io_uring only)"),
          ("pool", "Buffer pool size against bulk throughput")]


def save_json(results, path):
    Path(path).write_text(json.dumps(results, indent=1, sort_keys=True, default=str))


def med(entry, peer, key):
    s = entry["peers"].get(peer, {}).get("summary", {}).get(key)
    return s["median"] if s else None


def _cell(entry, peer, m):
    s = entry["peers"].get(peer, {}).get("summary", {}).get(m["key"])
    if not s:
        errs = entry["peers"].get(peer, {}).get("errors")
        return "error" if errs else "–"
    text = m["fmt"].format(s["median"])
    if s["n"] > 1:
        text += f" ±{s['spread_pct'] / 2:.0f}%"
    return text + (" ⚠" if s["flagged"] else "")


def _ratio(a, b):
    return f"{a / b:.2f}×" if a is not None and b not in (None, 0) else "–"


def _arrow(m):
    return {True: " ↑", False: " ↓"}.get(m["higher_is_better"], "")


def table(results, group):
    """One row per scenario and metric; a column per proxy, then ratios to the baseline."""
    entries = [(n, e) for n, e in results["scenarios"].items() if e["group"] == group]
    if not entries:
        return []
    peers = []
    for _, e in entries:
        for p in e["peers"]:
            if p not in peers:
                peers.append(p)
    base = next((p for p in peers if p.startswith("epoll")), None)
    if group == "zc":
        base = "io_uring-zc-off"
    others = [p for p in peers if p != base] if base else []
    head = ["scenario", "metric"] + peers + [f"{p} / {base}" for p in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, e in entries:
        for m in e["metrics"]:
            row = [name, m["label"] + _arrow(m)] + [_cell(e, p, m) for p in peers]
            row += [_ratio(med(e, p, m["key"]), med(e, base, m["key"])) for p in others]
            lines.append("| " + " | ".join(row) + " |")
    if group == "pool":
        lines.append("")
        lines.append("The pool columns are named backend-pool; ratios compare io_uring with epoll "
                     "at the same pool only where both names match.")
    return lines


def noisy(results):
    out = []
    for name, e in results["scenarios"].items():
        for peer, p in e["peers"].items():
            for key, s in p["summary"].items():
                if s["flagged"] and key == e["metrics"][0]["key"]:
                    out.append(f"{name}/{peer} ({s['spread_pct']:.0f}%)")
            if p["errors"]:
                out.append(f"{name}/{peer}: {len(p['errors'])} failed cell(s): {p['errors'][0][:120]}")
    return out


def findings(results):
    """Sentences with this run's numbers; the reasons are in the static text below them."""
    S = results["scenarios"]
    f = []

    def get(sc, peer, key):
        return med(S[sc], peer, key) if sc in S else None

    for sc in [n for n in S if S[n]["group"] == "rr"]:
        u, e, t = (get(sc, b, "req_s") for b in ("io_uring", "epoll", "threads"))
        cu, ce, ct = (get(sc, b, "cpu_us_per_req") for b in ("io_uring", "epoll", "threads"))
        if u and e:
            f.append(f"**{sc}**: io_uring served {u / e:.2f}× epoll's req/s"
                     + (f" and threads {t / e:.2f}×" if t else "")
                     + f"; proxy CPU per request io_uring {cu:.1f} µs, epoll {ce:.1f} µs"
                     + (f", threads {ct:.1f} µs" if ct else "") + ".")
    for sc in ("bulk-1", "bulk-8"):
        u, e, t = (get(sc, b, "gbit_s") for b in ("io_uring", "epoll", "threads"))
        cu, ce, ct = (get(sc, b, "cpu_s_per_gb") for b in ("io_uring", "epoll", "threads"))
        if u and e:
            f.append(f"**{sc}**: io_uring {u / e:.2f}× epoll's Gbit/s at {cu / ce:.2f}× its CPU "
                     f"per GB" + (f"; threads {t / e:.2f}× at {ct / ce:.2f}×" if t and ct else "")
                     + ".")
    u, e, t = (get("syscalls-rr", b, "syscalls_per_req") for b in ("io_uring", "epoll", "threads"))
    if u and e:
        f.append(f"**syscalls per request** (64 connections): io_uring {u:.2f}, epoll {e:.2f}"
                 + (f", threads {t:.2f}" if t else "") + ".")
    u, e, t = (get("syscalls-bulk", b, "syscalls_per_mb") for b in ("io_uring", "epoll", "threads"))
    if u and e:
        f.append(f"**syscalls per MB** (iperf3 -P 8): io_uring {u:.1f}, epoll {e:.1f}"
                 + (f", threads {t:.1f}" if t else "") + ".")
    rr64 = "rr-64"
    vu, ve, vt = (get(rr64, b, "vcs_per_req") for b in ("io_uring", "epoll", "threads"))
    if vu is not None and vt is not None:
        f.append(f"**context switches** (64 connections): voluntary per request io_uring "
                 f"{vu:.3f}, epoll {ve:.3f}, threads {vt:.3f}.")
    ku, ke, kt = (get("idle", b, "kib_per_conn") for b in ("io_uring", "epoll", "threads"))
    kst = get("idle", "threads", "kstack_kib_per_conn")
    if ku is not None and kt is not None:
        f.append(f"**idle connections**: RSS per proxied connection io_uring {ku:.2f} KiB, epoll "
                 f"{ke:.2f} KiB, threads {kt:.2f} KiB" +
                 (f" plus ~{kst:.0f} KiB of kernel stack per thread outside RSS" if kst else "")
                 + ".")
    zc = [(S[n]["x"], get(n, "io_uring-zc-on", "mb_s"), get(n, "io_uring-zc-off", "mb_s"),
           get(n, "io_uring-zc-on", "zc_copied_pct")) for n in S if S[n]["group"] == "zc"]
    zc = [z for z in zc if z[1] and z[2]]
    if zc:
        parts = ", ".join(f"{x // 1024} KiB {on / off:.2f}×" for x, on, off, _ in zc)
        copied = [c for *_, c in zc if c is not None]
        f.append(f"**SEND_ZC** on/off MB/s by response size: {parts}"
                 + (f"; {min(copied):.0f}-{max(copied):.0f}% of zero-copy sends were copied by "
                    "the kernel anyway" if copied else "") + ".")
    pools = [(S[n]["x"], get(n, f"io_uring-{S[n]['x']}", "gbit_s"),
              get(n, f"epoll-{S[n]['x']}", "gbit_s")) for n in S if S[n]["group"] == "pool"]
    pools = [p for p in pools if p[1]]
    if pools:
        best = max(pools, key=lambda p: p[1])
        f.append("**buffer pool** (io_uring Gbit/s, iperf3 -P 8): " +
                 ", ".join(f"{x} {g:.1f}" for x, g, _ in pools) + f"; best {best[0]}.")
    return f


def charts(results, out):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    S = results["scenarios"]
    made = []

    def bars(ax, names, peers, key, title):
        w = 0.8 / max(1, len(peers))
        for i, p in enumerate(peers):
            vals, lo, hi = [], [], []
            for n in names:
                s = S[n]["peers"].get(p, {}).get("summary", {}).get(key)
                vals.append(s["median"] if s else 0)
                lo.append(s["median"] - s["min"] if s else 0)
                hi.append(s["max"] - s["median"] if s else 0)
            xs = [j + (i - (len(peers) - 1) / 2) * w for j in range(len(names))]
            ax.bar(xs, vals, w, yerr=[lo, hi], capsize=3, label=p,
                   color=COLORS.get(p.split("-")[0] if p not in COLORS else p))
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)

    def fig(fname, names, panels, peers):
        names = [n for n in names if n in S]
        if not names:
            return
        f, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
        axes = axes if len(panels) > 1 else [axes]
        for ax, (key, title) in zip(axes, panels):
            bars(ax, names, peers, key, title)
        f.suptitle(f"{fname} (median, whiskers min-max)", fontsize=9)
        f.tight_layout()
        f.savefig(Path(out) / f"{fname}.png", dpi=110)
        plt.close(f)
        made.append(f"{fname}.png")

    three = ["io_uring", "epoll", "threads"]
    rr = [n for n in S if S[n]["group"] == "rr"]
    fig("bulk", ["bulk-1", "bulk-8"], [("gbit_s", "Gbit/s ↑"), ("cpu_s_per_gb", "proxy CPU s/GB ↓")],
        three)
    fig("rr", rr, [("req_s", "req/s ↑"), ("p99_ms", "p99 ms ↓"),
                   ("cpu_us_per_req", "proxy CPU µs/req ↓")], three)
    fig("syscalls-ctx", ["syscalls-rr", "rr-64"], [("syscalls_per_req", "syscalls/req ↓"),
                                                   ("vcs_per_req", "voluntary ctx sw/req ↓")],
        three)
    fig("idle", ["idle"], [("kib_per_conn", "KiB RSS/conn ↓"),
                           ("kstack_kib_per_conn", "KiB kernel stack/conn ↓")], three)
    zc = [n for n in S if S[n]["group"] == "zc"]
    fig("zc", zc, [("mb_s", "MB/s ↑"), ("cpu_s_per_gb", "proxy CPU s/GB ↓"),
                   ("zc_copied_pct", "% of ZC sends copied")],
        ["io_uring-zc-off", "io_uring-zc-on"])
    pool = [n for n in S if S[n]["group"] == "pool"]
    if pool:
        f, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for ax, key, title in ((axes[0], "gbit_s", "Gbit/s ↑"),
                               (axes[1], "cpu_s_per_gb", "proxy CPU s/GB ↓")):
            for b in ("io_uring", "epoll"):
                xs, ys = [], []
                for n in pool:
                    v = med(S[n], f"{b}-{S[n]['x']}", key)
                    if v is not None:
                        xs.append(S[n]["x"])
                        ys.append(v)
                ax.plot(xs, ys, marker="o", label=b, color=COLORS[b])
            ax.set_title(title, fontsize=9)
            ax.tick_params(axis="x", labelsize=7)
            ax.legend(fontsize=7)
        f.suptitle("buffer pool (buffer_size x buffers_per_worker), iperf3 -P 8", fontsize=9)
        f.tight_layout()
        f.savefig(Path(out) / "pool.png", dpi=110)
        plt.close(f)
        made.append("pool.png")
    return made


def markdown(results, charts_made):
    meta = results["meta"]
    L = ["# ringway: io_uring vs epoll vs threads", ""]
    L.append(f"Measured {meta['stamp']} by `bench/aio/run {' '.join(meta['argv'])}`"
             f" ({meta['elapsed_s']} s). Binary `{meta['binary']}` at {meta['commit']}; "
             f"kernel {meta['kernel']}; {meta['cpus']} × {meta['cpu']}; RLIMIT_NOFILE "
             f"{meta['rlimit_nofile']:,}. Raw tool output, logs and configs: `{meta['raw']}/` "
             "(not committed).")
    L.append("")
    L.append(f"**Load average** (1, 5, 15 min) at the start {meta['loadavg_start']}, at the end "
             f"{meta.get('loadavg_end')}. This machine has {meta['cpus']} CPUs and is shared with "
             "other engineers compiling: every figure here was taken next to unrelated load, "
             "which is why the report leans on ratios between backends measured in the same "
             "rounds, never on absolute numbers.")
    if meta.get("io_uring") != "ok":
        L.append("")
        L.append(f"io_uring was not usable: {meta.get('io_uring')}; its cells are missing.")
    L.append("")
    L.append(f"{meta['rounds']} round(s) × {meta['duration_s']} s per cell, backends interleaved "
             f"in every round; {meta['layout']}; one ringway worker. Cells show the median and "
             f"± half the min-max spread; ⚠ marks a spread over {SPREAD_FLAG_PCT:.0f}% "
             "(noisy: re-run before trusting it). ↑ higher is better, ↓ lower is better. Ratios "
             "are medians over epoll's median (for SEND_ZC: on over off).")
    L.append("")
    L.append("## What this run found")
    L.append("")
    L += [f"- {s}" for s in findings(results)] or ["- (no complete scenario)"]
    bad = noisy(results)
    if bad:
        L.append("")
        L.append("Noisy or failed cells: " + "; ".join(bad) + ".")
    L.append("")
    L.append(STATIC_EXPLANATION)
    for group, title in GROUPS:
        t = table(results, group)
        if not t:
            continue
        L += ["", f"## {title}", "", GROUP_NOTES.get(group, ""), ""] + t
        for c in charts_made:
            if c.startswith({"syscalls": "syscalls-ctx", "rr": "rr.", "bulk": "bulk",
                             "idle": "idle", "zc": "zc", "pool": "pool"}[group]):
                L += ["", f"![{c}]({c})"]
    L += ["", CAVEATS, ""]
    return "\n".join(L)


GROUP_NOTES = {
    "bulk": "iperf3 -c through a tcp listener to iperf3 -s; Gbit/s as iperf3 received it; proxy "
            "CPU = utime + stime of the ringway process over the cell, per GB moved.",
    "rr": "rrload (bench/aio/rrload.cc): each connection sends a 64-byte request and waits for "
          "a 100-byte response before the next (a closed loop, like wrk's keep-alive), through "
          "a tcp listener to rrload's server. This is L4 request/response, not HTTP: it is "
          "the one load all three backends serve (the threads backend has tcp listeners only). "
          "Latency is measured by the client on CPU 0. Context switches are summed over the "
          "proxy's threads from /proc/PID/task/*/status across the window (connections stay "
          "open throughout, so no thread that counted is missing).",
    "syscalls": "perf stat -e raw_syscalls:sys_enter -p PID (all threads; threads started "
                "later inherit the counter). The tracepoint slows the proxy, so the req/s and "
                "Gbit/s beside the counts are not comparable with the other tables.",
    "idle": "A fresh proxy per cell; the harness opens the connections (nothing sent), waits "
            "for RSS to settle, and divides the RSS growth by the connections still open. "
            "`KiB kernel stack/conn` is the growth of KernelStack in /proc/meminfo: machine-wide, "
            "so unrelated processes starting or ending move it (noisy), but a thread per "
            "connection costs a kernel stack RSS does not show.",
    "zc": "io_uring only (epoll and threads have no zero-copy send). 16 connections, 64-byte "
          "requests, responses of the size shown from rrload's server; `zerocopy_threshold: "
          "1KiB` makes every send of at least 1 KiB a SENDMSG_ZC. `ZC sends/req` and `% ZC "
          "copied` are deltas of ringway_send_zc_total and ringway_send_zc_copied_total from "
          "/metrics over the cell.",
    "pool": "iperf3 -P 8 with the io block set per column (buffer_size × buffers_per_worker); "
            "the threads backend has no shared pool (one buffer_size buffer per direction per "
            "connection), so it is not in this sweep.",
}

STATIC_EXPLANATION = """## Why, in plain words

**Where io_uring wins: system calls, and so CPU per request, once many connections are busy.**
epoll tells ringway which sockets are ready; ringway then makes one `read` and one `sendmsg`
system call per socket per turn, plus `epoll_wait`. io_uring takes the requests for all
sockets in one `io_uring_enter` and hands back all completions in the same call: multishot
receive stays armed (no re-arming call per read), received data lands in a provided buffer
(no `read` call), and the sends of a whole turn go in with the next enter. The more
connections are busy per turn, the more work each enter carries, so syscalls per request fall
as the load rises (see the syscalls table), and with them the proxy's CPU per request. The
gain is largest for small requests, where the system call overhead is a large part of the
work; it shrinks for bulk streams, where copying the bytes (which both backends do, in the
kernel) dominates.

**Where it does not win: bulk bytes over loopback, and one lonely connection.** For a single
stream, both loop backends spend their time in the kernel's TCP copy; a syscall saved per
16 KiB buffer is a small share of that, so Gbit/s and CPU per GB end up close (and the
client and the upstream on CPU 0 often set the pace, not the proxy). With one or a few
connections, each loop turn carries one operation, and io_uring's enter costs about what
epoll_wait + read do.

**Threads.** One thread per connection makes every request a scheduler event: the thread
blocks in `poll()`, is woken, reads, sends, and blocks again, so it pays a voluntary context
switch (and a `poll` call) per round trip where the loop backends handle many connections
per wake-up. With few connections this is cheap and latency is good; as connections grow,
wake-ups and run-queue contention grow with them, CPU per request rises and p99 stretches.
Idle, each connection holds a thread: its touched stack pages in RSS, and a kernel stack and
task struct that RSS does not count (the `kernel stack` column); the loop backends hold
no buffer at all for an idle connection, only a few hundred bytes of bookkeeping.

**SEND_ZC over loopback cannot win.** Zero-copy send pins the user pages and lets the NIC DMA
from them; over loopback the receiving socket is local, so the kernel must copy the data
into the receiver's buffers anyway (the notification says it copied: `% ZC copied`), and the
zero-copy bookkeeping (page pinning, a second completion per send) is pure extra work. What
this sweep can show: the overhead of SEND_ZC per send size, and that the copied flag works.
What it cannot show: the gain on a real NIC, where large sends (tens of KiB and up) skip a
copy of every byte; that needs two machines. The default (`zerocopy_threshold: off`) follows
from this.

**Buffer pool.** io_uring receives into the worker's provided-buffer ring; a pool that is
too small starves receives (`ENOBUFS`, the connection waits for a buffer), one far larger
than the data in flight only spreads the same bytes over more cache lines."""

CAVEATS = """## Caveats

- **Loopback, 2 CPUs.** No NIC, no interrupts, no wire latency. Client and upstreams share
  CPU 0; in the fastest cells CPU 0, not the proxy, is the bottleneck (the `proxy CPU %`
  column says how busy the proxy was: below ~90% it was waiting for the client). CPU per
  request or per GB is the fairer comparison there.
- **Shared machine.** Other engineers' builds ran during the measurement (load average above);
  cells flagged ⚠ varied by more than 10% between rounds.
- **One worker.** Every backend runs one ringway worker (threads: one thread per connection
  plus an accept thread, all pinned to CPU 1 with taskset), so this compares I/O models per
  core, not scaling.
- **perf.** Tracing every syscall slows the proxy; the syscall scenarios are separate runs.
- **10,000 connections.** The hard RLIMIT_NOFILE here is 20,000 and an L4 connection needs two
  descriptors in the proxy, so the many-connection and idle cells hold (20,000 - 200) / 2 =
  9,900 connections.
- **Context switches** count only threads alive at the end of a window: fine for the held
  connections of the rr scenarios, meaningless for bulk (not reported)."""
