package sysfields

import (
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// The k8s.* fields that need the Kubernetes API server (pod owners, services, namespace and
// node labels) read the pod directory pkg/k8smeta keeps from its watches, through the
// container entry (container.Entry.Pod: a map lookup by the pod UID of the container's CRI
// labels). The fields CRI also gives (k8s.pod.name, k8s.ns.name, k8s.pod.label[s], k8s.pod.ip)
// take the API server's value when it knows the pod and the runtime's otherwise, so without
// API access (or for a pod not seen yet) they behave as before.

// k8sExtraFields are Saker's k8s.* fields for the owners and the node that the catalogue
// (Falco's container plugin, which lists only the older deprecated ones) does not name; the
// k8smeta plugin has them as k8smeta.*.
var k8sExtraFields = func() []fields.Info {
	var out []fields.Info
	for _, k := range []struct{ prefix, what string }{
		{"k8s.daemonset", "DaemonSet"}, {"k8s.statefulset", "StatefulSet"},
		{"k8s.job", "Job"}, {"k8s.cronjob", "CronJob (the owner of the pod's Job)"},
		{"k8s.node", "Node the pod runs on"},
	} {
		out = append(out,
			fields.Info{Name: k.prefix + ".name", Type: fields.String, Desc: "Saker: the name of the pod's " + k.what + ", from the Kubernetes API server (k8s_metadata)."},
			fields.Info{Name: k.prefix + ".label", Type: fields.String, Arg: fields.ArgRequired, Desc: "Saker: a label of the pod's " + k.what + ", e.g. " + k.prefix + ".label[app], from the Kubernetes API server (k8s_metadata)."},
			fields.Info{Name: k.prefix + ".labels", Type: fields.String, Desc: "Saker: the labels of the pod's " + k.what + " as 'key:value' pairs joined by ', ', from the Kubernetes API server (k8s_metadata)."},
		)
		if k.prefix != "k8s.node" {
			out = append(out, fields.Info{Name: k.prefix + ".id", Type: fields.String, Desc: "Saker: the UID of the pod's " + k.what + ", from the Kubernetes API server (k8s_metadata)."})
		}
	}
	return out
}()

// podMeta is the API server's view of the event's pod (nil: no directory, not a pod, or a
// pod not known yet).
func podMeta(c *state.Context) *container.PodMeta {
	if containerID(c) == container.HostID {
		return nil
	}
	e := containerEntry(c)
	if e == nil || e.State() != container.Ready {
		return nil
	}
	return e.Pod()
}

// k8sPodField serves the pod fields both CRI and the API server know: the API server's value
// when it knows the pod, else the runtime's.
func k8sPodField(name, arg string) func(c *state.Context) (fields.Value, bool) {
	return func(c *state.Context) (fields.Value, bool) {
		in, ok := containerInfo(c)
		if !ok {
			return fields.Value{}, false
		}
		var s string
		if p := containerEntry(c).Pod(); p != nil {
			switch name {
			case "k8s.pod.name":
				s = p.Pod.Name
			case "k8s.ns.name":
				s = p.Namespace.Name
			case "k8s.pod.label":
				v, ok := p.Pod.Labels[arg]
				if !ok {
					return fields.Value{}, false
				}
				return str(v)
			case "k8s.pod.labels":
				s = p.Pod.LabelsText
			case "k8s.pod.ip":
				s = p.IP
			}
			if s != "" {
				return str(s)
			}
		}
		switch name {
		case "k8s.pod.name":
			s = in.PodName()
		case "k8s.ns.name":
			s = in.PodNamespace()
		case "k8s.pod.label":
			v, ok := in.PodLabels[arg]
			if !ok {
				return fields.Value{}, false
			}
			return str(v)
		case "k8s.pod.labels":
			if len(in.PodLabels) > 0 {
				s = joinLabels(in.PodLabels)
			}
		case "k8s.pod.ip":
			if in.PodName() != "" && in.IP.IsValid() {
				s = in.IP.String()
			}
		}
		if s == "" {
			return fields.Value{}, false
		}
		return str(s)
	}
}

// k8sObjects maps a field's object prefix to the object of a pod it reads.
var k8sObjects = map[string]func(p *container.PodMeta) *container.KObject{
	"k8s.ns":          func(p *container.PodMeta) *container.KObject { return &p.Namespace },
	"k8s.rc":          func(p *container.PodMeta) *container.KObject { return p.ReplicationController },
	"k8s.rs":          func(p *container.PodMeta) *container.KObject { return p.ReplicaSet },
	"k8s.deployment":  func(p *container.PodMeta) *container.KObject { return p.Deployment },
	"k8s.daemonset":   func(p *container.PodMeta) *container.KObject { return p.DaemonSet },
	"k8s.statefulset": func(p *container.PodMeta) *container.KObject { return p.StatefulSet },
	"k8s.job":         func(p *container.PodMeta) *container.KObject { return p.Job },
	"k8s.cronjob":     func(p *container.PodMeta) *container.KObject { return p.CronJob },
	"k8s.node":        func(p *container.PodMeta) *container.KObject { return p.Node },
}

// k8sAPIField serves the k8s.* fields only the API server knows (nil for other names).
// Services: k8s.svc.name, .id and .labels join every service selecting the pod (as libsinsp's
// k8s filter checks did), k8s.svc.label[x] is the first service's (by name) having label x.
func k8sAPIField(name, arg string) func(c *state.Context) (fields.Value, bool) {
	with := func(g func(p *container.PodMeta) (fields.Value, bool)) func(c *state.Context) (fields.Value, bool) {
		return func(c *state.Context) (fields.Value, bool) {
			p := podMeta(c)
			if p == nil {
				return fields.Value{}, false
			}
			return g(p)
		}
	}
	nonEmpty := func(s string) (fields.Value, bool) {
		if s == "" {
			return fields.Value{}, false
		}
		return str(s)
	}
	switch name {
	case "k8s.svc.name":
		return with(func(p *container.PodMeta) (fields.Value, bool) { return nonEmpty(p.SvcNames) })
	case "k8s.svc.id":
		return with(func(p *container.PodMeta) (fields.Value, bool) { return nonEmpty(p.SvcUIDs) })
	case "k8s.svc.labels":
		return with(func(p *container.PodMeta) (fields.Value, bool) { return nonEmpty(p.SvcLabels) })
	case "k8s.svc.label":
		return with(func(p *container.PodMeta) (fields.Value, bool) {
			for i := range p.Services {
				if v, ok := p.Services[i].Labels[arg]; ok {
					return str(v)
				}
			}
			return fields.Value{}, false
		})
	}
	dot := len(name) - 1
	for dot > 0 && name[dot] != '.' {
		dot--
	}
	obj, ok := k8sObjects[name[:dot]]
	if !ok {
		return nil
	}
	switch name[dot+1:] {
	case "name":
		return with(func(p *container.PodMeta) (fields.Value, bool) {
			if o := obj(p); o != nil {
				return nonEmpty(o.Name)
			}
			return fields.Value{}, false
		})
	case "id":
		return with(func(p *container.PodMeta) (fields.Value, bool) {
			if o := obj(p); o != nil {
				return nonEmpty(o.UID)
			}
			return fields.Value{}, false
		})
	case "labels":
		return with(func(p *container.PodMeta) (fields.Value, bool) {
			if o := obj(p); o != nil {
				return nonEmpty(o.LabelsText)
			}
			return fields.Value{}, false
		})
	case "label":
		return with(func(p *container.PodMeta) (fields.Value, bool) {
			if o := obj(p); o != nil {
				if v, ok := o.Labels[arg]; ok {
					return str(v)
				}
			}
			return fields.Value{}, false
		})
	}
	return nil
}
