package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// Quarantine is the set of pods with an open incident. While a pod is in it, exec, attach and
// port-forward into it are denied with a message naming the incident, whatever the rules and
// exemptions say; so are updates of its owners' pod templates (a Deployment, ReplicaSet,
// DaemonSet or StatefulSet whose spec.template changes), when the pod's owners are known.
// Safe for concurrent use.
type Quarantine struct {
	mu   sync.RWMutex
	pods map[string]quarantined // namespace/name
}

type quarantined struct {
	incident string
	owners   []Owner
}

// Owner is a workload owning a quarantined pod (directly or through its ReplicaSet).
type Owner struct {
	Kind string // Deployment, ReplicaSet, DaemonSet, StatefulSet
	Name string
}

// NewQuarantine returns an empty quarantine.
func NewQuarantine() *Quarantine { return &Quarantine{pods: map[string]quarantined{}} }

// Set quarantines a pod for an incident (a short description, e.g. the rule and time).
func (q *Quarantine) Set(namespace, pod, incident string) { q.SetOwned(namespace, pod, incident, nil) }

// SetOwned quarantines a pod and freezes the pod templates of its owners (in its namespace).
func (q *Quarantine) SetOwned(namespace, pod, incident string, owners []Owner) {
	q.mu.Lock()
	q.pods[namespace+"/"+pod] = quarantined{incident, owners}
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
	e, ok := q.pods[namespace+"/"+pod]
	return e.incident, ok
}

// owned returns a quarantined pod owned by the workload, with its incident.
func (q *Quarantine) owned(namespace, kind, name string) (pod, incident string, ok bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	prefix := namespace + "/"
	for k, e := range q.pods {
		if len(k) <= len(prefix) || k[:len(prefix)] != prefix {
			continue
		}
		for _, o := range e.owners {
			if o.Kind == kind && o.Name == name {
				return k, e.incident, true
			}
		}
	}
	return "", "", false
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

// workloadKinds are the apps/v1 resources whose spec.template is a pod template.
var workloadKinds = map[string]string{"deployments": "Deployment", "replicasets": "ReplicaSet", "daemonsets": "DaemonSet", "statefulsets": "StatefulSet"}

// denial is the message denying a connection into a quarantined pod, or an update of a
// quarantined pod's owner's pod template ("" when none).
func (q *Quarantine) denial(r *Request) string {
	if q == nil {
		return ""
	}
	if kind := workloadKinds[r.Resource.Resource]; kind != "" && r.Resource.Group == "apps" && r.Operation == "UPDATE" && r.SubResource == "" {
		pod, inc, ok := q.owned(r.Namespace, kind, r.Name)
		if !ok || !templateChanged(r.Object, r.OldObject) {
			return ""
		}
		return fmt.Sprintf("%s %s/%s: pod template update refused: its pod %s is quarantined (open incident: %s)", kind, r.Namespace, r.Name, pod, inc)
	}
	if r.Operation != "CONNECT" || r.Resource.Resource != "pods" || r.Resource.Group != "" {
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

// templateChanged reports whether spec.template differs between two workload objects (an
// object that does not decode counts as changed).
func templateChanged(obj, old []byte) bool {
	var a, b struct {
		Spec struct {
			Template json.RawMessage `json:"template"`
		} `json:"spec"`
	}
	if json.Unmarshal(obj, &a) != nil || json.Unmarshal(old, &b) != nil {
		return true
	}
	if bytes.Equal(a.Spec.Template, b.Spec.Template) {
		return false
	}
	var x, y any
	if json.Unmarshal(a.Spec.Template, &x) != nil || json.Unmarshal(b.Spec.Template, &y) != nil {
		return true
	}
	return !reflect.DeepEqual(x, y)
}
