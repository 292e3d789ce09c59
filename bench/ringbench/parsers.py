"""Parsers for the load generators' output. Pure functions: text in, dict of numbers out.

Each raises ParseError when the output lacks what a result needs, so a broken run can
never turn into a plausible number.
"""
import json
import re

_UNITS_TIME = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
_UNITS_BYTES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


class ParseError(ValueError):
    pass


def _ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ParseError(f"not a duration: {text!r}")
    return float(m.group(1)) * _UNITS_TIME[m.group(2)]


def _bytes(text):
    m = re.fullmatch(r"([\d.]+)(B|KB|MB|GB|TB)", text)
    if not m:
        raise ParseError(f"not a size: {text!r}")
    return float(m.group(1)) * _UNITS_BYTES[m.group(2)]


def wrk(text):
    """wrk 4.x with --latency. Returns requests, seconds, req_s, bytes, bytes_s,
    latency percentiles in ms (p50, p75, p90, p99), errors (socket errors + non-2xx/3xx)."""
    out = {}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", text, re.M)
    if not m:
        raise ParseError("wrk: no 'N requests in T, B read' line")
    out["requests"] = int(m.group(1))
    out["seconds"] = _ms(m.group(2)) / 1e3
    out["bytes"] = _bytes(m.group(3))
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not m:
        raise ParseError("wrk: no Requests/sec line")
    out["req_s"] = float(m.group(1))
    m = re.search(r"^Transfer/sec:\s+([\d.]+\w+)", text, re.M)
    out["bytes_s"] = _bytes(m.group(1)) if m else out["bytes"] / out["seconds"]
    block = text.split("Latency Distribution", 1)
    if len(block) != 2:
        raise ParseError("wrk: no Latency Distribution (run with --latency)")
    for pct, val in re.findall(r"^\s+(\d+)%\s+([\d.]+\w+)\s*$", block[1], re.M):
        out[f"p{pct}"] = _ms(val)
    if "p50" not in out or "p99" not in out:
        raise ParseError("wrk: latency distribution lacks 50% or 99%")
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        # read errors are how wrk counts a server closing after 'Connection: close'
        out["socket_errors"] = {k: int(v) for k, v in
                                zip(("connect", "read", "write", "timeout"), m.groups())}
        errors += out["socket_errors"]["connect"] + out["socket_errors"]["timeout"]
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    out["errors"] = errors + out["non_2xx"]
    return out


def h2load(text):
    """h2load (nghttp2 1.52). Returns seconds, req_s, bytes_s, requests (succeeded),
    failed, errored, timeout, tls (protocol, cipher, temp key) when shown."""
    out = {}
    m = re.search(r"^finished in ([\d.]+\w+), ([\d.]+) req/s, ([\d.]+\w+)/s", text, re.M)
    if not m:
        raise ParseError("h2load: no 'finished in' line")
    out["seconds"] = _ms(m.group(1)) / 1e3
    out["req_s"] = float(m.group(2))
    out["bytes_s"] = _bytes(m.group(3))
    m = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", text, re.M)
    if not m:
        raise ParseError("h2load: no 'requests:' line")
    total, _, done, ok, failed, errored, timeout = map(int, m.groups())
    out.update(total=total, done=done, requests=ok, failed=failed, errored=errored,
               timeout=timeout, errors=failed + errored + timeout)
    m = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    if m:
        out["non_2xx"] = int(m.group(3)) + int(m.group(4))
        out["errors"] += out["non_2xx"]
    m = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    if m:
        out["req_min_ms"], out["req_max_ms"], out["req_mean_ms"], out["req_sd_ms"] = (
            _ms(v) for v in m.groups())
    tls = {}
    for key, pat in (("protocol", r"^TLS Protocol: (.+)$"), ("cipher", r"^Cipher: (.+)$"),
                     ("temp_key", r"^Server Temp Key: (.+)$")):
        m = re.search(pat, text, re.M)
        if m:
            tls[key] = m.group(1).strip()
    if tls:
        out["tls"] = tls
    return out


def iperf3(text):
    """iperf3 -J. Returns bits_s (received), bytes (received), streams, seconds,
    retransmits (sender), and iperf3's own host/remote CPU percentages."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ParseError(f"iperf3: not JSON ({e})") from e
    if "error" in doc:
        raise ParseError(f"iperf3: {doc['error']}")
    try:
        end = doc["end"]
        recv, sent = end["sum_received"], end["sum_sent"]
        out = {
            "bits_s": float(recv["bits_per_second"]),
            "bytes": int(recv["bytes"]),
            "seconds": float(recv["seconds"]),
            "sent_bits_s": float(sent["bits_per_second"]),
            "retransmits": int(sent.get("retransmits", 0)),
            "streams": int(doc["start"]["test_start"]["num_streams"]),
        }
    except (KeyError, TypeError, ValueError) as e:
        raise ParseError(f"iperf3: missing field {e}") from e
    cpu = end.get("cpu_utilization_percent", {})
    out["host_cpu_pct"] = cpu.get("host_total")
    out["remote_cpu_pct"] = cpu.get("remote_total")
    return out


def perf_stat(text, event="raw_syscalls:sys_enter"):
    """perf stat for one event, human (default) or CSV (-x,) output. Returns count, and
    seconds when the human format shows 'seconds time elapsed'."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "," in line and event in line.split(","):
            value = line.split(",")[0]
        elif event in line.split():
            value = line.split()[0]
        else:
            continue
        if value.startswith("<not"):
            out["count"] = 0  # "<not counted>": the attached process made no syscall
            continue
        digits = value.replace(",", "").replace(".", "")  # locale thousands separators
        if not digits.isdigit():
            raise ParseError(f"perf stat: bad count {value!r}")
        out["count"] = int(digits)
    if "count" not in out:
        raise ParseError(f"perf stat: no {event} line")
    m = re.search(r"([\d.]+) seconds time elapsed", text)
    if m:
        out["seconds"] = float(m.group(1))
    return out


def s_time(text):
    """openssl s_time. Returns connections, connections the client saw resumed ('r') and
    full ('*' or '.'); the rate is computed by the caller over its own wall clock because
    s_time's 'real seconds' are whole seconds."""
    m = re.search(r"^(\d+) connections in [\d.]+s;", text, re.M)
    if not m:
        raise ParseError("s_time: no 'N connections in T s' line")
    out = {"connections": int(m.group(1))}
    marks = "".join(line for line in text.splitlines() if re.fullmatch(r"[r*.t3]+", line))
    out["resumed"] = marks.count("r")
    out["full"] = len(marks) - out["resumed"]
    return out
