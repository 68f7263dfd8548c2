#!/bin/sh
# image.sh: build Saker's container image from deploy/Containerfile.
#
#   scripts/image.sh [TAG]            (default tag: saker:dev)
#
# Builds a static binary (CGO_ENABLED=0) into a temporary build context with the host's CA
# bundle (for HTTPS outputs), then runs `docker build` on it. DOCKER may name the docker command
# (e.g. DOCKER="docker -H unix:///run/saker-test-docker/docker.sock"); VERSION sets the version.
set -eu
TAG=${1:-saker:dev}
DOCKER=${DOCKER:-docker}
VERSION=${VERSION:-$(git -C "$(dirname "$0")/.." describe --always --dirty 2>/dev/null || echo dev)}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT
(cd "$ROOT" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$VERSION" -o "$CTX/saker" ./cmd/saker)
CA=/etc/ssl/certs/ca-certificates.crt
if [ -f "$CA" ]; then
	cp "$CA" "$CTX/ca-certificates.crt"
else
	: >"$CTX/ca-certificates.crt" # no bundle on this host: HTTPS outputs need ca_cert_file
fi
cp "$ROOT/deploy/Containerfile" "$CTX/Containerfile"
$DOCKER build -q -f "$CTX/Containerfile" -t "$TAG" "$CTX" >&2
echo "$TAG"
