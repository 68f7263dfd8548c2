package state

import (
	"strings"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
)

// Engine holds the state. It is not safe for concurrent use.
type Engine struct {
	opts Options

	machine event.MachineInfo
	ifaces  []event.Interface

	threads        map[int64]*Thread
	interned       map[string]internedName // file names of opens (pName)
	groups         map[int64]*group
	lruHead        *Thread // most recently active
	lruTail        *Thread // least recently active
	needLink       bool
	chores         bool // released, pendingRemove or needLink has work for the next Process
	pendingRemove  []int64
	fdTables       int
	nfds           int
	users          map[uint32]*event.User // (pointers: UserRef hands one out without a copy)
	userOrder      []uint32
	groupsByGID    map[uint32]event.Group
	groupOrder     []uint32
	ctx            Context
	stats          Stats
	serverPorts    map[uint16]struct{}
	metadataLinked bool
	nslots         int
	canon          Canon     // sensitive files by identity (canon.go)
	del            deletions // deletion counters' slots (deletions.go)

	// tcache is a direct-mapped cache of the thread table by tid (threadCached); an entry
	// is valid while its thread is the table's (inTable).
	tcache [threadCacheSize]*Thread
	// tmiss caches tids not in the table (tid+1; 0 is none), in the slots of tcache: procinfo
	// events name threads the capture never listed. insertThread clears a tid's entry.
	tmiss [threadCacheSize]int64

	strsMemo [3]strsMemo // the last args, env and cgroups (pStrings)
	// the cgroups setContainer read last: what they name (container.FromCgroups) and its id
	lastCgroups []string
	lastRef     container.Ref
	lastInCtr   bool
	lastCID     string

	// FDs taken out of their tables during this event (closed, evicted, replaced): the
	// event's Context may still point to one, so they are recycled at the next Process.
	released []*FD
	freeFDs  []*FD // zeroed FDs for newFD
}

// maxFreeFDs bounds the engine's pool of recycled FDs.
const maxFreeFDs = 256

// newFD returns a zeroed FD, a recycled one when the pool has some (an open and a close per
// file is what most programs do: the FDs go round instead of being allocated).
func (e *Engine) newFD() *FD {
	if n := len(e.freeFDs); n > 0 {
		f := e.freeFDs[n-1]
		e.freeFDs = e.freeFDs[:n-1]
		return f
	}
	return new(FD)
}

// release hands an FD that left its table to the pool, once the current event is done.
func (e *Engine) release(f *FD) { e.released, e.chores = append(e.released, f), true }

// recycle moves the FDs released by the previous event to the pool (zeroed: they keep no
// strings alive), dropping those beyond its bound.
func (e *Engine) recycle() {
	for i, f := range e.released {
		if len(e.freeFDs) < maxFreeFDs {
			*f = FD{}
			e.freeFDs = append(e.freeFDs, f)
		}
		e.released[i] = nil
	}
	e.released = e.released[:0]
}

// New returns an empty engine.
func New(opts Options) *Engine {
	if opts.MaxThreads <= 0 {
		opts.MaxThreads = DefaultMaxThreads
	}
	if opts.MaxFDsPerProcess <= 0 {
		opts.MaxFDsPerProcess = DefaultMaxFDsPerProcess
	}
	if opts.MaxUsers <= 0 {
		opts.MaxUsers = DefaultMaxUsers
	}
	return &Engine{
		opts:        opts,
		threads:     make(map[int64]*Thread),
		groups:      make(map[int64]*group),
		users:       make(map[uint32]*event.User),
		groupsByGID: make(map[uint32]event.Group),
		serverPorts: make(map[uint16]struct{}),
	}
}

// SetMachine records the capture's machine info.
func (e *Engine) SetMachine(mi event.MachineInfo) { e.machine = mi }

// Machine returns the machine info.
func (e *Engine) Machine() event.MachineInfo { return e.machine }

// SetInterfaces records the network interfaces.
func (e *Engine) SetInterfaces(ifs []event.Interface) {
	e.ifaces = append([]event.Interface(nil), ifs...)
}

// Interfaces returns the network interfaces.
func (e *Engine) Interfaces() []event.Interface { return e.ifaces }

// AddUser adds (or replaces) a user.
func (e *Engine) AddUser(u event.User) {
	if _, ok := e.users[u.UID]; !ok {
		if len(e.users) >= e.opts.MaxUsers {
			e.userOrder = evictOldest(e.userOrder, func(k uint32) bool {
				if _, ok := e.users[k]; ok {
					delete(e.users, k)
					return true
				}
				return false
			})
			e.stats.UsersEvicted++
		}
		e.userOrder = append(e.userOrder, u.UID)
	}
	e.users[u.UID] = &u // a new User: a pointer UserRef gave out stays as it was
}

// AddGroup adds (or replaces) a group.
func (e *Engine) AddGroup(g event.Group) {
	if _, ok := e.groupsByGID[g.GID]; !ok {
		if len(e.groupsByGID) >= e.opts.MaxUsers {
			e.groupOrder = evictOldest(e.groupOrder, func(k uint32) bool {
				if _, ok := e.groupsByGID[k]; ok {
					delete(e.groupsByGID, k)
					return true
				}
				return false
			})
			e.stats.UsersEvicted++
		}
		e.groupOrder = append(e.groupOrder, g.GID)
	}
	e.groupsByGID[g.GID] = g
}

// evictOldest drops keys from the front of order until del reports one deleted.
func evictOldest(order []uint32, del func(uint32) bool) []uint32 {
	for len(order) > 0 {
		k := order[0]
		order = order[1:]
		if del(k) {
			break
		}
	}
	if cap(order) > 2*len(order)+64 {
		order = append([]uint32(nil), order...)
	}
	return order
}

// User returns the user with that uid.
func (e *Engine) User(uid uint32) (event.User, bool) {
	if u := e.users[uid]; u != nil {
		return *u, true
	}
	return event.User{}, false
}

// UserRef returns the user with that uid, or nil; the User is not changed afterwards (AddUser
// replaces it with a new one).
func (e *Engine) UserRef(uid uint32) *event.User { return e.users[uid] }

// Group returns the group with that gid.
func (e *Engine) Group(gid uint32) (event.Group, bool) {
	g, ok := e.groupsByGID[gid]
	return g, ok
}

// ReserveSlot reserves a per-thread storage cell (libsinsp reserve_thread_memory): every
// thread's Slot(i) for the returned i is its own uint64, zero for a new thread.
func (e *Engine) ReserveSlot() int {
	e.nslots++
	return e.nslots - 1
}

// threadCacheSize is the number of entries of the engine's thread cache (a power of two).
const threadCacheSize = 256

// threadCached is the table's thread tid, or nil. A tid seen recently (the thread of the last
// events, their parents, the threads procinfo events walk) is found in the cache without
// hashing, and so is a tid recently found absent; insertThread and dropThread keep inTable
// true exactly while a thread is the table's entry for its tid, which is what makes a cached
// entry valid, and insertThread is the only way into the table.
func (e *Engine) threadCached(tid int64) *Thread {
	slot := uint64(tid) % threadCacheSize
	c := &e.tcache[slot]
	if t := *c; t != nil && t.TID == tid && t.inTable {
		return t
	}
	if m := tid + 1; m != 0 && e.tmiss[slot] == m { // 0 is no entry: tid -1 is never cached absent
		return nil
	}
	t := e.threads[tid]
	if t != nil {
		*c = t
	} else {
		e.tmiss[slot] = tid + 1
	}
	return t
}

// Thread returns the thread with that tid, or nil.
func (e *Engine) Thread(tid int64) *Thread { return e.threadCached(tid) }

// Parent returns the thread's parent (the thread whose TID is t.PTID), or nil when unknown.
func (e *Engine) Parent(t *Thread) *Thread {
	if t == nil || t.PTID <= 0 || t.PTID == t.TID {
		return nil
	}
	return e.threadCached(t.PTID)
}

// FDOf returns fd number fd of the thread's process, or nil.
func (e *Engine) FDOf(t *Thread, fd int64) *FD {
	if t == nil || t.g == nil || t.g.fds == nil {
		return nil
	}
	return t.g.fds.get(fd)
}

// Threads calls fn for every thread until it returns false (in no particular order).
func (e *Engine) Threads(fn func(*Thread) bool) {
	for _, t := range e.threads {
		if !fn(t) {
			return
		}
	}
}

// Stats returns table sizes and counters.
func (e *Engine) Stats() Stats {
	s := e.stats
	s.Threads = len(e.threads)
	s.FDTables = e.fdTables
	s.FDs = e.nfds
	s.Users = len(e.users)
	s.Groups = len(e.groupsByGID)
	return s
}

// AddThread adds a thread of the process list (replacing one with the same tid).
func (e *Engine) AddThread(ti event.ThreadInfo) {
	t := &Thread{
		TID: ti.TID, PID: ti.PID, PTID: ti.PTID, SID: ti.SID, VPGID: ti.VPGID, PGID: ti.PGID,
		VTID: ti.VTID, VPID: ti.VPID,
		Comm: ti.Comm, Exe: ti.Exe, ExePath: ti.ExePath, Root: ti.Root,
		Args: ti.Args, Env: ti.Env, Cgroups: ti.Cgroups,
		UID: ti.UID, GID: ti.GID, LoginUID: ti.LoginUID, TTY: ti.TTY,
		CapInheritable: ti.CapInheritable, CapPermitted: ti.CapPermitted, CapEffective: ti.CapEffective,
		ExeIno: ti.ExeIno, ExeInoCtime: ti.ExeInoCtime, ExeInoMtime: ti.ExeInoMtime,
		ExeWritable: ti.ExeWritable, ExeUpperLayer: ti.ExeUpperLayer, ExeLowerLayer: ti.ExeLowerLayer,
		ExeFromMemfd: ti.ExeFromMemfd,
		FDLimit:      ti.FDLimit, Flags: ti.Flags,
		VMSizeKB: ti.VMSizeKB, VMRSSKB: ti.VMRSSKB, VMSwapKB: ti.VMSwapKB,
		PFMajor: ti.PFMajor, PFMinor: ti.PFMinor, PidNSInitStartTS: ti.PidNSInitStartTS,
	}
	t.Cwd = withSlash(ti.Cwd)
	if t.VTID == 0 {
		t.VTID = t.TID
	}
	if t.VPID == 0 {
		t.VPID = t.PID
	}
	e.setContainer(t)
	e.insertThread(t)
	e.identifyCategory(t)
	e.needLink, e.chores = true, true
}

// AddFD adds an fd of the fd list to its thread's process.
func (e *Engine) AddFD(fi event.FDInfo) {
	t := e.threads[fi.TID]
	if t == nil {
		e.stats.FDsWithoutThread++
		return
	}
	f := &FD{
		Num: fi.FD, Type: fi.Type, Name: fi.Name, OpenFlags: fi.OpenFlags, Ino: fi.Ino, Dev: fi.Dev,
		L4Proto: fi.L4Proto, SrcIP: fi.SrcIP, DstIP: fi.DstIP, SrcPort: fi.SrcPort, DstPort: fi.DstPort,
		UnixSrc: fi.UnixSrc, UnixDst: fi.UnixDst,
	}
	switch f.Type {
	case event.FDIPv4Sock, event.FDIPv6Sock:
		if f.Name == "" {
			f.Name = tupleName(f)
		}
	case event.FDUnixSock:
		// libsinsp add_fd_from_scap: an unnamed unix socket of the fd list is a client, a
		// named one a server
		if f.Name == "" {
			f.Client = true
		} else {
			f.Server = true
		}
	case event.FDIPv4Server, event.FDIPv6Server:
		f.Server = true
		e.serverPorts[f.SrcPort] = struct{}{}
		if f.Name == "" {
			f.Name = addrPort(f.SrcIP, f.SrcPort)
		}
	}
	e.addFD(t, f)
	e.needLink, e.chores = true, true
}

// link builds the parent/child links and the socket roles after the metadata was loaded.
func (e *Engine) link() {
	e.needLink = false
	for _, t := range e.threads {
		if p := e.Parent(t); p != nil {
			p.addChild(t)
		}
		if t.g != nil && (t.PID == 1 || t.VPID == 1) {
			t.g.reaper = true
		}
	}
	if e.metadataLinked {
		return
	}
	e.metadataLinked = true
	// libsinsp fix_sockets_coming_from_proc: a socket from the fd list whose local port is a
	// listening port of this host is the server side.
	for _, g := range e.groups {
		if g.fds == nil {
			continue
		}
		for f := g.fds.head; f != nil; f = f.next {
			if (f.Type == event.FDIPv4Sock || f.Type == event.FDIPv6Sock) && !f.Client && !f.Server {
				if _, ok := e.serverPorts[f.SrcPort]; ok {
					f.Server = true
				} else {
					f.Client = true
				}
			}
		}
	}
}

func (t *Thread) addChild(c *Thread) {
	if t.children == nil {
		t.children = make(map[int64]*Thread)
	}
	t.children[c.TID] = c
}

// ---- thread table ----

// insertThread puts t in the table (replacing an entry with the same tid), joining its
// process's group and fd table.
func (e *Engine) insertThread(t *Thread) {
	if old := e.threads[t.TID]; old != nil {
		e.dropThread(old)
	}
	for len(e.threads) >= e.opts.MaxThreads && e.lruTail != nil {
		e.dropThread(e.lruTail)
		e.stats.ThreadsEvicted++
	}
	g := e.groups[t.PID]
	if g == nil {
		g = &group{pid: t.PID, threads: make(map[int64]*Thread, 1)}
		e.groups[t.PID] = g
	}
	if g.fds == nil {
		e.setTable(g, e.newTable())
	}
	t.g = g
	g.threads[t.TID] = t
	if t.TID == t.PID {
		g.main = t
	}
	if !t.Dead {
		g.alive++
	}
	e.threads[t.TID] = t
	t.inTable = true
	if m := &e.tmiss[uint64(t.TID)%threadCacheSize]; *m == t.TID+1 {
		*m = 0
	}
	e.lruPushFront(t)
	e.stats.ThreadsAdded++
}

// dropThread removes t from the table and from its group (dropping the group when empty).
// Children keep their PTID.
func (e *Engine) dropThread(t *Thread) {
	if !t.inTable {
		return
	}
	t.inTable = false
	delete(e.threads, t.TID)
	if c := &e.tcache[uint64(t.TID)%threadCacheSize]; *c == t {
		*c = nil // no cache entry keeps a dropped thread alive
	}
	e.lruRemove(t)
	if p := e.threads[t.PTID]; p != nil && p.children != nil {
		delete(p.children, t.TID)
	}
	if t.g != nil {
		e.leaveGroup(t)
	}
}

// leaveGroup takes t out of its thread group, dropping the group (and its fd table) when t
// was its last thread.
func (e *Engine) leaveGroup(t *Thread) {
	g := t.g
	delete(g.threads, t.TID)
	if !t.Dead {
		g.alive--
	}
	if g.main == t {
		g.main = nil
	}
	if len(g.threads) == 0 {
		if e.groups[g.pid] == g {
			delete(e.groups, g.pid)
		}
		e.setTable(g, nil)
	}
}

func (e *Engine) lruPushFront(t *Thread) {
	t.lruPrev = nil
	t.lruNext = e.lruHead
	if e.lruHead != nil {
		e.lruHead.lruPrev = t
	}
	e.lruHead = t
	if e.lruTail == nil {
		e.lruTail = t
	}
}

func (e *Engine) lruRemove(t *Thread) {
	if t.lruPrev != nil {
		t.lruPrev.lruNext = t.lruNext
	} else if e.lruHead == t {
		e.lruHead = t.lruNext
	}
	if t.lruNext != nil {
		t.lruNext.lruPrev = t.lruPrev
	} else if e.lruTail == t {
		e.lruTail = t.lruPrev
	}
	t.lruPrev, t.lruNext = nil, nil
}

func (e *Engine) touch(t *Thread) {
	if e.lruHead == t || !t.inTable {
		return
	}
	e.lruRemove(t)
	e.lruPushFront(t)
}

// lazyThread creates the entry for an unknown tid (libsinsp's fake thread in replay).
func (e *Engine) lazyThread(tid int64) *Thread {
	t := &Thread{
		TID: tid, PID: tid, PTID: -1, VTID: -1, VPID: -1, SID: -1, VPGID: -1, PGID: -1,
		UID: 0xFFFFFFFF, GID: 0xFFFFFFFF, LoginUID: 0xFFFFFFFF,
		Invalid: true, ContainerID: "host",
	}
	e.insertThread(t)
	e.stats.ThreadsLazy++
	return t
}

// ---- fd tables ----

func (e *Engine) newTable() *fdTable {
	return &fdTable{}
}

// setTable points g at table tb (nil to release), keeping the table and fd counts.
func (e *Engine) setTable(g *group, tb *fdTable) {
	if g.fds == tb {
		return
	}
	if old := g.fds; old != nil {
		old.refs--
		if old.refs == 0 {
			e.fdTables--
			e.nfds -= old.n
		}
	}
	g.fds = tb
	if tb != nil {
		if tb.refs == 0 {
			e.fdTables++
			e.nfds += tb.n
		}
		tb.refs++
	}
}

// copyTable returns a copy of tb (nil gives an empty table).
func (e *Engine) copyTable(tb *fdTable) *fdTable {
	n := e.newTable()
	if tb == nil {
		return n
	}
	for f := tb.head; f != nil; f = f.next {
		n.push(e.cloneFD(f))
	}
	return n
}

func (tb *fdTable) push(f *FD) {
	tb.set(f)
	f.prev = tb.tail
	f.next = nil
	if tb.tail != nil {
		tb.tail.next = f
	} else {
		tb.head = f
	}
	tb.tail = f
}

func (tb *fdTable) unlink(f *FD) {
	if f.prev != nil {
		f.prev.next = f.next
	} else if tb.head == f {
		tb.head = f.next
	}
	if f.next != nil {
		f.next.prev = f.prev
	} else if tb.tail == f {
		tb.tail = f.prev
	}
	f.prev, f.next = nil, nil
}

// addFD puts f in t's fd table (replacing an fd of the same number), evicting the oldest fd
// when the table is full. It returns f.
func (e *Engine) addFD(t *Thread, f *FD) *FD {
	if t.g == nil {
		return f
	}
	tb := t.g.fds
	if tb == nil {
		tb = e.newTable()
		e.setTable(t.g, tb)
	}
	if old := tb.get(f.Num); old != nil {
		tb.unlink(old)
		tb.del(f.Num)
		e.nfds--
		e.release(old)
	}
	for tb.n >= e.opts.MaxFDsPerProcess && tb.head != nil {
		old := tb.head
		tb.unlink(old)
		tb.del(old.Num)
		e.nfds--
		e.stats.FDsEvicted++
		e.release(old)
	}
	tb.push(f)
	e.nfds++
	e.stats.FDsAdded++
	return f
}

// removeFD removes fd number n from t's table, if there. The FD stays as it was until the
// next Process (the Context of a close points to it), then goes back to the pool.
func (e *Engine) removeFD(t *Thread, n int64) {
	if t == nil || t.g == nil || t.g.fds == nil {
		return
	}
	tb := t.g.fds
	f := tb.get(n)
	if f == nil {
		return
	}
	tb.unlink(f)
	tb.del(n)
	e.nfds--
	e.stats.FDsRemoved++
	e.release(f)
}

// unshareFDs gives t's process a private copy of its fd table if it is shared.
func (e *Engine) unshareFDs(t *Thread) {
	if t.g == nil || t.g.fds == nil || t.g.fds.refs <= 1 {
		return
	}
	e.setTable(t.g, e.copyTable(t.g.fds))
}

func withSlash(p string) string {
	if p == "" || strings.HasSuffix(p, "/") {
		return p
	}
	return p + "/"
}

// Capture is the metadata a capture file holds (a scap.Reader), for LoadCapture.
type Capture interface {
	Machine() (event.MachineInfo, bool)
	Interfaces() []event.Interface
	Users() []event.User
	Groups() []event.Group
	Threads() []event.ThreadInfo
	FDs() []event.FDInfo
}

// LoadCapture adds a capture's metadata (see Load).
func (e *Engine) LoadCapture(c Capture) {
	var mi *event.MachineInfo
	if m, ok := c.Machine(); ok {
		mi = &m
	}
	e.Load(mi, c.Interfaces(), c.Users(), c.Groups(), c.Threads(), c.FDs())
}

// Load adds a capture's (or a /proc scan's) metadata: the machine (when not nil), interfaces,
// users, groups, threads and their fds, in that order.
func (e *Engine) Load(mi *event.MachineInfo, ifs []event.Interface, users []event.User, groups []event.Group, threads []event.ThreadInfo, fds []event.FDInfo) {
	if mi != nil {
		e.SetMachine(*mi)
	}
	e.SetInterfaces(ifs)
	for _, u := range users {
		e.AddUser(u)
	}
	for _, g := range groups {
		e.AddGroup(g)
	}
	for _, t := range threads {
		e.AddThread(t)
	}
	for _, f := range fds {
		e.AddFD(f)
	}
}
