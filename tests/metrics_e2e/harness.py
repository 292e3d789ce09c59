"""Shared by the metrics end-to-end tests: a real ringway binary, backends, traffic, scrapes.

Python 3 standard library only. Everything listens on 127.0.0.1 port 0 (ports read back);
every process is started here and stopped by its PID; every wait has a deadline.
"""
import http.client
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SKIP = 77  # the wrapper (metrics_e2e_test.cc) turns it into GTEST_SKIP


def log(*args):
    print("[metrics_e2e]", *args, flush=True)


def free_port():
    """A port that was free a moment ago (for Prometheus and the dead cluster)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def deadline_loop(seconds, step=0.05):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        yield
        time.sleep(step)


# ---------------------------------------------------------------------------------------------
# Backends

class _Server(threading.Thread):
    """A threaded accept loop on 127.0.0.1:0; handle(conn) runs per connection."""

    def __init__(self, handle):
        super().__init__(daemon=True)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.handle = handle
        self.stopped = False

    def run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.handle(c)
        except OSError:
            pass
        finally:
            c.close()

    def stop(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def _echo(c):
    while True:
        d = c.recv(65536)
        if not d:
            return
        c.sendall(d)


def _http(c):
    """HTTP/1.1 keep-alive backend: 200 with a small body; /app/status/NNN answers NNN."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ")
        path = parts[1].decode() if len(parts) > 1 else "/"
        length = 0
        for h in lines[1:]:
            k, _, v = h.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
        while len(buf) < length:
            d = c.recv(65536)
            if not d:
                return
            buf += d
        buf = buf[length:]
        status = 200
        m = re.match(r"/app/status/(\d{3})", path)
        if m:
            status = int(m.group(1))
        body = b"hello from the backend\n"
        c.sendall(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\nContent-Type: text/plain\r\n\r\n%s"
                  % (status, len(body), body))


def _tls_echo(ctx):
    def handle(c):
        with ctx.wrap_socket(c, server_side=True) as s:
            _echo(s)
    return handle


class Backends:
    """An HTTP backend, a TCP echo, a TLS echo (for a cluster reached over TLS) and a port
    nothing listens on. The TLS echo and ringway's TLS listener share a self-signed
    certificate made here (self.cert, self.key)."""

    def __init__(self, tmp):
        self.cert, self.key = make_cert(tmp)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, self.key)
        self.http = _Server(_http)
        self.echo = _Server(_echo)
        self.tls_echo = _Server(_tls_echo(ctx))
        for s in (self.http, self.echo, self.tls_echo):
            s.start()
        self.dead_port = free_port()  # nothing listens: connects are refused

    def stop(self):
        for s in (self.http, self.echo, self.tls_echo):
            s.stop()


# ---------------------------------------------------------------------------------------------
# TLS material and ringway

def make_cert(tmp):
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    r = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "30", "-subj", "/CN=metrics.test", "-addext",
         "subjectAltName=DNS:metrics.test", "-keyout", key, "-out", cert],
        capture_output=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError("openssl req failed: " + r.stderr.decode(errors="replace"))
    return cert, key


def config_yaml(backends, workers=2, backend="auto", access_log=None):
    cert, key = backends.cert, backends.key
    log_line = (f'\n    access_log: {{ path: "{access_log}", format: json }}' if access_log
                else "")
    return f"""workers: {workers}
log_level: info
io: {{ backend: {backend} }}
admin: {{ address: "127.0.0.1:0" }}
listeners:
  - name: web
    address: "127.0.0.1:0"
    protocol: http{log_line}
    routes:
      - {{ name: app, match: {{ path_prefix: "/app" }}, cluster: app }}
      - {{ name: dead, match: {{ path_prefix: "/dead" }}, cluster: dead }}
      - {{ name: home, match: {{ path: "/" }}, direct_response: {{ status: 200, body: "home" }} }}
  - name: l4
    address: "127.0.0.1:0"
    protocol: tcp
    routes: [ {{ cluster: echo }} ]
  - name: secure
    address: "127.0.0.1:0"
    protocol: http
    tls:
      certificates: [ {{ cert: "{cert}", key: "{key}", server_names: ["metrics.test"] }} ]
    routes: [ {{ name: app, cluster: app }} ]
  - name: up
    address: "127.0.0.1:0"
    protocol: tcp
    routes: [ {{ cluster: tls_up }} ]
  - name: up_bad
    address: "127.0.0.1:0"
    protocol: tcp
    routes: [ {{ cluster: tls_bad }} ]
clusters:
  - {{ name: app, endpoints: [ {{ address: "127.0.0.1:{backends.http.port}" }} ],
      keepalive: {{ max_idle: 8, idle_timeout: 30s }} }}
  - {{ name: dead, endpoints: [ {{ address: "127.0.0.1:{backends.dead_port}" }} ],
      connect_timeout: 500ms }}
  - {{ name: echo, endpoints: [ {{ address: "127.0.0.1:{backends.echo.port}" }} ] }}
  - {{ name: tls_up, endpoints: [ {{ address: "127.0.0.1:{backends.tls_echo.port}" }} ],
      tls: {{ verify: false }} }}
  - {{ name: tls_bad, endpoints: [ {{ address: "127.0.0.1:{backends.echo.port}" }} ],
      tls: {{ verify: false }} }}
"""


class Ringway:
    """The built binary with its own config; addresses read back from its log."""

    def __init__(self, binary, yaml_text, tmp, expect=("web", "l4", "secure", "up", "up_bad")):
        self.cfg = os.path.join(tmp, "ringway.yaml")
        with open(self.cfg, "w") as f:
            f.write(yaml_text)
        self.logpath = os.path.join(tmp, "ringway.log")
        self.logf = open(self.logpath, "wb")
        self.proc = subprocess.Popen([binary, "-c", self.cfg], stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        log("ringway started, pid", self.proc.pid)
        self.admin = None
        self.listeners = {}
        for _ in deadline_loop(20):
            text = self.log_text()
            m = re.search(r"admin listening on (\S+)", text)
            if m:
                self.admin = m.group(1)
            for name, addr in re.findall(r"listener=(\S+) protocol=\S+ listening on (\S+)", text):
                self.listeners[name] = addr
            if self.proc.poll() is not None:
                raise RuntimeError("ringway exited early:\n" + self.log_text())
            if self.admin and all(n in self.listeners for n in expect) and self._ready():
                break
        else:
            raise RuntimeError("ringway did not become ready:\n" + self.log_text())
        log("admin", self.admin, "listeners", self.listeners)

    def _ready(self):
        try:
            with urllib.request.urlopen(f"http://{self.admin}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def log_text(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def addr(self, listener):
        host, _, port = self.listeners[listener].rpartition(":")
        return host.strip("[]"), int(port)

    def scrape(self):
        with urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=5) as r:
            return r.read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.logf.close()
        log("ringway stopped, exit", self.proc.returncode)


def metric_value(text, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    total, found = 0.0, False
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            total += float(m.group(4))
            found = True
    return total if found else None


# ---------------------------------------------------------------------------------------------
# Traffic

def http_requests(addr, paths, tls_ctx=None, server_name=None):
    """Sends GET for each path on one keep-alive connection; returns the statuses."""
    host, port = addr
    if tls_ctx is None:
        conn = http.client.HTTPConnection(host, port, timeout=10)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=10, context=tls_ctx)
        conn.host = server_name or host  # SNI
    statuses = []
    try:
        for p in paths:
            conn.request("GET", p, headers={"Host": "metrics.test"})
            r = conn.getresponse()
            r.read()
            statuses.append(r.status)
            if r.getheader("connection", "").lower() == "close":
                conn.close()
    finally:
        conn.close()
    return statuses


def tcp_echo(addr, payload):
    with socket.create_connection(addr, timeout=10) as s:
        s.sendall(payload)
        got = b""
        while len(got) < len(payload):
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            got += d
        return got == payload


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def tls_handshakes(addr, n):
    """n handshakes with a request each; every one after the first offers the last session."""
    ctx = tls_context()
    session = None
    resumed = 0
    for _ in range(n):
        with socket.create_connection(addr, timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="metrics.test", session=session) as s:
                s.sendall(b"GET /app HTTP/1.1\r\nHost: metrics.test\r\nConnection: close\r\n\r\n")
                while s.recv(65536):
                    pass
                resumed += s.session_reused
                session = s.session
    return resumed


def mixed_load(rw, seconds, stop_event=None):
    """A bounded mix of everything the dashboard shows: HTTP 2xx/4xx/5xx, direct responses,
    a dead cluster (502), L4 echo, TLS full and resumed handshakes, a client that is not TLS,
    L4 to a cluster over TLS, and to one whose endpoint does not speak TLS."""
    end = time.monotonic() + seconds
    counts = {"http": 0, "tcp": 0, "tls": 0}
    web, l4, secure, up = rw.addr("web"), rw.addr("l4"), rw.addr("secure"), rw.addr("up")
    while time.monotonic() < end and not (stop_event and stop_event.is_set()):
        st = http_requests(web, ["/app/a"] * 20 + ["/", "/app/status/404", "/app/status/503",
                                                    "/dead/x"])
        counts["http"] += len(st)
        counts["tcp"] += sum(tcp_echo(l4, os.urandom(2048)) for _ in range(3))
        counts["tls_up"] = counts.get("tls_up", 0) + tcp_echo(up, os.urandom(2048))
        # The plain echo behind a cluster over TLS: the upstream handshake fails.
        counts["tls_up_failed"] = counts.get("tls_up_failed", 0) + (
            not tcp_echo(rw.addr("up_bad"), b"x" * 64))
        counts["tls"] += 2
        tls_handshakes(secure, 2)
        # Plain HTTP on the TLS port: a failed handshake (result="failure", reason not TLS).
        with socket.create_connection(secure, timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
        counts["not_tls"] = counts.get("not_tls", 0) + 1
    return counts


def main_guard(fn):
    """Runs fn(binary, tmp); exit 0 pass, 1 fail, SKIP skipped."""
    binary = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("RINGWAY_BINARY", "")
    if not binary or not os.access(binary, os.X_OK):
        log("FAIL: no ringway binary given (argv[1])")
        sys.exit(1)
    with tempfile.TemporaryDirectory(prefix="ringway-metrics-e2e-") as tmp:
        try:
            rc = fn(binary, tmp)
        except Exception as e:  # a harness failure is a test failure, with its reason
            import traceback
            traceback.print_exc()
            log("FAIL:", e)
            rc = 1
    sys.exit(rc)
