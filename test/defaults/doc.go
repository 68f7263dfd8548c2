// Package defaults checks Saker's built-in ruleset (package rules) live, as root: one `saker
// run --json` (no -r, so the embedded default rules) watches the machine while the tests do
// the real thing each rule is about — on the host, or inside a real docker container (the
// private dockerd of scripts/dockerd.sh, busybox image, --network none) for the container
// rules — and assert the alert and its key output fields (proc.name, proc.cmdline, fd.name,
// container.id, ...). A second test runs a benign workload (go build, apt-get install, git
// clone, docker run/exec) under the same saker and asserts that none of its processes or
// containers raises an alert of priority Warning or above.
//
// The tests need root and a kernel with BTF; without root they are skipped, and under CI=true
// they fail instead. Only loopback and network namespaces the tests create are used; files
// under /etc are only ever written inside a private mount namespace on a tmpfs.
package defaults
