"""The backend and the peers under test: their configs and how to start and stop them.

Every config is written into the run's temp dir; every port comes from the kernel.
Fairness knobs (same for every proxy): 1 worker/thread, no access log, keep-alive limits
raised on both sides, upstream keep-alive with HTTP/1.1, TLS 1.3 only with a P-256 ECDSA cert.
"""
import os
import subprocess
from pathlib import Path

from . import procs

# CPU layout on a 2-core machine (recorded in results.json, justified in README.md).
CLIENT_CPUS = "0"
BACKEND_CPUS = "0"
PROXY_CPUS = "1"
ALL_CPUS = "0,1"

SMALL_BODY = b"x" * 100  # "small" response body, bytes
BIG_BODY = os.urandom(64 * 1024)  # 64 KiB, incompressible
TLS_SUITE = "TLS_AES_128_GCM_SHA256"
TLS_GROUP = "P-256"


def fd_budget():
    """File descriptors each process may open (RLIMIT_NOFILE, inherited from the harness).
    Without CAP_SYS_RESOURCE the hard limit can't be raised (here it is 20,000)."""
    import resource
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def idle_connections(wanted=10000):
    """An L4 proxy needs 2 fds per connection, HAProxy insists on maxconn*2 fds: cap so
    every peer can hold the same number."""
    return min(wanted, (fd_budget() - 200) // 2)


class Lab:
    """The temp dir, the certificate and the backend (nginx for HTTP, iperf3 -s for L4)."""

    def __init__(self, tmp, rawdir):
        self.tmp = Path(tmp)
        self.raw = Path(rawdir)
        self.logs = self.tmp / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        www = self.tmp / "www"
        www.mkdir(exist_ok=True)
        (www / "small").write_bytes(SMALL_BODY)
        (www / "64k").write_bytes(BIG_BODY)
        self.www = www
        self.cert, self.key, self.pem = self._make_cert()
        self.openssl_cnf = self._client_openssl_cnf()
        self.backend_http = procs.free_port()
        self.backend_tls = procs.free_port()
        self.iperf_port = procs.free_port()
        self.procs = []

    def _make_cert(self):
        key, cert, pem = self.tmp / "key.pem", self.tmp / "cert.pem", self.tmp / "both.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        pem.write_bytes(cert.read_bytes() + key.read_bytes())  # HAProxy wants one file
        return cert, key, pem

    def _client_openssl_cnf(self):
        """openssl s_time has no -groups flag: pin suite and group via OPENSSL_CONF."""
        cnf = self.tmp / "client-openssl.cnf"
        cnf.write_text(
            "openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n"
            "[ssl_sect]\nsystem_default = sys_sect\n[sys_sect]\n"
            f"MinProtocol = TLSv1.3\nCiphersuites = {TLS_SUITE}\nGroups = {TLS_GROUP}\n")
        return cnf

    def start_backend(self):
        prefix = self.tmp / "backend"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(f"""
worker_processes 1;
worker_rlimit_nofile {fd_budget()};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {fd_budget() - 100}; }}
http {{
  access_log off;
  default_type application/octet-stream;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000000; keepalive_timeout 300s;
  client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp;
  fastcgi_temp_path {prefix}/tmp; uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
  ssl_protocols TLSv1.3; ssl_ecdh_curve prime256v1;
  ssl_certificate {self.cert}; ssl_certificate_key {self.key};
  ssl_session_cache shared:BSSL:10m;
  server {{
    listen 127.0.0.1:{self.backend_http} backlog=4096;
    listen 127.0.0.1:{self.backend_tls} ssl backlog=4096;
    root {self.www};
    location / {{ }}
  }}
}}
""")
        nginx = procs.Proc("backend-nginx", ["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"],
                           BACKEND_CPUS, self.logs)
        iperf = procs.Proc("backend-iperf3", ["iperf3", "-s", "-p", self.iperf_port],
                           BACKEND_CPUS, self.logs)
        self.procs = [nginx, iperf]
        for port, p in ((self.backend_http, nginx), (self.backend_tls, nginx),
                        (self.iperf_port, iperf)):
            procs.wait_port(port, proc=p)

    def stop_backend(self):
        for p in self.procs:
            p.stop()
        self.procs = []


class Peer:
    """Something the client talks to. `ports` maps a listener kind to a port:
    http, tls (TLS-terminating HTTP), l4 (to iperf3), l4idle (L4 to the HTTP backend)."""

    name = "?"
    features = ()  # subset of http, tls, l4
    cpus = PROXY_CPUS

    def __init__(self, lab):
        self.lab = lab
        self.proc = None
        self.ports = {}

    def supports(self, feature):
        return feature in self.features

    def start(self):
        pass

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def pids(self):
        """Processes whose CPU and memory count as 'the proxy' (empty for direct)."""
        return self.proc.pids() if self.proc is not None else []

    def _wait(self):
        for kind in self.features:
            procs.wait_port(self.ports[kind], proc=self.proc)
        if "l4" in self.features:
            procs.wait_port(self.ports["l4idle"], proc=self.proc)

    def _alloc(self):
        self.ports = {k: procs.free_port() for k in ("http", "tls", "l4", "l4idle")}


class Direct(Peer):
    name = "direct"
    features = ("http", "tls", "l4")

    def __init__(self, lab):
        super().__init__(lab)
        self.ports = {"http": lab.backend_http, "tls": lab.backend_tls,
                      "l4": lab.iperf_port, "l4idle": lab.backend_http}


class Nginx(Peer):
    name = "nginx"
    features = ("http", "tls", "l4")

    def start(self):
        self._alloc()
        lab, p = self.lab, self.ports
        prefix = lab.tmp / "nginx"
        (prefix / "logs").mkdir(parents=True, exist_ok=True)
        conf = prefix / "nginx.conf"
        conf.write_text(f"""
load_module {procs.STREAM_MODULE};
worker_processes 1;
worker_rlimit_nofile {fd_budget()};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {fd_budget() - 100}; }}
http {{
  access_log off;
  tcp_nodelay on;
  keepalive_requests 1000000000; keepalive_timeout 300s;
  client_body_temp_path {prefix}/tmp; proxy_temp_path {prefix}/tmp;
  fastcgi_temp_path {prefix}/tmp; uwsgi_temp_path {prefix}/tmp; scgi_temp_path {prefix}/tmp;
  upstream be {{
    server 127.0.0.1:{lab.backend_http};
    keepalive 128; keepalive_requests 1000000000; keepalive_timeout 300s;
  }}
  ssl_protocols TLSv1.3; ssl_ecdh_curve prime256v1;
  ssl_certificate {lab.cert}; ssl_certificate_key {lab.key};
  ssl_session_cache shared:SSL:10m; ssl_session_tickets on;
  server {{
    listen 127.0.0.1:{p['http']} backlog=4096;
    listen 127.0.0.1:{p['tls']} ssl backlog=4096;
    location / {{
      proxy_pass http://be;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
stream {{
  server {{ listen 127.0.0.1:{p['l4']} backlog=4096; proxy_pass 127.0.0.1:{lab.iperf_port}; }}
  server {{ listen 127.0.0.1:{p['l4idle']} backlog=4096; proxy_pass 127.0.0.1:{lab.backend_http}; }}
}}
""")
        self.proc = procs.Proc("nginx", ["nginx", "-p", prefix, "-c", conf, "-g", "daemon off;"],
                               self.cpus, lab.logs)
        self._wait()


class Haproxy(Peer):
    name = "haproxy"
    features = ("http", "tls", "l4")

    def start(self):
        self._alloc()
        lab, p = self.lab, self.ports
        conf = lab.tmp / "haproxy.cfg"
        conf.write_text(f"""
global
  nbthread 1
  maxconn {(fd_budget() - 100) // 2}
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-bind-ciphersuites {TLS_SUITE}
defaults
  mode http
  timeout connect 1s
  timeout client 300s
  timeout server 300s
  timeout http-request 300s
  timeout http-keep-alive 300s
  http-reuse always
  maxconn {(fd_budget() - 100) // 2}
frontend fe_http
  bind 127.0.0.1:{p['http']}
  bind 127.0.0.1:{p['tls']} ssl crt {lab.pem} curves {TLS_GROUP}
  backlog 4096
  default_backend be
backend be
  server s1 127.0.0.1:{lab.backend_http} maxconn 0
listen l4
  mode tcp
  bind 127.0.0.1:{p['l4']}
  backlog 4096
  server s1 127.0.0.1:{lab.iperf_port}
listen l4idle
  mode tcp
  bind 127.0.0.1:{p['l4idle']}
  backlog 4096
  server s1 127.0.0.1:{lab.backend_http}
""")
        # -db: stay in the foreground, no master process
        self.proc = procs.Proc("haproxy", ["haproxy", "-db", "-f", conf], self.cpus, lab.logs)
        self._wait()


class Ringway(Peer):
    """ringway with N workers. Which listener kinds it gets is decided once per run by
    `ringway --check` on a probe config per protocol (see probe_features)."""

    def __init__(self, lab, binary, features, workers=1):
        super().__init__(lab)
        self.binary = binary
        self.features = tuple(features)
        self.workers = workers
        self.name = "ringway" if workers == 1 else f"ringway-{workers}w"
        if workers > 1:
            self.cpus = ALL_CPUS  # the scaling figure: proxy may use both cores

    def start(self):
        self._alloc()
        conf = self.lab.tmp / f"{self.name}.yaml"
        conf.write_text(ringway_yaml(self.lab, self.ports, self.features, self.workers))
        self.proc = procs.Proc(self.name, [self.binary, "-c", conf, "--workers", self.workers],
                               self.cpus, self.lab.logs)
        self._wait()


def ringway_yaml(lab, ports, features, workers=1):
    listeners, clusters = [], [
        f'  - {{ name: web, endpoints: [ {{ address: "127.0.0.1:{lab.backend_http}", weight: 1 }} ],'
        ' lb: round_robin, keepalive: { max_idle: 128, idle_timeout: 300s } }',
        f'  - {{ name: iperf, endpoints: [ {{ address: "127.0.0.1:{lab.iperf_port}", weight: 1 }} ],'
        ' lb: round_robin }',
    ]
    if "l4" in features:
        listeners.append(f'  - {{ name: l4, address: "127.0.0.1:{ports["l4"]}", protocol: tcp,'
                         ' routes: [ { cluster: iperf } ] }')
        listeners.append(f'  - {{ name: l4idle, address: "127.0.0.1:{ports["l4idle"]}",'
                         ' protocol: tcp, routes: [ { cluster: web } ] }')
    if "http" in features:
        # Timeouts as the other peers': HAProxy's http-request 300s, nginx's upstream keepalive.
        listeners.append(f'  - {{ name: http, address: "127.0.0.1:{ports["http"]}", protocol: http,'
                         ' request_header_timeout: 300s, routes: [ { cluster: web } ] }')
    if "tls" in features:
        # README "TLS": the defaults (TLS 1.2+1.3, tickets on) as nginx and HAProxy run here;
        # ALPN http/1.1 as nginx offers it. The client picks the suite and group.
        listeners.append(
            f'  - {{ name: https, address: "127.0.0.1:{ports["tls"]}", protocol: http,'
            f' tls: {{ certificates: [ {{ cert: "{lab.cert}", key: "{lab.key}" }} ],'
            ' alpn: [ "http/1.1" ] }, routes: [ { cluster: web } ] }')
    return "\n".join([
        f"workers: {workers}",
        "cpu_affinity: false",
        "admin: off",
        # RINGWAY_IO overrides the io block, for sweeps (bench/README.md, first block).
        "io: { " + os.environ.get("RINGWAY_IO",
                                  "buffer_size: 16KiB, buffers_per_worker: 256, "
                                  "zerocopy_threshold: off") + " }",
        "defaults: { connect_timeout: 1s, idle_timeout: 300s, drain_timeout: 1s }",
        "listeners:", *listeners,
        "clusters:", *clusters, ""])


def probe_features(lab, binary):
    """Which of l4/http/tls this ringway binary accepts, and why not for the others."""
    if not (Path(binary).is_file() and os.access(binary, os.X_OK)):
        return [], {f: f"not built ({binary} missing)" for f in ("l4", "http", "tls")}
    ok, why = [], {}
    for feature in ("l4", "http", "tls"):
        ports = {k: procs.free_port() for k in ("http", "tls", "l4", "l4idle")}
        conf = lab.tmp / f"probe-{feature}.yaml"
        conf.write_text(ringway_yaml(lab, ports, [feature]))
        r = subprocess.run([binary, "--check", "-c", conf], capture_output=True, text=True,
                           timeout=20)
        if r.returncode == 0:
            ok.append(feature)
        else:
            lines = (r.stderr or r.stdout).strip().splitlines()
            first = lines[0].split(": ", 1)[-1] if lines else f"exit code {r.returncode}"
            why[feature] = f"not implemented yet (ringway --check: {first})"
    return ok, why
