#!/usr/bin/env python3
"""Every PromQL expression of the dashboard and the alerts, evaluated by a real Prometheus
scraping a real ringway under load (issue #5).

Usage: prometheus_e2e.py RINGWAY_BINARY. Starts ringway (HTTP, TCP and TLS listeners, backends
of its own), /usr/bin/prometheus on 127.0.0.1 (free port, temporary storage, scrape_interval
1s, the alert rules loaded), drives a bounded mixed load, waits for scrapes, then sends every
expression to /api/v1/query. Fails when one errors or returns no series. Exit 77 (skipped) when
/usr/bin/prometheus is missing. Bounded: about 40 s.

Substitutions: $__rate_interval -> 10s (ten 1 s scrapes), $instance/$worker/$listener/$cluster
-> .* (the dashboard matches them with =~). Grafana's label_values(SELECTOR, LABEL) variable
queries are evaluated as SELECTOR, and must have LABEL.

Alert conditions are false on a healthy proxy, so each alert expression is evaluated without
its thresholds: every `<op> NUMBER` comparison is dropped (alerts.yaml writes thresholds as
plain numbers for this), and `unless` becomes `and` (both sides of the absence test must
return series that match on the listed labels). What remains must return series: that checks
the names, the labels the rule aggregates and joins on, and the label values it filters on
(code_class="5xx", result="failure", ...), against what ringway really exports. The load also
breaks things on purpose (a dead cluster, a TLS cluster whose endpoint does not speak TLS,
clients that are not TLS): those alerts must be pending or firing, for those only.
"""
import json
import os
import re
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import harness
from harness import log

PROMETHEUS = "/usr/bin/prometheus"
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DASHBOARD = os.path.join(ROOT, "dashboards", "ringway.json")
ALERTS = os.path.join(ROOT, "dashboards", "alerts.yaml")

# Expressions allowed to return nothing here ("where" -> the reason). None is needed today:
# the load reaches every family, and ratios of idle counters (SEND_ZC copied / SEND_ZC without
# io.zerocopy_threshold) are 0/0 = NaN, which Prometheus returns as a sample.
ALLOWED_EMPTY = {}


def dashboard_exprs():
    with open(DASHBOARD) as f:
        d = json.load(f)
    out = []

    def walk(panels):
        for p in panels:
            for t in p.get("targets", []):
                out.append((f"panel '{p['title']}' {t['refId']}", t["expr"]))
            walk(p.get("panels", []))

    walk(d["panels"])
    for v in d["templating"]["list"]:
        if v.get("type") != "query":
            continue
        q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q.strip())
        if not m:
            raise RuntimeError(f"variable {v['name']}: cannot read {q!r}")
        out.append((f"variable ${v['name']} (must have label {m.group(2)})",
                    m.group(1), m.group(2)))
    return [e if len(e) == 3 else (e[0], e[1], None) for e in out]


def alert_exprs():
    # alerts.yaml is read without a YAML library (the standard library has none): rules are
    # `- alert: NAME` followed by `expr:` either inline or as a `|` block.
    lines = open(ALERTS).read().splitlines()
    out = []
    i = 0
    name = None
    while i < len(lines):
        ln = lines[i]
        m = re.match(r"\s*- alert: (\S+)", ln)
        if m:
            name = m.group(1)
        m = re.match(r"(\s*)expr: (.*)$", ln)
        if m:
            indent, rest = len(m.group(1)), m.group(2)
            if rest.strip() == "|":
                body = []
                i += 1
                while i < len(lines) and (not lines[i].strip() or
                                          len(lines[i]) - len(lines[i].lstrip()) > indent):
                    body.append(lines[i].strip())
                    i += 1
                out.append((name, " ".join(body)))
                continue
            out.append((name, rest.strip()))
        i += 1
    return out


def without_thresholds(expr):
    e = re.sub(r"(==|!=|>=|<=|>|<)\s*-?[0-9][0-9.eE+-]*", "", expr)
    return re.sub(r"\bunless\b", "and", e)


def substitute(expr):
    e = expr.replace("$__rate_interval", "10s")
    for var in ("instance", "worker", "listener", "cluster"):
        e = e.replace("$" + var, ".*")
    return e


def query(base, expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)


def run(binary, tmp):
    if not os.access(PROMETHEUS, os.X_OK):
        log(f"SKIP: {PROMETHEUS} is not installed (Debian package prometheus)")
        return harness.SKIP
    exprs = [(f"dashboard {w}", e, lbl) for w, e, lbl in dashboard_exprs()]
    exprs += [(f"alert {n}", e, None) for n, e in alert_exprs()]
    log(f"{len(exprs)} expressions ({sum(1 for x in exprs if x[0].startswith('alert'))} alerts)")
    if len(exprs) < 40:
        log("FAIL: too few expressions found; the parser is out of step with the files")
        return 1

    backends = harness.Backends(tmp)
    rw = harness.Ringway(binary, harness.config_yaml(backends), tmp)
    prom = None
    stop = threading.Event()
    loader = None
    try:
        port = harness.free_port()
        base = f"http://127.0.0.1:{port}"
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write(f"""global: {{ scrape_interval: 1s, evaluation_interval: 1s }}
rule_files: [ "{ALERTS}" ]
scrape_configs:
  - job_name: ringway
    static_configs: [ {{ targets: ["{rw.admin}"] }} ]
""")
        plog = open(os.path.join(tmp, "prometheus.log"), "wb")
        prom = subprocess.Popen(
            [PROMETHEUS, f"--config.file={tmp}/prometheus.yml",
             f"--storage.tsdb.path={tmp}/data", f"--web.listen-address=127.0.0.1:{port}",
             "--storage.tsdb.retention.time=1h"], stdout=plog, stderr=subprocess.STDOUT)
        log("prometheus started, pid", prom.pid, "port", port)

        # Load in the background while Prometheus scrapes: 25 s at most.
        counts = {}
        loader = threading.Thread(
            target=lambda: counts.update(harness.mixed_load(rw, 25, stop)), daemon=True)
        loader.start()

        # Ready, and the target scraped successfully at least 15 times (rate over 10s needs
        # two samples inside the window; the alerts' [5m] windows then have 15).
        scrapes = 0
        for _ in harness.deadline_loop(45, 0.5):
            if prom.poll() is not None:
                raise RuntimeError("prometheus exited:\n" +
                                   open(os.path.join(tmp, "prometheus.log")).read()[-3000:])
            try:
                r = query(base, 'count_over_time(up{job="ringway"}[1m])')
            except OSError:
                continue
            res = r.get("data", {}).get("result", [])
            up = query(base, 'up{job="ringway"}').get("data", {}).get("result", [])
            scrapes = int(float(res[0]["value"][1])) if res else 0
            if scrapes >= 15 and up and up[0]["value"][1] == "1":
                break
        else:
            log(f"FAIL: prometheus did not scrape ringway 15 times (got {scrapes})")
            return 1
        stop.set()
        loader.join(timeout=20)
        log("load:", counts, "scrapes:", scrapes)
        time.sleep(1.5)  # one more scrape after the load: the counters' last increments

        failures = 0
        for where, expr, must_label in exprs:
            e = substitute(expr)
            if where.startswith("alert"):
                e = without_thresholds(e)
            r = query(base, e)
            if r.get("status") != "success":
                log(f"FAIL {where}: error {r.get('errorType')}: {r.get('error')}\n    {e}")
                failures += 1
                continue
            result = r["data"]["result"]
            if not result:
                if where in ALLOWED_EMPTY:
                    log(f"ok (allowed empty: {ALLOWED_EMPTY[where]}) {where}")
                    continue
                log(f"FAIL {where}: no series\n    {e}")
                failures += 1
                continue
            if must_label and not any(must_label in s["metric"] for s in result):
                log(f"FAIL {where}: no series has label {must_label}\n    {e}")
                failures += 1
                continue
            sample = result[0]["value"][1] if "value" in result[0] else "?"
            log(f"ok {where}: {len(result)} series, first = {sample}")
        # The alerts loaded: Prometheus parsed the rule file the same way promtool does.
        rules = json.load(urllib.request.urlopen(base + "/api/v1/rules", timeout=10))
        n_rules = sum(len(g["rules"]) for g in rules["data"]["groups"])
        n_alerts = sum(1 for w, _, _ in exprs if w.startswith("alert"))
        if n_rules != n_alerts:
            log(f"FAIL: prometheus loaded {n_rules} rules, alerts.yaml has {n_alerts}")
            failures += 1
        for g in rules["data"]["groups"]:
            for rule in g["rules"]:
                if rule.get("health") not in ("ok", "unknown"):
                    log(f"FAIL: rule {rule['name']}: health {rule.get('health')}: "
                        f"{rule.get('lastError')}")
                    failures += 1
        # The load makes some alerts true on purpose: a cluster nothing listens for ("dead",
        # HTTP), one whose endpoint does not speak TLS ("tls_bad", L4), a client that is not
        # TLS on every round (a third of the handshakes on "secure"). Their alerts must be
        # pending (their `for` has not passed) or firing, and not for the healthy clusters.
        alerts = query(base, "ALERTS")["data"]["result"]
        active = {}
        for a in alerts:
            m = a["metric"]
            active.setdefault(m["alertname"], set()).add(
                m.get("cluster") or m.get("route") or m.get("listener") or "")
        log("alerts pending or firing:", {k: sorted(v) for k, v in sorted(active.items())})
        for name, want, never in [
                ("RingwayNoHealthyEndpoints", {"dead", "tls_bad"}, {"app", "echo", "tls_up"}),
                ("RingwayUpstreamConnectErrors", {"dead", "tls_bad"}, {"app", "echo", "tls_up"}),
                ("RingwayHttp5xxRatioHigh", {"dead"}, {"home"}),
                ("RingwayTlsHandshakeFailures", {"secure"}, set())]:
            got = active.get(name, set())
            if not want <= got or got & never:
                log(f"FAIL: {name} is active for {sorted(got)}; want {sorted(want)}, "
                    f"never {sorted(never)}")
                failures += 1
        log(f"{len(exprs)} expressions, {failures} failed; {n_rules} rules loaded")
        return 1 if failures else 0
    finally:
        stop.set()
        if loader is not None:
            loader.join(timeout=20)
        if prom is not None and prom.poll() is None:
            prom.terminate()
            try:
                prom.wait(timeout=10)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait(timeout=5)
            log("prometheus stopped, exit", prom.returncode)
        rw.stop()
        backends.stop()


if __name__ == "__main__":
    harness.main_guard(run)
