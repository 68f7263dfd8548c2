#!/bin/sh
# dockerd.sh: start a private Docker daemon for Saker's container tests and print its socket.
#
# - installs Debian's docker.io (and busybox-static) when dockerd is missing;
# - runs dockerd with its own --data-root (/var/lib/saker-test-docker), exec root and socket, no
#   bridge and no iptables rules, so it never touches a system Docker or the host network;
# - registers a runc wrapper as the default runtime: it drops CAP_SYS_RESOURCE from the OCI spec
#   before calling runc, because this machine's bounding set lacks it and `--privileged` would
#   otherwise fail;
# - builds a local busybox image (saker-test/busybox:1.35) with `docker import` (no registry);
# - is idempotent: when the daemon already answers, it only prints the socket path.
#
# dockerd runs its own containerd (socket under the exec root); Docker's containers live there
# in the containerd namespace "moby", and tests may run plain containerd containers in it with
# ctr and the runc wrapper.
#
# Environment: SAKER_DOCKER_ROOT (default /var/lib/saker-test-docker),
#              SAKER_DOCKER_RUN (default /run/saker-test-docker).
# Output (stdout): "containerd=<dockerd's containerd socket>", "runc=<the runc wrapper>", then
# the docker socket path as the last line. Progress goes to stderr.
set -eu

ROOT=${SAKER_DOCKER_ROOT:-/var/lib/saker-test-docker}
RUN=${SAKER_DOCKER_RUN:-/run/saker-test-docker}
SOCK=$RUN/docker.sock
IMAGE=saker-test/busybox:1.35
DOCKER=/usr/bin/docker
LOG=$ROOT/dockerd.log

say() { echo "dockerd.sh: $*" >&2; }

if [ "$(id -u)" != 0 ]; then
	say "must run as root"
	exit 1
fi

# One run at a time: test packages run in parallel, and two runs at once raced on the runc
# wrapper's file, on starting dockerd and on importing the image. The daemon gets no copy of
# the lock's descriptor (9>&- below), or it would hold the lock for its whole life.
mkdir -p "$ROOT" "$RUN"
exec 9>"$RUN/dockerd.sh.lock"
flock 9

apt_install() {
	i=0
	while ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@" >&2; do
		i=$((i + 1))
		if [ $i -ge 20 ]; then
			say "apt-get install $* failed"
			return 1
		fi
		say "apt-get busy or failed, retrying ($i)"
		sleep 10
	done
}

alive() {
	[ -S "$SOCK" ] && $DOCKER -H "unix://$SOCK" version >/dev/null 2>&1
}

if [ ! -x /usr/sbin/dockerd ] || [ ! -x $DOCKER ]; then
	say "installing docker.io"
	apt_install docker.io
fi
if [ ! -x /usr/bin/ctr ]; then
	say "installing containerd (ctr)"
	apt_install containerd
fi
if [ ! -x /bin/busybox ]; then
	say "installing busybox-static"
	apt_install busybox-static
fi

# The runc wrapper: find the bundle of `create`/`run` and strip CAP_SYS_RESOURCE from its
# config.json, and from the process.json of `exec --process FILE` (docker exec into a
# privileged container); docker writes them as compact JSON, so a textual edit is exact.
WRAP=$ROOT/runc-nosysresource
cat >"$WRAP.tmp" <<'EOF'
#!/bin/sh
bundle=.
cmd=
prev=
process=
for a in "$@"; do
	case "$prev" in
	--bundle | -b) bundle=$a ;;
	--process | -p) process=$a ;;
	esac
	case "$a" in
	--bundle=*) bundle=${a#--bundle=} ;;
	--process=*) process=${a#--process=} ;;
	create | run) [ -z "$cmd" ] && cmd=$a ;;
	esac
	prev=$a
done
if [ -n "$cmd" ] && [ -f "$bundle/config.json" ]; then
	sed -i -e 's/"CAP_SYS_RESOURCE",//g' -e 's/,"CAP_SYS_RESOURCE"//g' \
		-e 's/\["CAP_SYS_RESOURCE"\]/[]/g' "$bundle/config.json"
fi
if [ -n "$process" ] && [ -f "$process" ]; then
	sed -i -e 's/"CAP_SYS_RESOURCE",//g' -e 's/,"CAP_SYS_RESOURCE"//g' \
		-e 's/\["CAP_SYS_RESOURCE"\]/[]/g' "$process"
fi
exec /usr/bin/runc "$@"
EOF
chmod 755 "$WRAP.tmp"
mv "$WRAP.tmp" "$WRAP"

if ! alive; then
	if [ -f "$RUN/dockerd.pid" ] && kill -0 "$(cat "$RUN/dockerd.pid")" 2>/dev/null; then
		say "dockerd (pid $(cat "$RUN/dockerd.pid")) running but not answering yet"
	else
		rm -f "$SOCK" "$RUN/dockerd.pid"
		say "starting dockerd (log $LOG)"
		# setsid: the daemon outlives the test process that started it.
		setsid /usr/sbin/dockerd \
			--data-root "$ROOT/data" \
			--exec-root "$RUN/exec" \
			--pidfile "$RUN/dockerd.pid" \
			-H "unix://$SOCK" \
			--bridge=none --iptables=false --ip-masq=false --ip6tables=false \
			--add-runtime "saker-runc=$WRAP" --default-runtime saker-runc \
			>>"$LOG" 2>&1 </dev/null 9>&- &
	fi
	i=0
	until alive; do
		i=$((i + 1))
		if [ $i -ge 120 ]; then
			say "dockerd did not answer on $SOCK within 60s; last log lines:"
			tail -n 20 "$LOG" >&2 || true
			exit 1
		fi
		sleep 0.5
	done
fi

if ! $DOCKER -H "unix://$SOCK" image inspect "$IMAGE" >/dev/null 2>&1; then
	say "building $IMAGE from busybox-static"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	mkdir -p "$tmp/bin" "$tmp/etc" "$tmp/tmp" "$tmp/proc" "$tmp/sys" "$tmp/dev" "$tmp/root"
	cp /bin/busybox "$tmp/bin/busybox"
	for applet in $(/bin/busybox --list); do
		[ "$applet" = busybox ] || ln -sf busybox "$tmp/bin/$applet"
	done
	echo 'root:x:0:0:root:/root:/bin/sh' >"$tmp/etc/passwd"
	echo 'root:x:0:' >"$tmp/etc/group"
	tar -C "$tmp" -c . | $DOCKER -H "unix://$SOCK" import \
		-c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin' -c 'LABEL org.saker.test=busybox' \
		- "$IMAGE" >&2
fi

CONTAINERD_SOCK=$RUN/exec/containerd/containerd.sock
i=0
until [ -S "$CONTAINERD_SOCK" ]; do
	i=$((i + 1))
	if [ $i -ge 60 ]; then
		say "dockerd's containerd socket $CONTAINERD_SOCK did not appear"
		exit 1
	fi
	sleep 0.5
done

echo "containerd=$CONTAINERD_SOCK"
echo "runc=$WRAP"
echo "$SOCK"
