#!/usr/bin/env bash
# RSS of tollgate at 1,000 concurrent streams (SPEC §9):
#   bench/scripts/streams1000.sh [bin/tollgate]
# A mock on 127.0.0.1:19000 streams 32 tokens 50 ms apart; tollgate serves
# bench/tollgate-overhead.yaml; 1,000 clients stream for DUR (default 60 s,
# long enough for the heap to reach its steady state) after 3 s of warm-up.
#
# The node runs from a copy of the binary: a file the Go linker has just
# written sits in the page cache in large folios, which a process maps
# whole, so a freshly built binary shows about 8 MB more file-backed RSS
# than the same binary installed by a copy or read back from disk.
set -euo pipefail
BIN=${1:-bin/tollgate} DUR=${DUR:-60s}
data=$(mktemp -d) srv= mock=
trap 'kill $srv $mock 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT
cp "$BIN" "$data/tollgate"
"$data/tollgate" mock --addr 127.0.0.1:19000 --token-gap 50ms --tokens 32 >/dev/null 2>&1 & mock=$!
TOLLGATE_BENCH_DATA=$data/db "$data/tollgate" serve --config bench/tollgate-overhead.yaml >/dev/null 2>&1 & srv=$!
sleep 2
kill -0 $srv
"$data/tollgate" bench run --url http://127.0.0.1:18080/api/v1 --key sk-tg-bench-overhead-0001 --model bench/chat \
  --concurrency 1000 --duration "$DUR" --warmup 3s --stream --pid $srv |
  grep -E "Requests sent|TTFT|Inter-token|Process"
grep -E "VmHWM|RssAnon|RssFile|RssShmem" /proc/$srv/status
