package e2e

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestLiveDupFDPaths: a directory fd duplicated with fcntl(F_DUPFD_CLOEXEC) (what rm -r and
// find -delete do while they walk a tree) must resolve the paths made relative to it, so a
// removal through the copy names the removed file. Before the probe recorded fcntl, the copy
// was an fd the state did not know, and the path came out relative or under another fd's name.
func TestLiveDupFDPaths(t *testing.T) {
	need(t)
	rules := filepath.Join(runDir, "dupfd.yaml")
	if err := os.WriteFile(rules, []byte(`
- rule: E2E removal through a directory fd
  desc: unlinkat exits on the files of this test
  condition: evt.type = unlinkat and evt.dir = < and evt.rawres = 0 and fs.path.name contains "sakere2e-dupfd"
  output: removed (path=%fs.path.name dirfd=%evt.arg.dirfd proc=%proc.name)
  priority: NOTICE
`), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSaker(t, "run", "--json", "-r", rules)
	defer stop(t, s, syscall.SIGINT)
	dir := filepath.Join(runDir, "sakere2e-dupfd")
	for _, sub := range []string{"py", "tree/a/b"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "py", "victim"), "x")
	writeFile(t, filepath.Join(dir, "tree", "a", "b", "deep"), "x")
	const rule = "E2E removal through a directory fd"

	n := s.Mark()
	// the plain way: a program duplicates its directory fd and removes through the copy
	run(t, false, nil, "python3", "-c", `
import fcntl, os, sys
d = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
c = fcntl.fcntl(d, fcntl.F_DUPFD_CLOEXEC, 60)
os.close(d)
os.unlink("victim", dir_fd=c)
`, filepath.Join(dir, "py"))
	waitFor(t, s, n, expect{rule, map[string]string{"fs.path.name": filepath.Join(dir, "py", "victim")}})

	// the real tool: rm -r walks the tree with duplicated directory fds
	n = s.Mark()
	run(t, false, nil, "rm", "-r", filepath.Join(dir, "tree"))
	waitFor(t, s, n, expect{rule, map[string]string{"fs.path.name": filepath.Join(dir, "tree", "a", "b", "deep")}})
	waitFor(t, s, n, expect{rule, map[string]string{"fs.path.name": filepath.Join(dir, "tree", "a", "b")}})
}
