#!/bin/bash
# Access log cost: wrk -t1 -c64 keep-alive against a direct_response route, one worker, with and
# without `access_log: { format: json }`, pairs in alternating order; prints req/s, the worker's
# ringway_syscalls_total per request, perf stat raw_syscalls of the whole process, lines written
# and dropped, and writev SQEs. Needs wrk, perf, curl, bc.
# usage: RINGWAY=build/ringway bench/access_log/run.sh [io_uring|epoll] [pairs] [seconds]
B=${1:-io_uring}; RUNS=${2:-3}; D=${3:-8}
RINGWAY=${RINGWAY:-$(pwd)/build/ringway}
W=$(mktemp -d); trap "rm -rf $W" EXIT; cd $W
mk() {  # $1 = with|without
  cat > $1.yaml <<EOT
workers: 1
admin: { address: "127.0.0.1:0" }
io: { backend: $B }
listeners:
  - name: web
    address: "127.0.0.1:0"
    protocol: http
EOT
  [ "$1" = with ] && echo "    access_log: { path: $W/access.log, format: json }" >> $1.yaml
  cat >> $1.yaml <<EOT
    routes:
      - name: hi
        direct_response: { status: 200, body: "hi\n" }
clusters:
  - { name: none, endpoints: [ { address: "127.0.0.1:9" } ] }
EOT
}
metric() { curl -s "http://127.0.0.1:$ADMIN/metrics" | awk -v m="$1" '$1 ~ "^"m"(\\{|$)" {s+=$2} END {printf "%.0f\n", s}'; }
for i in $(seq 1 $RUNS); do
  if [ $((i % 2)) -eq 1 ]; then ORDER="without with"; else ORDER="with without"; fi
  for mode in $ORDER; do
    mk $mode; rm -f access.log
    $RINGWAY -c $mode.yaml > $mode.out 2>&1 & PID=$!
    sleep 1
    PORT=$(grep -o "listening on 127.0.0.1:[0-9]*" $mode.out | head -1 | cut -d: -f2)
    ADMIN=$(grep -o "admin listening on 127.0.0.1:[0-9]*" $mode.out | head -1 | cut -d: -f2)
    wrk -t1 -c64 -d1s http://127.0.0.1:$PORT/ > /dev/null  # warm-up
    S0=$(metric ringway_syscalls_total)
    perf stat -e raw_syscalls:sys_enter -p $PID -o perf.$mode.txt -- sleep $((D+1)) &
    PP=$!
    OUT=$(wrk -t1 -c64 -d${D}s http://127.0.0.1:$PORT/)
    S1=$(metric ringway_syscalls_total)
    wait $PP
    REQ=$(echo "$OUT" | awk '/requests in/ {print $1}')
    RPS=$(echo "$OUT" | awk '/Requests\/sec/ {print $2}')
    P50=$(echo "$OUT" | awk '/Latency/ {print $2}')
    PS=$(awk '/raw_syscalls/ {gsub(",","",$1); print $1}' perf.$mode.txt)
    LINES=$(metric ringway_access_log_lines_total); DROP=$(metric ringway_access_log_dropped_lines_total)
    WSQE=$(curl -s "http://127.0.0.1:$ADMIN/metrics" | grep '^ringway_io_uring_sqes_submitted_total' | grep -i 'op="writev"' | awk '{s+=$2} END {print s+0}')
    kill $PID; wait $PID 2>/dev/null
    FL=$( [ -f access.log ] && wc -l < access.log || echo 0)
    echo "$B run$i $mode rps=$RPS req=$REQ worker_syscalls=$((S1-S0)) per_req=$(echo "scale=4; ($S1-$S0)/$REQ" | bc) perf_process_syscalls=$PS lines_metric=$LINES dropped=$DROP file_lines=$FL write_sqes=$WSQE"
  done
done
