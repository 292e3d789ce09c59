"""Summaries (median, min-max spread), the Markdown table, results.json and PNG charts."""
import json
import statistics

SPREAD_FLAG_PCT = 10.0
PEER_ORDER = ["direct", "nginx", "haproxy", "ringway", "ringway-2w"]
COLORS = {"direct": "#999999", "nginx": "#2a9d4a", "haproxy": "#2b6cb0", "ringway": "#d9480f",
          "ringway-2w": "#f08c00"}

# Targets of the core issue (L4 path); checked against nginx when both ran.
TARGETS = [("l4-1", "gbit_s", ">=", 1.2), ("l4-1", "cpu_s_per_gb", "<=", 1.0),
           ("l4-8", "gbit_s", ">=", 1.2), ("l4-8", "cpu_s_per_gb", "<=", 1.0)]
IDLE_TARGET_KIB = 0.25


def summarize(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    med = statistics.median(vals)
    spread = (max(vals) - min(vals)) / abs(med) * 100 if med else 0.0
    return {"median": med, "min": min(vals), "max": max(vals), "n": len(vals),
            "spread_pct": spread, "flagged": len(vals) > 1 and spread > SPREAD_FLAG_PCT}


def build(sc, cells_by_peer, skipped):
    """One scenario's entry in results.json."""
    entry = {"title": sc.title, "feature": sc.feature, "note": sc.note,
             "metrics": [{"key": m.key, "label": m.label, "higher_is_better": m.higher_is_better}
                         for m in sc.metrics],
             "skipped": skipped, "peers": {}}
    for peer, cells in cells_by_peer.items():
        summary = {}
        for m in sc.metrics:
            s = summarize([c["metrics"].get(m.key) for c in cells if "metrics" in c])
            if s:
                summary[m.key] = s
        entry["peers"][peer] = {"cells": cells, "summary": summary,
                                "errors": [c["error"] for c in cells if "error" in c]}
    return entry


def _ordered(peers):
    return sorted(peers, key=lambda p: PEER_ORDER.index(p) if p in PEER_ORDER else 99)


def _median(entry, peer, key):
    s = entry["peers"].get(peer, {}).get("summary", {}).get(key)
    return s["median"] if s else None


def markdown(results, scenarios):
    lines = []
    meta = results["meta"]
    lines.append(f"# ringway bench {meta['stamp']}")
    lines.append("")
    lines.append(f"{meta['rounds']} round(s) x {meta['duration_s']} s per cell; median "
                 f"(min-max spread %), ⚠ = spread > {SPREAD_FLAG_PCT:.0f}%. "
                 "Ratios: ×ng to nginx, ×d to direct. ↑ higher is better, ↓ lower is better.")
    lines.append(f"CPU layout: {meta['layout']['summary']}")
    if "tcp" in meta:
        lines.append(f"{meta['tcp']['summary']}")
    lines.append("")
    for sc in scenarios:
        entry = results["scenarios"].get(sc.name)
        if entry is None:
            continue
        peers = _ordered(entry["peers"])
        lines.append(f"## {sc.name}: {sc.title}")
        if sc.note:
            lines.append(f"_{sc.note}_")
        for peer, why in entry["skipped"].items():
            lines.append(f"- {peer}: skipped, {why}")
        if not peers:
            lines.append("")
            continue
        lines.append("")
        lines.append("| metric | " + " | ".join(peers) + " |")
        lines.append("|---|" + "---|" * len(peers))
        for m in sc.metrics:
            row = [f"{m.label} {'↑' if m.higher_is_better else '↓'}"]
            for peer in peers:
                row.append(_cell(entry, peer, m))
            lines.append("| " + " | ".join(row) + " |")
        errs = {p: e["errors"] for p, e in entry["peers"].items() if e["errors"]}
        for p, e in errs.items():
            lines.append(f"- {p}: {len(e)} failed cell(s): {e[0]}")
        lines.append("")
    lines += targets(results)
    return "\n".join(lines) + "\n"


def _cell(entry, peer, m):
    s = entry["peers"][peer]["summary"].get(m.key)
    if s is None:
        return "n/a"
    text = m.fmt.format(s["median"])
    if s["n"] > 1:
        text += f" ({s['spread_pct']:.0f}%{' ⚠' if s['flagged'] else ''})"
    for ref, tag in (("nginx", "ng"), ("direct", "d"), ("ringway", "1w")):
        if tag == "1w" and not peer.startswith("ringway-"):
            continue
        base = _median(entry, ref, m.key)
        if ref != peer and base:
            text += f" {s['median'] / base:.2f}×{tag}"
    return text


def ratios_to_nginx(results, scenario, key, peer):
    entry = results["scenarios"].get(scenario)
    if not entry:
        return None
    a, b = _median(entry, peer, key), _median(entry, "nginx", key)
    return a / b if a is not None and b else None


def targets(results):
    """The core issue's L4 targets: ringway vs nginx (and HAProxy for context)."""
    lines = ["## L4 ratios to nginx (core issue targets)", ""]
    lines.append("| check | target | ringway | haproxy |")
    lines.append("|---|---|---|---|")
    for sc, key, op, goal in TARGETS:
        row = [f"{sc} {key}", f"{op} {goal:.2f}×"]
        for peer in ("ringway", "haproxy"):
            r = ratios_to_nginx(results, sc, key, peer)
            if r is None:
                row.append("n/a")
            else:
                ok = r >= goal if op == ">=" else r <= goal
                row.append(f"{r:.2f}× {'PASS' if ok else 'FAIL'}" if peer == "ringway"
                           else f"{r:.2f}×")
        lines.append("| " + " | ".join(row) + " |")
    entry = results["scenarios"].get("idle-l4")
    row = [f"idle-l4 KiB/conn at {results['meta']['idle_connections']:,} conns",
           f"<= {IDLE_TARGET_KIB} KiB"]
    for peer in ("ringway", "haproxy"):
        v = _median(entry, peer, "kib_per_conn") if entry else None
        if v is None:
            row.append("n/a")
        else:
            row.append(f"{v:.2f} KiB" + (f" {'PASS' if v <= IDLE_TARGET_KIB else 'FAIL'}"
                                         if peer == "ringway" else ""))
    lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    return lines


def save_json(results, path):
    path.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")


def plots(results, scenarios, outdir):
    """One bar chart per scenario (headline metric, min-max whiskers) + latency percentiles."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made = []
    for sc in scenarios:
        entry = results["scenarios"].get(sc.name)
        if not entry:
            continue
        m = sc.metrics[0]
        peers = [p for p in _ordered(entry["peers"]) if m.key in entry["peers"][p]["summary"]]
        if not peers:
            continue
        s = [entry["peers"][p]["summary"][m.key] for p in peers]
        med = [x["median"] for x in s]
        err = [[x["median"] - x["min"] for x in s], [x["max"] - x["median"] for x in s]]
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        bars = ax.bar(peers, med, yerr=err, capsize=6,
                      color=[COLORS.get(p, "#666666") for p in peers])
        for bar, x in zip(bars, s):
            ax.annotate(m.fmt.format(x["median"]) + (" ⚠" if x["flagged"] else ""),
                        (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                        textcoords="offset points")
        ax.set_ylabel(f"{m.label} ({'higher' if m.higher_is_better else 'lower'} is better)")
        ax.set_title(f"{sc.name}: {sc.title}", fontsize=9)
        note = (f"median of {results['meta']['rounds']} round(s), whiskers min-max; "
                f"{results['meta']['layout']['summary']}")
        if "tcp" in results["meta"]:
            note += f"; {results['meta']['tcp']['summary']}"
        if sc.note:
            note = sc.note + "\n" + note
        fig.text(0.01, 0.01, note, fontsize=6, wrap=True)
        fig.tight_layout(rect=(0, 0.08 if sc.note else 0.05, 1, 1))
        path = outdir / f"{sc.name}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        made.append(path.name)

    entry = results["scenarios"].get("http-small")
    if entry:
        pcts = ["p50", "p75", "p90", "p99"]
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for peer in _ordered(entry["peers"]):
            cells = [c["metrics"] for c in entry["peers"][peer]["cells"] if "metrics" in c]
            if not cells:
                continue
            ys = [statistics.median(c[p] for c in cells) for p in pcts]
            ax.plot([50, 75, 90, 99], ys, marker="o", label=peer, color=COLORS.get(peer))
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency ms (lower is better)")
        ax.set_xticks([50, 75, 90, 99])
        ax.set_title("http-small latency percentiles (wrk --latency, -c64)", fontsize=9)
        ax.legend()
        ax.grid(alpha=0.3)
        fig.tight_layout()
        fig.savefig(outdir / "latency-http-small.png", dpi=110)
        plt.close(fig)
        made.append("latency-http-small.png")
    return made
