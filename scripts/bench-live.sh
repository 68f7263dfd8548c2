#!/usr/bin/env bash
# Live benchmarks, each side by side with its baseline in one run. Needs root and gcc.
#
# `saker run` with the three upstream syscall rules files (scripts/benchlive/main.go says
# what each mode measures; about 3-4 minutes for all four):
#   overhead  getppid and open+close loops bare and under saker (pairs, medians, ratios,
#             deltas), and the probe's in-kernel ns from the kernel's BPF statistics
#   latency   syscall to alert line, p50/p99, idle and under load (-ring-bytes N: with that ring)
#   storm     highest paced rate with zero drops; an unpaced storm: drops counted and alerted,
#             RSS over time, markers alerted, recovery (with the default ring and a 64 MiB one)
#   memory    RSS with 5,000 more threads on the host (default, and --keep-startup-pages)
#   workers   (not in the default set) the storm's paced ladder with pipeline.workers 1 and 2,
#             interleaved: highest zero-drop rate of each (benchlive -compare N -rounds R);
#             any mode with benchlive's -workers N runs saker with N workers
# The probe alone (pkg/probe's benchmarks; was scripts/bench-probe.sh):
#   probe     the probe's test binary built at PROBE_REV (default main, given this tree's
#             bench_test.go and testdata/loop.c) and at the working tree, benchmarks
#             interleaved PROBE_ROUNDS times (default 3), PROBE_BENCH (default
#             'Getppid|OpenClose|Gates'; Gates needs gcc-multilib)
#
# Usage: sudo bash scripts/bench-live.sh [MODES] [benchlive flags...]
#   MODES: comma-separated (default overhead,latency,storm,memory)
set -euo pipefail
cd "$(dirname "$0")/.."
modes=${1:-overhead,latency,storm,memory}
shift || true
tmp=$(mktemp -d)
cleanup() { git worktree remove --force "$tmp/before" >/dev/null 2>&1 || true; rm -rf "$tmp"; }
trap cleanup EXIT
echo "# saker $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)"

live=()
for m in ${modes//,/ }; do
	[ "$m" = probe ] || live+=("$m")
done
if [ ${#live[@]} -gt 0 ]; then
	R=../shared/falco-rules
	go build -o "$tmp/saker" ./cmd/saker
	go build -o "$tmp/benchlive" ./scripts/benchlive
	gcc -O2 -Wall -pthread -o "$tmp/liveloop" scripts/liveloop.c
	"$tmp/benchlive" -saker "$tmp/saker" -loop "$tmp/liveloop" -tmp "$tmp" -modes "$(IFS=,; echo "${live[*]}")" \
		-rules "$R/falco_rules.yaml,$R/falco-incubating_rules.yaml,$R/falco-sandbox_rules.yaml" "$@"
fi

case ",$modes," in *,probe,*)
	rev=${PROBE_REV:-main}
	rounds=${PROBE_ROUNDS:-3}
	bench=${PROBE_BENCH:-'Getppid|OpenClose|Gates'}
	git worktree add --detach "$tmp/before" "$rev" >/dev/null 2>&1
	mkdir -p "$tmp/before/pkg/probe/testdata"
	cp pkg/probe/bench_test.go "$tmp/before/pkg/probe/"
	cp pkg/probe/testdata/loop.c "$tmp/before/pkg/probe/testdata/"
	(cd "$tmp/before" && go test -c -o "$tmp/before.test" ./pkg/probe)
	go test -c -o "$tmp/after.test" ./pkg/probe
	echo "# probe: before $rev ($(git rev-parse --short "$rev")), after the working tree; load: $(cut -d' ' -f1-3 /proc/loadavg)"
	for r in $(seq "$rounds"); do
		for v in before after; do
			dir=pkg/probe
			[ "$v" = before ] && dir="$tmp/before/pkg/probe"
			(cd "$dir" && "$tmp/$v.test" -test.run '^$' -test.bench "$bench" -test.benchtime 1s) |
				grep '^Benchmark' | sed "s/^/$v round$r /"
		done
	done
	echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	;;
esac
