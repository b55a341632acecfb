#!/usr/bin/env bash
# Bytes written to disk (WAL, flushes, compactions) and CPU per request of one
# or more tollgate binaries, in turn, at the same constant load:
#   bench/scripts/disk-per-request.sh bin/tollgate /tmp/tollgate-old
# Each binary serves bench/tollgate-overhead.yaml (ports 18080/18081) on an
# empty data directory against a mock on 127.0.0.1:19000 and takes RATE req/s
# for DUR; write_bytes comes from /proc/<pid>/io (Linux).
set -euo pipefail
RATE=${RATE:-3000} DUR=${DUR:-60s}
TG=${TG:-bin/tollgate}   # the load generator and mock
data=$(mktemp -d)
$TG mock --addr 127.0.0.1:19000 >/dev/null 2>&1 & mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$data"' EXIT
sleep 1
for b in "$@"; do
  rm -rf "$data/db"
  TOLLGATE_BENCH_DATA=$data/db "$b" serve --config bench/tollgate-overhead.yaml >/dev/null 2>&1 & pid=$!
  sleep 1.5
  $TG bench run --url http://127.0.0.1:18080/api/v1 --key sk-tg-bench-overhead-0001 --model bench/chat \
    --rate "$RATE" --arrival constant --duration "$DUR" --pid $pid --json 2>/dev/null >"$data/run.json"
  sleep 1 # the group writer's last commit
  wb=$(awk '/^write_bytes/{print $2}' /proc/$pid/io)
  kill $pid; wait $pid 2>/dev/null || true
  python3 -c 'import json,sys; d=json.load(open(sys.argv[2])); n=d["requests"]["sent"]; p=d["process"]; e=d["metrics"]["e2e_ms"]; wb=int(sys.argv[3])
print("%-28s %d requests: disk writes %.1f MB (%.0f B/request), cpu/req %.1f us, p50 %.3f p99 %.3f ms" % (sys.argv[1], n, wb/1e6, wb/n, p["cpu_seconds"]/n*1e6, e["p50"], e["p99"]))' "$b" "$data/run.json" "$wb"
done
