package reload

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A watched directory is followed file by file: a rules file edited in place (same inode,
// same size), added or removed triggers a reload naming it; files the filter rejects (an
// editor's swap file) are not reported.
func TestWatchDirectoryFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yaml")
	os.WriteFile(a, []byte("- list: x\n  items: [1]\n"), 0o600)
	results := make(chan Result, 10)
	n := 0
	r := New(Options[int]{
		Holder: NewHolder(new(int)), Build: func() (*int, error) { n++; v := n; return &v, nil },
		Paths:    func() []string { return []string{dir} },
		DirFiles: func(name string) bool { return strings.HasSuffix(name, ".yaml") },
		Interval: 5 * time.Millisecond, Signals: []os.Signal{}, OnResult: func(res Result) { results <- res },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := r.Start(ctx)
	defer func() { cancel(); <-done }()
	next := func(what string) Result {
		t.Helper()
		select {
		case res := <-results:
			if res.Err != nil || res.Trigger != TriggerFile {
				t.Fatalf("%s: %+v", what, res)
			}
			return res
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: no reload", what)
		}
		return Result{}
	}
	only := func(res Result, path string) {
		t.Helper()
		if len(res.Changed) != 1 || res.Changed[0] != path {
			t.Errorf("changed %v, want only %s", res.Changed, path)
		}
	}

	// in place: the same file, rewritten without a rename (same inode), same size
	f, err := os.OpenFile(a, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("2"), int64(strings.Index("- list: x\n  items: [1]\n", "1")))
	f.Close()
	only(next("in-place edit"), a)

	os.WriteFile(filepath.Join(dir, ".a.yaml.swp"), []byte("x"), 0o600) // ignored
	b := filepath.Join(dir, "b.yaml")
	os.WriteFile(b, []byte("- list: y\n  items: [1]\n"), 0o600)
	only(next("added"), b)

	os.Remove(a)
	only(next("removed"), a)
}
