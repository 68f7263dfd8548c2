package deny

import (
	"encoding/binary"
	"sync"
	"time"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/procscan"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/pkg/sysfields"
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
	ti, err := procscan.Thread(d.Root, int(r.PID))
	if err != nil {
		return Verdict{} // the process is gone: nothing waits for the answer
	}
	// ancestors first, so that the link finds them
	pp := ti.PTID
	for i := 0; i < maxAncestors && pp > 1; i++ {
		at, err := procscan.Thread(d.Root, int(pp))
		if err != nil {
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
	return record(b, event.Current("openat", 'X'), ts, tid, vals)
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
	b = record(b, code, uint64(time.Now().UnixNano()), tid, vals)
	_ = event.Decode(b, ev, true) // a record built here: it decodes
	return ev
}

func record(b []byte, code uint16, ts uint64, tid int64, vals [][]byte) []byte {
	n := event.HeaderLen + 2*len(vals)
	for _, v := range vals {
		n += len(v)
	}
	b = binary.LittleEndian.AppendUint64(b, ts)
	b = binary.LittleEndian.AppendUint64(b, uint64(tid))
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vals)))
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
	}
	for _, v := range vals {
		b = append(b, v...)
	}
	return b
}
