package response

import (
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/state"
)

// TargetFromState builds an alert's target from the state the alert was evaluated on. It
// must run on the event loop's goroutine, right after the event (the state is not safe for
// concurrent use). With full, it also exports the process tree and the threads, fds and
// users for a snapshot's capture: the target process, its ancestors and descendants, and for
// a container every process of it (and their ancestors: the runtime's shim).
func TargetFromState(st *state.Engine, ctx *state.Context, full bool) *actions.Target {
	t := &actions.Target{ContainerID: "host"}
	if ctx == nil || ctx.Thread == nil {
		return t
	}
	th := ctx.Thread
	m := th.Main()
	t.PID, t.TID = th.PID, th.TID
	t.Comm, t.Exe = m.Comm, m.ExePath
	if th.ContainerID != "" {
		t.ContainerID = th.ContainerID
	}
	if th.Container != nil && !th.Container.Pending() {
		if in := th.Container.Info(); in != nil && in.ID != "" {
			t.Container = in
		}
	}
	if !full || st == nil {
		return t
	}
	role := map[int64]string{}
	// ancestors
	for p, n := st.Parent(m), 0; p != nil && n < 64; p, n = st.Parent(p.Main()), n+1 {
		if _, seen := role[p.PID]; seen {
			break
		}
		role[p.PID] = "ancestor"
	}
	role[m.PID] = "target"
	// descendants and the container's processes, in one pass over the table
	parent := map[int64]int64{}
	st.Threads(func(x *state.Thread) bool {
		if x.IsMain() || st.Thread(x.PID) == nil {
			parent[x.PID] = x.PTID
			if t.InContainer() && x.ContainerID == th.ContainerID {
				if _, ok := role[x.PID]; !ok {
					role[x.PID] = "container"
				}
			}
		}
		return true
	})
	for pid := range parent {
		for p, n := parent[pid], 0; p > 0 && n < 64; p, n = parent[p], n+1 {
			if p == m.PID {
				if r := role[pid]; r == "" || r == "container" {
					role[pid] = "descendant"
				}
				break
			}
		}
	}
	if t.InContainer() { // the container processes' ancestors (shim, runtime)
		for pid, r := range role {
			if r != "container" && r != "descendant" {
				continue
			}
			for p, n := parent[pid], 0; p > 0 && n < 64; p, n = parent[p], n+1 {
				if _, ok := role[p]; ok {
					break
				}
				role[p] = "ancestor"
			}
		}
	}
	uids := map[uint32]bool{}
	gids := map[uint32]bool{}
	st.Threads(func(x *state.Thread) bool {
		r, ok := role[x.PID]
		if !ok {
			return true
		}
		t.Threads = append(t.Threads, threadInfo(x))
		uids[x.UID], gids[x.GID] = true, true
		if x.IsMain() {
			t.Procs = append(t.Procs, actions.Proc{PID: x.PID, PPID: x.PTID, Comm: x.Comm, Exe: x.ExePath,
				Args: append([]string(nil), x.Args...), UID: x.UID, ContainerID: x.ContainerID, Role: r})
			x.FDs(func(f *state.FD) bool {
				t.FDs = append(t.FDs, fdInfo(x.TID, f))
				return true
			})
		}
		return true
	})
	for u := range uids {
		if us, ok := st.User(u); ok {
			t.Users = append(t.Users, us)
		}
	}
	for g := range gids {
		if gs, ok := st.Group(g); ok {
			t.Groups = append(t.Groups, gs)
		}
	}
	t.Machine = st.Machine()
	t.Interfaces = st.Interfaces()
	return t
}

func threadInfo(x *state.Thread) event.ThreadInfo {
	return event.ThreadInfo{
		TID: x.TID, PID: x.PID, PTID: x.PTID, SID: x.SID, VPGID: x.VPGID, PGID: x.PGID, VTID: x.VTID, VPID: x.VPID,
		Comm: x.Comm, Exe: x.Exe, ExePath: x.ExePath, Cwd: x.Cwd, Root: x.Root,
		Args: append([]string(nil), x.Args...), Env: append([]string(nil), x.Env...), Cgroups: append([]string(nil), x.Cgroups...),
		FDLimit: x.FDLimit, Flags: x.Flags, UID: x.UID, GID: x.GID, LoginUID: x.LoginUID, TTY: x.TTY,
		VMSizeKB: x.VMSizeKB, VMRSSKB: x.VMRSSKB, VMSwapKB: x.VMSwapKB, PFMajor: x.PFMajor, PFMinor: x.PFMinor,
		PidNSInitStartTS: x.PidNSInitStartTS,
		CapInheritable:   x.CapInheritable, CapPermitted: x.CapPermitted, CapEffective: x.CapEffective,
		ExeWritable: x.ExeWritable, ExeUpperLayer: x.ExeUpperLayer, ExeLowerLayer: x.ExeLowerLayer, ExeFromMemfd: x.ExeFromMemfd,
		ExeIno: x.ExeIno, ExeInoCtime: x.ExeInoCtime, ExeInoMtime: x.ExeInoMtime,
	}
}

func fdInfo(tid int64, f *state.FD) event.FDInfo {
	return event.FDInfo{TID: tid, FD: f.Num, Ino: f.Ino, Type: f.Type, Name: f.Name, OpenFlags: f.OpenFlags, Dev: f.Dev,
		L4Proto: f.L4Proto, SrcIP: f.SrcIP, DstIP: f.DstIP, SrcPort: f.SrcPort, DstPort: f.DstPort, UnixSrc: f.UnixSrc, UnixDst: f.UnixDst}
}
