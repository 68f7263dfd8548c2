// Package deploy checks Saker's deployment recipes for real, as root: the container image of
// deploy/Containerfile is built with scripts/image.sh on the private dockerd of
// scripts/dockerd.sh (base `scratch`, so no registry is needed) and run the way the recipe
// says (the probe's capabilities instead of --privileged, --pid=host, the kernel's BTF, passwd/group and the runtime socket
// mounted); the tests assert that it detects on the host and in containers with the built-in
// rules, and that `docker stop` ends it cleanly with its probe detached.
//
// The tests need root, a kernel with BTF and dockerd; without root they are skipped, and under
// CI=true they fail instead.
package deploy
