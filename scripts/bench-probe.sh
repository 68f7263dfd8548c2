#!/usr/bin/env bash
# The live probe's cost before and after a change, side by side in one run: builds pkg/probe's
# test binary at REV (default main, given this tree's bench_test.go and testdata/loop.c so both
# run the same benchmarks) and at the working tree, then runs their benchmarks interleaved,
# ROUNDS times. Needs root (the probe), gcc and gcc-multilib (BenchmarkGates).
# Usage: sudo bash scripts/bench-probe.sh [REV] [ROUNDS] [BENCH]
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:-main}
rounds=${2:-3}
bench=${3:-'Getppid|OpenClose|Gates'}
tmp=$(mktemp -d)
cleanup() { git worktree remove --force "$tmp/before" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT

git worktree add --detach "$tmp/before" "$rev" >/dev/null 2>&1
mkdir -p "$tmp/before/pkg/probe/testdata"
cp pkg/probe/bench_test.go "$tmp/before/pkg/probe/"
cp pkg/probe/testdata/loop.c "$tmp/before/pkg/probe/testdata/"
(cd "$tmp/before" && go test -c -o "$tmp/before.test" ./pkg/probe)
go test -c -o "$tmp/after.test" ./pkg/probe

echo "# before: $rev ($(git rev-parse --short "$rev")), after: working tree ($(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)); load: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq "$rounds"); do
	for v in before after; do
		dir=pkg/probe
		[ "$v" = before ] && dir="$tmp/before/pkg/probe"
		(cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench "$bench" -test.benchtime 1s) |
			grep '^Benchmark' | sed "s/^/$v round$r /"
	done
done
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
