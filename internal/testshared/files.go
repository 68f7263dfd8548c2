package testshared

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ReadLines returns the lines of a file (none for an empty one), failing the test when it
// cannot be read.
func ReadLines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// OpenPaths lists the files the test process has open (the targets of /proc/self/fd).
func OpenPaths(t testing.TB) map[string]bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil {
			out[p] = true
		}
	}
	return out
}

// CopyExecutable copies the file from to a new executable file to (mode 0755): a program under
// another name or in another directory, as attackers rename and move tools.
func CopyExecutable(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}
