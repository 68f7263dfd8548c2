#!/usr/bin/env bash
# Replay throughput: Saker with the three upstream syscall rules files against sysdig -r with
# one filter, on the same large capture (sample.scap repeated), in the same run.
# Usage: bash scripts/bench-replay.sh [REPEAT] (default 600 → 343,200 events written)
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-600}
shared=../shared
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/saker" ./cmd/saker
go run ./scripts/mkbig -n "$n" -o "$tmp/big.scap" "$shared/captures/sample.scap"
R=$shared/falco-rules
events=$(sysdig -r "$tmp/big.scap" | wc -l)
echo "events in the capture as sysdig counts them: $events"
for i in 1 2 3 4 5; do
	/usr/bin/time -f "sysdig  %e s wall %U s user" sysdig -r "$tmp/big.scap" "proc.name=nosuchprocess" >/dev/null
	/usr/bin/time -o "$tmp/time" -f "saker   %e s wall %U s user" "$tmp/saker" run -e "$tmp/big.scap" \
		-r $R/falco_rules.yaml -r $R/falco-incubating_rules.yaml -r $R/falco-sandbox_rules.yaml >/dev/null 2>"$tmp/err"
	cat "$tmp/time"
	tail -1 "$tmp/err"
done 2>&1
