package state

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// FileID is a file's identity: the device of its file system (in the scap encoding the open
// events carry, which is also the userspace dev_t for 32-bit device numbers) and its inode.
type FileID struct {
	Dev uint32
	Ino uint64
}

// MaxCanonPaths bounds the paths a Canon watches.
const MaxCanonPaths = 4096

// Canon is the index of the files the rules name as sensitive, by identity: (device, inode)
// → the path the rules name. A hard link is another name of the same inode, so an open of a
// hard link to /etc/shadow made anywhere on the same file system is found here as
// /etc/shadow (fd.canonical). The index is filled with SetPaths (the agent does at start and
// at each reload, from the paths the rules compare fd.name/fd.realpath/fd.canonical with)
// and kept current as the watched files are replaced: a rename onto or away from a watched
// path, a link onto one or an unlink of one makes it stat that path again, and a successful creating open of a
// watched path records the new file's identity from the event. Captures and rule tests
// never call SetPaths: the index is empty and Lookup finds nothing.
//
// Lookup is safe for concurrent use with the writers (the map is replaced, never changed).
type Canon struct {
	mu    sync.Mutex
	paths map[string]FileID // the watched paths and their last identity (zero: none)
	ids   atomic.Pointer[map[FileID]string]
	stat  func(path string) (FileID, bool)
	// watching is len(paths), read on the event path without the lock
	watching atomic.Int32
	// the last successful link or linkat whose new name is a watched file's inode: its
	// event number and that file's watched path (Linked)
	linkNum  uint64
	linkPath string
}

// Canon returns the engine's index of sensitive files.
func (e *Engine) Canon() *Canon { return &e.canon }

// statID stats path (following symlinks: the file a sensitive name stands for) and returns
// the identity of a regular file.
func statID(path string) (FileID, bool) {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return FileID{}, false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return FileID{}, false
	}
	return FileID{Dev: uint32(st.Dev), Ino: st.Ino}, true
}

// SetPaths makes paths the watched set (at most MaxCanonPaths of them; the rest are
// ignored) and stats each. It returns how many are regular files now indexed.
func (c *Canon) SetPaths(paths []string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(paths) > MaxCanonPaths {
		paths = paths[:MaxCanonPaths]
	}
	c.paths = make(map[string]FileID, len(paths))
	for _, p := range paths {
		c.paths[p], _ = c.statFn()(p)
	}
	c.watching.Store(int32(len(c.paths)))
	return c.publish()
}

func (c *Canon) statFn() func(string) (FileID, bool) {
	if c.stat != nil {
		return c.stat
	}
	return statID
}

// publish builds the lookup map from c.paths (under c.mu) and returns its size. When two
// watched names are one file (hard links of each other), the lexically first name wins.
func (c *Canon) publish() int {
	m := make(map[FileID]string, len(c.paths))
	for p, id := range c.paths {
		if id == (FileID{}) {
			continue
		}
		if q, ok := m[id]; !ok || p < q {
			m[id] = p
		}
	}
	if len(m) == 0 {
		c.ids.Store(nil)
		return 0
	}
	c.ids.Store(&m)
	return len(m)
}

// Lookup returns the watched path of the file with this identity.
func (c *Canon) Lookup(dev uint32, ino uint64) (string, bool) {
	m := c.ids.Load()
	if m == nil || ino == 0 {
		return "", false
	}
	p, ok := (*m)[FileID{dev, ino}]
	return p, ok
}

// Watched reports whether path is in the watched set.
func (c *Canon) Watched(path string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.paths[path]
	return ok
}

// Paths returns the number of watched paths.
func (c *Canon) Paths() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.paths)
}

// refresh stats a watched path again (it was replaced, linked over or removed).
func (c *Canon) refresh(path string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	old, ok := c.paths[path]
	if !ok {
		return
	}
	id, _ := c.statFn()(path)
	if id != old {
		c.paths[path] = id
		c.publish()
	}
}

// linked records, for the link event num whose new name is path, the watched file that
// name shares its inode with (a link of a link to /etc/shadow is a link to /etc/shadow).
func (c *Canon) linked(num uint64, path string) {
	id, ok := statID(path)
	if c.stat != nil {
		id, ok = c.stat(path)
	}
	if !ok {
		return
	}
	if p, ok := c.Lookup(id.Dev, id.Ino); ok && p != path {
		c.mu.Lock()
		c.linkNum, c.linkPath = num, p
		c.mu.Unlock()
	}
}

// Linked returns the watched file a link or linkat event (by its number) made another name
// for, found by identity whatever path the link was made from.
func (c *Canon) Linked(num uint64) (string, bool) {
	if c.empty() {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if num == 0 || c.linkNum != num {
		return "", false
	}
	return c.linkPath, true
}

// empty reports whether nothing is watched (the event path's fast check).
func (c *Canon) empty() bool { return c.watching.Load() == 0 }

// canonEvent keeps the index current after an event that may replace a watched file: the
// exits of rename, renameat, renameat2 (both paths), link, linkat (the new path), unlink,
// unlinkat (the path) and the creating opens (O_CREAT) of a watched path.
func (e *Engine) canonEvent(ctx *Context, ci *codeInfo) {
	c := &e.canon
	if c.empty() || ctx.Thread == nil || ctx.Ev.Info.Dir != 'X' {
		return
	}
	ev := ctx.Ev
	if ci.k == kOpen {
		f := ctx.FD
		if f == nil || f.OpenFlags&oCreat == 0 || ctx.FDNum < 0 {
			return
		}
		// stated rather than taken from the event: the path in Saker's mount namespace is the
		// one indexed (a container's or a chroot's file of that name is another file)
		c.refresh(f.Name)
		if f.RealPath != "" && f.RealPath != f.Name {
			c.refresh(f.RealPath)
		}
		return
	}
	var dirParam, pathParam string
	switch ci.fsOp {
	case fsReplace, fsRemove:
	default:
		return
	}
	switch ev.Info.Name {
	case "rename", "link":
		pathParam = "newpath"
	case "renameat", "renameat2":
		dirParam, pathParam = "newdirfd", "newpath"
	case "linkat":
		dirParam, pathParam = "newdir", "newpath"
	case "unlink":
		pathParam = "path"
	case "unlinkat":
		dirParam, pathParam = "dirfd", "name"
	default:
		return
	}
	if r, ok := res(ev); !ok || r != 0 {
		return
	}
	if p, ok := e.eventPath(ctx, dirParam, pathParam); ok {
		c.refresh(p)
		if ci.fsOp == fsReplace && (ev.Info.Name == "link" || ev.Info.Name == "linkat") {
			c.linked(ev.Num, p)
		}
	}
	// a watched file renamed away (a log rotated to .1): its inode now has another name
	switch ev.Info.Name {
	case "rename":
		if p, ok := e.eventPath(ctx, "", "oldpath"); ok {
			c.refresh(p)
		}
	case "renameat", "renameat2":
		if p, ok := e.eventPath(ctx, "olddirfd", "oldpath"); ok {
			c.refresh(p)
		}
	}
}

// eventPath is the absolute path of a path param (relative to the dirfd param dirParam, or
// the cwd when dirParam is ""), as libsinsp resolves fs.path.* (lexically).
func (e *Engine) eventPath(ctx *Context, dirParam, pathParam string) (string, bool) {
	name, ok := ctx.Ev.ParamStr(pathParam)
	if !ok || name == "" {
		return "", false
	}
	t := ctx.Thread
	if name[0] == '/' {
		return concatPaths("", name), true
	}
	if dirParam == "" {
		return concatPaths(t.Main().Cwd, name), true
	}
	dirfd, ok := pInt(ctx.Ev, dirParam)
	if !ok {
		return "", false
	}
	dir, known := e.parseDirfd(t, name, dirfd)
	if !known {
		return "", false
	}
	return concatPaths(dir, name), true
}

// oCreat is O_CREAT in the scap encoding of open flags.
const oCreat = 0x4
