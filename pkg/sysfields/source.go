// Package sysfields is the "syscall" event source of the rule engine: it binds the fields of
// the syscall catalogue (fields.SyscallCatalog: libsinsp's evt.*, proc.*, thread.*, fd.*,
// fs.path.*, user.*, group.* fields plus the container.* and k8s.* fields) to extractors that
// read a *state.Context (the event as the state engine saw it), with the semantics of sysdig
// 0.29.3 / libsinsp, which the differential tests check line for line. It also renders
// sysdig's -p output formats (Formatter).
//
// Extraction follows libsinsp:
//   - proc.* read the process's main thread, thread.* the event's thread; ancestors
//     (proc.aname[N], proc.apid[N], ...) count from 0 = the process itself; without an
//     argument they yield the parent's value, with every ancestor's value in Value.L (the
//     rule compiler compares against any of them, as libsinsp does).
//   - fd.* read the fd the event operates on (state.Context.FD); fd.num is -1 when the event
//     has none but its thread is known.
//   - fd.cip/fd.sip are the client and server ends of a connected socket (state.FD stores
//     client=Src, server=Dst for both connect and accept); fd.lip/fd.rip are local and remote
//     (local = server end on a server-role fd). The IP fields' values are full-length
//     netip.Prefix values; fd.net and friends yield the same address and the compiler checks
//     membership in the CIDR operand.
//   - container.id is "host" for host processes; the other container.* and all k8s.* fields
//     have no value until a container metadata source exists.
//
// By default evt.arg/evt.rawarg/evt.args/evt.info/evt.res read the normalized event (current
// layout, enter params merged into the exit: what Falco rules see) and fd fields follow the
// current event table. Options.Sysdig029 makes them behave like sysdig 0.29.3 instead (`saker
// events --sysdig-029`, which the differential tests run): params are read from the record as
// it was captured, and mmap/mmap2 are not fd events (0.29's table did not flag them).
package sysfields

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// Options tune a Source.
type Options struct {
	// Sysdig029 makes the param fields (evt.arg, evt.rawarg, evt.args, evt.info, evt.res,
	// evt.rawres, evt.failed, evt.buffer) read each event as it was recorded (its own version's
	// params, no enter params merged), and the fd fields ignore the fd of mmap/mmap2, like
	// sysdig 0.29.3.
	Sysdig029 bool
	// Print029, with Sysdig029, is for a source whose extractors only print (sysdig -p) and
	// never filter: the few fields whose printed value in sysdig 0.29.3 is not the one its
	// filters compare (evt.type.is.X prints <NA>; proc.apid of a thread without ancestors
	// prints its own pid) print as sysdig 0.29.3 does.
	Print029 bool
}

// Source is the syscall event source. Its extractors read *state.Context values; they are not
// safe for concurrent use (they share per-event caches), like the state engine itself.
type Source struct {
	st    *state.Engine
	opts  Options
	cat   *fields.Catalog
	r     renderer
	joins joinMemo // proc.cmdline, proc.args, proc.env joins (joinmemo.go)

	// as-recorded view of the current event
	rawFor  *event.Event
	rawNum  uint64
	rawTS   uint64
	rawOK   bool
	rawView event.Event

	folds map[foldKey][]fields.Outcome // what Outcomes found

	// the last fd.directory of a file name: the rules of an open read it several times
	// (Create files below dev, sensitive_files...), each a clean-path check otherwise
	dirIn, dirOut string

	// evt.arg values rendered for the current event (every rule that tests evt.arg.flags
	// or evt.arg.name shares one rendering); argHave has bit i set when argVal[i] is valid
	argFor  *event.Event
	argNum  uint64
	argTS   uint64
	argHave uint64
	argVal  [event.MaxParams]string

	// Track state (evt.latency, evt.wait_latency, evt.reltime)
	tracked            bool
	firstTS            uint64
	curTS              uint64
	enterSlot, latSlot int    // thread slots: last enter's time, current latency (libsinsp m_latency)
	latency            uint64 // the current event's latency
	latencyN           uint64 // event number latency is for
}

// NewSource returns the syscall source reading state from st (nil: catalogue-level use, e.g.
// `rules validate`; every extractor is still bound and simply finds no state).
func NewSource(st *state.Engine) fields.Source { return NewSourceWith(st, Options{}) }

// NewSourceWith is NewSource with options.
func NewSourceWith(st *state.Engine, opts Options) *Source {
	return &Source{st: st, opts: opts, cat: catalog, r: renderer{st: st}}
}

// extraFields are fields Saker serves that the current Falco catalogue does not list: libsinsp's
// process categories of health probes (sinsp_threadinfo's m_category), which rules use to
// silence health-check noise, and Saker's own probe and state fields (evt.is_io_uring, evt.is_ia32, fd.realpath, fd.canonical,
// fs.path.canonical, proc.deletions).
var extraFields = []fields.Info{
	{Name: "user.prev_uid", Type: fields.Uint64, Desc: "Saker: the thread's effective user id before the event, for setuid, setreuid and setresuid (so a rule can tell a real change of user from a no-op); user.uid for other events."},
	{Name: "proc.is_container_healthcheck", Type: fields.Bool, Desc: "Saker (from libsinsp's process categories): true when the process was started by the container's HEALTHCHECK command, or descends from it; false otherwise and on the host."},
	{Name: "proc.is_container_liveness_probe", Type: fields.Bool, Desc: "Saker (from libsinsp's process categories): true when the process was started by the pod's livenessProbe exec command, or descends from it; false otherwise and on the host."},
	{Name: "proc.is_container_readiness_probe", Type: fields.Bool, Desc: "Saker (from libsinsp's process categories): true when the process was started by the pod's readinessProbe exec command, or descends from it; false otherwise and on the host."},
	// Saker's own: what the live probe adds to events (pkg/event's extension params).
	{Name: "evt.is_io_uring", Type: fields.Bool, Desc: "Saker: true if the event's operation was an io_uring request (the probe writes such requests as the events of the syscalls they stand for: open, connect, ...); 'false' for syscalls and events read from captures."},
	{Name: "evt.is_ia32", Type: fields.Bool, Desc: "Saker: 'true' if the event's syscall came through the 32-bit (ia32) gate, from a 32-bit program or by `int $0x80` from a 64-bit one (a way around probes and rules that watch only the 64-bit table; the event is otherwise the same as the 64-bit call's); 'false' for 64-bit syscalls and events read from captures."},
	{Name: "fd.realpath", Type: fields.String, Desc: "Saker: the kernel's path of the file the fd refers to, as the open resolved it (symlinks, '..', '//' and the directory fd resolved: a symlink to /etc/shadow opened gives /etc/shadow). Equal to fd.name where the kernel's path is not known (captures, fds from before Saker started, non-file fds). A hard link gives the link's own path: use fd.ino and fd.dev to identify the file (or fd.canonical)."},
	{Name: "fd.canonical", Type: fields.String, Desc: "Saker: the path the rules name for the file the fd refers to, by the file's identity: when the file (device and inode) is one the loaded rules compare fd.name, fd.realpath or fd.canonical with (as a path, a list item, or a file directly in a directory they match with startswith), that path, whatever name it was opened by (a hard link to /etc/shadow gives /etc/shadow); otherwise fd.realpath. Live only: the index is built from the host's files at start and reload, and kept as those files are renamed over, linked over, removed or created."},
	{Name: "fs.path.canonical", Type: fields.String, Desc: "Saker: for a link or linkat, the file among those the loaded rules name as sensitive (see fd.canonical) that the new link is another name of, found by identity: a hard link made from another hard link of /etc/shadow gives /etc/shadow. No value for other events, for links to other files, and in captures."},
	{Name: "proc.deletions", Type: fields.Uint64, Desc: "Saker: the number of files and directories the process removed successfully (unlink, unlinkat, rmdir, through io_uring too), with those removed by the processes it started, in its current 10-second counting window (started by its first removal after the last window ended)."},
	{Name: "proc.pdeletions", Type: fields.Uint64, Desc: "Saker: proc.deletions of the parent process (its own removals and all its children's: `find -exec rm {} \\;` or a shell loop of rm add up there); 0 when the parent is an init (pid 1 of the host or of a container), whose children's removals are not counted."},
}

var catalog = fields.NewCatalog(append(append(append([]fields.Info(nil), fields.SyscallCatalog().Fields()...), extraFields...), k8sExtraFields...))

// Catalog is the catalogue the source serves: fields.SyscallCatalog plus the libsinsp fields
// it lacks (extraFields). Rules compiled against a catalogue alone should use this one.
func Catalog() *fields.Catalog { return catalog }

// Name implements fields.Source.
func (s *Source) Name() string { return "syscall" }

// Field implements fields.Source.
func (s *Source) Field(name string) (fields.Info, bool) {
	info, ok := s.cat.Field(name)
	if ok && bothEnds[info.Name] {
		info.BothEnds = true
	}
	return info, ok
}

// bothEnds are the fields whose candidate values are a connection's two ends (see
// fields.Info.BothEnds).
var bothEnds = map[string]bool{"fd.ip": true, "fd.net": true, "fd.port": true, "fd.proto": true}

// NumEventCodes implements fields.Source.
func (s *Source) NumEventCodes() int { return event.NumEvents }

// EventCodes implements fields.Source with libsinsp's evttype semantics: every code with that
// event name (both directions, every version). A syscall without a dedicated event (madvise,
// clock_gettime ...) is recorded as a generic event: its name maps to the generic codes.
func (s *Source) EventCodes(name string) ([]uint16, bool) {
	if codes := event.ByName(name); len(codes) > 0 {
		return append([]uint16(nil), codes...), true
	}
	if genericNames[name] {
		return append([]uint16(nil), event.ByName("syscall")...), true
	}
	return nil, false
}

var genericNames = func() map[string]bool {
	m := make(map[string]bool, len(syscallNames))
	for _, n := range syscallNames[1:] {
		m[n] = true
	}
	return m
}()

// Track records an event for the fields that depend on the stream rather than on one event
// (evt.latency, evt.wait_latency, evt.reltime). Call it for every event, shown or not, right
// after state.Engine.Process; without it those fields have no value.
//
// The latency follows libsinsp's per-thread m_latency: an enter event sets it to 0 and records
// its time, an exit sets it to the time since the thread's last enter (and leaves it when the
// thread has had none), switch and meta events leave it alone and report the thread's current
// value. It is kept per thread entry (a thread that is created anew starts from nothing).
func (s *Source) Track(c *state.Context) {
	ev := c.Ev
	if !s.tracked {
		s.tracked = true
		s.curTS = ev.TS
		if s.st != nil {
			s.enterSlot, s.latSlot = s.st.ReserveSlot(), s.st.ReserveSlot()
		}
	}
	if s.firstTS == 0 {
		s.firstTS = ev.TS // the first event with a time (injected metadata events have none)
	}
	s.curTS = ev.TS
	s.latency = 0
	s.latencyN = ev.Num
	t := c.Thread
	if t == nil || ev.Info == nil || s.st == nil || noLatencyThread(ev) {
		return
	}
	lat := t.Slot(s.latSlot)
	if int(ev.Type) >= len(switchCodes) || !switchCodes[ev.Type] {
		enter := t.Slot(s.enterSlot)
		if ev.Info.Dir == 'E' {
			*lat, *enter = 0, ev.TS
		} else if *enter != 0 && ev.TS >= *enter {
			*lat = ev.TS - *enter
		}
	}
	s.latency = *lat
}

// noLatencyThread reports the events for which libsinsp resets no thread (procinfo and other
// EF_SKIPPARSERESET events, container and user/group metadata): their latency is 0.
func noLatencyThread(ev *event.Event) bool {
	if ev.Info.Flags&event.EFSkipParseReset != 0 {
		return true
	}
	switch ev.Info.Name {
	case "container", "user_added", "user_deleted", "group_added", "group_deleted", "pluginevent", "asyncevent":
		return true
	}
	return false
}

// view returns the event the param fields read.
func (s *Source) view(c *state.Context) *event.Event {
	ev := c.Ev
	if !s.opts.Sysdig029 || len(ev.Raw) == 0 {
		return ev
	}
	if s.rawFor == ev && s.rawNum == ev.Num && s.rawTS == ev.TS {
		if s.rawOK {
			return &s.rawView
		}
		return ev
	}
	s.rawFor, s.rawNum, s.rawTS = ev, ev.Num, ev.TS
	s.rawOK = decodeRaw(ev.Raw, &s.rawView)
	if !s.rawOK {
		return ev
	}
	s.rawView.Num, s.rawView.CPU, s.rawView.Flags = ev.Num, ev.CPU, ev.Flags
	return &s.rawView
}

// decodeRaw decodes a raw record whose header form (with or without nparams) is unknown.
func decodeRaw(raw []byte, out *event.Event) bool {
	if event.Decode(raw, out, true) == nil && out.Info != nil && out.NParams <= len(out.Info.Params) {
		return true
	}
	return event.Decode(raw, out, false) == nil
}

// Extractor implements fields.Source.
func (s *Source) Extractor(info fields.Info, arg string) (fields.Extractor, error) {
	fn, err := s.bind(info, arg)
	if err != nil {
		return nil, err
	}
	return func(ev fields.Event) (fields.Value, bool) {
		c := contextOf(ev)
		if c == nil {
			return fields.Value{}, false
		}
		return fn(c)
	}, nil
}

// contextOf is the context an event handed to this source's extractors is, or nil when it is
// none or holds no event.
func contextOf(ev fields.Event) *state.Context {
	c, ok := ev.(*state.Context)
	if !ok || c == nil || c.Ev == nil {
		return nil
	}
	return c
}

// StringExtractor implements fields.ScalarBinder.
func (s *Source) StringExtractor(info fields.Info, arg string) (func(ev fields.Event) (string, bool, bool), error) {
	if _, ok := s.cat.Field(info.Name); ok {
		if sf := s.strField(info.Name, arg); sf != nil {
			return func(ev fields.Event) (string, bool, bool) {
				c := contextOf(ev)
				if c == nil {
					return "", false, false
				}
				v, ok := sf(c)
				return v, ok, false
			}, nil
		}
	}
	fn, err := s.bind(info, arg)
	if err != nil {
		return nil, err
	}
	return func(ev fields.Event) (string, bool, bool) {
		c := contextOf(ev)
		if c == nil {
			return "", false, false
		}
		v, ok := fn(c)
		return v.S, ok, v.L != nil
	}, nil
}

// NumberExtractor implements fields.ScalarBinder.
func (s *Source) NumberExtractor(info fields.Info, arg string) (func(ev fields.Event) (uint64, bool, bool), error) {
	fn, err := s.bind(info, arg)
	if err != nil {
		return nil, err
	}
	return func(ev fields.Event) (uint64, bool, bool) {
		c := contextOf(ev)
		if c == nil {
			return 0, false, false
		}
		v, ok := fn(c)
		return v.N, ok, v.L != nil
	}, nil
}

// bind is the extraction of a field from a context, shared by the extractors above.
func (s *Source) bind(info fields.Info, arg string) (func(c *state.Context) (fields.Value, bool), error) {
	if _, ok := s.cat.Field(info.Name); !ok {
		return nil, fmt.Errorf("syscall source: unknown field %q", info.Name)
	}
	if info.Arg == fields.ArgRequired && arg == "" {
		return nil, fmt.Errorf("field %s requires an argument", info.Name)
	}
	if info.Arg == fields.ArgNone && arg != "" {
		return nil, fmt.Errorf("field %s takes no argument", info.Name)
	}
	var fn func(c *state.Context) (fields.Value, bool)
	var err error
	if sf := s.strField(info.Name, arg); sf != nil {
		return strValue(sf), nil
	}
	switch {
	case strings.HasPrefix(info.Name, "evt.") || info.Name == "syscall.type":
		fn, err = s.evtField(info.Name, arg)
	case strings.HasPrefix(info.Name, "proc.") || strings.HasPrefix(info.Name, "thread."):
		fn, err = s.procField(info.Name, arg)
	case strings.HasPrefix(info.Name, "fd.") || strings.HasPrefix(info.Name, "fdlist."):
		fn, err = s.fdField(info.Name, arg)
	case strings.HasPrefix(info.Name, "fs.path."):
		fn, err = s.fsPathField(info.Name)
	case strings.HasPrefix(info.Name, "user.") || strings.HasPrefix(info.Name, "group."):
		fn, err = s.userField(info.Name)
	case strings.HasPrefix(info.Name, "container.") || strings.HasPrefix(info.Name, "k8s."):
		fn, err = s.containerField(info.Name, arg)
	case strings.HasPrefix(info.Name, "util."):
		fn = s.utilField(info.Name)
	}
	if err != nil {
		return nil, err
	}
	if fn == nil {
		fn = none // catalogue fields with no extraction here yet: never a value
	}
	return fn, nil
}

// Supported reports whether the named field has a real extractor (not one that never yields a
// value).
func Supported(name string) bool {
	s := NewSourceWith(nil, Options{})
	info, ok := s.cat.Field(name)
	if !ok {
		return false
	}
	arg := ""
	if info.Arg == fields.ArgRequired {
		arg = "x"
		if info.ArgIndex {
			arg = "0"
		}
	}
	if s.strField(name, arg) != nil {
		return true
	}
	var fn func(c *state.Context) (fields.Value, bool)
	switch {
	case strings.HasPrefix(name, "evt.") || name == "syscall.type":
		fn, _ = s.evtField(name, arg)
	case strings.HasPrefix(name, "proc.") || strings.HasPrefix(name, "thread."):
		fn, _ = s.procField(name, arg)
	case strings.HasPrefix(name, "fd.") || strings.HasPrefix(name, "fdlist."):
		fn, _ = s.fdField(name, arg)
	case strings.HasPrefix(name, "fs.path."):
		fn, _ = s.fsPathField(name)
	case strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "group."):
		fn, _ = s.userField(name)
	case strings.HasPrefix(name, "container.") || strings.HasPrefix(name, "k8s."):
		fn, _ = s.containerField(name, arg)
	case strings.HasPrefix(name, "util."):
		fn = s.utilField(name)
	}
	return fn != nil
}

func none(*state.Context) (fields.Value, bool) { return fields.Value{}, false }

// Value constructors.
// renderedArg returns param i of ev (the event view) rendered as evt.arg shows it, once per
// event: the rendering is a function of the event and of the state, which holds still while
// one event is evaluated.
func (s *Source) renderedArg(c *state.Context, ev *event.Event, i int) string {
	if ev.Num == 0 || i >= event.MaxParams {
		return s.renderArg(c, ev, i)
	}
	if s.argFor != ev || s.argNum != ev.Num || s.argTS != ev.TS {
		s.argFor, s.argNum, s.argTS, s.argHave = ev, ev.Num, ev.TS, 0
	}
	if s.argHave&(1<<uint(i)) != 0 {
		return s.argVal[i]
	}
	v := s.renderArg(c, ev, i)
	s.argVal[i] = v
	s.argHave |= 1 << uint(i)
	return v
}

func (s *Source) renderArg(c *state.Context, ev *event.Event, i int) string {
	// Flags (open's flags, mmap's prot ...) show their names when they have any: the number
	// param would also format (and allocate) is not needed then.
	if info := ev.Info; info != nil && i < len(info.Params) && ev.Has(i) {
		switch p := &info.Params[i]; p.Type {
		case event.PTFlags8, event.PTFlags16, event.PTFlags32:
			if res := s.r.formatFlags(p.FlagTable, p.Type, uint32(ev.Uint(i))); res != "" {
				return res
			}
		}
	}
	v, res := s.r.param(c, ev, i)
	if res != "" {
		return res
	}
	return v
}

func str(s string) (fields.Value, bool) { return fields.Value{S: s}, true }
func num(n uint64) (fields.Value, bool) { return fields.Value{N: n}, true }
func inum(n int64) (fields.Value, bool) { return fields.Value{N: uint64(n)}, true }
func boolean(b bool) (fields.Value, bool) {
	if b {
		return fields.Value{N: 1}, true
	}
	return fields.Value{N: 0}, true
}

// parseIndex parses a numeric field argument ("2" of proc.aname[2]).
func parseIndex(name, arg string) (int, error) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("field %s: argument %q is not a non-negative number", name, arg)
	}
	return n, nil
}
