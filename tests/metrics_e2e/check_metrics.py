#!/usr/bin/env python3
"""`promtool check metrics` on a real scrape of a real ringway reports nothing (issue #5).

Usage: check_metrics.py RINGWAY_BINARY. Starts the binary with HTTP, TCP and TLS listeners
and its own backends, sends some of each traffic, scrapes /metrics and pipes the scrape into
promtool. promtool prints lint problems (missing HELP, counters without _total, bad units,
...) and exits non-zero on them; both fail the test. Exit 77 (skipped) without promtool.
"""
import shutil
import subprocess

import harness
from harness import log


def run(binary, tmp):
    promtool = shutil.which("promtool")
    if promtool is None:
        log("SKIP: promtool is not installed (Debian package prometheus)")
        return harness.SKIP
    backends = harness.Backends(tmp)
    rw = harness.Ringway(binary, harness.config_yaml(backends), tmp)
    try:
        counts = harness.mixed_load(rw, 1.0)
        log("traffic:", counts)
        text = rw.scrape()
    finally:
        rw.stop()
        backends.stop()
    families = sorted({ln.split()[2] for ln in text.splitlines() if ln.startswith("# TYPE ")})
    log(f"scrape: {len(text)} bytes, {len(families)} families")
    # The scrape must hold what the traffic made, else the lint ran on too little.
    ok = True
    for name, labels in [("ringway_downstream_connections_total", {"listener": "web"}),
                         ("ringway_downstream_connections_total", {"listener": "l4"}),
                         ("ringway_downstream_connections_total", {"listener": "secure"})]:
        v = harness.metric_value(text, name, **labels)
        if not v:
            log(f"FAIL: {name}{labels} is {v} after the traffic")
            ok = False
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True,
                       timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace").strip()
    if r.returncode != 0 or out:
        log(f"FAIL: promtool check metrics exit {r.returncode}, said:\n{out}")
        ok = False
    else:
        log("promtool check metrics: exit 0, no output")
    return 0 if ok else 1


if __name__ == "__main__":
    harness.main_guard(run)
