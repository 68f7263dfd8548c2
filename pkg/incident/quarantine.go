package incident

import "github.com/saker-sec/saker/pkg/admission"

// AdmissionQuarantine feeds pkg/admission's Quarantine: a pod with an open Critical+ incident
// is quarantined with its owners (exec, attach, port-forward into it and its owners' pod
// template updates are refused, the message naming the incident: Describe), and released when
// the incident closes.
func AdmissionQuarantine(q *admission.Quarantine) Quarantiner { return admissionQuarantine{q} }

type admissionQuarantine struct{ q *admission.Quarantine }

func (a admissionQuarantine) Quarantine(in *Incident) {
	owners := make([]admission.Owner, len(in.Owners))
	for i, o := range in.Owners {
		owners[i] = admission.Owner{Kind: o.Kind, Name: o.Name}
	}
	a.q.SetOwned(in.Namespace, in.Pod, Describe(in), owners)
}

func (a admissionQuarantine) Release(in *Incident) {
	if cur, ok := a.q.Incident(in.Namespace, in.Pod); ok && len(cur) >= len(in.ID) && cur[:len(in.ID)] == in.ID {
		a.q.Clear(in.Namespace, in.Pod)
	}
}
