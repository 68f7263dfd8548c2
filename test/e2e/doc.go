// Package e2e holds Saker's end-to-end tests: they build the saker binary, run `saker run
// --json` with the upstream Falco syscall rules on the live host (root and a BPF-capable
// kernel with BTF needed; the tests skip otherwise, and fail under CI=true), perform real
// actions (file writes, execs, ptrace, connections into a private network namespace, ...)
// and assert the alerts and their fields against what each action did. They also check that
// a capture recorded live replays to the same alerts, and that nothing of Saker stays
// attached after SIGINT or kill -9.
package e2e
