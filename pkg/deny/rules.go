package deny

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"sync"
	"time"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/procscan"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/pkg/sysfields"
	"golang.org/x/sys/unix"
)

// maxAncestors bounds the parent chain read from /proc per decision (proc.pname, proc.aname).
const maxAncestors = 16

// State is the private state engine deny rules are compiled against: the agent's engine
// belongs to its event loop, and a decision cannot wait for it. Compile the rules with
// Sources() (engine.Compile or agent.LoadRules) and give the ruleset to NewRuleDecider.
type State struct {
	st  *state.Engine
	src *sysfields.Source
}

// NewState makes the engine; containers (optional) gives container.* fields their metadata.
func NewState(containers *container.Manager) *State {
	st := state.New(state.Options{MaxThreads: 4096, Containers: containers})
	return &State{st: st, src: sysfields.NewSourceWith(st, sysfields.Options{})}
}

// Sources are the rule sources to compile deny rules with.
func (s *State) Sources() map[string]fields.Source {
	return map[string]fields.Source{"syscall": s.src}
}

// DenyRules are the enabled syscall rules of rs with `enforce: deny`.
func DenyRules(rs *engine.Ruleset) []*engine.Rule {
	var out []*engine.Rule
	for _, r := range rs.Enabled() {
		if r.Source == "syscall" && r.Def != nil && r.Def.Enforce == "deny" {
			out = append(out, r)
		}
	}
	return out
}

// RuleDecider evaluates the deny rules on a synthesized openat exit event: the requesting
// process (and its ancestors) read from /proc into the private state, fd.name the event
// file's path, evt.arg.flags O_RDONLY, dev and ino those of the file. An exec permission
// event is presented the same way (execution opens the file): a rule on the path also denies
// running it.
type RuleDecider struct {
	mu    sync.Mutex
	s     *State
	rules []*engine.Rule // the deny rules that can match openat
	ev    event.Event
	buf   []byte
	cache map[int]cached
	// the pid Name checked last, and when: Decide for that pid right after does not check it
	// again
	named   int32
	namedAt time.Time
	statBuf []byte
	closed  bool   // Close was called: nothing is cached any more
	Root    string // "/proc"
}

// Close releases the descriptors of the process cache (a reload replaced the decider); a
// Decide still running on it, or called later, reads /proc by path and keeps nothing open.
func (d *RuleDecider) Close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.cache {
		closeFDs(&c)
	}
	clear(d.cache)
	d.closed = true
}

// NewRuleDecider decides with rs's deny rules (rs compiled with s.Sources()).
func NewRuleDecider(s *State, rs *engine.Ruleset) *RuleDecider {
	d := &RuleDecider{s: s, Root: "/proc"}
	code := event.Current("openat", 'X')
	for _, r := range DenyRules(rs) {
		if r.AllTypes {
			d.rules = append(d.rules, r)
			continue
		}
		for _, c := range r.EventTypes {
			if c == code {
				d.rules = append(d.rules, r)
				break
			}
		}
	}
	return d
}

// Rules are the deny rules the decider evaluates.
func (d *RuleDecider) Rules() []*engine.Rule { return d.rules }

// nameFresh bounds how long after Name a Decide for the same pid relies on Name's check.
const nameFresh = 50 * time.Millisecond

// Decide evaluates the rules; the first match denies.
func (d *RuleDecider) Decide(r *Request) Verdict {
	if len(d.rules) == 0 || r.Path == "" {
		return Verdict{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	// the Guard's Name just checked this requester for this event
	check := !(d.named == r.PID && now.Sub(d.namedAt) < nameFresh)
	d.named = 0
	ti, ok := d.process(int(r.PID), now, check)
	if !ok {
		return Verdict{} // the process is gone: nothing waits for the answer
	}
	// ancestors first, so that the link finds them
	pp := ti.PTID
	for i := 0; i < maxAncestors && pp > 1; i++ {
		at, ok := d.process(int(pp), now, false)
		if !ok {
			break
		}
		d.s.st.AddThread(at)
		pp = at.PTID
	}
	d.s.st.AddThread(ti)
	d.buf = openatRecord(d.buf[:0], uint64(time.Now().UnixNano()), ti.TID, r)
	if err := event.Decode(d.buf, &d.ev, true); err != nil {
		return Verdict{}
	}
	ctx := d.s.st.Process(&d.ev)
	d.s.src.Track(ctx)
	v := Verdict{Comm: ti.Comm, Exe: ti.ExePath}
	if ctx.Thread != nil {
		v.Container = ctx.Thread.ContainerID
	}
	for _, rule := range d.rules {
		if rule.Filter(ctx) {
			v.Deny, v.Rule, v.Priority = true, rule.Name, rule.Priority
			if rule.Output != nil {
				v.Output = rule.Output.Render(ctx, nil)
			}
			break
		}
	}
	// the private engine keeps no fds between decisions
	d.s.st.Process(closeRecord(&d.ev, d.buf[:0], ti.TID))
	return v
}

// Process cache: the requester is checked at every decision (comm, parent, start time,
// executable inode and owner of /proc/PID: an exec changes the executable or, with the same
// one, usually the comm; a re-exec of the same program under the same name within cacheTTL
// keeps its previous arguments), its ancestors are taken as read within cacheTTL. An entry
// keeps /proc/PID and /proc/PID/stat open: the check is then a pread of stat, an fstatat of
// exe and an fstat, with no path walk; the descriptors are bound to that process, so once it
// exits they fail (and a new process under the same pid is read afresh by path).
const (
	cacheTTL  = time.Second
	cacheSize = 1024 // entries, each holding two descriptors
)

type cached struct {
	ti        event.ThreadInfo
	key       ident
	at        time.Time
	dir, stat int // open /proc/PID and /proc/PID/stat (-1: none)
}

// ident is what tells a process image apart cheaply: /proc/PID/stat's comm, ppid and start
// time, the executable's device and inode, and the owner of /proc/PID (the effective uid and
// gid).
type ident struct {
	comm     string
	ppid     int64
	start    uint64
	dev, ino uint64
	uid, gid uint32
}

func closeFDs(c *cached) {
	if c.dir >= 0 {
		unix.Close(c.dir)
	}
	if c.stat >= 0 {
		unix.Close(c.stat)
	}
	c.dir, c.stat = -1, -1
}

// readIdent reads the identity through c's descriptors.
func (d *RuleDecider) readIdent(c *cached) (ident, bool) {
	if len(d.statBuf) == 0 {
		d.statBuf = make([]byte, 4096)
	}
	n, err := unix.Pread(c.stat, d.statBuf, 0)
	if err != nil || n <= 0 {
		return ident{}, false
	}
	b := d.statBuf[:n]
	l, r := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if l < 0 || r < l {
		return ident{}, false
	}
	var id ident
	// fields after the comm: state ppid ... starttime (the 20th after it)
	rest := b[r+1:]
	for i := 0; i < 20; i++ {
		rest = bytes.TrimLeft(rest, " ")
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			j = len(rest)
		}
		switch i {
		case 1:
			id.ppid, _ = strconv.ParseInt(string(rest[:j]), 10, 64)
		case 19:
			id.start, err = strconv.ParseUint(string(rest[:j]), 10, 64)
			if err != nil {
				return ident{}, false
			}
		}
		rest = rest[j:]
	}
	var st, owner unix.Stat_t
	unix.Fstatat(c.dir, "exe", &st, 0)
	if unix.Fstat(c.dir, &owner) != nil {
		return ident{}, false
	}
	id.dev, id.ino, id.uid, id.gid = st.Dev, st.Ino, owner.Uid, owner.Gid
	comm := b[l+1 : r]
	if c.key.comm == string(comm) { // no allocation when unchanged
		id.comm = c.key.comm
	} else {
		id.comm = string(comm)
	}
	return id, true
}

// open opens pid's /proc directory and stat file into c.
func (d *RuleDecider) open(pid int, c *cached) bool {
	dir, err := unix.Open(d.Root+"/"+strconv.Itoa(pid), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	st, err := unix.Openat(dir, "stat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(dir)
		return false
	}
	c.dir, c.stat = dir, st
	return true
}

func (d *RuleDecider) process(pid int, now time.Time, check bool) (event.ThreadInfo, bool) {
	c, hit := d.cache[pid]
	if hit && now.Sub(c.at) < cacheTTL && !check {
		return c.ti, true
	}
	var key ident
	ok := false
	if hit {
		key, ok = d.readIdent(&c)
	}
	if !ok {
		// not cached, or its process exited (the pid may be another process's now)
		if hit {
			closeFDs(&c)
			delete(d.cache, pid)
			hit = false
		}
		c = cached{dir: -1, stat: -1}
		if !d.open(pid, &c) {
			return event.ThreadInfo{}, false
		}
		if key, ok = d.readIdent(&c); !ok {
			closeFDs(&c)
			return event.ThreadInfo{}, false
		}
	}
	if hit && c.key == key && now.Sub(c.at) < cacheTTL {
		return c.ti, true
	}
	ti, err := procscan.Thread(d.Root, pid)
	if err != nil {
		closeFDs(&c)
		delete(d.cache, pid)
		return ti, false
	}
	if !hit && len(d.cache) >= cacheSize {
		for _, o := range d.cache {
			closeFDs(&o)
		}
		clear(d.cache)
	}
	if d.cache == nil {
		d.cache = map[int]cached{}
	}
	if d.closed {
		closeFDs(&c)
		return ti, true
	}
	c.ti, c.key, c.at = ti, key, now
	d.cache[pid] = c
	return ti, true
}

// Name returns the requester's comm and executable path from the cache, checked against
// /proc as Decide checks it (the Guard's trusted test); ok false when the process is gone.
func (d *RuleDecider) Name(pid int32) (comm, exe string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ti, ok := d.process(int(pid), time.Now(), true)
	if !ok {
		return "", "", false
	}
	d.named, d.namedAt = pid, time.Now()
	return ti.Comm, ti.ExePath, true
}

// fdNum is the fd number the synthesized open returns (and the close takes back).
const fdNum = 0x7ffffff0

// openatRecord is a scap openat exit (the current layout: fd, dirfd, name, flags, mode, dev,
// ino).
func openatRecord(b []byte, ts uint64, tid int64, r *Request) []byte {
	name := append([]byte(r.Path), 0)
	vals := [][]byte{
		binary.LittleEndian.AppendUint64(nil, fdNum),
		binary.LittleEndian.AppendUint64(nil, uint64(0xffffffffffffff9c)), // AT_FDCWD
		name,
		binary.LittleEndian.AppendUint32(nil, 1), // PPM_O_RDONLY
		binary.LittleEndian.AppendUint32(nil, 0),
		binary.LittleEndian.AppendUint32(nil, uint32(r.Dev)),
		binary.LittleEndian.AppendUint64(nil, r.Ino),
	}
	return event.AppendRecord(b, event.Current("openat", 'X'), ts, tid, vals...)
}

// closeRecord is a close exit of fdNum.
func closeRecord(ev *event.Event, b []byte, tid int64) *event.Event {
	code := event.Current("close", 'X')
	info := &event.Table[code]
	vals := make([][]byte, len(info.Params))
	for i, p := range info.Params {
		switch {
		case p.Name == "fd":
			vals[i] = binary.LittleEndian.AppendUint64(nil, fdNum)
		default:
			vals[i] = make([]byte, 8) // res (0)
		}
	}
	b = event.AppendRecord(b, code, uint64(time.Now().UnixNano()), tid, vals...)
	_ = event.Decode(b, ev, true) // a record built here: it decodes
	return ev
}
