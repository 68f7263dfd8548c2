#!/usr/bin/env bash
# Replay with 1 and N pipeline workers side by side (BENCHMARKS.md "Pipeline workers"):
# curl_google.scap × CURL_N (scripts/mkbig) through the three upstream syscall rules files
# (EXTRA_RULES=file adds a rules file), PAIRS rounds of `saker run -e FILE --workers 1`
# and `--workers N` back to back, medians of wall time and user+system CPU and the median of
# the per-round ratios.
#
# Usage: bash scripts/bench-workers.sh   (env: PAIRS=5 CURL_N=1000 N=2 EXTRA_RULES=)
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${PAIRS:-5}
curl_n=${CURL_N:-1000}
n=${N:-2}
shared=../shared
R=$shared/falco-rules
rules=(-r "$R/falco_rules.yaml" -r "$R/falco-incubating_rules.yaml" -r "$R/falco-sandbox_rules.yaml")
[ -n "${EXTRA_RULES:-}" ] && rules+=(-r "$EXTRA_RULES")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "# saker $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo +changes), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
go build -o "$tmp/saker" ./cmd/saker
go run ./scripts/mkbig -n "$curl_n" -o "$tmp/curl.scap" "$shared/captures/curl_google.scap"
run() {
	local name=$1
	shift
	/usr/bin/time -o "$tmp/t" -f "%e %U %S" "$@" >"$tmp/out.$name" 2>"$tmp/err" || { cat "$tmp/err" >&2; exit 1; }
	awk -v n="$name" '{ printf "%s %.3f %.3f\n", n, $1, $2 + $3 }' "$tmp/t" >>"$tmp/times"
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
: >"$tmp/times"
for i in $(seq "$pairs"); do
	run w1 "$tmp/saker" run -e "$tmp/curl.scap" "${rules[@]}" --workers 1
	run wn "$tmp/saker" run -e "$tmp/curl.scap" "${rules[@]}" --workers "$n"
done
# the same alerts (as a multiset: the order across processes may differ)
cmp <(sort "$tmp/out.w1") <(sort "$tmp/out.wn") >/dev/null || { echo "bench-workers.sh: workers=1 and workers=$n print different alerts" >&2; exit 1; }
echo "## curl.scap (curl_google.scap × $curl_n), $pairs rounds, $(wc -l <"$tmp/out.w1") alert lines each"
printf '%-10s %9s %9s\n' what wall_s cpu_s
for x in w1 wn; do
	printf '%-10s %9s %9s\n' "$x" "$(awk -v n=$x '$1 == n { print $2 }' "$tmp/times" | median)" "$(awk -v n=$x '$1 == n { print $3 }' "$tmp/times" | median)"
done
ratio() {
	paste <(awk -v c="$1" '$1 == "wn" { print $c }' "$tmp/times") <(awk -v c="$1" '$1 == "w1" { print $c }' "$tmp/times") |
		awk '{ if ($2 > 0) printf "%.3f\n", $1 / $2 }' | median
}
printf '  workers=%s / workers=1: wall %s  cpu %s\n' "$n" "$(ratio 2)" "$(ratio 3)"
echo "# load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
