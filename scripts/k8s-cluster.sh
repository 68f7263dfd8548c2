#!/usr/bin/env bash
# k8s-cluster.sh: a real Kubernetes control plane (kube-apiserver + etcd, no kubelet) on
# 127.0.0.1 for Saker's Kubernetes audit tests.
#
#   k8s-cluster.sh build          build kube-apiserver from the Go module proxy unless cached;
#                                 prints the binary's path
#   k8s-cluster.sh etcd           install Debian's etcd-server (without starting its service)
#   k8s-cluster.sh certs DIR      make the CA, serving, client and service-account keys in DIR
#                                 (idempotent); also the receiver's pair for the audit webhook
#   k8s-cluster.sh start DIR      start etcd and kube-apiserver with their state in DIR, wait for
#                                 /readyz, print key=value lines (server=, token=, ca=, dir=)
#   k8s-cluster.sh stop DIR       stop both (by the pids recorded in DIR) and wait for them
#   k8s-cluster.sh stop-all       stop every control plane started and not stopped yet (the
#                                 registry SAKER_K8S_RUN, default /run/saker-test-k8s, lists them)
#
# start reads SAKER_K8S_AUDIT_URL: when set, the API server's audit webhook backend posts to it
# (batch mode, 1 s max wait), trusting DIR/ca.crt, presenting DIR/audit-client.crt and the bearer
# token in DIR/audit-token. The receiver may serve DIR/receiver.crt/key (SANs 127.0.0.1, ::1,
# localhost), signed by the same CA. SAKER_K8S_AUDIT_POLICY overrides the audit policy file.
# The log backend always writes the same events to DIR/audit.log (JSON lines).
# SAKER_K8S_ADMISSION_CONFIG names an AdmissionConfiguration file for
# --admission-control-config-file (e.g. the kubeconfig the API server authenticates to
# admission webhooks with); DIR/audit-client.crt/key can serve as that client pair.
#
# The kube-apiserver module (a go.mod requiring k8s.io/kubernetes with a replace for every
# staging module, and a main calling app.NewAPIServerCommand) lives in the cache directory,
# never in the repository. Cache: SAKER_K8S_CACHE (default /var/cache/saker-test/kube-apiserver).
set -euo pipefail

K8S_VERSION=${SAKER_K8S_VERSION:-v1.37.2}
CACHE=${SAKER_K8S_CACHE:-/var/cache/saker-test/kube-apiserver}
BIN=$CACHE/bin/kube-apiserver-$K8S_VERSION
if [ -z "${SAKER_K8S_RUN:-}" ]; then
	if [ "$(id -u)" = 0 ]; then SAKER_K8S_RUN=/run/saker-test-k8s; else SAKER_K8S_RUN=/tmp/saker-test-k8s-$(id -u); fi
fi
REG=$SAKER_K8S_RUN

say() { echo "k8s-cluster.sh: $*" >&2; }
die() { say "$*"; exit 1; }

staging_version() { # v1.37.2 -> v0.37.2
	local v=${K8S_VERSION#v1.}
	echo "v0.$v"
}

build() {
	if [ -x "$BIN" ]; then
		echo "$BIN"
		return
	fi
	command -v go >/dev/null || die "go is not on PATH"
	mkdir -p "$CACHE/src" "$CACHE/bin"
	exec 9>"$CACHE/build.lock"
	if ! flock -n 9; then
		say "another build holds $CACHE/build.lock; waiting"
		flock 9
	fi
	if [ -x "$BIN" ]; then
		echo "$BIN"
		return
	fi
	say "building kube-apiserver $K8S_VERSION in $CACHE/src (about 12 minutes on 2 cores from an empty cache)"
	local src=$CACHE/src
	cd "$src"
	# k8s.io/kubernetes's own go.mod names the staging modules it replaces with local paths.
	local mod
	mod=$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')
	[ -f "$mod" ] || die "cannot download k8s.io/kubernetes@$K8S_VERSION's go.mod"
	local sv
	sv=$(staging_version)
	{
		echo "module saker.test/kube-apiserver"
		echo
		echo "go $(go env GOVERSION | sed 's/^go\([0-9]*\.[0-9]*\).*/\1/')"
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		echo "replace ("
		sed -n 's#^\s*\(k8s\.io/[^ ]*\) => \./staging/src/k8s\.io/.*#\t\1 => \1 '"$sv"'#p' "$mod"
		echo ")"
	} >go.mod
	grep -q '=>' go.mod || die "no staging replaces found in $mod"
	cat >main.go <<'EOF'
// Command kube-apiserver is the Kubernetes API server, built from the module proxy for tests.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	os.Exit(cli.Run(app.NewAPIServerCommand()))
}
EOF
	rm -f go.sum
	go mod tidy >&2
	local minor=${K8S_VERSION#v1.}
	minor=${minor%%.*}
	local pkg=k8s.io/component-base/version
	local ld="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
	ld="$ld -X $pkg.gitCommit=0000000000000000000000000000000000000000 -X $pkg.gitTreeState=clean"
	ld="$ld -X $pkg.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	go build -trimpath -ldflags "$ld" -o "$BIN.tmp" . >&2
	mv "$BIN.tmp" "$BIN"
	say "built $BIN"
	echo "$BIN"
}

install_etcd() {
	if [ -x /usr/bin/etcd ]; then
		return
	fi
	[ "$(id -u)" = 0 ] || die "etcd-server is missing; run as root to install it"
	say "installing Debian's etcd-server (its service kept stopped by a deny-all policy-rc.d)"
	local prc=/usr/sbin/policy-rc.d saved=
	if [ -e $prc ]; then
		saved=$(mktemp)
		cp -p $prc "$saved"
	fi
	printf '#!/bin/sh\nexit 101\n' >$prc
	chmod 755 $prc
	local ok=0 i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server >&2; then
			ok=1
			break
		fi
		say "apt-get busy or failed, retrying ($i)"
		sleep 10
	done
	if [ -n "$saved" ]; then mv "$saved" $prc; else rm -f $prc; fi
	[ $ok = 1 ] || die "apt-get install etcd-server failed"
}

certs() {
	local d=$1
	mkdir -p "$d"
	[ -f "$d/.certs-done" ] && return
	cd "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=saker-test-ca" \
		-keyout ca.key -out ca.crt 2>/dev/null
	mk() { # name subject extfile-contents
		openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
		printf '%s\n' "$3" >"$1.ext"
		openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
			-extfile "$1.ext" -out "$1.crt" 2>/dev/null
		rm -f "$1.csr" "$1.ext"
	}
	mk apiserver "/CN=kube-apiserver" \
		"subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc,IP:10.0.0.1
extendedKeyUsage=serverAuth"
	mk receiver "/CN=saker-audit-receiver" \
		"subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
extendedKeyUsage=serverAuth"
	mk audit-client "/CN=kube-apiserver-audit/O=saker-test" "extendedKeyUsage=clientAuth"
	openssl genrsa -out sa.key 2048 2>/dev/null
	openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >admin-token
	head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >audit-token
	echo "$(cat admin-token),admin,admin-uid,system:masters" >tokens.csv
	chmod 600 ./*.key admin-token audit-token tokens.csv
	touch .certs-done
}

free_port() { # a TCP port no socket uses, below the kernel's ephemeral range (32768-60999 by
	# default: a port there can be taken at any moment as the local end of a connection)
	local p i lo
	lo=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
	[ "$lo" -gt 21000 ] || lo=32768
	for i in $(seq 1 200); do
		p=$((20000 + RANDOM % (lo - 20000)))
		if ! ss -Htan "sport = :$p" | grep -q .; then
			echo $p
			return
		fi
	done
	die "no free port"
}

wait_ready() { # url token pid-file log seconds
	local i
	for i in $(seq 1 $(($5 * 4))); do
		if ! kill -0 "$(cat "$3")" 2>/dev/null; then
			tail -30 "$4" >&2
			die "process of $3 exited (log $4)"
		fi
		if curl -sf --cacert "$(dirname "$3")/ca.crt" -H "Authorization: Bearer $2" "$1" >/dev/null 2>&1; then
			return
		fi
		sleep 0.25
	done
	tail -30 "$4" >&2
	die "$1 not ready after $5 s (log $4)"
}

start() {
	local d=$1
	local bin
	bin=$(build)
	install_etcd
	certs "$d"
	d=$(cd "$d" && pwd)
	if [ -f "$d/apiserver.pid" ] && kill -0 "$(cat "$d/apiserver.pid")" 2>/dev/null; then
		die "already running in $d (stop it first)"
	fi
	local ec ep ap i try
	mkdir -p "$REG"
	echo "$d" >"$REG/$(regkey "$d")"
	# etcd on two free ports; another program may take a port between the check and etcd's
	# bind (tests start clusters side by side): then again with other ports
	for try in 1 2 3 4 5; do
		ec=$(free_port)
		ep=$(free_port)
		while [ "$ep" = "$ec" ]; do ep=$(free_port); done
		rm -rf "$d/etcd-data"
		setsid /usr/bin/etcd --name saker-test --data-dir "$d/etcd-data" \
			--listen-client-urls "http://127.0.0.1:$ec" --advertise-client-urls "http://127.0.0.1:$ec" \
			--listen-peer-urls "http://127.0.0.1:$ep" --initial-advertise-peer-urls "http://127.0.0.1:$ep" \
			--initial-cluster "saker-test=http://127.0.0.1:$ep" --listen-metrics-urls "" \
			>"$d/etcd.log" 2>&1 </dev/null &
		echo $! >"$d/etcd.pid"
		for i in $(seq 1 120); do
			curl -sf "http://127.0.0.1:$ec/health" >/dev/null 2>&1 && break 2
			kill -0 "$(cat "$d/etcd.pid")" 2>/dev/null || break
			sleep 0.25
		done
		if kill -0 "$(cat "$d/etcd.pid")" 2>/dev/null; then
			break # running but not healthy within 30 s: the check below reports it
		fi
		grep -q "address already in use" "$d/etcd.log" || { tail -20 "$d/etcd.log" >&2; die "etcd exited"; }
		echo "k8s-cluster.sh: etcd's port was taken (try $try), again with other ports" >&2
	done
	curl -sf "http://127.0.0.1:$ec/health" >/dev/null 2>&1 || { tail -20 "$d/etcd.log" >&2; die "etcd not healthy (log $d/etcd.log)"; }
	ap=$(free_port)
	while [ "$ap" = "$ec" ] || [ "$ap" = "$ep" ]; do ap=$(free_port); done

	local policy=${SAKER_K8S_AUDIT_POLICY:-$d/audit-policy.yaml}
	if [ -z "${SAKER_K8S_AUDIT_POLICY:-}" ]; then
		cat >"$policy" <<'EOF'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: None
    users: ["system:apiserver"]
  - level: None
    nonResourceURLs: ["/readyz*", "/livez*", "/healthz*", "/version", "/openapi*"]
  - level: RequestResponse
EOF
	fi
	local audit=()
	if [ -n "${SAKER_K8S_AUDIT_URL:-}" ]; then
		cat >"$d/audit-webhook.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: saker
    cluster:
      server: ${SAKER_K8S_AUDIT_URL}
      certificate-authority: $d/ca.crt
users:
  - name: kube-apiserver
    user:
      client-certificate: $d/audit-client.crt
      client-key: $d/audit-client.key
      token: $(cat "$d/audit-token")
contexts:
  - name: default
    context: {cluster: saker, user: kube-apiserver}
current-context: default
EOF
		audit=(--audit-webhook-config-file="$d/audit-webhook.kubeconfig" --audit-webhook-batch-max-wait=1s
			--audit-webhook-mode=batch)
	fi
	# the log backend too: the same events as JSON lines in DIR/audit.log
	audit+=(--audit-log-path="$d/audit.log" --audit-log-format=json)
	# the admission plugins' configuration (how the API server authenticates to webhooks)
	if [ -n "${SAKER_K8S_ADMISSION_CONFIG:-}" ]; then
		audit+=(--admission-control-config-file="$SAKER_K8S_ADMISSION_CONFIG")
	fi
	setsid "$bin" --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$ap" \
		--endpoint-reconciler-type=none --etcd-servers="http://127.0.0.1:$ec" --allow-privileged=true \
		--tls-cert-file="$d/apiserver.crt" --tls-private-key-file="$d/apiserver.key" \
		--client-ca-file="$d/ca.crt" \
		--service-account-issuer=https://kubernetes.default.svc \
		--service-account-key-file="$d/sa.pub" --service-account-signing-key-file="$d/sa.key" \
		--service-cluster-ip-range=10.0.0.0/24 --authorization-mode=RBAC \
		--token-auth-file="$d/tokens.csv" --audit-policy-file="$policy" "${audit[@]}" \
		>"$d/apiserver.log" 2>&1 </dev/null &
	echo $! >"$d/apiserver.pid"
	wait_ready "https://127.0.0.1:$ap/readyz" "$(cat "$d/admin-token")" "$d/apiserver.pid" "$d/apiserver.log" 120
	echo "server=https://127.0.0.1:$ap"
	echo "token=$(cat "$d/admin-token")"
	echo "ca=$d/ca.crt"
	echo "dir=$d"
	echo "etcd=http://127.0.0.1:$ec"
}

regkey() { printf '%s' "$1" | md5sum | cut -c1-16; }

stop() {
	local d=$1 f pid i
	d=$(cd "$d" 2>/dev/null && pwd || echo "$d")
	for f in apiserver etcd; do
		[ -f "$d/$f.pid" ] || continue
		pid=$(cat "$d/$f.pid")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null || true
			for i in $(seq 1 80); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.25
			done
			kill -KILL "$pid" 2>/dev/null || true
		fi
		rm -f "$d/$f.pid"
	done
	rm -f "$REG/$(regkey "$d")"
}

stop_all() {
	local f
	[ -d "$REG" ] || return 0
	for f in "$REG"/*; do
		[ -f "$f" ] || continue
		say "stopping the control plane in $(cat "$f")"
		stop "$(cat "$f")"
		rm -f "$f"
	done
}

case "${1:-}" in
build) build ;;
etcd) install_etcd ;;
certs) [ $# -eq 2 ] || die "usage: $0 certs DIR"; certs "$2" ;;
start) [ $# -eq 2 ] || die "usage: $0 start DIR"; start "$2" ;;
stop) [ $# -eq 2 ] || die "usage: $0 stop DIR"; stop "$2" ;;
stop-all) stop_all ;;
*) die "usage: $0 build|etcd|certs DIR|start DIR|stop DIR|stop-all" ;;
esac
