package container

import (
	"sort"
	"strings"
)

// KObject is one Kubernetes object as the k8s.* fields read it: name, UID, labels, and the
// labels already rendered as k8s.*.labels prints them (LabelsText), so that extraction
// allocates nothing.
type KObject struct {
	Name       string
	UID        string
	Labels     map[string]string
	LabelsText string
}

// PodMeta is what the Kubernetes API server says of one pod and of the objects around it,
// for the k8s.* fields CRI cannot give (pkg/k8smeta builds them). A PodMeta handed out is
// never modified; an update replaces it. Owners the pod does not have are nil.
type PodMeta struct {
	Pod       KObject
	IP        string // status.podIP ("" while unassigned)
	Namespace KObject
	Node      *KObject

	ReplicationController, ReplicaSet, Deployment *KObject
	DaemonSet, StatefulSet, Job, CronJob          *KObject

	// Services are the services of the pod's namespace whose selector matches its labels,
	// by name; SvcNames, SvcUIDs and SvcLabels are their names, UIDs and labels joined as
	// k8s.svc.name, k8s.svc.id and k8s.svc.labels print them.
	Services                     []KObject
	SvcNames, SvcUIDs, SvcLabels string
}

// Pods is a directory of pod metadata by pod UID, answering without blocking (an in-memory
// lookup: it is on the event path). nil means the directory does not know the pod (yet).
// Generation changes whenever any answer may have changed; entries keep their last answer
// while it does not (an event's k8s.* fields then cost no map lookup).
type Pods interface {
	PodMeta(uid string) *PodMeta
	Generation() uint64
}

// podCache is an entry's last answer from the directory.
type podCache struct {
	dir  *Pods
	gen  uint64
	info *Info
	meta *PodMeta
}

// SetPods gives the Manager a pod directory (nil removes it); Entry.Pod reads it.
func (m *Manager) SetPods(p Pods) {
	if p == nil {
		m.pods.Store(nil)
		return
	}
	m.pods.Store(&p)
}

// Pod is the API server's metadata of the pod the entry's container belongs to: nil without
// a pod directory, for containers outside Kubernetes, and for a pod the directory does not
// know (the k8s.* fields then fall back to what the runtime's labels say).
func (e *Entry) Pod() *PodMeta {
	if e.m == nil {
		return nil
	}
	p := e.m.pods.Load()
	if p == nil {
		return nil
	}
	in, gen := e.Info(), (*p).Generation()
	if c := e.pod.Load(); c != nil && c.dir == p && c.gen == gen && c.info == in {
		return c.meta
	}
	var meta *PodMeta
	if uid := in.PodUID(); uid != "" {
		meta = (*p).PodMeta(uid)
	}
	e.pod.Store(&podCache{dir: p, gen: gen, info: in, meta: meta})
	return meta
}

// LabelsText renders labels as the k8s.*.labels and container.labels fields print them:
// "key:value" pairs sorted by key, joined by ", ".
func LabelsText(l map[string]string) string {
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + ":" + l[k]
	}
	return strings.Join(parts, ", ")
}
