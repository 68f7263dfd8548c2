package incident

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/k8saudit"
)

// Action is what the store reads of one audit event.
type Action struct {
	Time        time.Time // requestReceivedTimestamp (the event time when absent)
	AuditID     string
	Stage       string
	User        string
	Verb        string
	Resource    string
	Subresource string
	Namespace   string
	Name        string // objectRef.name, else the response object's name
	UID         string // the pod's uid, when the event tells it
	Code        int    // responseStatus.code (0 when absent)
	Command     string // exec's command (the URI's command parameters joined by spaces)

	// of a pod's creation
	Privileged     bool
	ServiceAccount string // spec.serviceAccountName ("default" when absent)
	Owner          Owner  // the controlling owner reference
	TemplateHash   string // the pod-template-hash label (a Deployment's ReplicaSet)

	// of a secret read
	SecretType string
	SecretSA   string // the service account a token secret belongs to
}

// parser reads Actions from audit events through the k8s_audit field extractors.
type parser struct {
	ex map[string]fields.Extractor
}

var parserFields = []string{"ka.auditid", "ka.stage", "ka.user.name", "ka.verb", "ka.target.resource",
	"ka.target.subresource", "ka.target.namespace", "ka.target.name", "ka.resp.name", "ka.response.code", "ka.uri",
	"ka.req.pod.containers.privileged", "ka.req.pod.initContainers.privileged",
	"jevt.value[/requestReceivedTimestamp]", "jevt.value[/objectRef/uid]", "jevt.value[/responseObject/metadata/uid]",
	"jevt.value[/requestObject/spec/serviceAccountName]", "jevt.value[/requestObject/metadata/labels/pod-template-hash]",
	"jevt.value[/requestObject/metadata/ownerReferences]", "jevt.value[/responseObject/type]",
	"jevt.value[/responseObject/metadata/annotations/kubernetes.io~1service-account.name]",
	"jevt.value[/responseObject/metadata/ownerReferences]"}

func newParser() *parser {
	src := k8saudit.NewFieldSource()
	p := &parser{ex: map[string]fields.Extractor{}}
	for _, f := range parserFields {
		name, arg := f, ""
		if i := strings.IndexByte(f, '['); i > 0 {
			name, arg = f[:i], f[i+1:len(f)-1]
		}
		info, ok := src.Field(name)
		if !ok {
			panic("incident: no k8s_audit field " + name)
		}
		x, err := src.Extractor(info, arg)
		if err != nil {
			panic("incident: " + f + ": " + err.Error())
		}
		p.ex[f] = x
	}
	return p
}

func (p *parser) s(ev *k8saudit.Event, f string) string {
	v, ok := p.ex[f](ev)
	if !ok {
		return ""
	}
	return v.S
}

func (p *parser) anyTrue(ev *k8saudit.Event, f string) bool {
	v, ok := p.ex[f](ev)
	if !ok {
		return false
	}
	if v.S == "true" {
		return true
	}
	for _, x := range v.List() {
		if x.S == "true" {
			return true
		}
	}
	return false
}

// parse reads an audit event.
func (p *parser) parse(ev *k8saudit.Event) Action {
	a := Action{Time: ev.Time(), AuditID: p.s(ev, "ka.auditid"), Stage: p.s(ev, "ka.stage"), User: p.s(ev, "ka.user.name"),
		Verb: p.s(ev, "ka.verb"), Resource: p.s(ev, "ka.target.resource"), Subresource: p.s(ev, "ka.target.subresource"),
		Namespace: p.s(ev, "ka.target.namespace"), Name: p.s(ev, "ka.target.name")}
	if t, err := time.Parse(time.RFC3339Nano, p.s(ev, "jevt.value[/requestReceivedTimestamp]")); err == nil {
		a.Time = t
	}
	if a.Name == "" {
		a.Name = p.s(ev, "ka.resp.name")
	}
	a.Code, _ = strconv.Atoi(p.s(ev, "ka.response.code"))
	if a.Resource == "pods" {
		a.UID = p.s(ev, "jevt.value[/responseObject/metadata/uid]")
		if a.UID == "" {
			a.UID = p.s(ev, "jevt.value[/objectRef/uid]")
		}
		if a.Subresource == "exec" {
			if u, err := url.Parse(p.s(ev, "ka.uri")); err == nil {
				a.Command = strings.Join(u.Query()["command"], " ")
			}
		}
		if a.Verb == "create" && a.Subresource == "" {
			a.Privileged = p.anyTrue(ev, "ka.req.pod.containers.privileged") || p.anyTrue(ev, "ka.req.pod.initContainers.privileged")
			a.ServiceAccount = p.s(ev, "jevt.value[/requestObject/spec/serviceAccountName]")
			if a.ServiceAccount == "" {
				a.ServiceAccount = "default"
			}
			a.TemplateHash = p.s(ev, "jevt.value[/requestObject/metadata/labels/pod-template-hash]")
			a.Owner = controller(p.s(ev, "jevt.value[/requestObject/metadata/ownerReferences]"))
		}
	}
	if a.Resource == "replicasets" && a.Verb == "create" {
		a.Owner = controller(p.s(ev, "jevt.value[/requestObject/metadata/ownerReferences]"))
	}
	if a.Resource == "secrets" {
		a.SecretType = p.s(ev, "jevt.value[/responseObject/type]")
		switch a.SecretType {
		case "kubernetes.io/service-account-token":
			a.SecretSA = p.s(ev, "jevt.value[/responseObject/metadata/annotations/kubernetes.io~1service-account.name]")
		case "":
			// no response object (a Metadata-level audit policy): the name the token
			// controller gave such secrets, SA-token-XXXXX
			if i := strings.LastIndex(a.Name, "-token-"); i > 0 && len(a.Name)-i-len("-token-") == 5 {
				a.SecretSA = a.Name[:i]
			}
		}
	}
	return a
}

// controller is the controlling owner in an ownerReferences JSON array (the first one when
// none says controller).
func controller(refs string) Owner {
	if refs == "" {
		return Owner{}
	}
	var l []struct {
		Kind, Name string
		Controller *bool
	}
	if jsonUnmarshal(refs, &l) != nil || len(l) == 0 {
		return Owner{}
	}
	for _, r := range l {
		if r.Controller != nil && *r.Controller {
			return Owner{Kind: r.Kind, Name: r.Name}
		}
	}
	return Owner{Kind: l[0].Kind, Name: l[0].Name}
}

// Audit records an audit event and the alerts the k8s_audit rules raised on it (each joins
// the incident the event joined, or the pod's open incident). It returns the id of the
// incident the event joined or opened ("" when none). Each auditID is taken once (the first
// stage that tells enough: a pod's creation at ResponseComplete, other actions at any stage).
func (s *Store) Audit(ev *k8saudit.Event, alerts []*alert.Alert) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.parser == nil {
		s.parser = newParser()
	}
	a := s.parser.parse(ev)
	id := s.action(&a)
	if len(alerts) == 0 {
		return id
	}
	var in *Incident
	if id != "" {
		in = s.byID(id, a.Namespace, a.Name)
	}
	if in == nil && a.Resource == "pods" && a.Name != "" {
		in = s.current(a.Namespace, a.Name, a.UID, a.Time)
	}
	if in == nil {
		return id
	}
	for _, al := range alerts {
		s.addStep(in, alertStep(al))
	}
	return in.ID
}

// AuditAction records an Action (Audit without the parsing; tests and other callers that
// already have the fields).
func (s *Store) AuditAction(a Action) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.action(&a)
}

func (s *Store) byID(id, ns, name string) *Incident {
	if p := s.pods[ns+"/"+name]; p != nil && p.inc != nil && p.inc.ID == id {
		return p.inc
	}
	for _, in := range s.sas {
		if in.ID == id {
			return in
		}
	}
	return nil
}

// saOf is the namespace/name of a service account user (system:serviceaccount:NS:NAME).
func saOf(user string) string {
	rest, ok := strings.CutPrefix(user, "system:serviceaccount:")
	if !ok {
		return ""
	}
	ns, name, ok := strings.Cut(rest, ":")
	if !ok {
		return ""
	}
	return ns + "/" + name
}

// context kinds are replaced as the incident's anchor by the first notable action.
func contextKind(k string) bool {
	return k == KindPodCreate || k == KindPodUpdate || k == KindSecretRead
}

func (s *Store) action(a *Action) string {
	if a.Resource == "pods" && a.Verb == "create" && a.Subresource == "" && a.Stage != "ResponseComplete" {
		return "" // its creation is read from the response
	}
	if s.markSeen(a.AuditID) {
		return ""
	}
	joined := ""
	// API calls by a service account whose token was read join that incident
	if sa := saOf(a.User); sa != "" {
		if in := s.sas[sa]; s.openAt(in, a.Time) {
			s.addStep(in, Step{Time: a.Time, Source: "k8s_audit", User: a.User, Verb: a.Verb, AuditID: a.AuditID,
				What: a.User + " " + a.Verb + " " + target(a)})
			joined = in.ID
		}
		if a.Resource == "secrets" && (a.Verb == "get" || a.Verb == "list" || a.Verb == "watch") {
			for _, k := range s.saPods[sa] {
				p := s.pods[k]
				if p == nil {
					continue
				}
				s.podStep(p, KindSecretRead, a, a.User+" "+a.Verb+" "+target(a))
			}
		}
	}
	switch a.Resource {
	case "pods":
		if a.Name == "" || a.Namespace == "" {
			return joined
		}
		switch {
		case a.Subresource == "exec" || a.Subresource == "attach" || a.Subresource == "portforward":
			what := a.User + " " + a.Subresource
			if a.Command != "" {
				what += " [" + a.Command + "]"
			}
			switch {
			case a.Code == 403:
				what += " (denied)"
			case a.Code >= 400:
				what += " (failed: " + strconv.Itoa(a.Code) + ")"
			}
			p := s.pod(a.Namespace, a.Name, a.UID, true)
			if p == nil {
				return joined
			}
			return s.podStep(p, a.Subresource, a, what)
		case a.Subresource == "" && a.Verb == "create":
			if a.Code >= 400 {
				return joined
			}
			p := s.pod(a.Namespace, a.Name, a.UID, a.Privileged || len(s.pods) < s.opts.MaxPods)
			if p == nil {
				return joined
			}
			p.uid = a.UID
			p.sa = a.Namespace + "/" + a.ServiceAccount
			if !contains(s.saPods[p.sa], a.Namespace+"/"+a.Name) {
				s.saPods[p.sa] = append(s.saPods[p.sa], a.Namespace+"/"+a.Name)
			}
			p.owners = s.owners(a)
			kind, what := KindPodCreate, a.User+" create pod"
			if a.Privileged {
				kind, what = KindPrivilegedPod, a.User+" create privileged pod"
			}
			p.inc = nil // a new pod: a new chain
			return s.podStep(p, kind, a, what)
		case (a.Verb == "update" || a.Verb == "patch") && (a.Subresource == "" || a.Subresource == "ephemeralcontainers"):
			p := s.pod(a.Namespace, a.Name, a.UID, false)
			if p == nil {
				return joined
			}
			if a.Subresource == "ephemeralcontainers" {
				return s.podStep(p, KindDebug, a, a.User+" "+a.Verb+" pod ephemeralcontainers")
			}
			return s.podStep(p, KindPodUpdate, a, a.User+" "+a.Verb+" pod")
		}
	case "replicasets":
		if a.Verb == "create" && a.Owner.Kind != "" && a.Name != "" {
			s.rsOwner[a.Namespace+"/"+a.Name] = a.Owner
		}
	case "secrets":
		if a.Verb == "get" && a.SecretSA != "" {
			return s.tokenRead(a, a.Namespace+"/"+a.SecretSA, a.User+" get secret "+a.Namespace+"/"+a.Name+" (token of serviceaccount "+a.SecretSA+")")
		}
	case "serviceaccounts":
		if a.Subresource == "token" && a.Verb == "create" && a.Name != "" && a.Code < 400 {
			return s.tokenRead(a, a.Namespace+"/"+a.Name, a.User+" create token of serviceaccount "+a.Namespace+"/"+a.Name)
		}
	}
	return joined
}

func target(a *Action) string {
	t := a.Resource
	if a.Subresource != "" {
		t += "/" + a.Subresource
	}
	if a.Name != "" {
		if a.Namespace != "" {
			t += " " + a.Namespace + "/" + a.Name
		} else {
			t += " " + a.Name
		}
	}
	return t
}

// podStep adds an action to the pod's open incident, or opens one of kind.
func (s *Store) podStep(p *podEntry, kind string, a *Action, what string) string {
	in := p.inc
	if !s.openAt(in, a.Time) {
		in = s.newIncident(kind, p)
		p.inc = in
	} else if (contextKind(in.Kind) || in.Kind == KindAlert) && !contextKind(kind) {
		// the first notable action anchors the incident: its kind and its user
		in.Kind, in.User, in.Verb = kind, a.User, verbOf(kind, a)
	}
	if in.Owners == nil {
		in.Owners = p.owners
	}
	if in.PodUID == "" {
		in.PodUID = p.uid
	}
	if in.ServiceAccount == "" {
		in.ServiceAccount = p.sa
	}
	s.addStep(in, Step{Time: a.Time, Source: "k8s_audit", User: a.User, Verb: verbOf(kind, a), What: what, AuditID: a.AuditID})
	// alerts raised after the action that came before its audit event join now
	kept := p.pending[:0]
	for _, st := range p.pending {
		if !st.Time.Before(a.Time.Add(-Skew)) && !st.Time.After(a.Time.Add(s.opts.Window)) {
			s.addStep(in, st)
		} else if st.Time.After(a.Time) {
			kept = append(kept, st)
		}
	}
	clear(p.pending[len(kept):])
	p.pending = kept
	return in.ID
}

// verbOf is the verb an action is listed by: the subresource of a connection (exec, attach,
// portforward), else the audit verb.
func verbOf(kind string, a *Action) string {
	switch kind {
	case KindExec, KindAttach, KindPortForward:
		return a.Subresource
	}
	return a.Verb
}

func (s *Store) tokenRead(a *Action, sa, what string) string {
	in := s.sas[sa]
	if !s.openAt(in, a.Time) {
		in = &Incident{ID: newID(), Kind: KindTokenRead, ServiceAccount: sa}
		s.sas[sa] = in
	}
	s.addStep(in, Step{Time: a.Time, Source: "k8s_audit", User: a.User, Verb: a.Verb, What: what, AuditID: a.AuditID})
	return in.ID
}

// owners is the owner chain of a created pod: its controller, and that controller's when the
// store saw the ReplicaSet's creation or the pod-template-hash label names its Deployment.
func (s *Store) owners(a *Action) []Owner {
	if a.Owner.Kind == "" {
		return nil
	}
	l := []Owner{a.Owner}
	if a.Owner.Kind == "ReplicaSet" {
		if o, ok := s.rsOwner[a.Namespace+"/"+a.Owner.Name]; ok {
			l = append(l, o)
		} else if h := a.TemplateHash; h != "" && strings.HasSuffix(a.Owner.Name, "-"+h) {
			l = append(l, Owner{Kind: "Deployment", Name: strings.TrimSuffix(a.Owner.Name, "-"+h)})
		}
	}
	return l
}
