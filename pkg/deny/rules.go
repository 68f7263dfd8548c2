package deny

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
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
	Root  string // "/proc"
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

// Decide evaluates the rules; the first match denies.
func (d *RuleDecider) Decide(r *Request) Verdict {
	if len(d.rules) == 0 || r.Path == "" {
		return Verdict{}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	now := time.Now()
	ti, ok := d.process(int(r.PID), now, true)
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

// Process cache: the requester is checked at every decision (comm, parent, start time and
// executable inode: an exec changes the executable or, with the same one, usually the comm;
// a re-exec of the same program under the same name within cacheTTL keeps its previous
// arguments), its ancestors are taken as read within cacheTTL.
const (
	cacheTTL  = time.Second
	cacheSize = 4096
)

type cached struct {
	ti  event.ThreadInfo
	key string
	at  time.Time
}

// identity is what tells a process image apart cheaply: /proc/PID/stat's comm, ppid and
// start time, the executable's device and inode, and the owner of /proc/PID (the effective
// uid and gid).
func (d *RuleDecider) identity(pid int) (string, bool) {
	dir := d.Root + "/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return "", false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return "", false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return "", false
	}
	var st, owner unix.Stat_t
	unix.Stat(dir+"/exe", &st)
	unix.Stat(dir, &owner) // owned by the effective uid and gid (a setuid changes them)
	return fmt.Sprintf("%s|%s|%s|%d:%d|%d:%d", b[:i], f[1], f[19], st.Dev, st.Ino, owner.Uid, owner.Gid), true
}

func (d *RuleDecider) process(pid int, now time.Time, check bool) (event.ThreadInfo, bool) {
	c, hit := d.cache[pid]
	if hit && now.Sub(c.at) < cacheTTL && !check {
		return c.ti, true
	}
	key, ok := d.identity(pid)
	if !ok {
		delete(d.cache, pid)
		return event.ThreadInfo{}, false
	}
	if hit && c.key == key && now.Sub(c.at) < cacheTTL {
		return c.ti, true
	}
	ti, err := procscan.Thread(d.Root, pid)
	if err != nil {
		return ti, false
	}
	if d.cache == nil || len(d.cache) >= cacheSize {
		d.cache = map[int]cached{}
	}
	d.cache[pid] = cached{ti: ti, key: key, at: now}
	return ti, true
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
