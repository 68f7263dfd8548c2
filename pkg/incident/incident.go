// Package incident is Saker's incident store: it links what happened to a Kubernetes pod on
// the API server (audit events: exec, attach, port-forward into it, its creation, updates and
// patches of it, secrets read by its service account, its service account's token read or
// requested) to the alerts raised inside the pod's containers within a window (10 minutes by
// default), so that "alice ran kubectl exec into P, and 3 s later a shell in P read
// /etc/shadow" is one incident naming alice.
//
// Links are by pod: namespace/name, and the pod uid where both sides know it (a pod recreated
// under the same name is another pod). A syscall alert's pod comes from the CRI labels of its
// container (k8s.ns.name, k8s.pod.name, k8s.pod.uid); an audit event's from its objectRef (and
// for a create, the response object). Besides the pod's own incident, a read of a service
// account token (a get of a secret of type kubernetes.io/service-account-token, or a create of
// serviceaccounts/token) opens an incident for that service account, which later API calls by
// the service account and alerts in pods running as it join.
//
// Syscall rules see the incident of the event's pod through FieldSource, a wrapper of the
// syscall source adding incident.id, incident.k8s_user, incident.k8s_verb and incident.chain
// (conditions and outputs alike). Those lookups are map reads under a read lock: the hot index
// (pods, service accounts, open incidents) lives in memory and is never read from disk on the
// event path.
//
// Persistence: the incidents worth listing (one with an alert, an exec/attach/port-forward, a
// privileged pod's creation or a token read) are written asynchronously to an SQLite file
// (modernc.org/sqlite, pure Go) by one writer goroutine, at most once a second and at Close;
// Open loads the incidents still open into the hot index, so joins survive a restart. The file
// is bounded: at most Max incidents (the oldest by last activity are deleted first) and none
// older than MaxAge. `saker incidents` reads it (List, Get).
//
// Severity is the highest priority of an incident's alerts. While an incident at Critical or
// above is open (its last step is younger than the window), its pod is quarantined through a
// Quarantiner (pkg/admission's Quarantine): exec, attach and port-forward into the pod and
// updates of its owners' pod templates are refused with a message naming the incident.
package incident

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"

	"github.com/saker-sec/saker/pkg/rules/loader"
)

// Defaults of Options.
const (
	DefaultWindow = 10 * time.Minute
	DefaultMax    = 10000
	DefaultMaxAge = 7 * 24 * time.Hour
	// maxSteps bounds an incident's chain (the first steps and the latest are kept).
	maxSteps = 64
)

// Kinds of incident: what opened it.
const (
	KindExec          = "exec"           // exec into the pod
	KindAttach        = "attach"         // attach to the pod
	KindPortForward   = "portforward"    // port-forward to the pod
	KindPrivilegedPod = "privileged-pod" // the pod was created privileged
	KindPodCreate     = "pod-create"     // the pod's creation (context: not listed without alerts)
	KindPodUpdate     = "pod-update"     // an update or patch of the pod (context)
	KindDebug         = "debug"          // an ephemeral container added to the pod (kubectl debug)
	KindSecretRead    = "sa-secret-read" // its service account read secrets (context)
	KindTokenRead     = "token-read"     // a service account's token was read or requested
	KindAlert         = "alert"          // a Critical+ alert in a pod with no API action
)

// Owner is a workload owning a pod (directly or through a ReplicaSet).
type Owner struct {
	Kind string `json:"kind"` // ReplicaSet, Deployment, DaemonSet, StatefulSet, Job, ...
	Name string `json:"name"`
}

// Step is one link of an incident's chain: an API action (no Priority) or an alert.
type Step struct {
	Time     time.Time `json:"time"`
	Source   string    `json:"source"` // k8s_audit, or the alert's source (syscall, ...)
	User     string    `json:"user,omitempty"`
	Verb     string    `json:"verb,omitempty"` // exec, attach, portforward, create, patch, update, get, ...
	What     string    `json:"what"`
	Priority string    `json:"priority,omitempty"` // of an alert
	AuditID  string    `json:"audit_id,omitempty"`
}

// Incident is a chain of API actions and alerts about one pod (or service account).
type Incident struct {
	ID             string    `json:"id"`
	Kind           string    `json:"kind"`
	Namespace      string    `json:"namespace,omitempty"`
	Pod            string    `json:"pod,omitempty"`
	PodUID         string    `json:"pod_uid,omitempty"`
	ServiceAccount string    `json:"service_account,omitempty"` // namespace/name
	Owners         []Owner   `json:"owners,omitempty"`
	User           string    `json:"user,omitempty"` // who did it on the API (the first action's user)
	Verb           string    `json:"verb,omitempty"` // the first action's verb
	Verbs          []string  `json:"verbs,omitempty"`
	Alerts         int       `json:"alerts"`
	Severity       string    `json:"severity,omitempty"` // the highest priority of its alerts
	First          time.Time `json:"first"`
	Last           time.Time `json:"last"`
	Steps          []Step    `json:"steps"`
	Dropped        int       `json:"dropped_steps,omitempty"` // steps left out past the bound

	sev   loader.Priority // valid when Severity != ""
	chain string          // rendered Chain, kept current
}

// PodName is "namespace/name" ("" for a service account's incident).
func (in *Incident) PodName() string {
	if in.Pod == "" {
		return ""
	}
	return in.Namespace + "/" + in.Pod
}

// Subject is what the incident is about: the pod, else the service account.
func (in *Incident) Subject() string {
	if p := in.PodName(); p != "" {
		return p
	}
	if in.ServiceAccount != "" {
		return "serviceaccount " + in.ServiceAccount
	}
	return ""
}

// Listed reports whether the incident is worth persisting and listing: it has an alert, or
// its action is one by itself (exec, attach, port-forward, kubectl debug, a privileged pod, a
// token read).
func (in *Incident) Listed() bool {
	switch in.Kind {
	case KindPodCreate, KindPodUpdate, KindSecretRead:
		return in.Alerts > 0
	}
	return true
}

// Critical reports whether the incident's severity is Critical or above.
func (in *Incident) Critical() bool { return in.Severity != "" && in.sev <= loader.Critical }

// Chain is the short rendering of the chain: its steps joined by " -> " (the first three and
// the last two when longer), e.g. `alice exec [sh] -> Read sensitive file untrusted (Warning)`.
func (in *Incident) Chain() string { return in.chain }

func (in *Incident) render() {
	parts := make([]string, 0, 6)
	step := func(s *Step) string {
		if s.Priority == "" { // an API action
			return s.What
		}
		return s.What + " (" + s.Priority + ")"
	}
	if n := len(in.Steps); n <= 5 && in.Dropped == 0 {
		for i := range in.Steps {
			parts = append(parts, step(&in.Steps[i]))
		}
	} else {
		for i := 0; i < 3; i++ {
			parts = append(parts, step(&in.Steps[i]))
		}
		parts = append(parts, "...")
		for i := n - 2; i < n; i++ {
			parts = append(parts, step(&in.Steps[i]))
		}
	}
	in.chain = strings.Join(parts, " -> ")
}

// add appends a step, keeping the chain bounded (the first half and the latest), the verbs,
// the severity and Last current.
func (in *Incident) add(s Step) {
	if len(in.Steps) >= maxSteps {
		copy(in.Steps[maxSteps/2:], in.Steps[maxSteps/2+1:])
		in.Steps = in.Steps[:len(in.Steps)-1]
		in.Dropped++
	}
	in.Steps = append(in.Steps, s)
	if s.Priority == "" { // an API action; alerts have a priority
		if in.User == "" {
			in.User, in.Verb = s.User, s.Verb
		}
		if s.Verb != "" && !contains(in.Verbs, s.Verb) {
			in.Verbs = append(in.Verbs, s.Verb)
		}
	} else {
		in.Alerts++
		if p, ok := loader.ParsePriority(s.Priority); ok && (in.Severity == "" || p < in.sev) {
			in.sev, in.Severity = p, p.String()
		}
	}
	if in.First.IsZero() || s.Time.Before(in.First) {
		in.First = s.Time
	}
	if s.Time.After(in.Last) {
		in.Last = s.Time
	}
	in.render()
}

// restored fills what is not persisted (severity rank, chain) after decoding.
func (in *Incident) restored() {
	if p, ok := loader.ParsePriority(in.Severity); ok {
		in.sev, in.Severity = p, p.String()
	} else {
		in.Severity = ""
	}
	in.render()
}

func (in *Incident) clone() *Incident {
	c := *in
	c.Steps = append([]Step(nil), in.Steps...)
	c.Verbs = append([]string(nil), in.Verbs...)
	c.Owners = append([]Owner(nil), in.Owners...)
	return &c
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// newID is a fresh incident id: "inc-" and 12 random hex digits.
func newID() string {
	var b [6]byte
	rand.Read(b[:])
	return "inc-" + hex.EncodeToString(b[:])
}
