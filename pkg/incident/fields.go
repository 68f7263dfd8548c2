package incident

import (
	"time"

	"github.com/saker-sec/saker/pkg/fields"
)

// Fields are the incident.* fields FieldSource adds to the syscall source.
var Fields = []fields.Info{
	{Name: "incident.id", Type: fields.String, Desc: "Saker: the id of the open incident the event's pod is in (an API action on the pod within the incident window: exec, attach, port-forward, its creation, a patch; or its service account's token read); no value outside pods or without one."},
	{Name: "incident.k8s_user", Type: fields.String, Desc: "Saker: who did the incident's API action (the audit event's user.username), e.g. the user who ran kubectl exec into the pod."},
	{Name: "incident.k8s_verb", Type: fields.String, Desc: "Saker: the incident's API action: exec, attach, portforward, or the audit verb (create, patch, update, get)."},
	{Name: "incident.chain", Type: fields.String, Desc: "Saker: the incident's chain in short, its steps joined by ' -> ' (e.g. `alice exec [sh] -> Read sensitive file untrusted (Warning)`)."},
}

var fieldIndex = map[string]int{"incident.id": FieldID, "incident.k8s_user": FieldUser, "incident.k8s_verb": FieldVerb, "incident.chain": FieldChain}

// FieldSource wraps the syscall source with the incident.* fields: their extractors read the
// event's pod (k8s.ns.name, k8s.pod.name, k8s.pod.uid) and time (evt.rawtime) through the
// wrapped source and look the pod's open incident up in the store's hot index. Every other
// field, and the event codes and serials, are the wrapped source's.
type FieldSource struct {
	fields.Source
	store *Store
}

// NewFieldSource wraps src (the syscall source) with the incident fields of store.
func NewFieldSource(src fields.Source, store *Store) *FieldSource {
	return &FieldSource{Source: src, store: store}
}

// Field serves the incident fields, then the wrapped source's.
func (s *FieldSource) Field(name string) (fields.Info, bool) {
	if i, ok := fieldIndex[name]; ok {
		return Fields[i], true
	}
	return s.Source.Field(name)
}

// Extractor binds an incident field to a store lookup, any other to the wrapped source.
func (s *FieldSource) Extractor(info fields.Info, arg string) (fields.Extractor, error) {
	which, ok := fieldIndex[info.Name]
	if !ok {
		return s.Source.Extractor(info, arg)
	}
	bind := func(name string) (fields.Extractor, error) {
		fi, ok := s.Source.Field(name)
		if !ok {
			return nil, nil
		}
		return s.Source.Extractor(fi, "")
	}
	ns, err := bind("k8s.ns.name")
	if err != nil {
		return nil, err
	}
	pod, err := bind("k8s.pod.name")
	if err != nil {
		return nil, err
	}
	uid, err := bind("k8s.pod.uid")
	if err != nil {
		return nil, err
	}
	ts, err := bind("evt.rawtime")
	if err != nil {
		return nil, err
	}
	if ns == nil || pod == nil || s.store == nil {
		return nil, nil // a catalogue-only source
	}
	st := s.store
	return func(ev fields.Event) (fields.Value, bool) {
		p, ok := pod(ev)
		if !ok || p.S == "" {
			return fields.Value{}, false
		}
		n, ok := ns(ev)
		if !ok {
			return fields.Value{}, false
		}
		var u string
		if uid != nil {
			if v, ok := uid(ev); ok {
				u = v.S
			}
		}
		t := time.Now()
		if ts != nil {
			if v, ok := ts(ev); ok && v.N != 0 {
				t = time.Unix(0, int64(v.N))
			}
		}
		v, ok := st.Lookup(n.S, p.S, u, t, which)
		return fields.Value{S: v}, ok
	}, nil
}

// EventSerial is the wrapped source's.
func (s *FieldSource) EventSerial(ev fields.Event) (uint64, bool) {
	if x, ok := s.Source.(fields.EventSerialer); ok {
		return x.EventSerial(ev)
	}
	return 0, false
}

// Remember is the wrapped source's (fields.Memoizer), false when it has none.
func (s *FieldSource) Remember(f func(ev fields.Event) bool, m *fields.Memo) (func(ev fields.Event) bool, bool) {
	if x, ok := s.Source.(fields.Memoizer); ok {
		return x.Remember(f, m)
	}
	return nil, false
}

// EventCode is the wrapped source's.
func (s *FieldSource) EventCode(ev fields.Event) (uint16, bool) {
	if x, ok := s.Source.(fields.EventCoder); ok {
		return x.EventCode(ev)
	}
	return 0, false
}

// CodesExact is the wrapped source's.
func (s *FieldSource) CodesExact(name string) bool {
	if x, ok := s.Source.(fields.EventCoder); ok {
		return x.CodesExact(name)
	}
	return false
}

// Pod returns a function reading the pod (namespace, name, uid) of the wrapped source's
// events, for feeding alerts to Store.Alert ("" names outside pods).
func (s *FieldSource) Pod() func(ev fields.Event) (ns, name, uid string) {
	bind := func(name string) fields.Extractor {
		fi, ok := s.Source.Field(name)
		if !ok {
			return nil
		}
		x, _ := s.Source.Extractor(fi, "")
		return x
	}
	nsX, podX, uidX := bind("k8s.ns.name"), bind("k8s.pod.name"), bind("k8s.pod.uid")
	get := func(x fields.Extractor, ev fields.Event) string {
		if x == nil {
			return ""
		}
		v, _ := x(ev)
		return v.S
	}
	return func(ev fields.Event) (string, string, string) {
		return get(nsX, ev), get(podX, ev), get(uidX, ev)
	}
}

var (
	_ fields.Source        = (*FieldSource)(nil)
	_ fields.EventSerialer = (*FieldSource)(nil)
	_ fields.Memoizer      = (*FieldSource)(nil)
	_ fields.EventCoder    = (*FieldSource)(nil)
)
