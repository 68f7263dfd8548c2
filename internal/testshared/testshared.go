// Package testshared locates the project's shared test data (../shared beside the repository
// root: upstream Falco rules, captures, scap tables) for tests. Where it is absent (a clone
// elsewhere) tests skip with a message; under CI=true they fail, so CI always runs them.
package testshared

import (
	"os"
	"path/filepath"
	"testing"
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
