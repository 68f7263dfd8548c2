package admission

import (
	"fmt"
	"sync"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// Quarantine is the set of pods with an open incident. While a pod is in it, exec, attach and
// port-forward into it are denied with a message naming the incident, whatever the rules and
// exemptions say. Safe for concurrent use.
type Quarantine struct {
	mu   sync.RWMutex
	pods map[string]string // namespace/name -> incident
}

// NewQuarantine returns an empty quarantine.
func NewQuarantine() *Quarantine { return &Quarantine{pods: map[string]string{}} }

// Set quarantines a pod for an incident (a short description, e.g. the rule and time).
func (q *Quarantine) Set(namespace, pod, incident string) {
	q.mu.Lock()
	q.pods[namespace+"/"+pod] = incident
	q.mu.Unlock()
}

// Clear ends a pod's quarantine (its incident was closed).
func (q *Quarantine) Clear(namespace, pod string) {
	q.mu.Lock()
	delete(q.pods, namespace+"/"+pod)
	q.mu.Unlock()
}

// Incident returns the pod's open incident.
func (q *Quarantine) Incident(namespace, pod string) (string, bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	inc, ok := q.pods[namespace+"/"+pod]
	return inc, ok
}

// Observe quarantines the pod an alert at Critical or above is about: from the syscall side
// its k8s.ns.name and k8s.pod.name output fields, from the audit side ka.target.namespace and
// ka.target.name (of a pods object). It reports whether it quarantined one.
func (q *Quarantine) Observe(a *alert.Alert) bool {
	if a.Priority > loader.Critical {
		return false
	}
	s := func(k string) string { v, _ := a.OutputFields[k].(string); return v }
	ns, pod := s("k8s.ns.name"), s("k8s.pod.name")
	if ns == "" || pod == "" {
		if s("ka.target.resource") == "pods" || s("ka.target.pod.name") != "" {
			ns, pod = s("ka.target.namespace"), s("ka.target.name")
			if p := s("ka.target.pod.name"); p != "" {
				pod = p
			}
		}
	}
	if ns == "" || pod == "" {
		return false
	}
	q.Set(ns, pod, fmt.Sprintf("%s %q at %s", a.Priority, a.Rule, a.Time.Format("2006-01-02T15:04:05Z")))
	return true
}

// denial is the message denying a connection into a quarantined pod ("" when none).
func (q *Quarantine) denial(r *Request) string {
	if q == nil || r.Operation != "CONNECT" || r.Resource.Resource != "pods" || r.Resource.Group != "" {
		return ""
	}
	switch r.SubResource {
	case "exec", "attach", "portforward":
	default:
		return ""
	}
	inc, ok := q.Incident(r.Namespace, r.Name)
	if !ok {
		return ""
	}
	return fmt.Sprintf("pod %s/%s is quarantined (open incident: %s): %s refused", r.Namespace, r.Name, inc, r.SubResource)
}
