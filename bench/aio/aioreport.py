"""bench/aio's REPORT.md and charts from results.json."""
import json
from pathlib import Path

SPREAD_FLAG_PCT = 10.0
COLORS = {"io_uring": "#d9480f", "epoll": "#2b6cb0", "threads": "#2a9d4a",
          "io_uring-zc-off": "#f08c00", "io_uring-zc-on": "#d9480f"}
GROUPS = [("bulk", "L4 bulk throughput"),
          ("rr", "Request/response (L4, rrload)"),
          ("http", "HTTP keep-alive (wrk)"),
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


def ordered(results, group=None):
    """Scenario names in the order they ran (results.json sorts its keys)."""
    S = results["scenarios"]
    return sorted((n for n in S if group is None or S[n]["group"] == group),
                  key=lambda n: S[n].get("order", 0))


def table(results, group):
    """One row per scenario and metric; a column per proxy, then ratios to the baseline."""
    entries = [(n, results["scenarios"][n]) for n in ordered(results, group)]
    if not entries:
        return []
    # Sweeps name their proxies backend-<x>: one column per backend, one row per x.
    def col(e, p):
        x = e.get("x")
        return p[:-len(str(x)) - 1] if isinstance(x, str) and p.endswith(f"-{x}") else p

    def summ(e, c):
        for p in e["peers"]:
            if col(e, p) == c:
                return p
        return c

    peers = []
    for _, e in entries:
        for p in e["peers"]:
            if col(e, p) not in peers:
                peers.append(col(e, p))
    base = next((p for p in peers if p.startswith("epoll")), None)
    if group == "zc":
        base = "io_uring-zc-off"
    others = [p for p in peers if p != base] if base else []
    head = ["scenario", "metric"] + peers + [f"{p} / {base}" for p in others]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, e in entries:
        for m in e["metrics"]:
            row = [name, m["label"] + _arrow(m)] + [_cell(e, summ(e, p), m) for p in peers]
            row += [_ratio(med(e, summ(e, p), m["key"]), med(e, summ(e, base), m["key"]))
                    for p in others]
            lines.append("| " + " | ".join(row) + " |")
    return lines


OTHER_FLAG_PCT = 10.0


def noisy(results):
    out = []
    for name, e in results["scenarios"].items():
        for peer, p in e["peers"].items():
            why = []
            for key, s in p["summary"].items():
                if s["flagged"] and key == e["metrics"][0]["key"]:
                    why.append(f"spread {s['spread_pct']:.0f}%")
            o = p["summary"].get("other_pct")
            if o and o["max"] > OTHER_FLAG_PCT:
                why.append(f"other tasks took up to {o['max']:.0f}% of the proxy's CPU")
            restarts = [c["restarted_after"] for c in p["cells"] if c.get("restarted_after")]
            if restarts:
                why.append(f"restarted after {len(restarts)} cell(s) with descriptors still "
                           f"open 3 s after the clients left ({restarts[0]})")
            if why:
                out.append(f"{name}/{peer} ({', '.join(why)})")
            if p["errors"]:
                out.append(f"{name}/{peer}: {len(p['errors'])} failed cell(s): {p['errors'][0][:120]}")
    return out


def findings(results):
    """Sentences with this run's numbers; the reasons are in the static text below them."""
    S = results["scenarios"]
    f = []

    def get(sc, peer, key):
        return med(S[sc], peer, key) if sc in S else None

    for sc in ordered(results, "rr"):
        u, e, t = (get(sc, b, "req_s") for b in ("io_uring", "epoll", "threads"))
        cu, ce, ct = (get(sc, b, "cpu_us_per_req") for b in ("io_uring", "epoll", "threads"))
        busy = [get(sc, b, "proxy_cpu_pct") for b in ("io_uring", "epoll", "threads")]
        busy = [b for b in busy if b is not None]
        parts = []
        if u and e:
            parts.append(f"io_uring served {u / e:.2f}× epoll's req/s"
                         + (f" and threads {t / e:.2f}×" if t else ""))
        elif u and t:
            parts.append(f"threads served {t / u:.2f}× io_uring's req/s (epoll: no result)")
        cpu = ", ".join(f"{b} {v:.1f} µs" for b, v in
                        (("io_uring", cu), ("epoll", ce), ("threads", ct)) if v)
        if cpu:
            parts.append(f"proxy CPU per request {cpu}")
        if busy:
            parts.append(f"the proxy's CPU was {min(busy):.0f}-{max(busy):.0f}% busy")
        if parts:
            f.append(f"**{sc}**: " + "; ".join(parts) + ".")
    for sc in ordered(results, "http"):
        u, e, t = (get(sc, b, "req_s") for b in ("io_uring", "epoll", "threads"))
        pu, pe, pt = (get(sc, b, "p99_ms") for b in ("io_uring", "epoll", "threads"))
        cu, ce, ct = (get(sc, b, "cpu_us_per_req") for b in ("io_uring", "epoll", "threads"))
        parts = []
        rs = ", ".join(f"{b} {v:,.0f}" for b, v in (("io_uring", u), ("epoll", e),
                                                    ("threads", t)) if v)
        if rs:
            parts.append(f"req/s {rs}")
        p99 = ", ".join(f"{b} {v:,.1f} ms" for b, v in (("io_uring", pu), ("epoll", pe),
                                                        ("threads", pt)) if v is not None)
        if p99:
            parts.append(f"p99 {p99}")
        cpu = ", ".join(f"{b} {v:.1f} µs" for b, v in
                        (("io_uring", cu), ("epoll", ce), ("threads", ct)) if v)
        if cpu:
            parts.append(f"proxy CPU per request {cpu}")
        errs = [(b, get(sc, b, "errors")) for b in ("io_uring", "epoll", "threads")]
        errs = [(b, v) for b, v in errs if v]
        if errs:
            parts.append("wrk errors " + ", ".join(f"{b} {v:,.0f}" for b, v in errs))
        failed = [b for b in ("io_uring", "epoll", "threads")
                  if S[sc]["peers"].get(b, {}).get("errors")]
        if failed:
            parts.append("failed cells: " + ", ".join(failed))
        if parts:
            f.append(f"**{sc}**: " + "; ".join(parts) + ".")
    for sc in ("bulk-1", "bulk-8"):
        u, e, t = (get(sc, b, "gbit_s") for b in ("io_uring", "epoll", "threads"))
        cu, ce, ct = (get(sc, b, "cpu_s_per_gb") for b in ("io_uring", "epoll", "threads"))
        if u and e:
            f.append(f"**{sc}**: io_uring {u / e:.2f}× epoll's Gbit/s at {cu / ce:.2f}× its CPU "
                     f"per GB" + (f"; threads {t / e:.2f}× at {ct / ce:.2f}×" if t and ct else "")
                     + ".")
    big = max((n for n in S if S[n]["group"] == "rr"), key=lambda n: S[n]["x"] or 0, default=None)
    if big:
        td = [(b, get(big, b, "teardown_s"), get(big, b, "leftover_fds"))
              for b in ("io_uring", "epoll", "threads")]
        td = [t for t in td if t[1] is not None]
        if td:
            f.append(f"**teardown** after {S[big]['x']:,} clients left at once: " + ", ".join(
                f"{b} closed them in {s:.1f} s" + (f" but left {int(l)} descriptors open"
                                                   if l else "") for b, s, l in td) + ".")
    u, e, t = (get("syscalls-rr", b, "syscalls_per_req") for b in ("io_uring", "epoll", "threads"))
    if u and e:
        f.append(f"**syscalls per request** (64 connections): io_uring {u:.2f}, epoll {e:.2f}"
                 + (f", threads {t:.2f}" if t else "") + ".")
    u, e, t = (get("syscalls-http", b, "syscalls_per_req") for b in ("io_uring", "epoll", "threads"))
    if u or e or t:
        f.append("**syscalls per HTTP request** (64 connections): " + ", ".join(
            f"{b} {v:.2f}" for b, v in (("io_uring", u), ("epoll", e), ("threads", t))
            if v is not None) + ".")
    vu, ve, vt = (get("http-64", b, "vcs_per_req") for b in ("io_uring", "epoll", "threads"))
    iu, ie, it = (get("http-64", b, "ivcs_per_req") for b in ("io_uring", "epoll", "threads"))
    if vt is not None:
        f.append("**context switches per HTTP request** (64 connections), voluntary / "
                 "involuntary: " + ", ".join(
                     f"{b} {v:.3f} / {i:.3f}" for b, v, i in
                     (("io_uring", vu, iu), ("epoll", ve, ie), ("threads", vt, it))
                     if v is not None and i is not None) + ".")
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
           get(n, "io_uring-zc-on", "zc_copied_pct")) for n in ordered(results, "zc")]
    zc = [z for z in zc if z[1] and z[2]]
    if zc:
        parts = ", ".join(f"{x // 1024} KiB {on / off:.2f}×" for x, on, off, _ in zc)
        copied = [c for *_, c in zc if c is not None]
        f.append(f"**SEND_ZC** on/off MB/s by response size: {parts}"
                 + (f"; {min(copied):.0f}-{max(copied):.0f}% of zero-copy sends were copied by "
                    "the kernel anyway" if copied else "") + ".")
    pools = [(S[n]["x"], get(n, f"io_uring-{S[n]['x']}", "gbit_s"),
              get(n, f"epoll-{S[n]['x']}", "gbit_s")) for n in ordered(results, "pool")]
    pools = [p for p in pools if p[1]]
    if pools:
        f.append("**buffer pool** (Gbit/s with iperf3 -P 8, io_uring / epoll): " +
                 ", ".join(f"{x} {g:.2f} / {ep:.2f}" if ep else f"{x} {g:.2f} / –"
                           for x, g, ep in pools) + ".")
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
    rr = ordered(results, "rr")
    fig("bulk", ["bulk-1", "bulk-8"], [("gbit_s", "Gbit/s ↑"), ("cpu_s_per_gb", "proxy CPU s/GB ↓")],
        three)
    fig("rr", rr, [("req_s", "req/s ↑"), ("p99_ms", "p99 ms ↓"),
                   ("cpu_us_per_req", "proxy CPU µs/req ↓")], three)
    fig("syscalls-ctx", ["syscalls-rr", "rr-64", "syscalls-http", "http-64"],
        [("syscalls_per_req", "syscalls/req ↓"), ("vcs_per_req", "voluntary ctx sw/req ↓")],
        three)
    fig("http", ordered(results, "http"), [("req_s", "req/s ↑"), ("p99_ms", "p99 ms ↓"),
                                           ("cpu_us_per_req", "proxy CPU µs/req ↓")], three)
    fig("idle", ["idle"], [("kib_per_conn", "KiB RSS/conn ↓"),
                           ("kstack_kib_per_conn", "KiB kernel stack/conn ↓")], three)
    zc = ordered(results, "zc")
    fig("zc", zc, [("mb_s", "MB/s ↑"), ("cpu_s_per_gb", "proxy CPU s/GB ↓"),
                   ("zc_copied_pct", "% of ZC sends copied")],
        ["io_uring-zc-off", "io_uring-zc-on"])
    pool = ordered(results, "pool")
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
    L.append(f"Measured {meta['stamp']} by `{' '.join(['bench/aio/run'] + meta['argv'])}`"
             f" ({meta['elapsed_s']} s). Binary `{meta['binary']}` at {meta['commit']}; "
             f"kernel {meta['kernel']}; {meta['cpus']} × {meta['cpu']}; RLIMIT_NOFILE "
             f"{meta['rlimit_nofile']:,}. Raw tool output, logs and configs: `{meta['raw']}/` "
             "(not committed).")
    L.append("")
    L.append(f"**Load average** (1, 5, 15 min) at the start {meta['loadavg_start']}, at the end "
             f"{meta.get('loadavg_end')}. This machine has {meta['cpus']} CPUs and is shared with "
             "other engineers compiling: every figure here was taken next to unrelated load, "
             "which is why the report leans on ratios between backends measured in the same "
             "rounds, never on absolute numbers. The load average counts runnable threads, the "
             "threads backend's own included (thousands of them at 9,900 busy connections), so "
             "it says little about outside load; `other tasks on proxy CPU %` (the proxy CPU's "
             "busy time from /proc/stat minus the proxy's own, per cell) does, and cells where "
             f"it exceeded {OTHER_FLAG_PCT:.0f}% are listed below.")
    if meta.get("io_uring") != "ok":
        L.append("")
        L.append(f"io_uring was not usable: {meta.get('io_uring')}; its cells are missing.")
    L.append("")
    L.append(f"{meta['rounds']} round(s) × {meta['duration_s']} s per cell, backends interleaved "
             f"in every round; {meta['layout']}; one ringway worker. Cells show the median and "
             f"± half the min-max spread; ⚠ marks a spread over {SPREAD_FLAG_PCT:.0f}% "
             "(noisy: re-run before trusting it). ↑ higher is better, ↓ lower is better. Ratios "
             "are medians over epoll's median (for SEND_ZC: on over off).")
    old = meta.get("merged_from")
    if old:
        S = results["scenarios"]
        new = [n for n in ordered(results) if S[n].get("stamp", "") >= meta["stamp"]]
        kept = [n for n in ordered(results) if n not in new]
        L += ["", f"**Two runs in one report.** This run (`{' '.join(meta['argv'])}`) measured "
              f"{', '.join(new)}; the other scenarios ({', '.join(kept)}) are kept from the run "
              f"of {old.get('stamp')} (`{' '.join(old.get('argv') or [])}`, binary at "
              f"{old.get('commit')}, {old.get('rounds')} round(s) × {old.get('duration_s')} s, "
              f"load average {old.get('loadavg_start')} at its start). Each scenario's table "
              "heading gives when it was measured and the load average then."]
        for note in old.get("notes") or []:
            L += ["", f"**Note (run of {old.get('stamp')}).** {note}"]
    for note in meta.get("notes", []):
        L += ["", f"**Note.** {note}"]
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
        when = sorted({(results["scenarios"][n].get("stamp"), str(results["scenarios"][n].get(
            "loadavg"))) for n in ordered(results, group) if results["scenarios"][n].get("stamp")})
        measured = ("Measured " + "; ".join(f"{st} (load average {la})" for st, la in when) + "."
                    if meta.get("merged_from") and when else "")
        L += ["", f"## {title}", "", GROUP_NOTES.get(group, ""), ""]
        if measured:
            L += [measured, ""]
        L += t
        for c in charts_made:
            if c.startswith({"syscalls": "syscalls-ctx", "rr": "rr.", "http": "http.",
                             "bulk": "bulk",
                             "idle": "idle", "zc": "zc", "pool": "pool"}[group]):
                L += ["", f"![{c}]({c})"]
    L += ["", CAVEATS, ""]
    return "\n".join(L)


GROUP_NOTES = {
    "bulk": "iperf3 -c through a tcp listener to iperf3 -s; Gbit/s as iperf3 received it; proxy "
            "CPU = utime + stime of the ringway process over the cell, per GB moved.",
    "rr": "rrload (bench/aio/rrload.cc): each connection sends a 64-byte request and waits for "
          "a 100-byte response before the next (a closed loop, like wrk's keep-alive), through "
          "a tcp listener to rrload's server. This is L4 request/response, without HTTP "
          "parsing (the HTTP table follows). Latency is measured by the client on CPU 0. Context switches are summed over the "
          "proxy's threads from /proc/PID/task/*/status across the window (connections stay "
          "open throughout, so no thread that counted is missing).",
    "http": "wrk -t1 -cN --latency through an http listener (routing, header rewriting, "
            "X-Forwarded-*, X-Request-Id) to nginx serving a 100-byte /small with keep-alive; "
            "wrk and nginx on CPU 0, the proxy on CPU 1. Upstream keep-alive on every backend: "
            "the loop backends' per-worker pool (max_idle 10,000), the threads backend one "
            "upstream connection per connection thread. req/s and p99 are wrk's over its whole "
            "run (its connections open during the first second, 2.5 s at 9,900); CPU, "
            "context switches and system calls are read over an inner window once every "
            "connection is open and divided by wrk's rate times the window. 9,900, not 10,000: "
            "the hard RLIMIT_NOFILE is 20,000 and each proxied connection holds two "
            "descriptors; on the threads backend 9,900 connections are 9,900 threads, under "
            "its cap of 10,000 (over it, a client gets a 503 and the close).",
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

**What limits these numbers.** This run had a quiet machine at its start (load average about
1; the load average later climbs because it counts the threads backend's own thousands of
threads). With nothing else on CPU 1, the proxy was the bottleneck or close to it in the
request/response and HTTP cells: its CPU was 61-95% busy (86-94% in every HTTP cell of the
loop backends), threads the busiest (`proxy CPU %` shows over 100% for threads at 1,000 and
9,900 connections; the proxy is pinned to CPU 1,
so that is an accounting artefact of reading the CPU time of a process whose threads start and
end by the thousand, not a second CPU). wrk, rrload, nginx and iperf3 share CPU 0. Req/s and
Gbit/s are therefore closer to what each backend can do on one core than in earlier, noisier
runs, but the spreads (⚠) are still wide: read CPU per request or per GB, system calls and
context switches first.

**Where io_uring wins.** System calls: one `io_uring_enter` submits the sends and collects
the receives of every busy connection, multishot receive stays armed (no call to re-arm), and
the kernel picks the buffer (no `read` call). That makes about 0.2 system calls per request
(L4 and HTTP alike) against about 4.8 for epoll (`epoll_wait`, then `read` and `sendmsg` per
ready socket), 6.8 for threads at L4 and 4.4 for threads over HTTP, and about 1 per MB of bulk
against 70 and 186. Against threads it wins on everything that scales with connections:
1.6-3.7× less CPU per request, with the gap growing with the number of connections; 70× to
1,000× fewer voluntary context switches per request; and about 70× less memory per idle
connection.

**Where it does not win.** Against epoll the CPU per request is close: io_uring used 0-15%
less at L4 and the same (±2%) over HTTP, not the 25× its system call count would suggest.
Entering the kernel is cheap next to what each request costs inside it: two TCP receives and
two TCP sends through the loopback stack, the wake-ups of the client and upstream, and the
epoll or io_uring bookkeeping itself; over HTTP, parsing and rewriting heads adds the same
user-space work to both. io_uring removes the per-call overhead, not the per-byte or
per-packet work. For bulk transfer with one stream io_uring used the least CPU per GB (0.85×
epoll); with 8 streams the threads backend did (0.57×, io_uring 0.79×): a thread that just
`read()`s and `send()`s full buffers and sleeps in `poll()` is an efficient model for a handful
of long streams, where the copy in the kernel is most of the cost.

**Threads.** One thread per connection makes every round trip a scheduler event: the thread
wakes for the request, sleeps, wakes for the response: about 2 voluntary context switches per
request at L4 and over HTTP, where the loop backends handle many requests per wake-up
(0.002-0.03 per request). Its CPU per request grows with the number of threads (run queues, cache misses
on thousands of stacks), its p99 stretches to 0.7 s (L4) and 3 s (HTTP) at 9,900 connections,
and each connection costs a thread: about 17 KiB of RSS (touched stack, thread bookkeeping)
plus a 16 KiB kernel stack that RSS does not show. The loop backends keep about a quarter KiB
per idle connection and no buffer at all.

**HTTP.** The HTTP cells run the same request and response through ringway's parser, router
and head rewriting on every backend (the rewriting code is shared), to nginx over kept-alive
upstream connections. The threads backend does, per request, what the classic model does:
`recv()` the request, `sendmsg()` it upstream, `recv()` the response, `sendmsg()` it back,
sleeping in both `recv()` calls: its 4.4 system calls (4 plus the occasional short read) and
2 voluntary context switches per request. epoll makes about as many calls but almost no
context switches; io_uring makes a fraction of a call per request. At 64 connections the two
loop backends spent the same CPU per request (12 µs) and threads 1.6× that; at 1,000 and 9,900
connections threads spent 2.3-2.4× and served half the requests, and its p99 went from
milliseconds to 0.7 s and 3 s, because thousands of runnable threads share one CPU and each
waits its turn in the run queue. At 9,900 connections the loop backends' p99 (0.4-0.6 s) also
grows: one core serves 9,900 busy connections in turn.

**Connection teardown.** When 9,900 clients left at once, io_uring took 3.2 s to close them,
epoll 0.1 s and threads 0.6 s, and none left a descriptor open. (The previous run of this
report, before io_uring cancelled by user_data instead of by descriptor, took 14.7 s, and
epoll then left some sessions open; both were fixed in the tree measured here.) Why io_uring
still takes seconds was not investigated in this run.

**SEND_ZC over loopback cannot win.** Zero-copy send pins the pages and lets the NIC read
them; over loopback the receiver is local, so the kernel copies anyway (`% ZC copied` is 100)
and the pinning and the second completion are pure cost: 1.2-1.4× the CPU per GB from 16 KiB
responses up, and 0.74-0.81× the MB/s at 16 and 64 KiB. At 1 MiB throughput falls to 0.19×:
ringway waits for a send's notification (the kernel done with the pages) before the next send
on that connection, and for TCP the pages are released only when the receiver has acknowledged
the data; the receiver, waiting for the rest of the response, delays its ACK, so a response
takes a delayed-ACK timeout (the raw rrload output shows a median latency of 44 ms per 1 MiB
response with ZC on, 7 ms without). At 1 KiB on and off are within the noise. What this sweep
shows: the overhead per size, that the copied flag works, and that sends on a connection must
not be serialised on the notification. What it cannot show: the gain on a real NIC, where
large sends skip a copy of every byte; that needs two machines. Until then
`zerocopy_threshold` stays off by default.

**Buffer pool.** This run shows no consistent order: with 8 bulk streams the throughput of
both loop backends varied 15-45% between rounds at every pool size, 16 KiB × 256 (the default)
gave io_uring its lowest CPU per GB, and 64 KiB × 1024 was io_uring's worst and epoll's best.
Bigger buffers cost memory only while data is in flight (an idle connection holds none), but a
buffer is the unit of backpressure, so the default stays at 16 KiB until a real NIC says
otherwise."""

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
- **HTTP upstream.** nginx shares CPU 0 with wrk; at high request rates it and wrk, not the
  proxy, set the pace (see `proxy CPU %`).
- **perf.** Tracing every syscall slows the proxy; the syscall scenarios are separate runs.
- **10,000 connections.** The hard RLIMIT_NOFILE here is 20,000 and an L4 connection needs two
  descriptors in the proxy, so the many-connection and idle cells hold (20,000 - 200) / 2 =
  9,900 connections.
- **Context switches** count only threads alive at the end of a window: fine for the held
  connections of the rr scenarios, meaningless for bulk (not reported)."""
