#!/usr/bin/env bash
# Saker's whole test suite, as CI runs it: installs what the tests need on a fresh Debian
# machine (sysdig as the differential oracle), then runs vet, every test (as root the eBPF
# tests run for real) and a short run of every fuzz target.
# Usage: sudo bash scripts/test.sh        (FUZZTIME=20000x by default)
set -euo pipefail
cd "$(dirname "$0")/.."

# Test services: at the end of the run (also on failure or interruption) stop the Kubernetes
# control planes the tests started (scripts/k8s-cluster.sh stop-all) and the private dockerd
# that scripts/dockerd.sh started during this run. A dockerd already running when the run
# began belongs to someone else on the machine and is left alone.
DOCKER_RUN=${SAKER_DOCKER_RUN:-/run/saker-test-docker}
dockerd_alive() { [ -f "$DOCKER_RUN/dockerd.pid" ] && kill -0 "$(cat "$DOCKER_RUN/dockerd.pid")" 2>/dev/null; }
dockerd_before=0
if dockerd_alive; then dockerd_before=1; fi
stop_services() {
	local status=$? pid i
	trap - EXIT INT TERM
	bash scripts/k8s-cluster.sh stop-all || true
	if [ "$dockerd_before" = 0 ] && dockerd_alive; then
		pid=$(cat "$DOCKER_RUN/dockerd.pid")
		echo "== stopping the test dockerd (pid $pid)"
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 120); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	exit "$status"
}
trap stop_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

need=()
command -v sysdig >/dev/null || need+=(sysdig)
command -v ip >/dev/null || need+=(iproute2)
[ -x /usr/bin/python3 ] || need+=(python3)   # the live end-to-end tests' interpreter actions
# tools the live rule checks run (the real thing each rule is about)
command -v strace >/dev/null || need+=(strace)
command -v setcap >/dev/null || need+=(libcap2-bin)
command -v chattr >/dev/null || need+=(e2fsprogs)
command -v curl >/dev/null || need+=(curl)
command -v iptables >/dev/null || need+=(iptables)
command -v usermod >/dev/null || need+=(passwd)
command -v setpriv >/dev/null || need+=(util-linux)
# a real database server for the "database server runs programs" attack checks
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql-15)
# the probe's 32-bit syscall tests build static ia32 and x86_64 programs
echo 'int main(void){return 0;}' | gcc -m32 -static -x c -o /dev/null - 2>/dev/null || need+=(gcc gcc-multilib libc6-dev)
# (dockerd and busybox for the container tests are installed by scripts/dockerd.sh)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "scripts/test.sh: missing ${need[*]}; run as root to install them" >&2
		exit 1
	fi
	echo "== installing ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive
	for i in 1 2 3; do
		apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null && break
		echo "apt-get failed (try $i), retrying" >&2
		sleep 10
	done
fi

# The Kubernetes audit tests run a real kube-apiserver (built from the Go module proxy once,
# about 12 minutes on 2 cores, then cached in /var/cache/saker-test) and Debian's etcd-server.
if [ "$(id -u)" -eq 0 ]; then
	echo "== test control plane: etcd-server, kube-apiserver (cached build)"
	bash scripts/k8s-cluster.sh etcd
	bash scripts/k8s-cluster.sh build >/dev/null
fi

echo "== go vet"
go vet ./...

echo "== go test"
go test -count=1 -timeout 40m ./... 2>&1 | tee /tmp/saker-test.log
status=${PIPESTATUS[0]}
if [ "$status" -ne 0 ]; then
	echo "go test failed" >&2
	exit "$status"
fi

# A count, not a duration: Go 1.26's fuzz coordinator can report a spurious "context deadline
# exceeded" failure when a duration -fuzztime ends (golang/go#75804, fixed in Go 1.27).
FUZZTIME=${FUZZTIME:-20000x}
echo "== fuzz targets, $FUZZTIME each"
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	pkg="./$(dirname "${f#./}")"
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //'); do
		echo "-- $pkg $fn"
		go test -run='^$' -fuzz="^${fn}\$" -fuzztime="$FUZZTIME" "$pkg" >/tmp/saker-fuzz.log 2>&1 || { cat /tmp/saker-fuzz.log; exit 1; }
	done
done
echo "== all tests passed"
