package probe

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

// fd.realpath: the kernel's path of an opened file, whatever path string led to it.
func TestRealPath(t *testing.T) {
	c := sharedProbe(t)
	if err := c.p.SetSyscalls([]string{"openat", "openat2", "open", "creat", "close", "read", "chdir", "fchdir", "clone", "clone3", "fork",
		"vfork", "execve", "procexit"}); err != nil {
		t.Fatal(err)
	}
	defer c.p.SetSyscalls(nil)
	uringOK := c.p.IOUringError() == nil
	dir := t.TempDir()
	if err := os.Symlink("/etc/shadow", filepath.Join(dir, "lnk")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc", filepath.Join(dir, "etcdir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("lnk", filepath.Join(dir, "lnk2")); err != nil { // a chain, relative
		t.Fatal(err)
	}
	var shadow syscall.Stat_t
	if err := syscall.Stat("/etc/shadow", &shadow); err != nil {
		t.Fatal(err)
	}
	up := strings.Repeat("../", strings.Count(filepath.Clean(dir), "/"))
	hard := filepath.Join(dir, "hard")
	hardOK := os.Link("/etc/shadow", hard) == nil // another filesystem or protected_hardlinks: skipped
	fieldNames := []string{"fd.name", "fd.realpath", "fd.ino", "evt.is_io_uring", "fd.num"}
	cases := []struct {
		name     string
		args     []string
		fdName   string // fd.name as Falco defines it (the string made absolute)
		realpath string
	}{
		{"symlink", []string{"open", "lnk"}, filepath.Join(dir, "lnk"), "/etc/shadow"},
		{"symlink chain", []string{"open", "lnk2"}, filepath.Join(dir, "lnk2"), "/etc/shadow"},
		{"symlinked directory", []string{"open", "etcdir/shadow"}, filepath.Join(dir, "etcdir/shadow"), "/etc/shadow"},
		{"relative to a dirfd", []string{"open", "shadow", "/etc"}, "/etc/shadow", "/etc/shadow"},
		{"symlink relative to a dirfd", []string{"open", "lnk", dir}, filepath.Join(dir, "lnk"), "/etc/shadow"},
		{"dot-dot", []string{"open", up + "etc/../etc/shadow"}, "/etc/shadow", "/etc/shadow"},
		{"double slashes", []string{"open", "//etc//shadow"}, "/etc/shadow", "/etc/shadow"},
		{"hard link", []string{"open", "hard"}, hard, hard},
	}
	for _, tc := range cases {
		for _, mode := range []string{"-s", "io_uring"} {
			t.Run(tc.name+" "+mode, func(t *testing.T) {
				if tc.name == "hard link" && !hardOK {
					t.Skip("cannot hard-link /etc/shadow into the test directory (another filesystem?)")
				}
				args := tc.args
				if mode == "-s" {
					args = append([]string{"-s"}, args...)
				} else if !uringOK {
					t.Skipf("io_uring programs not attached: %v", c.p.IOUringError())
				}
				pid, res := uringRun(t, dir, args...)
				if res["openat"] < 0 {
					t.Fatalf("open failed: %d", res["openat"])
				}
				c.wait(t, "procexit", func(r *rec) bool { return r.is("procexit", pid) })
				r := c.wait(t, "openat", func(r *rec) bool {
					return r.is("openat", pid) && r.ev.Int(0) == int64(res["openat"]) && r.ev.Str(2) == args[len(args)-len(tc.args)+1]
				})
				if got := r.ev.ExtString(event.ExtRealPath); got != tc.realpath {
					t.Errorf("probe's resolved path %q, want %q", got, tc.realpath)
				}
				c.wait(t, "read", func(r *rec) bool { return r.is("read", pid) && r.ev.Int(0) == int64(res["read"]) })
				got := replay(t, c, fieldNames, map[string]bool{"openat": true, "read": true}, pid)[pid]
				var f, rd map[string]string
				for _, s := range got {
					if s.fields["fd.num"] == strconv.Itoa(res["openat"]) && (s.fields["evt.is_io_uring"] == "true") == (mode != "-s") {
						if s.typ == "openat" {
							f = s.fields
						} else {
							rd = s.fields
						}
					}
				}
				if rd == nil || rd["fd.realpath"] != tc.realpath {
					t.Errorf("the read of the fd: %v, want fd.realpath %q", rd, tc.realpath)
				}
				if f == nil {
					t.Fatalf("no openat of fd %d among %v", res["openat"], got)
				}
				if f["fd.name"] != tc.fdName || f["fd.realpath"] != tc.realpath {
					t.Errorf("fd.name %q fd.realpath %q, want %q and %q", f["fd.name"], f["fd.realpath"], tc.fdName, tc.realpath)
				}
				if tc.realpath == "/etc/shadow" || tc.name == "hard link" {
					// a hard link is another name of the same inode: fd.ino tells
					if f["fd.ino"] != strconv.FormatUint(shadow.Ino, 10) {
						t.Errorf("fd.ino %s, want /etc/shadow's %d", f["fd.ino"], shadow.Ino)
					}
				}
			})
		}
	}
}

// SetRealPath switches the walk while the probe runs: off, an open's resolved path is empty;
// on again, it is back.
func TestSetRealPath(t *testing.T) {
	c := sharedProbe(t)
	if err := c.p.SetSyscalls([]string{"openat", "open", "close", "procexit"}); err != nil {
		t.Fatal(err)
	}
	defer c.p.SetSyscalls(nil)
	defer c.p.SetRealPath(true)
	dir := t.TempDir()
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "lnk")); err != nil {
		t.Fatal(err)
	}
	for _, on := range []bool{false, true} {
		if err := c.p.SetRealPath(on); err != nil {
			t.Fatal(err)
		}
		pid, res := uringRun(t, dir, "-s", "open", "lnk")
		if res["openat"] < 0 {
			t.Fatalf("open failed: %d", res["openat"])
		}
		r := c.wait(t, "openat", func(r *rec) bool { return r.is("openat", pid) && r.ev.Int(0) == int64(res["openat"]) })
		want := ""
		if on {
			want = "/etc/hostname"
		}
		if got := r.ev.ExtString(event.ExtRealPath); got != want {
			t.Errorf("walk %v: resolved path %q, want %q", on, got, want)
		}
	}
}
