package incident

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/admission"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

var t0 = time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)

// clock is the injected clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func open(t *testing.T, path string, c *clock, q Quarantiner) *Store {
	t.Helper()
	s, err := Open(Options{Path: path, Now: c.now, Quarantine: q, FlushInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var auditN int

// audit is an audit event as kube-apiserver writes one, parsed by pkg/k8saudit.
func audit(t *testing.T, at time.Time, user, verb, resource, sub, ns, name string, extra map[string]any) *k8saudit.Event {
	t.Helper()
	auditN++
	ref := map[string]any{"resource": resource, "namespace": ns, "name": name, "apiVersion": "v1"}
	if sub != "" {
		ref["subresource"] = sub
	}
	uri := "/api/v1/namespaces/" + ns + "/" + resource + "/" + name
	if sub == "exec" {
		uri += "/exec?command=sh&command=-c&command=id&container=c"
	}
	e := map[string]any{"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
		"auditID": fmt.Sprintf("audit-%d", auditN), "stage": "ResponseComplete", "requestURI": uri, "verb": verb,
		"user": map[string]any{"username": user}, "objectRef": ref, "responseStatus": map[string]any{"code": 200},
		"requestReceivedTimestamp": at.Format(time.RFC3339Nano), "stageTimestamp": at.Add(time.Millisecond).Format(time.RFC3339Nano)}
	for k, v := range extra {
		e[k] = v
	}
	b, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	res, err := k8saudit.Parse(b)
	if err != nil || len(res.Events) != 1 {
		t.Fatalf("%v %v", err, res.Errs)
	}
	return res.Events[0]
}

func podCreate(t *testing.T, at time.Time, user, ns, name, uid string, privileged bool, sa string, owner map[string]any, labels map[string]any) *k8saudit.Event {
	meta := map[string]any{"name": name, "namespace": ns}
	if owner != nil {
		meta["ownerReferences"] = []any{owner}
	}
	if labels != nil {
		meta["labels"] = labels
	}
	spec := map[string]any{"containers": []any{map[string]any{"name": "c", "image": "busybox", "securityContext": map[string]any{"privileged": privileged}}}}
	if sa != "" {
		spec["serviceAccountName"] = sa
	}
	return audit(t, at, user, "create", "pods", "", ns, name, map[string]any{
		"requestObject":  map[string]any{"kind": "Pod", "metadata": meta, "spec": spec},
		"responseObject": map[string]any{"kind": "Pod", "metadata": map[string]any{"name": name, "namespace": ns, "uid": uid}},
		"responseStatus": map[string]any{"code": 201}})
}

func al(rule string, p loader.Priority, at time.Time) *alert.Alert {
	return &alert.Alert{Rule: rule, Priority: p, Source: "syscall", Time: at}
}

func lookup(s *Store, ns, pod, uid string, at time.Time) (id, user, verb, chain string) {
	id, _ = s.Lookup(ns, pod, uid, at, FieldID)
	user, _ = s.Lookup(ns, pod, uid, at, FieldUser)
	verb, _ = s.Lookup(ns, pod, uid, at, FieldVerb)
	chain, _ = s.Lookup(ns, pod, uid, at, FieldChain)
	return
}

func TestExecJoinsAlertsWithinWindow(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	if id := s.Audit(podCreate(t, t0, "bob", "team", "web", "uid-1", false, "", nil, nil), nil); id == "" {
		t.Fatal("the pod's creation opened no (context) incident")
	}
	exec := audit(t, t0.Add(time.Minute), "alice", "create", "pods", "exec", "team", "web", nil)
	id := s.Audit(exec, nil)
	if s.Audit(exec, nil) != "" {
		t.Fatal("the same audit id was taken twice")
	}
	at := t0.Add(time.Minute + 3*time.Second)
	gotID, user, verb, chain := lookup(s, "team", "web", "uid-1", at)
	if gotID != id || user != "alice" || verb != "exec" {
		t.Fatalf("lookup: %q %q %q, want %q alice exec", gotID, user, verb, id)
	}
	if s.Alert("team", "web", "uid-1", al("Read sensitive file untrusted", loader.Warning, at)) != id {
		t.Fatal("the alert did not join the exec's incident")
	}
	_, _, _, chain = lookup(s, "team", "web", "", at)
	if want := "bob create pod -> alice exec [sh -c id] -> Read sensitive file untrusted (Warning)"; chain != want {
		t.Fatalf("chain %q, want %q", chain, want)
	}
	in, ok := s.Incident(id)
	if !ok || in.Kind != KindExec || in.Alerts != 1 || in.Severity != "Warning" || strings.Join(in.Verbs, ",") != "create,exec" || in.PodUID != "uid-1" {
		t.Fatalf("%+v", in)
	}
	// another pod, another uid of the same name, and after the window: no incident
	if id, _, _, _ := lookup(s, "team", "api", "", at); id != "" {
		t.Fatal("another pod joined")
	}
	if id, _, _, _ := lookup(s, "team", "web", "uid-2", at); id != "" {
		t.Fatal("a pod of the same name with another uid joined")
	}
	late := at.Add(DefaultWindow + time.Second)
	if id, _, _, _ := lookup(s, "team", "web", "uid-1", late); id != "" {
		t.Fatal("an alert after the window joined")
	}
	if s.Alert("team", "web", "uid-1", al("Late", loader.Warning, late)) != "" {
		t.Fatal("a Warning alert after the window opened an incident")
	}
	// within the window of the last step (the alert), it still joins
	if s.Alert("team", "web", "uid-1", al("Again", loader.Error, at.Add(DefaultWindow-time.Second))) != id {
		t.Fatal("an alert within the window of the last step did not join")
	}
	// a Critical alert in a pod with no API action opens an incident of its own
	lone := s.Alert("team", "db", "", al("Drop and execute new binary in container", loader.Critical, at))
	if in, ok := s.Incident(lone); lone == "" || !ok || in.Kind != KindAlert || in.User != "" || !in.Critical() {
		t.Fatalf("%q %+v", lone, in)
	}
	// and the alert that opened it finds it at its own time (the agent renders the alert's
	// incident.* output fields after Alert): its id and the chain it starts, no user or verb
	gotID, user, verb, chain = lookup(s, "team", "db", "", at)
	if gotID != lone || user != "" || verb != "" || chain != "Drop and execute new binary in container (Critical)" {
		t.Fatalf("lookup of the opening alert: %q %q %q %q, want %q", gotID, user, verb, chain, lone)
	}
}

func TestPrivilegedPodCreatorAndAnchor(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	id := s.Audit(podCreate(t, t0, "mallory", "team", "priv", "u-p", true, "", nil, nil), nil)
	in, _ := s.Incident(id)
	if in.Kind != KindPrivilegedPod || in.User != "mallory" || !in.Listed() {
		t.Fatalf("%+v", in)
	}
	s.Alert("team", "priv", "u-p", al("Mount launched in privileged container", loader.Warning, t0.Add(time.Hour/10)))
	if _, user, verb, chain := lookup(s, "team", "priv", "u-p", t0.Add(time.Hour/10)); user != "mallory" || verb != "create" ||
		chain != "mallory create privileged pod -> Mount launched in privileged container (Warning)" {
		t.Fatalf("%q %q %q", user, verb, chain)
	}
	// a plain creation is context: not listed until an alert joins; an exec re-anchors it
	cid := s.Audit(podCreate(t, t0, "bob", "team", "plain", "", false, "", nil, nil), nil)
	if in, _ := s.Incident(cid); in.Listed() || in.Kind != KindPodCreate || in.User != "bob" {
		t.Fatalf("%+v", in)
	}
	if s.Audit(audit(t, t0.Add(time.Second), "alice", "create", "pods", "exec", "team", "plain", nil), nil) != cid {
		t.Fatal("the exec did not extend the open incident")
	}
	if in, _ := s.Incident(cid); in.Kind != KindExec || in.User != "alice" || in.Verb != "exec" || !in.Listed() {
		t.Fatalf("re-anchored: %+v", in)
	}
	// audit alerts on the pod join with their priority
	ex := audit(t, t0.Add(2*time.Second), "alice", "create", "pods", "exec", "team", "plain", nil)
	if s.Audit(ex, []*alert.Alert{{Rule: "Attach/Exec Pod", Priority: loader.Notice, Source: "k8s_audit", Time: t0.Add(2 * time.Second)}}) != cid {
		t.Fatal("the audit alert joined no incident")
	}
	if in, _ := s.Incident(cid); in.Alerts != 1 || in.Severity != "Notice" {
		t.Fatalf("%+v", in)
	}
}

func TestServiceAccountTokenRead(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	s.Audit(podCreate(t, t0, "bob", "ci", "runner", "u-r", false, "builder", nil, nil), nil)
	tok := audit(t, t0.Add(time.Second), "alice", "get", "secrets", "", "ci", "builder-token-x1", map[string]any{
		"responseObject": map[string]any{"kind": "Secret", "type": "kubernetes.io/service-account-token",
			"metadata": map[string]any{"name": "builder-token-x1", "annotations": map[string]any{"kubernetes.io/service-account.name": "builder"}}}})
	id := s.Audit(tok, nil)
	in, _ := s.Incident(id)
	if in.Kind != KindTokenRead || in.ServiceAccount != "ci/builder" || in.User != "alice" || !in.Listed() {
		t.Fatalf("%+v", in)
	}
	// an ordinary secret read is no token read
	if s.Audit(audit(t, t0.Add(time.Second), "alice", "get", "secrets", "", "ci", "db-pass", map[string]any{
		"responseObject": map[string]any{"kind": "Secret", "type": "Opaque", "metadata": map[string]any{"name": "db-pass"}}}), nil) != "" {
		t.Fatal("an Opaque secret read opened an incident")
	}
	// API calls by the service account join, and so do alerts in pods running as it
	if s.Audit(audit(t, t0.Add(2*time.Second), "system:serviceaccount:ci:builder", "list", "secrets", "", "kube-system", "", nil), nil) != id {
		t.Fatal("the service account's API call did not join")
	}
	if s.Alert("ci", "runner", "u-r", al("Contact K8S API Server From Container", loader.Notice, t0.Add(3*time.Second))) != id {
		t.Fatal("the alert in the service account's pod did not join the token read")
	}
	if gotID, user, verb, _ := lookup(s, "ci", "runner", "", t0.Add(3*time.Second)); gotID != id || user != "alice" || verb != "get" {
		t.Fatalf("%q %q %q", gotID, user, verb)
	}
	// TokenRequest too
	tr := audit(t, t0.Add(4*time.Second), "alice", "create", "serviceaccounts", "token", "ci", "deployer", nil)
	if in, _ := s.Incident(s.Audit(tr, nil)); in == nil || in.ServiceAccount != "ci/deployer" {
		t.Fatalf("token request: %+v", in)
	}
	in, _ = s.Incident(id)
	if got := in.Chain(); !strings.Contains(got, "system:serviceaccount:ci:builder list secrets") ||
		!strings.Contains(got, "Contact K8S API Server From Container in pod ci/runner (Notice)") {
		t.Fatal(got)
	}
}

func TestPersistAcrossReopenAndBounds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "incidents.db")
	c := &clock{t: t0}
	s, err := Open(Options{Path: path, Now: c.now, FlushInterval: time.Hour, Max: 3, MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	id := s.Audit(audit(t, t0, "alice", "create", "pods", "exec", "team", "web", nil), nil)
	s.Alert("team", "web", "", al("Read sensitive file untrusted", loader.Warning, t0.Add(time.Second)))
	s.Audit(podCreate(t, t0, "bob", "team", "quiet", "", false, "", nil, nil), nil) // context only: not written
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := List(path)
	if err != nil || len(l) != 1 || l[0].ID != id || l[0].User != "alice" || l[0].Alerts != 1 || l[0].Severity != "Warning" ||
		l[0].Chain() != "alice exec [sh -c id] -> Read sensitive file untrusted (Warning)" {
		t.Fatalf("%v %+v", err, l)
	}
	// reopened within the window: the incident is in the hot index again
	c.set(t0.Add(time.Minute))
	s, err = Open(Options{Path: path, Now: c.now, FlushInterval: time.Hour, Max: 3, MaxAge: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, user, _, _ := lookup(s, "team", "web", "", t0.Add(time.Minute)); got != id || user != "alice" {
		t.Fatalf("after reopen: %q %q", got, user)
	}
	if s.Alert("team", "web", "", al("Second", loader.Error, t0.Add(time.Minute))) != id {
		t.Fatal("an alert after reopen did not join")
	}
	// bounds: five more incidents, at most three kept, the most recent
	var ids []string
	for i := range 5 {
		at := t0.Add(time.Duration(2+i) * time.Minute)
		ids = append(ids, s.Audit(audit(t, at, "alice", "create", "pods", "attach", "team", fmt.Sprintf("p%d", i), nil), nil))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	l, _ = List(path)
	if len(l) != 3 || l[0].ID != ids[4] || l[2].ID != ids[2] {
		t.Fatalf("count bound: %d incidents", len(l))
	}
	got, err := Get(path, ids[3])
	if err != nil || got.Pod != "p3" || got.Verb != "attach" {
		t.Fatalf("%v %+v", err, got)
	}
	if _, err := Get(path, "inc-none"); err == nil || !strings.Contains(err.Error(), "no such incident") {
		t.Fatal(err)
	}
	// age bound: a day later, a new write deletes what is older than max_age
	c.set(t0.Add(25 * time.Hour))
	late := s.Audit(audit(t, t0.Add(25*time.Hour), "alice", "create", "pods", "portforward", "team", "late", nil), nil)
	s.Flush()
	if l, _ = List(path); len(l) != 1 || l[0].ID != late {
		t.Fatalf("age bound: %+v", l)
	}
	s.Close()
}

func TestQuarantineFeedsAdmission(t *testing.T) {
	c := &clock{t: t0}
	q := admission.NewQuarantine()
	s := open(t, "", c, AdmissionQuarantine(q))
	ctl := admission.NewController(nil)
	ctl.Quarantine = q
	s.Audit(audit(t, t0, "kube-controller-manager", "create", "replicasets", "", "team", "web-7c9f", map[string]any{
		"requestObject": map[string]any{"metadata": map[string]any{"name": "web-7c9f", "ownerReferences": []any{map[string]any{"kind": "Deployment", "name": "web", "controller": true}}}}}), nil)
	s.Audit(podCreate(t, t0, "system:serviceaccount:kube-system:replicaset-controller", "team", "web-7c9f-abcde", "u-w", false, "",
		map[string]any{"kind": "ReplicaSet", "name": "web-7c9f", "controller": true}, map[string]any{"pod-template-hash": "7c9f"}), nil)
	id := s.Audit(audit(t, t0.Add(time.Second), "alice", "create", "pods", "exec", "team", "web-7c9f-abcde", nil), nil)
	execReview := func(uid string) *admission.Request {
		return &admission.Request{UID: uid, Operation: "CONNECT", Resource: admission.GVR{Version: "v1", Resource: "pods"},
			SubResource: "exec", Namespace: "team", Name: "web-7c9f-abcde", UserInfo: admission.UserInfo{Username: "alice"},
			Object: []byte(`{"kind":"PodExecOptions","command":["sh"]}`)}
	}
	review := func(r *admission.Request) *admission.Decision {
		d, err := ctl.Review(r)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	s.Alert("team", "web-7c9f-abcde", "u-w", al("Read sensitive file untrusted", loader.Warning, t0.Add(2*time.Second)))
	if d := review(execReview("r1")); !d.Response.Allowed {
		t.Fatalf("a Warning incident quarantined: %s", d.Response.Result.Message)
	}
	s.Alert("team", "web-7c9f-abcde", "u-w", al("Drop and execute new binary in container", loader.Critical, t0.Add(3*time.Second)))
	d := review(execReview("r2"))
	if d.Response.Allowed || !strings.Contains(d.Response.Result.Message, id) || !strings.Contains(d.Response.Result.Message, "alice exec") {
		t.Fatalf("%+v", d.Response)
	}
	tmpl := func(image string) []byte {
		return fmt.Appendf(nil, `{"spec":{"replicas":1,"template":{"spec":{"containers":[{"name":"c","image":%q}]}}}}`, image)
	}
	upd := &admission.Request{UID: "r3", Operation: "UPDATE", Resource: admission.GVR{Group: "apps", Version: "v1", Resource: "deployments"},
		Namespace: "team", Name: "web", UserInfo: admission.UserInfo{Username: "alice"}, Object: tmpl("evil"), OldObject: tmpl("busybox")}
	if d := review(upd); d.Response.Allowed || !strings.Contains(d.Response.Result.Message, "Deployment team/web: pod template update refused") ||
		!strings.Contains(d.Response.Result.Message, id) {
		t.Fatalf("owner: %+v %+v", d.Response, d.Response.Result)
	}
	// the window passes: the incident closes, the quarantine lifts
	c.set(t0.Add(3*time.Second + DefaultWindow + time.Second))
	s.sweep()
	if d := review(execReview("r4")); !d.Response.Allowed {
		t.Fatalf("after the window: %s", d.Response.Result.Message)
	}
	upd.UID = "r5"
	if d := review(upd); !d.Response.Allowed {
		t.Fatal("owner still frozen after the window")
	}
}

// The audit webhook delivers in batches: the alerts an exec caused may come before its event.
func TestAlertsBeforeTheirAuditEvent(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	s.Alert("team", "web", "", al("Too early", loader.Warning, t0.Add(-time.Minute)))
	s.Alert("team", "web", "", al("Read sensitive file untrusted", loader.Warning, t0.Add(2*time.Second)))
	if id, _, _, _ := lookup(s, "team", "web", "", t0.Add(2*time.Second)); id != "" {
		t.Fatal("an alert alone opened an incident")
	}
	id := s.Audit(audit(t, t0, "alice", "create", "pods", "exec", "team", "web", nil), nil)
	in, _ := s.Incident(id)
	if in.Alerts != 1 || in.Severity != "Warning" || in.Chain() != "alice exec [sh -c id] -> Read sensitive file untrusted (Warning)" {
		t.Fatalf("%+v", in)
	}
	// a Critical alert opens its own incident; the exec that arrives later anchors it
	lone := s.Alert("team", "db", "", al("Drop and execute new binary in container", loader.Critical, t0.Add(time.Second)))
	if got := s.Audit(audit(t, t0, "bob", "create", "pods", "attach", "team", "db", nil), nil); got != lone {
		t.Fatalf("the attach opened %q, not the alert's %q", got, lone)
	}
	if in, _ := s.Incident(lone); in.Kind != KindAttach || in.User != "bob" || in.Verb != "attach" {
		t.Fatalf("%+v", in)
	}
}

func TestSetQuarantineLater(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	id := s.Alert("team", "db", "", al("Drop and execute new binary in container", loader.Critical, t0))
	q := admission.NewQuarantine()
	s.SetQuarantine(AdmissionQuarantine(q))
	if inc, ok := q.Incident("team", "db"); !ok || !strings.HasPrefix(inc, id+" (Critical") {
		t.Fatalf("%q %v", inc, ok)
	}
}

func TestDebugAndMetadataLevelTokenRead(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	s.Audit(podCreate(t, t0, "bob", "team", "web", "", false, "", nil, nil), nil)
	id := s.Audit(audit(t, t0.Add(time.Second), "carol", "patch", "pods", "ephemeralcontainers", "team", "web", nil), nil)
	if in, _ := s.Incident(id); in.Kind != KindDebug || in.User != "carol" || !in.Listed() {
		t.Fatalf("%+v", in)
	}
	// no response object: the token controller's secret name tells the service account
	tid := s.Audit(audit(t, t0, "dave", "get", "secrets", "", "ci", "builder-token-x8k2q", nil), nil)
	if in, _ := s.Incident(tid); in == nil || in.ServiceAccount != "ci/builder" {
		t.Fatalf("%+v", in)
	}
	if s.Audit(audit(t, t0, "dave", "get", "secrets", "", "ci", "my-token-storage", nil), nil) != "" {
		t.Fatal("a secret named like a token but not a controller's opened an incident")
	}
}

// TestSetLimits: a reload's shorter window applies to the running store at once.
func TestSetLimits(t *testing.T) {
	c := &clock{t: t0}
	s := open(t, "", c, nil)
	id := s.Alert("team", "db", "", al("Drop and execute new binary in container", loader.Critical, t0))
	at := t0.Add(5 * time.Minute)
	if got, _ := s.Lookup("team", "db", "", at, FieldID); got != id || s.Window() != DefaultWindow {
		t.Fatalf("within the default window: %q, want %q", got, id)
	}
	s.SetLimits(time.Minute, 0, 0)
	if s.Window() != time.Minute {
		t.Fatalf("window %v", s.Window())
	}
	if got, ok := s.Lookup("team", "db", "", at, FieldID); ok {
		t.Fatalf("after the window shrank to 1m, an event 5m later still joins %q", got)
	}
	if got, _ := s.Lookup("team", "db", "", t0.Add(30*time.Second), FieldID); got != id {
		t.Fatalf("within the new window: %q", got)
	}
}
