#!/usr/bin/env bash
# CPU per request and latency of one or more tollgate binaries, in turn:
#   bench/scripts/cpu-per-request.sh bin/tollgate /tmp/tollgate-old
# Each binary serves bench/tollgate-overhead.yaml (ports 18080/18081) against a
# mock on 127.0.0.1:19000 and takes RATE req/s for DUR, ROUNDS times; the
# report is tollgate bench run's --pid sampling of the serving process.
set -euo pipefail
RATE=${RATE:-3000} DUR=${DUR:-6s} ROUNDS=${ROUNDS:-3}
TG=${TG:-bin/tollgate}   # the load generator and mock
data=$(mktemp -d)
$TG mock --addr 127.0.0.1:19000 >/dev/null 2>&1 & mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$data"' EXIT
sleep 1
for round in $(seq "$ROUNDS"); do
  for b in "$@"; do
    rm -rf "$data/db"
    TOLLGATE_BENCH_DATA=$data/db "$b" serve --config bench/tollgate-overhead.yaml >/dev/null 2>&1 & pid=$!
    sleep 1.5
    $TG bench run --url http://127.0.0.1:18080/api/v1 --key sk-tg-bench-overhead-0001 --model bench/chat \
      --rate "$RATE" --duration "$DUR" --warmup 1s --pid $pid --json 2>/dev/null |
      python3 -c 'import json,sys; d=json.load(sys.stdin); p=d["process"]; n=d["requests"]["sent"]; e=d["metrics"]["e2e_ms"]
print("%-28s cpu/req %6.1f us  p50 %.3f p90 %.3f p99 %.3f ms  rss %d MiB" % (sys.argv[1], p["cpu_seconds"]/n*1e6, e["p50"], e["p90"], e["p99"], p["rss_max_bytes"]>>20))' "$b"
    kill $pid; wait $pid 2>/dev/null || true
  done
done
