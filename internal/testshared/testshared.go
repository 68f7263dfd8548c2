// Package testshared locates the project's shared test data (../shared beside the repository
// root: upstream Falco rules, captures, scap tables) for tests. Where it is absent (a clone
// elsewhere) tests skip with a message; under CI=true they fail, so CI always runs them.
package testshared

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
)

// Dir returns the absolute path of ../shared, or skips (fails under CI=true) the test.
func Dir(t testing.TB) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	s := filepath.Join(filepath.Dir(root), "shared")
	if _, err := os.Stat(s); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("../shared is missing (%v); CI must have it", err)
		}
		t.Skipf("../shared is absent (%v): skipping", err)
	}
	return s
}

// RepoRoot walks up from the working directory to the folder holding go.mod.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// LiveProblem says why the live (eBPF) tests cannot run on this machine, or "": they need
// root, a kernel with BTF, and a kernel that accepts BPF.
func LiveProblem() string {
	if os.Geteuid() != 0 {
		return "live tests need root (they load the eBPF probe)"
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return "kernel has no BTF (/sys/kernel/btf/vmlinux): the CO-RE probe cannot load"
	}
	mp, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 4, MaxEntries: 1})
	if err != nil {
		return fmt.Sprintf("kernel refuses BPF: %v", err)
	}
	mp.Close()
	return ""
}

// Need skips the test for reason (none when ""), and fails it instead under CI=true, where
// every test must run.
func Need(t testing.TB, reason string) {
	t.Helper()
	if reason == "" {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but: %s", reason)
	}
	t.Skip(reason)
}
