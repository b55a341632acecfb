#!/usr/bin/env bash
# RSS of tollgate at 1,000 concurrent streams (SPEC §9):
#   bench/scripts/streams1000.sh [bin/tollgate]
# A mock on 127.0.0.1:19000 streams 32 tokens 50 ms apart; tollgate serves
# bench/tollgate-overhead.yaml; 1,000 clients stream for 10 s after 3 s.
set -euo pipefail
BIN=${1:-bin/tollgate}
data=$(mktemp -d)
$BIN mock --addr 127.0.0.1:19000 --token-gap 50ms --tokens 32 >/dev/null 2>&1 & mock=$!
TOLLGATE_BENCH_DATA=$data/db $BIN serve --config bench/tollgate-overhead.yaml >/dev/null 2>&1 & srv=$!
trap 'kill $srv $mock 2>/dev/null; rm -rf "$data"' EXIT
sleep 2
$BIN bench run --url http://127.0.0.1:18080/api/v1 --key sk-tg-bench-overhead-0001 --model bench/chat \
  --concurrency 1000 --duration 10s --warmup 3s --stream --pid $srv |
  grep -E "Requests sent|TTFT|Inter-token|Process"
