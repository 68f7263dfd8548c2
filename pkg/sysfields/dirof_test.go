package sysfields

import (
	"path"
	"testing"
)

// dirOf must give path.Dir's answer for every path, clean or not.
func TestDirOfMatchesPathDir(t *testing.T) {
	for _, p := range []string{
		"/", "/a", "/a/", "/a/b", "/a//b", "/a/./b", "/a/../b", "/a/b/.", "/a/b/..", "//a", "/.a/b",
		"/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6", "a/b", "a", ".", "/..", "/a/.../b",
	} {
		if got, want := dirOf(p), path.Dir(p); got != want {
			t.Errorf("dirOf(%q) = %q, path.Dir gives %q", p, got, want)
		}
	}
}

func FuzzDirOf(f *testing.F) {
	for _, s := range []string{"/", "/a/b", "/a/./b", "/a/../b/c", "//x/y", "/x/.y/z", "rel/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if p == "" {
			return
		}
		if got, want := dirOf(p), path.Dir(p); got != want {
			t.Fatalf("dirOf(%q) = %q, path.Dir gives %q", p, got, want)
		}
	})
}
