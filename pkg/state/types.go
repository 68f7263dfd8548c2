// Package state is Saker's state engine: the threads, processes, file descriptors, users and
// groups that libsinsp keeps (userspace/libsinsp parsers.cpp, threadinfo.cpp, fdinfo.cpp and
// thread_manager.cpp in falcosecurity/libs), rebuilt from the metadata a capture carries (or a
// /proc scan) and then kept up to date event by event.
//
// # Use
//
//	e := state.New(state.Options{})
//	e.SetMachine(mi); e.SetInterfaces(ifs)
//	for _, u := range users { e.AddUser(u) } // AddGroup, AddThread, AddFD likewise
//	for each event ev (normalized by pkg/event: current codes, enter params merged):
//		ctx := e.Process(ev)   // ctx.Thread, ctx.FD, ctx.FDNum: what fields are extracted from
//
// Process takes enter events too (they set the thread and the fd of the context, like
// libsinsp's reset, but change no state); state changes happen on exit events, plus procexit
// (an enter-only event). Event params are looked up by name, so any event version works.
//
// # Semantics worth knowing (they follow libsinsp unless said otherwise)
//
//   - A Context is reused: it and what it points to are valid until the next Process. A thread
//     that exits (procexit) is removed at the start of the next Process, so the procexit's own
//     Context still sees it. A closed fd is removed from its table, but the close's Context.FD
//     still points to it as it was. FD values are recycled: an *FD (from a Context, FDOf or
//     Thread.FDs) stands for its fd while that is in its table, and one removed (closed,
//     evicted, replaced) until the next Process; copy what must outlive that.
//   - Cwd always ends with "/" (libsinsp set_cwd), and chdir/fchdir update the process's main
//     thread (and the calling thread).
//   - Threads of one process (CLONE_THREAD), and processes cloned with CLONE_FILES, share one fd
//     table; other children get a copy. An exec first unshares a shared table (as the kernel
//     does), then drops the fds flagged close-on-exec (O_CLOEXEC, EPOLL_CLOEXEC, MFD_CLOEXEC).
//     libsinsp copies the table even with CLONE_FILES; the visible result only differs when the
//     two processes later open or close fds.
//   - dup/dup2/F_DUPFD give the new fd without O_CLOEXEC, dup3(O_CLOEXEC) and F_DUPFD_CLOEXEC
//     with it (the kernel's rule; libsinsp copies the old fd's flags).
//   - Opened files get type event.FDFileV2 (16) or event.FDDirectory (O_DIRECTORY); fd lists may
//     also hold event.FDFile (1): field code should treat 1 and 16 alike ("file").
//   - memfd_create names the fd with the name given (as libsinsp does, no "memfd:" prefix).
//   - A tid that produces events but is unknown gets an entry built lazily (Thread.Invalid):
//     PID = TID, PTID = -1, UID/GID/LoginUID = 0xFFFFFFFF, empty Comm/Exe (libsinsp shows these
//     as <NA>). clone/fork exits and procexit never create such entries. Its execve fills it in, taking the
//     cwd the event carries (libsinsp leaves such a thread's cwd empty).
//   - prctl(PR_SET_NAME) does not change Comm (libsinsp ignores it; comm comes from exec and
//     clone events); prctl(PR_SET_CHILD_SUBREAPER) marks the process as a reaper.
//   - setreuid/setresuid/... set the effective id on success, and leave it when the event says
//     -1 (unchanged); libsinsp would store 0xFFFFFFFF.
//   - rename/renameat do not rename open fds (libsinsp does not either).
//   - A failed connect (other than EINPROGRESS) leaves the fd alone unless
//     Options.TrackConnectionStatus is set (libsinsp's switch, off by default as in Falco and
//     the sysdig CLI); FD.Connected and FD.Failed follow connect, accept and socket reads/writes.
//   - A datagram tuple with an unspecified end is completed from the interface list (libsinsp
//     sinsp_network_interfaces::update_fd).
//   - On procexit, children are reparented like the kernel (and libsinsp): to the reaper the
//     event names, else another live thread of the process, else the nearest ancestor marked as
//     a reaper (pid 1, a namespace's init, or a prctl subreaper), else PTID becomes 0.
//
// # Network fds
//
// For connected sockets SrcIP/SrcPort hold the client side and DstIP/DstPort the server side
// (libsinsp's sip/sport and dip/dport): after connect, src is the local end; after accept, src
// is the remote (client) end. Client and Server give the fd's role (libsinsp's role flags): a
// connect makes a client, a bind to a port, an accept, or a first read of an unconnected
// datagram socket makes a server. For listening sockets (FDIPv4Server, FDIPv6Server) SrcIP and
// SrcPort hold the bound address, as in event.FDInfo. Name is libsinsp's: "sip:sport->dip:dport"
// for TCP/UDP, "ip:port" for a bound socket, "<src hex>-><dst hex> <path>" for a connected unix
// socket.
//
// # Checked against sysdig
//
// The tests replay the shared captures and compare, event by event, proc.*, user.*, fd.* and
// container.id values computed from this state with what Debian's sysdig 0.29.3 prints; the
// few deliberate differences (current libsinsp behaviour over 0.29's) are listed in
// sysdig_test.go.
//
// # Bounds
//
// Options bound the thread table, each fd table and the user and group tables. A full thread
// table evicts the least recently active thread; a full fd table evicts its oldest fd; the user
// and group tables evict their oldest entry. Stats counts the evictions.
package state

import (
	"net/netip"
	"time"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
)

// Options bound the tables. Zero values take the defaults.
type Options struct {
	MaxThreads       int // default 131072
	MaxFDsPerProcess int // default 8192
	MaxUsers         int // users, and separately groups; default 4096

	// TrackConnectionStatus is libsinsp's set_track_connection_status: a failed connect still
	// records its tuple (and FD.Failed), as the sysdig CLI shows it. Off (Falco's default), a
	// failed connect other than EINPROGRESS leaves the fd alone.
	TrackConnectionStatus bool

	// Containers, when set, gives threads their container metadata entry, and receives the
	// container events (code 324) of captures.
	Containers *container.Manager
	// ContainerWait, when positive, is how long the exec of a container's init (vpid 1) may
	// wait for the container's metadata while its first fetch is in flight
	// (container.Entry.AwaitFetch), so that rules on a container's start see it. The event
	// stream stalls that long at most, once per container.
	ContainerWait time.Duration
}

// Defaults of Options.
const (
	DefaultMaxThreads       = 131072
	DefaultMaxFDsPerProcess = 8192
	DefaultMaxUsers         = 4096
)

// Stats are table sizes and counters since New.
type Stats struct {
	Events           uint64 // events processed
	Threads          int    // threads in the table
	FDTables         int    // distinct fd tables
	FDs              int    // fds in all tables
	Users, Groups    int
	ThreadsAdded     uint64 // from the process list, clone events and lazy creation
	ThreadsLazy      uint64 // of which created lazily for an unknown tid
	ThreadsRemoved   uint64 // by procexit (or exec of a sibling thread)
	ThreadsEvicted   uint64 // dropped because the table was full
	FDsAdded         uint64
	FDsRemoved       uint64 // close, close_range, exec (close-on-exec), dup2 onto an open fd
	FDsEvicted       uint64 // dropped because a table was full
	UsersEvicted     uint64 // users and groups
	FDsWithoutThread uint64 // fd list entries whose thread was not in the process list
}

// Thread is one thread (task) of the thread table. Process-wide fields (Comm, Exe, Args, Cwd,
// fds, …) should be read from Main(), as libsinsp's proc.* fields do.
type Thread struct {
	TID, PID, PTID, SID, VPGID, PGID, VTID, VPID int64

	Comm, Exe, ExePath, Cwd, Root string
	Args, Env, Cgroups            []string

	UID, GID, LoginUID, TTY                    uint32
	CapInheritable, CapPermitted, CapEffective uint64
	ExeIno, ExeInoCtime, ExeInoMtime           uint64

	ExeWritable, ExeUpperLayer, ExeLowerLayer, ExeFromMemfd bool

	FDLimit int64
	Flags   uint32 // clone flags (scap encoding, flag-tables.tsv clone_flags) of the clone that made it

	ClonedTS, ExecTS uint64 // thread creation (clone event) / last successful execve, ns since the epoch
	ContainerID      string // "host" or the 12-char container id from Cgroups
	// Container is the container's metadata entry (nil without a container manager, or for
	// threads not yet placed); Entry.Info is never nil, Entry.Pending marks metadata not yet known.
	Container *container.Entry
	// Category is what started the thread: a container's init, a health probe (see
	// identifyCategory); CatNone on the host.
	Category Category

	VMSizeKB, VMRSSKB, VMSwapKB uint32
	PFMajor, PFMinor            uint64

	PidNSInitStartTS uint64

	// Invalid marks an entry made lazily for an unknown tid (see the package doc).
	Invalid bool
	// Dead marks a thread whose procexit was seen; a dead main thread stays while other
	// threads of its process live.
	Dead bool
	// ReaperTID is the reaper the procexit event named (0 when none).
	ReaperTID int64

	g        *group
	children map[int64]*Thread
	slots    []uint64 // per-thread storage reserved with Engine.ReserveSlot

	lruPrev *Thread
	lruNext *Thread
	inTable bool
}

// Main returns the process's main thread (the thread whose TID is the PID), or t itself when
// that thread is not in the table.
func (t *Thread) Main() *Thread {
	if t.g != nil && t.g.main != nil {
		return t.g.main
	}
	return t
}

// IsMain reports whether t is its process's main thread.
func (t *Thread) IsMain() bool { return t.TID == t.PID }

// NumChilds is libsinsp's m_nchilds of t as sysdig 0.29 keeps it: for a process's main thread,
// the number of the other threads of the process in the table; 0 for any other thread. A thread
// leaves the table at the event after its procexit (so the procexit still counts it); a main
// thread that exits before its threads stays, dead, and still counts them.
func (t *Thread) NumChilds() int {
	if t.g == nil || t.g.main != t {
		return 0
	}
	return len(t.g.threads) - 1
}

// NumThreads is libsinsp's proc.nthreads as sysdig 0.29 computes it: the main thread's
// NumChilds plus one (t itself standing for the main thread when that is not in the table).
func (t *Thread) NumThreads() int {
	m := t.Main()
	if m.g != nil && m.g.main == nil {
		return len(m.g.threads) // no main thread: every thread of the group is a child
	}
	return m.NumChilds() + 1
}

// Slot returns the thread's storage cell number i (reserved with Engine.ReserveSlot; zero for a
// new thread), libsinsp's per-thread private state. It allocates only the first time a thread
// uses a slot.
func (t *Thread) Slot(i int) *uint64 {
	if i >= len(t.slots) {
		n := make([]uint64, i+1, max(i+1, 2))
		copy(n, t.slots)
		t.slots = n
	}
	return &t.slots[i]
}

// NumFDs returns the number of fds in the thread's fd table.
func (t *Thread) NumFDs() int {
	if t.g == nil || t.g.fds == nil {
		return 0
	}
	return t.g.fds.n
}

// FDs calls fn for each fd of the thread's table, oldest first, until fn returns false.
func (t *Thread) FDs(fn func(*FD) bool) {
	if t.g == nil || t.g.fds == nil {
		return
	}
	for f := t.g.fds.head; f != nil; f = f.next {
		if !fn(f) {
			return
		}
	}
}

// L4 protocols (scap_l4_proto).
const (
	L4Unknown = 0
	L4TCP     = 1
	L4UDP     = 2
	L4ICMP    = 3
	L4Raw     = 5
)

// FD is one file descriptor of an fd table.
type FD struct {
	Num     int64
	Type    uint8  // event.FD* constants
	Name    string // path, socket tuple text, …
	NameRaw string // files: the path as the open call passed it (fd.nameraw), not made absolute
	// CleanName is set when Name is known to be an absolute path in clean form (IsCleanAbs):
	// an open of a name that was one already. (False says nothing.)
	CleanName bool
	RealPath  string // files opened live: the kernel's path of the opened file (the probe's ExtRealPath); "" when unknown
	OpenFlags uint32 // scap encoding (flag-tables.tsv file_flags; epoll/memfd flags for those types)
	Ino       uint64
	Dev       uint32

	L4Proto          uint8
	SrcIP, DstIP     netip.Addr
	SrcPort, DstPort uint16
	Client, Server   bool // role (see the package doc)
	UnixSrc, UnixDst uint64

	// Connected is set by a successful (or in-progress) connect, an accept, or a successful
	// read/write on an IPv4/IPv6 socket; Failed by a failed one (with TrackConnectionStatus).
	Connected, Failed bool

	// PID is the process a pidfd refers to (pidfd_open).
	PID int64

	prev, next *FD
}

// IsSocket reports whether the fd is an IPv4/IPv6 socket (connected or listening).
func (f *FD) IsSocket() bool {
	switch f.Type {
	case event.FDIPv4Sock, event.FDIPv6Sock, event.FDIPv4Server, event.FDIPv6Server:
		return true
	}
	return false
}

// cloneFD returns a copy of f outside any table.
func (e *Engine) cloneFD(f *FD) *FD {
	c := e.newFD()
	*c = *f
	c.prev, c.next = nil, nil
	return c
}

// Context is what one event's fields are extracted from. It is reused between calls to
// Process: valid until the next one.
type Context struct {
	Ev     *event.Event
	Thread *Thread // the thread that made the event (nil if unknown and not created)
	FD     *FD     // the fd the event operates on or created, if known (for close: as it was)
	FDNum  int64   // that fd's number, -1 if none

	// OldFDName is the fd's name before this event (fd.name_changed compares it with FD.Name).
	OldFDName string
	// PrevUID is the thread's effective uid before a setuid/setreuid/setresuid exit (set for
	// those events only, successful or not; user.prev_uid reads it).
	PrevUID uint32
	// (Process resets the fields one by one: a new field needs its line there.)
}

// NameChanged is libsinsp's fd.name_changed: whether the event changed (or gave) the name of
// its fd (FD), computed when a field asks (the engine does not compare names per event).
func (c *Context) NameChanged() bool { return c.FD != nil && c.FD.Name != c.OldFDName }

// group is what the threads of one process share.
type group struct {
	pid     int64
	main    *Thread
	threads map[int64]*Thread
	alive   int
	reaper  bool
	fds     *fdTable
}

// fdTable is one fd table, fds in insertion order for eviction. Numbers below maxLowFD (what
// processes mostly use) index a slice, the others a map.
type fdTable struct {
	low        []*FD         // fd i at low[i] (nil: none); grown on demand up to maxLowFD
	high       map[int64]*FD // the others (nil until one is added)
	n          int           // fds in the table
	head, tail *FD
	refs       int // groups using it
}

// maxLowFD bounds the fd numbers an fdTable keeps in its slice.
const maxLowFD = 256

// get returns fd number n, or nil.
func (tb *fdTable) get(n int64) *FD {
	if uint64(n) < uint64(len(tb.low)) {
		return tb.low[n]
	}
	if uint64(n) < maxLowFD || tb.high == nil {
		return nil
	}
	return tb.high[n]
}

// set puts f at its number (which holds no fd).
func (tb *fdTable) set(f *FD) {
	n := f.Num
	tb.n++
	if uint64(n) >= maxLowFD {
		if tb.high == nil {
			tb.high = make(map[int64]*FD)
		}
		tb.high[n] = f
		return
	}
	if n >= int64(len(tb.low)) {
		l := min(max(int(n)+1, 2*len(tb.low), 16), maxLowFD)
		low := make([]*FD, l)
		copy(low, tb.low)
		tb.low = low
	}
	tb.low[n] = f
}

// del removes fd number n (which is in the table).
func (tb *fdTable) del(n int64) {
	tb.n--
	if uint64(n) < uint64(len(tb.low)) {
		tb.low[n] = nil
		return
	}
	delete(tb.high, n)
}
