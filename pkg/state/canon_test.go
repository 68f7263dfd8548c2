package state

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
)

func fileID(t *testing.T, p string) FileID {
	t.Helper()
	id, ok := statID(p)
	if !ok {
		t.Fatalf("stat %s: not a regular file", p)
	}
	return id
}

// TestCanonIndex: a watched file is found by its identity under any hard link's name; a
// file renamed over it, a removal and a creating open keep the index current.
func TestCanonIndex(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, Options{})
	c := w.e.Canon()
	if n := c.SetPaths([]string{secret, filepath.Join(dir, "missing"), dir}); n != 1 {
		t.Fatalf("SetPaths indexed %d files, want 1 (a missing file and a directory are not indexed)", n)
	}
	link := filepath.Join(dir, "link")
	if err := os.Link(secret, link); err != nil {
		t.Fatal(err)
	}
	id := fileID(t, link)
	if p, ok := c.Lookup(id.Dev, id.Ino); !ok || p != secret {
		t.Fatalf("Lookup(hard link) = %q %v, want %q", p, ok, secret)
	}
	// a link made from that link is a link to the watched file (fs.path.canonical)
	w.e.AddThread(eventThread(200, 100, dir))
	link2 := filepath.Join(dir, "link2")
	if err := os.Link(link, link2); err != nil {
		t.Fatal(err)
	}
	w.ts += 1000
	ev := mkEvent(t, w.ts, 200, "linkat", 'X', P{"res": int64(0), "olddir": int64(-100), "oldpath": "link", "newdir": int64(-100), "newpath": "link2", "flags": uint32(0)})
	ev.Num = 77
	w.e.Process(ev)
	if p, ok := c.Linked(77); !ok || p != secret {
		t.Errorf("Linked(link of a link) = %q %v, want %q", p, ok, secret)
	}
	if _, ok := c.Linked(78); ok {
		t.Errorf("Linked for another event")
	}

	// replaced by a rename (what passwd and vipw do): the old inode is forgotten, the new found
	repl := filepath.Join(dir, "secret.new")
	if err := os.WriteFile(repl, []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(repl, secret); err != nil {
		t.Fatal(err)
	}
	w.ev(200, "renameat2", 'X', P{"res": int64(0), "olddirfd": int64(-100), "oldpath": "secret.new", "newdirfd": int64(-100), "newpath": "secret", "flags": uint32(0)})
	if _, ok := c.Lookup(id.Dev, id.Ino); ok {
		t.Errorf("the replaced file's inode is still indexed")
	}
	nid := fileID(t, secret)
	if p, ok := c.Lookup(nid.Dev, nid.Ino); !ok || p != secret {
		t.Errorf("after the rename: Lookup(new file) = %q %v, want %q", p, ok, secret)
	}

	// renamed away (a log rotated): the old name is stated again, the moved inode forgotten
	rotated := filepath.Join(dir, "secret.1")
	if err := os.Rename(secret, rotated); err != nil {
		t.Fatal(err)
	}
	w.ev(200, "renameat2", 'X', P{"res": int64(0), "olddirfd": int64(-100), "oldpath": "secret", "newdirfd": int64(-100), "newpath": "secret.1", "flags": uint32(0)})
	if p, ok := c.Lookup(nid.Dev, nid.Ino); ok {
		t.Errorf("a watched file renamed away still reads as %q", p)
	}
	if err := os.Rename(rotated, secret); err != nil {
		t.Fatal(err)
	}
	w.ev(200, "renameat2", 'X', P{"res": int64(0), "olddirfd": int64(-100), "oldpath": "secret.1", "newdirfd": int64(-100), "newpath": "secret", "flags": uint32(0)})
	if p, ok := c.Lookup(nid.Dev, nid.Ino); !ok || p != secret {
		t.Errorf("renamed back: Lookup = %q %v, want %q", p, ok, secret)
	}

	// removed: nothing is indexed; created again by an open (O_CREAT) that gives its identity
	os.Remove(secret)
	w.ev(200, "unlinkat", 'X', P{"res": int64(0), "dirfd": int64(-100), "name": secret, "flags": uint32(0)})
	if _, ok := c.Lookup(nid.Dev, nid.Ino); ok {
		t.Errorf("the removed file is still indexed")
	}
	if err := os.WriteFile(secret, []byte("z"), 0o600); err != nil {
		t.Fatal(err)
	}
	cid := fileID(t, secret)
	// the event's own identity is not trusted (a container's file of that name is another)
	w.ev(200, "openat", 'X', P{"fd": int64(5), "dirfd": int64(-100), "name": secret, "flags": uint32(oCreat | 2), "mode": uint32(0o600), "dev": uint32(7), "ino": uint64(4242)})
	if p, ok := c.Lookup(cid.Dev, cid.Ino); !ok || p != secret {
		t.Errorf("after a creating open: Lookup = %q %v, want %q", p, ok, secret)
	}
	if _, ok := c.Lookup(7, 4242); ok {
		t.Errorf("the event's identity was indexed")
	}

	// SetPaths(nil) empties the index
	c.SetPaths(nil)
	if _, ok := c.Lookup(cid.Dev, cid.Ino); ok {
		t.Errorf("SetPaths(nil) left entries")
	}
}

func eventThread(tid, parent int64, cwd string) event.ThreadInfo {
	return event.ThreadInfo{TID: tid, PID: tid, PTID: parent, Comm: "python3", Exe: "python3", Cwd: cwd + "/"}
}

// TestDeletions: successful unlinks, unlinkats and rmdirs are counted per process within the
// window, for the deleting process and its parent (not for an init); failures are not.
func TestDeletions(t *testing.T) {
	w := newWorld(t, Options{})
	bash := w.e.Thread(100)
	rm := func(tid int64, res int64) {
		w.ev(tid, "unlinkat", 'X', P{"res": res, "dirfd": int64(-100), "name": "/srv/f", "flags": uint32(0)})
	}
	// three short-lived children of bash, one deletion each, and a failure
	for i := int64(0); i < 3; i++ {
		w.e.AddThread(event.ThreadInfo{TID: 300 + i, PID: 300 + i, PTID: 100, Comm: "rm", Exe: "rm", Cwd: "/"})
		rm(300+i, 0)
	}
	rm(300, -2)
	eq(t, "bash's count (its children's deletions)", w.e.Deletions(bash, w.ts), uint64(3))
	eq(t, "a child's own count", w.e.Deletions(w.e.Thread(301), w.ts), uint64(1))
	eq(t, "a child's parent's count", w.e.ParentDeletions(w.e.Thread(301), w.ts), uint64(3))
	w.ev(100, "rmdir", 'X', P{"res": int64(0), "path": "/srv"})
	eq(t, "with bash's own rmdir", w.e.Deletions(bash, w.ts), uint64(4))
	// sshd (bash's parent) counts bash's own deletion only; systemd (pid 1) counts nothing
	eq(t, "sshd", w.e.Deletions(w.e.Thread(10), w.ts), uint64(1))
	eq(t, "bash's parent's count", w.e.ParentDeletions(bash, w.ts), uint64(1))
	eq(t, "sshd's parent (pid 1) does not count", w.e.ParentDeletions(w.e.Thread(10), w.ts), uint64(0))
	w.ev(10, "unlink", 'X', P{"res": int64(0), "path": "/srv/g"})
	if n := *w.e.Thread(1).Slot(w.e.del.count); n != 0 {
		t.Errorf("pid 1 counted %d deletions of its children", n)
	}
	// the window ends
	eq(t, "after the window", w.e.Deletions(bash, w.ts+DeletionWindow), uint64(0))
	w.ts += DeletionWindow
	rm(301, 0)
	eq(t, "a new window", w.e.Deletions(bash, w.ts), uint64(1))
}
