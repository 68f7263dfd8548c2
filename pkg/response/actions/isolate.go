package actions

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/saker-sec/saker/pkg/response/netisolate"
)

type networkIsolate struct{}

func init() { Register(networkIsolate{}) }

func (networkIsolate) Spec() Spec {
	return Spec{
		Name: "network_isolate",
		Description: "Cut the workload off the network, loopback kept: new connect() and unconnected sendmsg() fail with EPERM " +
			"(cgroup-bpf on the cgroup v2 root, see pkg/response/netisolate). A container is quarantined by its network " +
			"namespace, a host process by pid (with its current descendants when tree is set). Lifted when Saker exits.",
		Params: []Param{
			{Name: "scope", Type: TString, Default: "auto", Description: "auto (a container's network namespace, else the process), netns or process"},
			{Name: "tree", Type: TBool, Default: true, Description: "process scope: also the process's current descendants"},
		},
		Checks: []string{
			"needs response.network_isolation enabled (the programs attached); fails otherwise",
			"refuses the host's network namespace (pid 1's) and Saker's own: quarantining them would cut the host off",
			"process scope refuses what kill_process refuses (pid 1, Saker, the runtimes, never_kill)",
			"established connections are not cut; new ones are refused",
		},
		Needs:   []string{"proc.pid"},
		Example: "- action: network_isolate",
	}
}

func (networkIsolate) Check(p Params) error {
	switch p.String("scope") {
	case "auto", "netns", "process":
		return nil
	}
	return fmt.Errorf("scope: %q is not auto, netns or process", p.String("scope"))
}

func (networkIsolate) Run(ctx context.Context, env *Env, req *Request) Result {
	t := req.Target
	res := Result{Target: fmt.Sprintf("pid %d", t.PID), Fields: map[string]any{}}
	if t.PID <= 0 {
		res.Outcome, res.Err = Failed, errors.New("the alert names no process")
		return res
	}
	scope := req.Params.String("scope")
	if scope == "auto" {
		scope = "process"
		if t.InContainer() {
			scope = "netns"
		}
	}
	res.Fields["scope"] = scope
	root := env.procRoot()
	if scope == "netns" {
		ns := filepath.Join(root, strconv.FormatInt(t.PID, 10), "ns", "net")
		for _, other := range []struct{ path, alt, why string }{
			// the initial namespace: pid 1's, or kthreadd's where pid 1's cannot be read (a
			// sandboxed init); kernel threads always live in it
			{filepath.Join(root, "1", "ns", "net"), filepath.Join(root, "2", "ns", "net"), "the host's network namespace"},
			{filepath.Join(root, strconv.Itoa(env.selfPID()), "ns", "net"), "", "Saker's own network namespace"},
		} {
			same, err := netisolate.SameNetns(ns, other.path)
			if err != nil && other.alt != "" {
				same, err = netisolate.SameNetns(ns, other.alt)
			}
			if err != nil {
				res.Outcome, res.Err = Failed, err
				return res
			}
			if same {
				res.Outcome, res.Err = Refused, fmt.Errorf("pid %d is in %s", t.PID, other.why)
				return res
			}
		}
		if t.InContainer() {
			res.Target = "network namespace of container " + RingKey(t.ContainerID)
		} else {
			res.Target = fmt.Sprintf("network namespace of pid %d", t.PID)
		}
		if env.Isolator == nil {
			res.Outcome, res.Err = Failed, errors.New("network isolation is not enabled (response.network_isolation)")
			return res
		}
		cookie, err := netisolate.NetnsCookie(ns)
		if err != nil {
			res.Outcome, res.Err = Failed, err
			return res
		}
		res.Fields["netns_cookie"] = cookie
		if req.DryRun {
			res.Outcome = DryRun
			return res
		}
		if err := env.Isolator.QuarantineNetns(cookie); err != nil {
			res.Outcome, res.Err = Failed, err
			return res
		}
		res.Outcome = Done
		return res
	}
	pi, err := ReadProc(root, int(t.PID))
	if err != nil {
		res.Outcome, res.Err = Failed, err
		return res
	}
	if why := env.protected(pi); why != "" {
		res.Outcome, res.Err = Refused, errors.New(why)
		return res
	}
	pids := []int{pi.PID}
	if req.Params.Bool("tree") {
		seen := map[int]bool{pi.PID: true}
		for frontier := seen; len(frontier) > 0; {
			next := map[int]bool{}
			for _, c := range childrenOf(root, frontier) {
				if cp, err := ReadProc(root, c); err == nil && !seen[c] && env.protected(cp) == "" {
					seen[c], next[c] = true, true
					pids = append(pids, c)
				}
			}
			frontier = next
		}
	}
	res.Fields["pids"] = pids
	if env.Isolator == nil {
		res.Outcome, res.Err = Failed, errors.New("network isolation is not enabled (response.network_isolation)")
		return res
	}
	if req.DryRun {
		res.Outcome = DryRun
		return res
	}
	for _, p := range pids {
		if err := env.Isolator.QuarantinePID(p); err != nil {
			res.Outcome, res.Err = Failed, err
			return res
		}
	}
	res.Outcome = Done
	return res
}
