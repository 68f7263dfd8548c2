#!/usr/bin/env bash
# Live benchmarks of `saker run` with the three upstream syscall rules files, each side by side
# with its baseline in one run (scripts/benchlive/main.go says what each mode measures):
# overhead (getppid and open+close loops bare and under saker, the probe's in-kernel ns from
# the kernel's BPF statistics), alert latency idle and under load, storm (highest paced rate
# with zero drops, drops counted and alerted, RSS over time, recovery) and memory (RSS with
# 5,000 more threads). Needs root and gcc. About 3-4 minutes with the defaults.
# Usage: sudo bash scripts/bench-live.sh [MODES] [benchlive flags...]
#   MODES: comma-separated subset of overhead,latency,storm,memory (default all)
set -euo pipefail
cd "$(dirname "$0")/.."
modes=${1:-overhead,latency,storm,memory}
shift || true
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
R=../shared/falco-rules
go build -o "$tmp/saker" ./cmd/saker
go build -o "$tmp/benchlive" ./scripts/benchlive
gcc -O2 -Wall -pthread -o "$tmp/liveloop" scripts/liveloop.c
echo "# saker $(git rev-parse --short HEAD)$(git diff --quiet || echo +changes)"
"$tmp/benchlive" -saker "$tmp/saker" -loop "$tmp/liveloop" -tmp "$tmp" -modes "$modes" \
	-rules "$R/falco_rules.yaml,$R/falco-incubating_rules.yaml,$R/falco-sandbox_rules.yaml" "$@"
