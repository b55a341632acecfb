#!/usr/bin/env bash
# Two tollgate binaries as two targets of one `tollgate bench overhead` run,
# so both see the same machine state (rounds interleave direct, floor, A, B):
#   bench/scripts/ab-overhead.sh <binary A> <binary B> [bench overhead flags]
# e.g. --rate 5000 --peak-concurrency 64, or --stream --mock-token-gap 2ms
# --rate 500 --peak-concurrency -1. A serves on 18180/18181, B on
# 18182/18183, both on bench/tollgate-overhead.yaml with the mock moved to
# 127.0.0.1:19100. The markdown report goes to ${OUT:-ab-overhead.md}.
# Swap A and B in a second run: the order of targets in a round matters
# on a busy machine.
set -euo pipefail
A=$1 B=$2; shift 2
TG=${TG:-bin/tollgate}   # the load generator, mock and floor
data=$(mktemp -d) pa= pb=
trap 'kill $pa $pb 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$data"' EXIT
cfg() { sed -e "s/18080/$1/; s/18081/$2/; s/19000/19100/" bench/tollgate-overhead.yaml > "$data/$3.yaml"; }
cfg 18180 18181 a; cfg 18182 18183 b
TOLLGATE_BENCH_DATA=$data/a "$A" serve --config "$data/a.yaml" >"$data/a.log" 2>&1 & pa=$!
TOLLGATE_BENCH_DATA=$data/b "$B" serve --config "$data/b.yaml" >"$data/b.log" 2>&1 & pb=$!
for port in 18181 18183; do   # wait for both nodes' admin ports
  for _ in $(seq 50); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done
kill -0 $pa && kill -0 $pb || { cat "$data/a.log" "$data/b.log" >&2; exit 1; }
target() { echo "$1=http://127.0.0.1:$2/api/v1,key=sk-tg-bench-overhead-0001,model=bench/chat"; }
"$TG" bench overhead --mock-addr 127.0.0.1:19100 --target "$(target A 18180)" --target "$(target B 18182)" \
  --seed 1 --rounds 5 --round 2s --md "${OUT:-ab-overhead.md}" --quiet "$@"
