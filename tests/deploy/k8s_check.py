#!/usr/bin/env python3
"""What deploy/k8s promises beyond the API schemas (tests/deploy/k8s_test.sh runs it).

Usage: k8s_check.py RINGWAY_BINARY
Checks that the pieces fit together: probes on /readyz and /healthz, the drain fits in the
grace period, the security context, selectors that select, named ports that exist, the
PrometheusRule matching dashboards/alerts.yaml, and ringway --check on the ConfigMap's
ringway.yaml and on the container image's. Prints one line per check; exit 1 on a failure.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
K8S = os.path.join(ROOT, "deploy", "k8s")
failures = []
checks = 0


def check(ok, what):
    global checks
    checks += 1
    print(("ok   " if ok else "FAIL ") + what)
    if not ok:
        failures.append(what)


def load(rel):
    with open(os.path.join(K8S, rel)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def seconds(duration):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)", duration)
    return int(m[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m[2]]


def ringway_check(binary, text, what):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
        f.write(text)
        f.flush()
        r = subprocess.run([binary, "--check", "-c", f.name], capture_output=True, text=True,
                           timeout=30)
    check(r.returncode == 0, f"ringway --check accepts {what}" +
          ("" if r.returncode == 0 else ": " + (r.stdout + r.stderr).strip()))


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


def main():
    binary = sys.argv[1]
    docs = {}
    for rel in ["common/configmap.yaml", "common/service.yaml", "common/servicemonitor.yaml",
                "common/prometheusrule.yaml", "common/serviceaccount.yaml",
                "deployment/deployment.yaml", "deployment/poddisruptionbudget.yaml",
                "deployment/horizontalpodautoscaler.yaml", "daemonset/daemonset.yaml",
                "daemonset/service-local.yaml"]:
        for d in load(rel):
            docs[(d["kind"], d["metadata"]["name"])] = d

    cm = docs[("ConfigMap", "ringway-config")]
    ringway_yaml = cm["data"]["ringway.yaml"]
    ringway_check(binary, ringway_yaml, "the ConfigMap's ringway.yaml")
    with open(os.path.join(ROOT, "deploy", "container", "ringway.yaml")) as f:
        ringway_check(binary, f.read(), "deploy/container/ringway.yaml (the image's)")
    rcfg = yaml.safe_load(ringway_yaml)
    drain = seconds(rcfg["defaults"]["drain_timeout"])
    admin_port = int(rcfg["admin"]["address"].rsplit(":", 1)[1])
    listen_port = int(rcfg["listeners"][0]["address"].rsplit(":", 1)[1])

    templates = {}
    for kind in ["Deployment", "DaemonSet"]:
        w = docs[(kind, "ringway")]
        t = w["spec"]["template"]
        templates[kind] = t
        pod = t["spec"]
        labels = t["metadata"]["labels"]
        check(selects(w["spec"]["selector"]["matchLabels"], labels),
              f"{kind}: selector matches its pod labels")
        c = pod["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        check(ports.get("admin") == admin_port and ports.get("http") == listen_port,
              f"{kind}: container ports admin={admin_port} http={listen_port} as in ringway.yaml")
        rp, lp = c["readinessProbe"]["httpGet"], c["livenessProbe"]["httpGet"]
        check(rp["path"] == "/readyz" and rp["port"] == "admin", f"{kind}: readiness on /readyz")
        check(lp["path"] == "/healthz" and lp["port"] == "admin", f"{kind}: liveness on /healthz")
        cmd = c["lifecycle"]["preStop"]["exec"]["command"]
        pre = int(cmd[1]) if cmd[0] == "sleep" else 0
        grace = pod["terminationGracePeriodSeconds"]
        check(pre > 0 and grace > pre + drain,
              f"{kind}: terminationGracePeriodSeconds {grace} > preStop {pre}s + drain_timeout "
              f"{drain:g}s")
        psc, csc = pod["securityContext"], c["securityContext"]
        check(psc.get("runAsNonRoot") is True and psc.get("runAsUser", 0) != 0,
              f"{kind}: runAsNonRoot with a non-zero runAsUser")
        sp = psc.get("seccompProfile", {})
        check(sp.get("type") == "Localhost" and sp.get("localhostProfile", "").endswith(
            "seccomp.json"), f"{kind}: seccompProfile Localhost (the shipped profile)")
        check(csc.get("readOnlyRootFilesystem") is True and
              csc.get("allowPrivilegeEscalation") is False and
              csc.get("capabilities", {}).get("drop") == ["ALL"] and
              not csc.get("capabilities", {}).get("add") and not csc.get("privileged"),
              f"{kind}: readOnlyRootFilesystem, no privilege escalation, drop ALL")
        res = c.get("resources", {})
        check(all(k in res.get(s, {}) for s in ("requests", "limits") for k in ("cpu", "memory")),
              f"{kind}: cpu and memory requests and limits")
        vols = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        check(vols.get(mounts.get("/etc/ringway"), {}).get("configMap", {}).get("name") ==
              "ringway-config", f"{kind}: /etc/ringway is the ringway-config ConfigMap")
        check(pod.get("serviceAccountName") == "ringway" and
              pod.get("automountServiceAccountToken") is False,
              f"{kind}: own ServiceAccount, no API token mounted")
        for (skind, sname), s in docs.items():
            if skind != "Service":
                continue
            if selects(s["spec"]["selector"], labels):
                check(all(p["targetPort"] in ports for p in s["spec"]["ports"]),
                      f"{kind}: Service {sname} selects it and targets named ports")

    dep = dict(templates["Deployment"]["spec"])
    dep.pop("topologySpreadConstraints", None)
    check(dep == templates["DaemonSet"]["spec"],
          "Deployment and DaemonSet run the same pod spec (but for spreading)")

    pdb = docs[("PodDisruptionBudget", "ringway")]
    check(selects(pdb["spec"]["selector"]["matchLabels"], templates["Deployment"]["metadata"]["labels"]),
          "PodDisruptionBudget selects the Deployment's pods")
    hpa = docs[("HorizontalPodAutoscaler", "ringway")]
    ref = hpa["spec"]["scaleTargetRef"]
    check(ref["kind"] == "Deployment" and ref["name"] == "ringway" and
          hpa["spec"]["minReplicas"] >= 2, "HPA scales the Deployment, at least 2 replicas")

    sm = docs[("ServiceMonitor", "ringway")]
    admin_svc = [s for (k, _), s in docs.items() if k == "Service" and
                 selects(sm["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])]
    check(len(admin_svc) == 1 and admin_svc[0]["metadata"]["name"] == "ringway-admin",
          "ServiceMonitor selects exactly the ringway-admin Service")
    svc_ports = {p["name"] for s in admin_svc for p in s["spec"]["ports"]}
    check(all(e["port"] in svc_ports and e["path"] == "/metrics" for e in sm["spec"]["endpoints"]),
          "ServiceMonitor scrapes /metrics on a port the Service names")

    with open(os.path.join(ROOT, "dashboards", "alerts.yaml")) as f:
        alerts = yaml.safe_load(f)
    rule = docs[("PrometheusRule", "ringway")]
    check(rule["spec"]["groups"] == alerts["groups"],
          "PrometheusRule holds dashboards/alerts.yaml's groups (else: deploy/k8s/gen-prometheusrule"
          " > deploy/k8s/common/prometheusrule.yaml)")

    print(f"k8s checks: {checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
