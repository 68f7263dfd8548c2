#!/usr/bin/env bash
# Regenerates cmd/saker/default.pgo, the CPU profile `go build` uses for profile-guided
# optimization of the saker binary (Go builds a main package with the default.pgo beside it:
# hot calls inlined past the usual budget, hot interface and closure calls devirtualized).
#
# The profile is of the work Saker spends its CPU on, from a build without a profile:
#   replay  saker run -e on curl_google.scap × 1000 and sample.scap × 3000 (scripts/mkbig)
#           with the three upstream syscall rules files, REPLAY_RUNS times each
#   live    saker run (live probe) for LIVE_SECS seconds with its built-in rules, and again
#           with the three upstream files, while scripts/liveloop runs open+close and getppid
#           loops and a shell runs short programs (needs root and gcc; LIVE=0 skips it)
# merged into one profile (go tool pprof -proto). The compiler matches the profile's call
# sites by function name and line offset within the function: after editing a hot function
# (state.Engine.Process, say) its old edges no longer match and the build loses their
# inlining (curl replay: +30 instructions per event after a 6-line change to Process), so
# regenerate the profile with such changes. BENCHMARKS.md ("a profile-guided build") has the
# before/after figures.
#
# Usage: bash scripts/pgo.sh (as root)     (env: REPLAY_RUNS=20 LIVE=1 LIVE_SECS=15)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${REPLAY_RUNS:-20}
live_secs=${LIVE_SECS:-15}
shared=../shared
R=$shared/falco-rules
rules=(-r "$R/falco_rules.yaml" -r "$R/falco-incubating_rules.yaml" -r "$R/falco-sandbox_rules.yaml")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

go build -pgo=off -o "$tmp/saker" ./cmd/saker
go run ./scripts/mkbig -n 1000 -o "$tmp/curl.scap" "$shared/captures/curl_google.scap" >/dev/null
go run ./scripts/mkbig -n 3000 -o "$tmp/sched.scap" "$shared/captures/sample.scap" >/dev/null
for c in curl sched; do
	for i in $(seq "$runs"); do
		"$tmp/saker" --cpuprofile "$tmp/replay-$c-$i.pprof" run -e "$tmp/$c.scap" "${rules[@]}" >/dev/null 2>&1
	done
done

if [ "${LIVE:-1}" = 1 ]; then
	gcc -O2 -Wall -pthread -o "$tmp/liveloop" scripts/liveloop.c
	# live NAME RULES...: saker run with those rules under the workload, profiled
	live() {
		local name=$1
		shift
		"$tmp/saker" --cpuprofile "$tmp/live-$name.pprof" run "$@" >"$tmp/live-$name.out" 2>&1 &
		local pid=$!
		for _ in $(seq 1200); do # up to 2 minutes (the probe's load and the host scan)
			grep -q ready "$tmp/live-$name.out" && break
			sleep 0.1
		done
		grep -q ready "$tmp/live-$name.out" || { cat "$tmp/live-$name.out" >&2; kill "$pid"; exit 1; }
		local end=$((SECONDS + live_secs))
		while [ $SECONDS -lt $end ]; do
			"$tmp/liveloop" openclose 200000 /etc/hostname >/dev/null
			"$tmp/liveloop" getppid 1000000 >/dev/null
			for _ in $(seq 100); do /bin/true; done
			sh -c 'cat /etc/passwd /etc/group >/dev/null; ls /usr/bin >/dev/null'
		done
		kill -TERM "$pid"
		wait "$pid" || true
	}
	live builtin
	live upstream "${rules[@]}"
fi

go tool pprof -proto "$tmp"/*.pprof >cmd/saker/default.pgo 2>/dev/null
echo "cmd/saker/default.pgo: $(wc -c <cmd/saker/default.pgo) bytes from $(ls "$tmp"/*.pprof | wc -l) profiles"
