#!/usr/bin/env bash
# The benchmark BENCHMARKS.md quotes: every comparison side by side with its baseline, in one
# run, with the ratios.
#
# Replay: two large captures made by scap.Repeat (scripts/mkbig), not checked in:
#   curl  curl_google.scap × CURL_N (1,536 events each: read/write/fd-heavy, opens, a connect)
#   sched sample.scap × SAMPLE_N (mostly scheduler switches)
# On each, PAIRS rounds of, back to back in the same round:
#   sysdig  sysdig -r FILE -q evt.type=connect               (the baseline)
#   saker   saker run -e FILE with the three upstream syscall rules files
#   decode  saker run -e FILE --decode-only                  (reading and normalizing only)
#   base    the same saker run at git revision BASE, when BASE is set (before/after)
#   start   saker run -e empty.scap with the rules (start-up: loading them), and start0 the
#           same with --decode-only (bstart: base's start-up); "state+rules/reading" takes
#           them out of the ratio
# and prints the medians and the median of the per-round ratios (wall time, and user+system
# CPU). Then runs scripts/bench-live.sh when it exists (the live probe's comparisons).
#
# Usage: bash scripts/bench.sh            (env: PAIRS=5 CURL_N=1000 SAMPLE_N=3000 BASE= LIVE=1)
#        BASE=main bash scripts/bench.sh  (adds the before column)
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${PAIRS:-5}
curl_n=${CURL_N:-1000}
sample_n=${SAMPLE_N:-3000}
base=${BASE:-}
shared=../shared
R=$shared/falco-rules
rules=(-r "$R/falco_rules.yaml" -r "$R/falco-incubating_rules.yaml" -r "$R/falco-sandbox_rules.yaml")
tmp=$(mktemp -d)
cleanup() {
	[ -n "$base" ] && git worktree remove --force "$tmp/base" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
command -v sysdig >/dev/null || { echo "bench.sh: sysdig is not installed (apt-get install -y --no-install-recommends sysdig)" >&2; exit 1; }

echo "# saker $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo +changes), $(sysdig --version), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
go build -o "$tmp/saker" ./cmd/saker
if [ -n "$base" ]; then
	git worktree add --detach "$tmp/base" "$base" >/dev/null 2>&1
	(cd "$tmp/base" && go build -o "$tmp/saker-base" ./cmd/saker)
	echo "# base: $base ($(git rev-parse --short "$base"))"
fi
go run ./scripts/mkbig -n "$curl_n" -o "$tmp/curl.scap" "$shared/captures/curl_google.scap"
go run ./scripts/mkbig -n "$sample_n" -o "$tmp/sched.scap" "$shared/captures/sample.scap"

# sysdig must read the copies as it reads the originals: N times as many lines
for c in "curl curl_google $curl_n" "sched sample $sample_n"; do
	set -- $c
	one=$(sysdig -r "$shared/captures/$2.scap" | wc -l)
	all=$(sysdig -r "$tmp/$1.scap" | wc -l)
	[ "$all" -eq $(($3 * one)) ] || { echo "bench.sh: sysdig reads $all events of $1.scap, want $3 × $one" >&2; exit 1; }
	echo "# $1.scap: $2.scap × $3, sysdig reads $all events ($3 × $one)"
done

# run NAME CMD...: one timed run, "NAME wall cpu" appended to $tmp/times (bash's time, to the
# millisecond: /usr/bin/time's hundredths were 6% of sysdig's 0.16 s)
run() {
	local name=$1
	shift
	local TIMEFORMAT='%3R %3U %3S'
	{ time "$@" >/dev/null 2>"$tmp/err"; } 2>"$tmp/t" || { cat "$tmp/err" >&2; exit 1; }
	awk -v n="$name" '{ printf "%s %.3f %.3f\n", n, $1, $2 + $3 }' "$tmp/t" >>"$tmp/times"
}

median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

for cap in curl sched; do
	f=$tmp/$cap.scap
	: >"$tmp/times"
	for i in $(seq "$pairs"); do
		run sysdig sysdig -r "$f" -q evt.type=connect
		run saker "$tmp/saker" run -e "$f" "${rules[@]}"
		run decode "$tmp/saker" run -e "$f" --decode-only
		if [ -n "$base" ]; then run base "$tmp/saker-base" run -e "$f" "${rules[@]}"; fi
		# start-up alone (an empty capture): loading the rules, which no event pays
		run start "$tmp/saker" run -e "$shared/captures/empty.scap" "${rules[@]}"
		run start0 "$tmp/saker" run -e "$shared/captures/empty.scap" --decode-only
		if [ -n "$base" ]; then run bstart "$tmp/saker-base" run -e "$shared/captures/empty.scap" "${rules[@]}"; fi
	done
	echo
	echo "## $cap.scap, $pairs rounds (median; ratio = median of the per-round ratios)"
	printf '%-8s %9s %9s\n' what wall_s cpu_s
	names="sysdig saker decode"
	[ -n "$base" ] && names="$names base"
	names="$names start start0"
	[ -n "$base" ] && names="$names bstart"
	for n in $names; do
		w=$(awk -v n="$n" '$1 == n { print $2 }' "$tmp/times" | median)
		c=$(awk -v n="$n" '$1 == n { print $3 }' "$tmp/times" | median)
		printf '%-8s %9s %9s\n' "$n" "$w" "$c"
	done
	# per-round ratios: the i-th run of A over the i-th run of B
	ratio() {
		local a=$1 b=$2 col=$3
		paste <(awk -v n="$a" -v c="$col" '$1 == n { print $c }' "$tmp/times") \
			<(awk -v n="$b" -v c="$col" '$1 == n { print $c }' "$tmp/times") |
			awk '{ if ($2 > 0) printf "%.3f\n", $1 / $2 }' | median
	}
	printf '  saker/sysdig  wall %s  cpu %s\n' "$(ratio saker sysdig 2)" "$(ratio saker sysdig 3)"
	printf '  saker/decode  wall %s  cpu %s\n' "$(ratio saker decode 2)" "$(ratio saker decode 3)"
	printf '  decode/sysdig wall %s  cpu %s\n' "$(ratio decode sysdig 2)" "$(ratio decode sysdig 3)"
	[ -n "$base" ] && printf '  saker/base    wall %s  cpu %s\n' "$(ratio saker base 2)" "$(ratio saker base 3)"
	# per event, start-up taken out of both: (saker - start - reading) / reading, where
	# reading = decode - start0; below 1 when the state and rules cost less than reading
	over() {
		local col=$1 full=${2:-saker} start=${3:-start}
		paste <(awk -v c="$col" -v n="$full" '$1 == n { print $c }' "$tmp/times") \
			<(awk -v c="$col" -v n="$start" '$1 == n { print $c }' "$tmp/times") \
			<(awk -v c="$col" '$1 == "decode" { print $c }' "$tmp/times") \
			<(awk -v c="$col" '$1 == "start0" { print $c }' "$tmp/times") |
			awk '{ r = $3 - $4; if (r > 0) printf "%.3f\n", ($1 - $2 - r) / r }' | median
	}
	printf '  state+rules/reading (start-up out)  wall %s  cpu %s\n' "$(over 2)" "$(over 3)"
	[ -n "$base" ] && printf '  the same for base                   wall %s  cpu %s\n' "$(over 2 base bstart)" "$(over 3 base bstart)"
done
echo
echo "# load at the end of the replay comparisons: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ -f scripts/bench-live.sh ] && [ "${LIVE:-1}" = 1 ]; then
	echo
	echo "## live (scripts/bench-live.sh)"
	bash scripts/bench-live.sh
fi
