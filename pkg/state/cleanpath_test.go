package state

import (
	"path"
	"testing"
)

// IsCleanAbs must accept exactly the absolute paths path.Clean returns unchanged.
func TestCleanPathMatchesPathClean(t *testing.T) {
	for _, p := range []string{
		"/", "//", "/a", "/a/", "/a//b", "/a/./b", "/a/../b", "/.", "/..", "/a/.", "/a/..",
		"/.a", "/..a", "/a/.b/..c", "/a/b.", "/a/b..", "/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6",
		"/proc/self/fd/3", "/a/...", "/a/.../b", "/a/.b/.", "/.ssh/..", "/x/.y/z", "/a/b/.c/./d", "a/b", "", "/usr/lib/../lib64/./x",
	} {
		if got, want := cleanPath(p), path.Clean(p); p != "" && p[0] == '/' && got != want {
			t.Errorf("cleanPath(%q) = %q, path.Clean gives %q", p, got, want)
		}
		if IsCleanAbs(p) != (p != "" && p[0] == '/' && path.Clean(p) == p) {
			t.Errorf("IsCleanAbs(%q) = %v, path.Clean(%q) = %q", p, IsCleanAbs(p), p, path.Clean(p))
		}
	}
}

func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/", "/a/./b", "/a/../b", "/a//b/", "/x/.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if p == "" || p[0] != '/' {
			return
		}
		if got, want := cleanPath(p), path.Clean(p); got != want {
			t.Fatalf("cleanPath(%q) = %q, path.Clean gives %q", p, got, want)
		}
		if IsCleanAbs(p) != (path.Clean(p) == p) {
			t.Fatalf("IsCleanAbs(%q) = %v, path.Clean gives %q", p, IsCleanAbs(p), path.Clean(p))
		}
	})
}
