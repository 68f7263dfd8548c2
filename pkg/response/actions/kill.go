package actions

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// protected says why a process must not be touched ("" when it may be).
func (e *Env) protected(pi ProcInfo) string {
	switch {
	case pi.PID == 1:
		return "pid 1 is never killed"
	case pi.PID == e.selfPID():
		return "Saker itself is never killed"
	case pi.Kthread || pi.PID == 2 || pi.PPID == 2:
		return "kernel threads are never killed"
	}
	if g := RuntimeComm(pi.Comm); g != "" {
		return fmt.Sprintf("%s is a container runtime process (%q, never killed)", pi.Comm, g)
	}
	if g := RuntimeExe(pi.Exe); g != "" {
		return fmt.Sprintf("%s is a container runtime process (%q, never killed)", pi.Exe, g)
	}
	names := []string{pi.Comm}
	if pi.Exe != "" {
		names = append(names, path.Base(pi.Exe), pi.Exe)
	}
	for _, g := range e.NeverKill {
		for _, n := range names {
			if ok, _ := path.Match(g, n); ok {
				return fmt.Sprintf("%s is on the never-kill list (%q)", n, g)
			}
		}
	}
	return ""
}

// children lists the pids whose parent is pid (every thread's children file would miss
// reparented ones; /proc/*/stat is the whole truth).
func childrenOf(root string, parents map[int]bool) []int {
	ents, _ := os.ReadDir(root)
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || parents[pid] {
			continue
		}
		pi, err := ReadProc(root, pid)
		if err == nil && parents[pi.PPID] {
			out = append(out, pid)
		}
	}
	return out
}

func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil && n > 0 && n < 65 {
		return unix.Signal(n), nil
	}
	up := strings.ToUpper(s)
	if !strings.HasPrefix(up, "SIG") {
		up = "SIG" + up
	}
	if sig := unix.SignalNum(up); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

type killProcess struct{}

func init() { Register(killProcess{}) }

func (killProcess) Spec() Spec {
	return Spec{
		Name:        "kill_process",
		Description: "Send a signal (SIGKILL by default) to the alert's process, or to its whole process tree.",
		Params: []Param{
			{Name: "signal", Type: TString, Default: "SIGKILL", Description: "signal name (SIGKILL, TERM, ...) or number"},
			{Name: "tree", Type: TBool, Default: false, Description: "also every descendant (stopped with SIGSTOP first so none escapes by forking, then signalled)"},
		},
		Checks: []string{
			"refuses pid 1, kernel threads and Saker itself",
			"refuses container runtime processes (" + strings.Join(RuntimeProcesses, ", ") + ") and the never_kill globs (comm, exe name or path)",
			"the process is pinned with a pidfd before it is checked, so a reused pid is never signalled",
			"in a tree, protected descendants are left alone; a protected root refuses the whole action",
		},
		Needs:   []string{"proc.pid"},
		Example: "- action: kill_process\n  with: {tree: true}",
	}
}

func (killProcess) Check(p Params) error {
	_, err := parseSignal(p.String("signal"))
	return err
}

type pinned struct {
	fd int
	pi ProcInfo
}

func (killProcess) Run(ctx context.Context, env *Env, req *Request) Result {
	t := req.Target
	res := Result{Target: fmt.Sprintf("pid %d", t.PID), Fields: map[string]any{}}
	if t.PID <= 0 {
		res.Outcome, res.Err = Failed, errors.New("the alert names no process")
		return res
	}
	sig, err := parseSignal(req.Params.String("signal"))
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	res.Fields["signal"] = unix.SignalName(sig)
	root := env.procRoot()
	pin := func(pid int) (*pinned, error) {
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			return nil, fmt.Errorf("pidfd_open(%d): %w", pid, err)
		}
		pi, err := ReadProc(root, pid)
		if err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("pid %d: %w", pid, err)
		}
		return &pinned{fd: fd, pi: pi}, nil
	}
	rootp, err := pin(int(t.PID))
	if err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, os.ErrNotExist) {
			err = fmt.Errorf("pid %d is gone", t.PID)
		}
		res.Outcome, res.Err = Failed, err
		return res
	}
	procs := []*pinned{rootp}
	defer func() {
		for _, p := range procs {
			unix.Close(p.fd)
		}
	}()
	res.Target = fmt.Sprintf("pid %d (%s)", t.PID, rootp.pi.Comm)
	if why := env.protected(rootp.pi); why != "" {
		res.Outcome, res.Err = Refused, errors.New(why)
		return res
	}
	var skipped []string
	if req.Params.Bool("tree") {
		seen := map[int]bool{int(t.PID): true}
		frontier := map[int]bool{int(t.PID): true}
		for round := 0; round < 8 && len(frontier) > 0; round++ {
			next := map[int]bool{}
			for _, c := range childrenOf(root, frontier) {
				if seen[c] {
					continue
				}
				seen[c] = true
				p, err := pin(c)
				if err != nil {
					continue // exited meanwhile
				}
				if why := env.protected(p.pi); why != "" {
					skipped = append(skipped, fmt.Sprintf("%d: %s", c, why))
					unix.Close(p.fd)
					continue
				}
				procs = append(procs, p)
				next[c] = true
				if !req.DryRun {
					unix.PidfdSendSignal(p.fd, unix.SIGSTOP, nil, 0) // no more forks from it
				}
			}
			frontier = next
		}
		if !req.DryRun {
			unix.PidfdSendSignal(rootp.fd, unix.SIGSTOP, nil, 0)
			// a child forked between the scan and the stop
			for _, c := range childrenOf(root, seenSet(procs)) {
				if p, err := pin(c); err == nil {
					if env.protected(p.pi) == "" {
						procs = append(procs, p)
						unix.PidfdSendSignal(p.fd, unix.SIGSTOP, nil, 0)
					} else {
						unix.Close(p.fd)
					}
				}
			}
		}
	}
	pids := make([]int, len(procs))
	for i, p := range procs {
		pids[i] = p.pi.PID
	}
	res.Fields["pids"] = pids
	if len(skipped) > 0 {
		res.Fields["skipped"] = skipped
	}
	if len(procs) > 1 {
		res.Target = fmt.Sprintf("process tree of pid %d (%s, %d processes)", t.PID, rootp.pi.Comm, len(procs))
	}
	if req.DryRun {
		res.Outcome = DryRun
		return res
	}
	var errs []error
	for _, p := range procs {
		if err := unix.PidfdSendSignal(p.fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("pid %d: %w", p.pi.PID, err))
		}
		if sig != unix.SIGKILL && sig != unix.SIGSTOP && req.Params.Bool("tree") {
			unix.PidfdSendSignal(p.fd, unix.SIGCONT, nil, 0)
		}
	}
	if err := errors.Join(errs...); err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	res.Outcome = Done
	return res
}

func seenSet(ps []*pinned) map[int]bool {
	m := make(map[int]bool, len(ps))
	for _, p := range ps {
		m[p.pi.PID] = true
	}
	return m
}
