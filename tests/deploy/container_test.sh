#!/bin/bash
# The container image, built and run for real with podman on loopback (make test-deploy):
#   1. podman's default seccomp profile blocks io_uring: ringway logs it, falls back to epoll
#      and serves (a request proxied end to end, /metrics build_info says backend="epoll");
#   2. with deploy/container/seccomp.json ringway runs on io_uring (build_info "io_uring");
#   3. io.backend: io_uring under the default profile refuses to start, with the reason;
#   4. deploy/systemd/ringway.service under a real systemd (PID 1 of a container made from the
#      image): Type=notify start with its STATUS=, sandbox in force (uid, capabilities,
#      NoNewPrivs, seccomp), io_uring through its SystemCallFilter, reload, drain on stop,
#      and epoll once a drop-in takes the io_uring calls away.
# Runs 1-2 also check the HEALTHCHECK, the non-root user and a clean drain on stop.
#
# Exit 0 with "SKIP" when podman cannot run containers here or Debian's mirror is unreachable
# (nothing ringway can fix); exit 1 when ringway or the image misbehaves.
# Usage: tests/deploy/container_test.sh [IMAGE]   (IMAGE defaults to localhost/ringway:latest)
set -uo pipefail
cd "$(dirname "$0")/../.."
IMAGE=${1:-localhost/ringway:latest}
BASE=${BASE_IMAGE:-localhost/ringway-base:bookworm}
# What podman needs on these machines (root, cgroup v1, no registry). Test flags, not image.
RUN_FLAGS=(--runtime runc --ulimit nofile=1024:1024 --ulimit nproc=4096:4096 --network=host)
SECCOMP=$PWD/deploy/container/seccomp.json
START=$SECONDS
passed=0
failed=0
skipped=0

work=$(mktemp -d "${TMPDIR:-/tmp}/ringway-ctest.XXXXXX")
chmod 0755 "$work"  # the container user (uid 10001) reads the mounted config
containers=()
upstream_pid=
cleanup() {
  for c in "${containers[@]}"; do podman rm -f -t 0 "$c" > /dev/null 2>&1; done
  [[ -n $upstream_pid ]] && kill "$upstream_pid" 2> /dev/null
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '[container %3ds] %s\n' $((SECONDS - START)) "$*"; }
skip() {
  say "SKIP: $*"
  echo "container: 0 passed, 0 failed, 1 skipped"
  exit 0
}
fail() {
  say "FAIL: $*"
  failed=$((failed + 1))
}

# --- can podman run anything here? ------------------------------------------------------
command -v podman > /dev/null || skip "podman is not installed (make deploy-deps installs it)"
command -v debootstrap > /dev/null || podman image exists "$BASE" ||
  skip "debootstrap is not installed and there is no base image $BASE"
podman info > "$work/podman-info" 2>&1 || skip "podman info fails: $(tail -n 3 "$work/podman-info")"
if ! deploy/container/build-base "$BASE" > "$work/base.log" 2>&1; then
  tail -n 15 "$work/base.log"
  skip "could not build the base image from Debian's mirror (network?)"
fi
if ! timeout 60 podman run --rm "${RUN_FLAGS[@]}" "$BASE" true > "$work/probe.log" 2>&1; then
  cat "$work/probe.log"
  skip "podman cannot run a container here (user namespaces, cgroups or runc)"
fi

# --- the image ----------------------------------------------------------------------------
say "building $IMAGE (make image)"
if ! deploy/container/build-image "$IMAGE" "$BASE" > "$work/build.log" 2>&1; then
  tail -n 30 "$work/build.log"
  # Installing packages needs Debian's mirror; a failure there is the network, not ringway.
  last_step=$(grep -E '^STEP [0-9]+/[0-9]+: ' "$work/build.log" | tail -n 1)
  if [[ $last_step == *"apt-get"* || $last_step == *"make -C /src deps"* ]]; then
    skip "installing Debian packages in the image build failed (network?): $last_step"
  fi
  say "FAIL: the image does not build: $last_step"
  echo "container: 0 passed, 1 failed"
  exit 1
fi
tail -n 1 "$work/build.log"
say "image built"

# --- the shipped seccomp profile ----------------------------------------------------------
check_profile() {
  python3 - "$SECCOMP" <<'PY' || return 1
import json, sys
p = json.load(open(sys.argv[1]))
assert p["defaultAction"] == "SCMP_ACT_ERRNO", "default action must deny"
allowed = [r for r in p["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" and not r.get("args")]
for call in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
    assert any(call in r["names"] for r in allowed), call + " is not allowed"
PY
  if [[ -r /usr/share/containers/seccomp.json ]] &&
    ! cmp -s <(deploy/container/gen-seccomp /usr/share/containers/seccomp.json) "$SECCOMP"; then
    # Not a failure: a Debian update of podman's profile is news, not a ringway bug.
    say "note: podman's default profile changed since seccomp.json was generated;" \
      "regenerate: deploy/container/gen-seccomp > deploy/container/seccomp.json"
  fi
}
if check_profile; then passed=$((passed + 1)); else fail "deploy/container/seccomp.json"; fi

# --- an upstream on loopback, and free ports ----------------------------------------------
# The upstream serves one token over HTTP; it stops by itself after 10 minutes at most.
token="ringway-container-test-$RANDOM$RANDOM"
printf '%s' "$token" > "$work/token"
python3 - "$work" > "$work/upstream.log" 2>&1 <<'PY' &
import functools, http.server, sys, threading
d = sys.argv[1]
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
    functools.partial(http.server.SimpleHTTPRequestHandler, directory=d))
open(d + "/upstream.port", "w").write(str(srv.server_address[1]))
threading.Timer(600, srv.shutdown).start()
srv.serve_forever()
PY
upstream_pid=$!
for _ in $(seq 100); do [[ -s $work/upstream.port ]] && break; sleep 0.1; done
[[ -s $work/upstream.port ]] || { cat "$work/upstream.log"; fail "upstream did not start"; }
upstream_port=$(cat "$work/upstream.port")

free_port() {  # chosen by the kernel; the admin port must be known before the container starts
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# run_case NAME BACKEND_IN_CONFIG EXPECT SECCOMP_ARGS...
#   EXPECT: the backend build_info must show, or "refuse" (ringway must exit 1).
run_case() {
  local name=$1 backend=$2 expect=$3
  shift 3
  local admin_port cfg cid log state port body metrics health
  admin_port=$(free_port)
  cfg=$work/$name.yaml
  cat > "$cfg" <<YAML
workers: 2
admin: { address: "127.0.0.1:$admin_port" }
io: { backend: $backend }
defaults: { drain_timeout: 5s }
listeners:
  - name: up
    address: "127.0.0.1:0"
    protocol: tcp
    routes: [ { cluster: upstream } ]
clusters:
  - name: upstream
    endpoints: [ { address: "127.0.0.1:$upstream_port", weight: 1 } ]
YAML
  chmod 0644 "$cfg"
  say "$name: podman run $* (io.backend: $backend)"
  if ! cid=$(podman run -d "${RUN_FLAGS[@]}" "$@" -e RINGWAY_ADMIN="127.0.0.1:$admin_port" \
    -v "$cfg:/etc/ringway/ringway.yaml:ro" "$IMAGE" 2> "$work/$name.run-err"); then
    cat "$work/$name.run-err"
    fail "$name: podman run failed"
    return
  fi
  containers+=("$cid")
  # Bounded wait: serving, or exited.
  for _ in $(seq 300); do
    log=$(podman logs "$cid" 2>&1)
    state=$(podman inspect -f '{{.State.Status}}' "$cid" 2> /dev/null)
    [[ $log == *"serving with"* || $state == exited ]] && break
    sleep 0.1
  done
  echo "$log" | sed "s/^/    $name| /"

  if [[ $expect == refuse ]]; then
    podman wait "$cid" > /dev/null 2>&1 &
    local waiter=$!
    for _ in $(seq 100); do kill -0 $waiter 2> /dev/null || break; sleep 0.1; done
    kill $waiter 2> /dev/null
    local rc
    rc=$(podman inspect -f '{{.State.ExitCode}}' "$cid")
    state=$(podman inspect -f '{{.State.Status}}' "$cid")
    log=$(podman logs "$cid" 2>&1)
    if [[ $state == exited && $rc == 1 &&
      $log == *"io.backend is io_uring, but io_uring is not usable here"* ]]; then
      say "$name: refused to start on a blocked io_uring, exit 1: ok"
      passed=$((passed + 1))
    else
      fail "$name: expected exit 1 with the reason; state=$state exit=$rc"
    fi
    return
  fi

  local ok=1
  [[ $log == *"serving with"* ]] || { fail "$name: ringway is not serving (state $state)"; return; }
  if [[ $expect == epoll ]]; then
    [[ $log == *"io_uring is not usable here ("*"); using the epoll backend"* ]] ||
      { fail "$name: no log line saying io_uring is blocked"; ok=0; }
  else
    [[ $log != *"io_uring is not usable here"* ]] ||
      { fail "$name: io_uring blocked with the shipped profile"; ok=0; }
  fi
  metrics=$(curl -sS --max-time 5 "http://127.0.0.1:$admin_port/metrics")
  local info
  info=$(grep '^ringway_build_info{' <<< "$metrics")
  say "$name: $info"
  [[ $info == *"backend=\"$expect\""* ]] ||
    { fail "$name: build_info does not say backend=\"$expect\""; ok=0; }

  port=$(sed -n 's/.*listener=up .*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' <<< "$log" | head -n 1)
  body=$(curl -sS --max-time 5 "http://127.0.0.1:$port/token" 2>&1)
  if [[ $body == "$token" ]]; then
    say "$name: GET through ringway (127.0.0.1:$port -> upstream :$upstream_port): ok"
  else
    fail "$name: proxied GET returned '$body'"
    ok=0
  fi
  health=$(podman healthcheck run "$cid" 2>&1)
  [[ $? == 0 ]] || { fail "$name: HEALTHCHECK failed: $health"; ok=0; }
  local uid
  uid=$(podman exec "$cid" id -u 2>&1)
  [[ $uid == 10001 ]] || { fail "$name: runs as uid '$uid', not 10001"; ok=0; }

  # podman stop sends the image's STOPSIGNAL (SIGTERM): ringway drains and exits 0.
  podman stop -t 20 "$cid" > /dev/null 2>&1
  local rc
  rc=$(podman inspect -f '{{.State.ExitCode}}' "$cid")
  log=$(podman logs "$cid" 2>&1)
  [[ $rc == 0 && $log == *"SIGTERM: draining"* && $log == *"stopped"* ]] ||
    { fail "$name: stop did not drain cleanly (exit $rc)"; ok=0; }
  ((ok)) && { say "$name: ok"; passed=$((passed + 1)); }
}

# --- the systemd unit under a real systemd --------------------------------------------------
# systemctl in the container, bounded: a hung systemd becomes a failure, not a hung test.
sdctl() { timeout 60 podman exec "$1" systemctl "${@:2}"; }
has_lines() { # has_lines TEXT LINE...: every LINE is a whole line of TEXT
  local text=$1 l
  shift
  for l; do grep -qxF -- "$l" <<< "$text" || return 1; done
}
systemd_case() {
  local ctx=$work/systemd-image img=localhost/ringway-systemd-test:latest
  mkdir -p "$ctx"
  cp deploy/systemd/ringway.service deploy/systemd/ringway.sysusers "$ctx/"
  cat > "$ctx/Containerfile" <<CF
FROM $IMAGE
USER root
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \\
      --no-install-recommends systemd systemd-sysv procps && rm -rf /var/lib/apt/lists/*
COPY ringway.service /etc/systemd/system/ringway.service
COPY ringway.sysusers /usr/lib/sysusers.d/ringway.conf
HEALTHCHECK NONE
ENTRYPOINT []
CMD ["/sbin/init"]
STOPSIGNAL SIGRTMIN+3
CF
  say "systemd: building $img (systemd from Debian on top of the image)"
  if ! podman build --format docker --layers --network=host -t "$img" "$ctx" \
    > "$work/systemd-build.log" 2>&1; then
    tail -n 10 "$work/systemd-build.log"
    say "SKIP: systemd: could not install systemd in the test image (Debian's mirror?)"
    skipped=$((skipped + 1))
    return
  fi
  local admin_port cfg cid state journal status
  admin_port=$(free_port)
  cfg=$work/systemd.yaml
  cat > "$cfg" <<YAML
workers: 2
admin: { address: "127.0.0.1:$admin_port" }
listeners:
  - name: up
    address: "127.0.0.1:0"
    protocol: tcp
    routes: [ { cluster: upstream } ]
clusters:
  - name: upstream
    endpoints: [ { address: "127.0.0.1:$upstream_port", weight: 1 } ]
YAML
  chmod 0644 "$cfg"
  # The container's own profile must let io_uring through for the unit's filter to matter.
  if ! cid=$(podman run -d "${RUN_FLAGS[@]}" --systemd=always \
    --security-opt "seccomp=$SECCOMP" -v "$cfg:/etc/ringway/ringway.yaml:ro" "$img" \
    2> "$work/systemd-run-err"); then
    cat "$work/systemd-run-err"
    say "SKIP: systemd: podman cannot run systemd as PID 1 here"
    skipped=$((skipped + 1))
    return
  fi
  containers+=("$cid")
  for _ in $(seq 120); do
    state=$(timeout 10 podman exec "$cid" systemctl is-system-running 2> /dev/null)
    [[ $state == running || $state == degraded ]] && break
    sleep 0.5
  done
  if [[ $state != running && $state != degraded ]]; then
    podman logs "$cid" 2>&1 | tail -n 20
    say "SKIP: systemd: systemd did not boot in the container (state '$state')"
    skipped=$((skipped + 1))
    return
  fi
  local ok=1
  check() { # check DESCRIPTION COMMAND...: one line, counted as a failure if the command fails
    if "${@:2}"; then say "systemd: $1: ok"; else fail "systemd: $1"; ok=0; fi
  }
  sdctl "$cid" start ringway
  status=$(sdctl "$cid" show -p ActiveState,StatusText,MainPID ringway)
  journal=$(timeout 30 podman exec "$cid" journalctl -u ringway --no-pager -o cat)
  echo "$journal" | sed 's/^/    systemd| /'
  check "Type=notify start: active, status '$(sed -n 's/^StatusText=//p' <<< "$status")'" \
    grep -q '^StatusText=serving with 2 workers (io_uring)' <<< "$status"
  grep -q '^ActiveState=active' <<< "$status" || { fail "systemd: not active: $status"; ok=0; }
  local pid procstatus
  pid=$(sed -n 's/^MainPID=//p' <<< "$status")
  procstatus=$(podman exec "$cid" cat "/proc/$pid/status" 2> /dev/null)
  # uid 10001, only CAP_NET_BIND_SERVICE (bit 10), no new privileges, a seccomp filter.
  check "sandbox: uid 10001, CapEff=CAP_NET_BIND_SERVICE, NoNewPrivs, seccomp" \
    has_lines "$procstatus" $'Uid:\t10001\t10001\t10001\t10001' $'CapEff:\t0000000000000400' \
    $'NoNewPrivs:\t1' $'Seccomp:\t2'
  check "/readyz 200 once systemd says started" \
    test "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
      "http://127.0.0.1:$admin_port/readyz")" = 200
  local port
  port=$(sed -n 's/.*listener=up .*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' <<< "$journal" | head -n 1)
  check "GET through the service" test "$(curl -sS --max-time 5 "http://127.0.0.1:$port/token")" = "$token"
  check "systemctl reload (SIGHUP logged, still active)" sdctl "$cid" reload ringway
  sleep 0.3
  journal=$(timeout 30 podman exec "$cid" journalctl -u ringway --no-pager -o cat)
  check "SIGHUP reached ringway" grep -q "SIGHUP: configuration reload is not implemented" <<< "$journal"
  sdctl "$cid" stop ringway
  status=$(sdctl "$cid" show -p ActiveState,Result,ExecMainStatus ringway)
  journal=$(timeout 30 podman exec "$cid" journalctl -u ringway --no-pager -o cat)
  check "systemctl stop drains and exits 0" has_lines "$status" Result=success ExecMainStatus=0
  check "SIGTERM drained" grep -q "SIGTERM: draining" <<< "$journal"
  # Without the unit's io_uring exception, @system-service alone: ringway falls back to epoll.
  podman exec "$cid" sh -c 'mkdir -p /etc/systemd/system/ringway.service.d && printf "%s\n" \
    "[Service]" "SystemCallFilter=~io_uring_setup io_uring_enter io_uring_register" \
    > /etc/systemd/system/ringway.service.d/no-io-uring.conf'
  sdctl "$cid" daemon-reload
  sdctl "$cid" start ringway
  status=$(sdctl "$cid" show -p StatusText ringway)
  check "without the io_uring calls in SystemCallFilter: '$(sed -n 's/^StatusText=//p' <<< "$status")'" \
    grep -q '^StatusText=serving with 2 workers (epoll)' <<< "$status"
  sdctl "$cid" stop ringway
  ((ok)) && { say "systemd: ok"; passed=$((passed + 1)); }
}

run_case default-seccomp auto epoll
run_case shipped-seccomp auto io_uring --security-opt "seccomp=$SECCOMP"
run_case default-seccomp-io_uring-required io_uring refuse
systemd_case

say "done in $((SECONDS - START)) s"
echo "container: $passed passed, $failed failed, $skipped skipped"
((failed == 0))
