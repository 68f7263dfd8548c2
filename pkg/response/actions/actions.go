// Package actions is the response engine's registry of actions: what Saker can do about an
// alert (kill a process or its tree, stop/pause/kill a container, run a program, POST to a
// webhook, write a forensic snapshot). Each action describes itself (Spec: name, parameters
// with their types, the checks it makes, an example), so the policy loader validates
// parameters by the spec and `saker actions list` prints the registry.
//
// An action never panics on bad input: it returns a Result whose Outcome says what happened
// (done, dry-run, refused by a safety check, failed) and whose Err says why.
package actions

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"sort"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/response/netisolate"
	"github.com/saker-sec/saker/pkg/response/ring"
)

// Outcome is what became of one action.
type Outcome string

// Outcomes. Done, DryRun, Refused and Failed are reported as response alerts; RateLimited and
// Cooldown (decided by the engine before an action runs) are only counted.
const (
	Done        Outcome = "done"
	DryRun      Outcome = "dry_run"
	Refused     Outcome = "refused" // a safety check said no (pid 1, Saker itself, the runtime, the allowlist)
	Failed      Outcome = "failed"
	RateLimited Outcome = "rate_limited"
	Cooldown    Outcome = "cooldown"
	Dropped     Outcome = "dropped" // the engine's queue was full
)

// ParamType is the type of one action parameter.
type ParamType string

// Parameter types, as written in the policy file.
const (
	TString   ParamType = "string"
	TInt      ParamType = "int"
	TBool     ParamType = "bool"
	TDuration ParamType = "duration" // Go syntax: 10s, 5m
	TStrings  ParamType = "list of strings"
	TMap      ParamType = "map of strings"
)

// Param describes one parameter.
type Param struct {
	Name        string    `json:"name"`
	Type        ParamType `json:"type"`
	Required    bool      `json:"required,omitempty"`
	Default     any       `json:"default,omitempty"`
	Description string    `json:"description"`
}

// Spec is an action's self-description.
type Spec struct {
	Name        string  `json:"name"`
	Description string  `json:"description"`
	Params      []Param `json:"parameters"`
	// Checks are the safety checks the action makes before acting (one sentence each).
	Checks []string `json:"checks"`
	// Needs are what the alert's target must carry (a process, a container).
	Needs []string `json:"needs,omitempty"`
	// Example is a policy snippet using the action.
	Example string `json:"example"`
}

// Params are an action's parameters after validation: every declared parameter is present,
// with its default when the policy did not set it, typed by its ParamType (string, int64,
// bool, time.Duration, []string, map[string]string).
type Params map[string]any

// String returns a string parameter ("" when absent).
func (p Params) String(name string) string { s, _ := p[name].(string); return s }

// Int returns an int parameter.
func (p Params) Int(name string) int64 { n, _ := p[name].(int64); return n }

// Bool returns a bool parameter.
func (p Params) Bool(name string) bool { b, _ := p[name].(bool); return b }

// Duration returns a duration parameter.
func (p Params) Duration(name string) time.Duration { d, _ := p[name].(time.Duration); return d }

// Strings returns a list parameter.
func (p Params) Strings(name string) []string { l, _ := p[name].([]string); return l }

// Map returns a map parameter.
func (p Params) Map(name string) map[string]string { m, _ := p[name].(map[string]string); return m }

// Proc is one process of the target's process tree, as the state engine knew it when the
// alert was raised.
type Proc struct {
	PID         int64    `json:"pid"`
	PPID        int64    `json:"ppid"`
	Comm        string   `json:"comm"`
	Exe         string   `json:"exe"`
	Args        []string `json:"args"`
	UID         uint32   `json:"uid"`
	ContainerID string   `json:"container_id"`
	// Role is "target" (the alert's process), "ancestor", "descendant" or "container" (another
	// process of the target's container).
	Role string `json:"role"`
}

// Target is what an alert is about: its process and container, and (when the policy asks for
// snapshots) the state around it at alert time.
type Target struct {
	PID, TID    int64  // host ids of the process that raised the alert; 0 when none
	Comm, Exe   string // that process's name and executable
	ContainerID string // short (12) or full container id; "" or "host" for host processes
	// Container is the container's metadata (nil on the host or when unknown yet).
	Container *container.Info

	// Procs is the process tree (target, ancestors, descendants, other processes of its
	// container), when the state was exported.
	Procs []Proc
	// Scap metadata for a snapshot's capture: the threads and fds of Procs, the users and
	// groups they run as, the machine and its interfaces.
	Threads    []event.ThreadInfo
	FDs        []event.FDInfo
	Users      []event.User
	Groups     []event.Group
	Machine    event.MachineInfo
	Interfaces []event.Interface
}

// InContainer reports whether the target is in a container.
func (t *Target) InContainer() bool { return t.ContainerID != "" && t.ContainerID != "host" }

// Workload is the key rate limits and cooldowns count per: the container id, else
// "host/PID".
func (t *Target) Workload() string {
	if t.InContainer() {
		return container.ShortID(t.ContainerID)
	}
	return fmt.Sprintf("host/%d", t.PID)
}

// Request is one action to run.
type Request struct {
	Alert  *alert.Alert
	Target *Target
	Params Params
	DryRun bool
	// PolicyRule is the policy rule that asked for the action.
	PolicyRule string
	Now        time.Time
}

// Result is what an action did.
type Result struct {
	Outcome Outcome
	// Target names what was acted on ("pid 1234", "container 0123456789ab", a URL, a file).
	Target string
	Err    error
	// Fields are extra output fields of the response alert (a snapshot's path, signal sent).
	Fields map[string]any
}

// Env is what actions share: the safety configuration and the clients they use.
type Env struct {
	// SelfPID is Saker's own pid (never killed); os.Getpid() when 0.
	SelfPID int
	// SelfContainer is the container Saker runs in ("" on the host): never stopped or paused.
	SelfContainer string
	// NeverKill are globs matched against a process's comm and exe path (on top of the
	// built-in list: pid 1, Saker, container runtimes and kubelet).
	NeverKill []string
	// DockerSocket is the Docker Engine API socket ("" when none).
	DockerSocket string
	// ContainerdSocket is containerd's API socket for containers Docker does not know.
	ContainerdSocket string
	// Ring holds the recent events per workload (nil: snapshots carry no events).
	Ring *ring.Ring
	// SnapshotDir is where snapshots are written unless an action's dir says otherwise.
	SnapshotDir string
	// HTTP is the webhook client (http.DefaultClient when nil).
	HTTP *http.Client
	// Kube is the Kubernetes client of the k8s_* actions (nil: they fail).
	Kube kubernetes.Interface
	// SelfPod is Saker's own pod as "namespace/name" ("" outside Kubernetes): never touched.
	SelfPod string
	// Isolator is the network isolation (cgroup-bpf programs attached), nil when disabled.
	Isolator *netisolate.Isolator
	// ProcRoot is /proc (tests may not change it: kill and snapshot read the real one).
	ProcRoot string

	docker *dockerAPI
}

func (e *Env) selfPID() int {
	if e.SelfPID != 0 {
		return e.SelfPID
	}
	return os.Getpid()
}

func (e *Env) procRoot() string {
	if e.ProcRoot != "" {
		return e.ProcRoot
	}
	return "/proc"
}

// Action is one registered action.
type Action interface {
	Spec() Spec
	// Check validates parameters (already typed by the spec) at policy load time.
	Check(p Params) error
	// Run performs the action (or, with DryRun, every check but the effect).
	Run(ctx context.Context, env *Env, req *Request) Result
}

var registry = map[string]Action{}

// Register adds an action to the registry (at init time).
func Register(a Action) {
	name := a.Spec().Name
	if _, dup := registry[name]; dup {
		panic("actions: duplicate action " + name)
	}
	registry[name] = a
}

// Lookup returns the action of that name.
func Lookup(name string) (Action, bool) {
	a, ok := registry[name]
	return a, ok
}

// Names lists the registered actions, sorted.
func Names() []string {
	n := make([]string, 0, len(registry))
	for k := range registry {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Specs lists the registered actions' specs, sorted by name.
func Specs() []Spec {
	var s []Spec
	for _, n := range Names() {
		s = append(s, registry[n].Spec())
	}
	return s
}

// NeedsState reports whether an action needs the target's exported state (process tree,
// threads): snapshots do.
func NeedsState(name string) bool { return slices.Contains([]string{"snapshot"}, name) }
