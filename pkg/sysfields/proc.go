package sysfields

import (
	"strings"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// maxAncestors bounds ancestor walks (a corrupted parent chain must not loop forever).
const maxAncestors = 64

func mainOf(c *state.Context) *state.Thread {
	if c.Thread == nil {
		return nil
	}
	if m := c.Thread.Main(); m != nil {
		return m
	}
	return c.Thread
}

// parent returns the parent process of t (the main thread of its parent).
func (s *Source) parent(t *state.Thread) *state.Thread {
	if s.st == nil || t == nil {
		return nil
	}
	p := s.st.Parent(t)
	if p == nil {
		return nil
	}
	if m := p.Main(); m != nil {
		return m
	}
	return p
}

// ancestor returns the n-th ancestor of the event's process (0: the process itself); none for
// a thread made up for an unknown tid.
func (s *Source) ancestor(c *state.Context, n int) *state.Thread {
	t := mainOf(c)
	if t != nil && t.Invalid && n > 0 {
		return nil // a made-up thread is its own ancestor 0 (its pid, name <NA>) and has no others
	}
	for i := 0; i < n && t != nil; i++ {
		t = s.parent(t)
	}
	return t
}

// naString is what libsinsp stores as the name of a thread it made up for an unknown tid.
const naString = "<NA>"

// comm is the thread's command name; "<NA>" for an entry made for an unknown tid, as libsinsp
// names its fake threads.
func comm(t *state.Thread) string {
	if t.Invalid && t.Comm == "" {
		return naString
	}
	return t.Comm
}

// exe is proc.exe's value for t.
func exe(t *state.Thread) string {
	if t.Invalid && t.Exe == "" {
		return naString
	}
	return t.Exe
}

// mainOnly is v on a process's main thread and 0 on its other threads (thread.vm*).
func mainOnly(t *state.Thread, v uint64) uint64 {
	if t.TID != t.PID {
		return 0
	}
	return v
}

// exeline is libsinsp's proc.exeline: the exe, a space, the args (so "exe " without args).
func exeline(t *state.Thread) string {
	exe := t.Exe
	if t.Invalid && exe == "" {
		exe = naString // as proc.exe
	}
	return exe + " " + strings.Join(t.Args, " ")
}

// threadGetter is a per-thread field read from some thread of the context.
type threadGetter func(t *state.Thread) (fields.Value, bool)

var (
	getName    threadGetter = func(t *state.Thread) (fields.Value, bool) { return str(comm(t)) }
	getExe     threadGetter = func(t *state.Thread) (fields.Value, bool) { return str(exe(t)) }
	getExePath threadGetter = func(t *state.Thread) (fields.Value, bool) { return str(t.ExePath) }
	getPid     threadGetter = func(t *state.Thread) (fields.Value, bool) { return inum(t.PID) }
)

// durationOf is proc.duration for the thread pick chooses: the time since its clone, at the
// event's time (no closure built per call: proc_is_new runs on every open).
func durationOf(pick func(c *state.Context) *state.Thread) func(c *state.Context) (fields.Value, bool) {
	return func(c *state.Context) (fields.Value, bool) {
		t := pick(c)
		if t == nil || t.ClonedTS == 0 || c.Ev.TS < t.ClonedTS {
			return fields.Value{}, false
		}
		return num(c.Ev.TS - t.ClonedTS)
	}
}

func envLookup(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// on applies g to the thread pick returns.
func on(pick func(c *state.Context) *state.Thread, g threadGetter) func(c *state.Context) (fields.Value, bool) {
	return func(c *state.Context) (fields.Value, bool) {
		t := pick(c)
		if t == nil {
			return fields.Value{}, false
		}
		return g(t)
	}
}

// ancestorField binds proc.aname-like fields: with an index, that ancestor; without, the
// parent's value with every ancestor's value (1..) in Value.L.
func (s *Source) ancestorField(name, arg string, g threadGetter) (func(c *state.Context) (fields.Value, bool), error) {
	if arg != "" {
		n, err := parseIndex(name, arg)
		if err != nil {
			return nil, err
		}
		return func(c *state.Context) (fields.Value, bool) {
			t := s.ancestor(c, n)
			if t == nil {
				return fields.Value{}, false
			}
			return g(t)
		}, nil
	}
	// Without an index the field matches any ancestor (the values in L); what it prints is the
	// process's own value (proc.apid[0], as libsinsp documents; proc.aname[0] in sysdig 0.29)
	// or, for proc.aname with current libsinsp, its parent's.
	printSelf := name == "proc.apid" || s.opts.Sysdig029
	print029 := name == "proc.apid" && s.opts.Sysdig029 && s.opts.Print029
	return func(c *state.Context) (fields.Value, bool) {
		t := s.parent(mainOf(c))
		if t == nil {
			if own := mainOf(c); print029 && own != nil {
				return g(own) // sysdig 0.29 prints its own pid (a filter finds no ancestor)
			}
			return fields.Value{}, false
		}
		first, ok := g(t)
		if !ok {
			return fields.Value{}, false
		}
		out := first
		if printSelf {
			if own := mainOf(c); own != nil && !own.Invalid {
				if v, ok := g(own); ok {
					out = v
				}
			}
		}
		l := []fields.Value{first}
		for i := 0; i < maxAncestors; i++ {
			t = s.parent(t)
			if t == nil {
				break
			}
			if v, ok := g(t); ok {
				l = append(l, v)
			}
		}
		out.L = &l
		return out, true
	}, nil
}

func (s *Source) procField(name, arg string) (func(c *state.Context) (fields.Value, bool), error) {
	self := func(c *state.Context) *state.Thread { return c.Thread }
	proc := mainOf
	// libsinsp's proc.p* fields read the parent of the event's thread (its creator, for a
	// thread of a multi-threaded process); proc.ppid reads the main thread's.
	par := func(c *state.Context) *state.Thread { return s.parent(c.Thread) }
	lookup := func(pid func(t *state.Thread) int64) func(c *state.Context) *state.Thread {
		return func(c *state.Context) *state.Thread {
			m := mainOf(c)
			if m == nil || s.st == nil {
				return nil
			}
			p := pid(m)
			if p <= 0 {
				return nil
			}
			t := s.st.Thread(p)
			if t != nil && t.Main() != nil {
				return t.Main()
			}
			return t
		}
	}
	// libsinsp: the session (process group) leader is the thread whose pid is the sid (vpgid);
	// when that one is gone, the highest ancestor with the same sid (vpgid)
	leader := func(id func(t *state.Thread) int64) func(c *state.Context) *state.Thread {
		direct := lookup(id)
		return func(c *state.Context) *state.Thread {
			if t := direct(c); t != nil {
				return t
			}
			t := mainOf(c)
			if t == nil {
				return nil
			}
			want := id(t)
			for i := 0; i < maxAncestors; i++ {
				p := s.parent(t)
				if p == nil || id(p) != want {
					break
				}
				t = p
			}
			return t
		}
	}
	sess := leader(func(t *state.Thread) int64 { return t.SID })
	vpgrp := leader(func(t *state.Thread) int64 { return t.VPGID })
	pgrp := lookup(func(t *state.Thread) int64 { return t.PGID })

	switch name {
	case "proc.deletions":
		return s.deletionsField(false), nil
	case "proc.pdeletions":
		return s.deletionsField(true), nil
	case "proc.cmdline":
		return on(proc, s.getCmdline), nil
	case "proc.exeline":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return str(exeline(t)) }), nil
	case "proc.args":
		return on(proc, s.getArgs), nil
	case "proc.cmdnargs":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return num(uint64(len(t.Args))) }), nil
	case "proc.cmdlenargs":
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			n := 0
			for _, a := range t.Args {
				n += len(a)
			}
			return num(uint64(n))
		}), nil
	case "proc.pid":
		return on(self, getPid), nil
	case "proc.ppid":
		// The parent's process id (getppid(2)): the state engine's parent link is the thread
		// that forked (libsinsp's m_ptid), which for a multithreaded parent can be one of its
		// threads; its tgid is the process. Unknown parent thread: the link as it is.
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			if p := s.parent(t); p != nil && p.PID > 0 {
				return inum(p.PID)
			}
			return inum(t.PTID)
		}), nil
	case "proc.vpid":
		// the event thread's own (libsinsp's m_vpid): a thread the capture made by clone
		// knows its process's vpid while a main thread first seen in an event does not
		return on(self, func(t *state.Thread) (fields.Value, bool) {
			if t.VPID < 0 {
				return fields.Value{}, false
			}
			return inum(t.VPID)
		}), nil
	case "proc.pvpid":
		return on(par, func(t *state.Thread) (fields.Value, bool) {
			if t.VPID < 0 {
				return fields.Value{}, false
			}
			return inum(t.VPID)
		}), nil
	case "proc.pcmdline":
		return on(par, s.getCmdline), nil
	case "proc.aname":
		return s.ancestorField(name, arg, getName)
	case "proc.apid":
		return s.ancestorField(name, arg, getPid)
	case "proc.aexe":
		return s.ancestorField(name, arg, getExe)
	case "proc.aexepath":
		return s.ancestorField(name, arg, getExePath)
	case "proc.acmdline":
		return s.ancestorField(name, arg, s.getCmdline)
	case "proc.aargs":
		return s.ancestorField(name, arg, s.getArgs)
	case "proc.env":
		if arg == "" {
			return on(proc, s.getEnvAll), nil
		}
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			v, ok := envLookup(t.Env, arg)
			if !ok {
				return fields.Value{}, false
			}
			return str(v)
		}), nil
	case "proc.aenv":
		return s.ancestorField(name, arg, s.getEnvAll)
	case "proc.cwd":
		return on(self, func(t *state.Thread) (fields.Value, bool) {
			if t.Cwd == "" && t.Main() != nil {
				return str(t.Main().Cwd)
			}
			return str(t.Cwd)
		}), nil
	case "proc.tty":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return num(uint64(t.TTY)) }), nil
	case "proc.sid":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return inum(t.SID) }), nil
	case "proc.sname":
		return on(sess, getName), nil
	case "proc.sid.exe":
		return on(sess, getExe), nil
	case "proc.sid.exepath":
		return on(sess, getExePath), nil
	case "proc.vpgid":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return inum(t.VPGID) }), nil
	case "proc.vpgid.name":
		return on(vpgrp, getName), nil
	case "proc.vpgid.exe":
		return on(vpgrp, getExe), nil
	case "proc.vpgid.exepath":
		return on(vpgrp, getExePath), nil
	case "proc.pgid":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return inum(t.PGID) }), nil
	case "proc.pgid.name":
		return on(pgrp, getName), nil
	case "proc.pgid.exe":
		return on(pgrp, getExe), nil
	case "proc.pgid.exepath":
		return on(pgrp, getExePath), nil
	case "proc.is_sid_leader":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return boolean(t.SID == t.VPID) }), nil
	case "proc.is_vpgid_leader":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return boolean(t.VPGID == t.VPID) }), nil
	case "proc.is_pgid_leader":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return boolean(t.PGID == t.PID) }), nil
	case "proc.duration":
		return durationOf(proc), nil
	case "proc.ppid.duration":
		return durationOf(par), nil
	case "proc.pid.ts":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return num(t.ClonedTS) }), nil
	case "proc.ppid.ts":
		return on(par, func(t *state.Thread) (fields.Value, bool) { return num(t.ClonedTS) }), nil
	case "proc.is_exe_writable":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return boolean(t.ExeWritable) }), nil
	case "proc.is_exe_upper_layer":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return boolean(t.ExeUpperLayer) }), nil
	case "proc.is_exe_lower_layer":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return boolean(t.ExeLowerLayer) }), nil
	case "proc.is_exe_from_memfd":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return boolean(t.ExeFromMemfd) }), nil
	case "proc.exe_ino":
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			if t.ExeIno == 0 {
				return fields.Value{}, false
			}
			return num(t.ExeIno)
		}), nil
	case "proc.exe_ino.ctime":
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			if t.ExeInoCtime == 0 {
				return fields.Value{}, false
			}
			return num(t.ExeInoCtime)
		}), nil
	case "proc.exe_ino.mtime":
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			if t.ExeInoMtime == 0 {
				return fields.Value{}, false
			}
			return num(t.ExeInoMtime)
		}), nil
	case "proc.exe_ino.ctime_duration_proc_start":
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			if t.ExeInoCtime == 0 || t.ClonedTS == 0 || t.ClonedTS < t.ExeInoCtime {
				return fields.Value{}, false
			}
			return num(t.ClonedTS - t.ExeInoCtime)
		}), nil
	case "proc.exe_ino.ctime_duration_pidns_start":
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			if t.ExeInoCtime == 0 || t.PidNSInitStartTS == 0 || t.ExeInoCtime < t.PidNSInitStartTS {
				return fields.Value{}, false
			}
			return num(t.ExeInoCtime - t.PidNSInitStartTS)
		}), nil
	case "proc.pidns_init_start_ts":
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			if t.PidNSInitStartTS == 0 {
				return fields.Value{}, false
			}
			return num(t.PidNSInitStartTS)
		}), nil
	case "thread.cap_permitted":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return str(capString(t.CapPermitted)) }), nil
	case "thread.cap_inheritable":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return str(capString(t.CapInheritable)) }), nil
	case "thread.cap_effective":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return str(capString(t.CapEffective)) }), nil
	case "proc.nthreads":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(uint64(t.NumThreads())) }), nil
	case "proc.nchilds":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(uint64(t.NumChilds())) }), nil
	case "proc.loginshellid":
		return s.loginShellID, nil
	case "thread.exectime":
		return s.execTime(false), nil
	case "thread.totexectime":
		return s.execTime(true), nil
	case "proc.fdopencount":
		return on(proc, func(t *state.Thread) (fields.Value, bool) { return num(uint64(t.NumFDs())) }), nil
	case "proc.fdusage":
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			if t.FDLimit <= 0 {
				return fields.Value{}, false
			}
			return fields.FloatValue(float64(t.NumFDs()) * 100 / float64(t.FDLimit)), true
		}), nil
	case "proc.fdlimit":
		return on(proc, func(t *state.Thread) (fields.Value, bool) {
			if t.Invalid && t.FDLimit == 0 {
				return inum(-1) // libsinsp's made-up threads
			}
			return inum(t.FDLimit)
		}), nil
	// libsinsp keeps the memory counters per thread and updates the event thread's (execve,
	// clone, brk, mmap, munmap): proc.vm* read the event thread's; thread.vm* are the same on
	// a main thread and 0 on the others
	case "proc.vmsize":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(uint64(t.VMSizeKB)) }), nil
	case "proc.vmrss":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(uint64(t.VMRSSKB)) }), nil
	case "proc.vmswap":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(uint64(t.VMSwapKB)) }), nil
	case "thread.vmsize":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(mainOnly(t, uint64(t.VMSizeKB))) }), nil
	case "thread.vmrss":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(mainOnly(t, uint64(t.VMRSSKB))) }), nil
	case "thread.vmsize.b":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(mainOnly(t, uint64(t.VMSizeKB)*1024)) }), nil
	case "thread.vmrss.b":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(mainOnly(t, uint64(t.VMRSSKB)*1024)) }), nil
	case "thread.pfmajor":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(t.PFMajor) }), nil
	case "thread.pfminor":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return num(t.PFMinor) }), nil
	case "thread.tid":
		return func(c *state.Context) (fields.Value, bool) { return inum(c.Ev.TID) }, nil
	case "thread.ismain":
		return on(self, func(t *state.Thread) (fields.Value, bool) { return boolean(t.TID == t.PID) }), nil
	case "thread.vtid":
		return on(self, func(t *state.Thread) (fields.Value, bool) {
			if t.VTID < 0 {
				return fields.Value{}, false
			}
			return inum(t.VTID)
		}), nil
	case "thread.nametid":
		return func(c *state.Context) (fields.Value, bool) {
			n := "<NA>"
			if c.Thread != nil {
				n = c.Thread.Comm
			}
			return str(n + formatInt(c.Ev.TID))
		}, nil
	case "thread.cgroups":
		return on(self, func(t *state.Thread) (fields.Value, bool) {
			if len(t.Cgroups) == 0 {
				return fields.Value{}, false
			}
			return str(strings.Join(t.Cgroups, " "))
		}), nil
	case "thread.cgroup":
		return on(self, func(t *state.Thread) (fields.Value, bool) {
			for _, cg := range t.Cgroups {
				if k, v, ok := strings.Cut(cg, "="); ok && k == arg {
					return str(v)
				}
			}
			return fields.Value{}, false
		}), nil
	case "proc.stdin.type", "proc.stdout.type", "proc.stderr.type", "proc.stdin.name", "proc.stdout.name",
		"proc.stderr.name":
		fd := int64(0)
		switch {
		case strings.HasPrefix(name, "proc.stdout"):
			fd = 1
		case strings.HasPrefix(name, "proc.stderr"):
			fd = 2
		}
		wantType := strings.HasSuffix(name, ".type")
		return func(c *state.Context) (fields.Value, bool) {
			f := s.r.fdOf(c, fd)
			if f == nil {
				return fields.Value{}, false
			}
			if wantType {
				t := typeString(f.Type)
				if t == "" {
					return fields.Value{}, false
				}
				return str(t)
			}
			return str(f.Name)
		}, nil
	case "proc.is_container_healthcheck", "proc.is_container_liveness_probe", "proc.is_container_readiness_probe":
		// the category the state engine gave the event's thread when it was created or
		// exec'd (libsinsp's m_category; see state.Engine's identifyCategory)
		want := state.CatHealthcheck
		switch name {
		case "proc.is_container_liveness_probe":
			want = state.CatLivenessProbe
		case "proc.is_container_readiness_probe":
			want = state.CatReadinessProbe
		}
		return on(self, func(t *state.Thread) (fields.Value, bool) { return boolean(t.Category == want) }), nil
	}
	return nil, nil
}

func formatInt(n int64) string {
	var b [24]byte
	i := len(b)
	neg := n < 0
	u := uint64(n)
	if neg {
		u = uint64(-n)
	}
	for {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
		if u == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
