// Package defaults checks Saker's built-in ruleset (package rules) live, as root: one `saker
// run --json` (no -r, so the embedded default rules) watches the machine while the tests do
// the real thing each rule is about — on the host, or inside a real docker container (the
// private dockerd of scripts/dockerd.sh, busybox image, --network none) for the container
// rules — and assert the alert and its key output fields (proc.name, proc.cmdline, fd.name,
// container.id, ...). A second test runs a benign workload (go build, apt-get install, git
// clone, docker run/exec) under the same saker and asserts that none of its processes or
// containers raises an alert of priority Warning or above. The attack tests (attacks_test.go)
// do each behaviour of a standard attack simulation plainly and evasively (renamed tools,
// interpreters, directory-fd-relative paths, `..` and `//`, renames and links), and make a
// real PostgreSQL server run programs through COPY ... TO PROGRAM.
//
// The tests need root and a kernel with BTF; without root they are skipped, and under CI=true
// they fail instead. Only loopback and network namespaces the tests create are used; files
// under /etc, /var/lib/dpkg and /srv are only ever written inside a private mount namespace on
// a tmpfs or in a chroot below the test's scratch directory; token-named files the attack
// tests create in /, /dev, /var/log and /usr/local/bin are removed at once.
package defaults
