package admission

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

func TestQuarantine(t *testing.T) {
	rs, errs, _ := engine.Load([]loader.File{DefaultRules()}, engine.Options{Sources: Sources()})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	c := NewController(rs)
	c.Quarantine = NewQuarantine()
	at := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	if c.Quarantine.Observe(&alert.Alert{Rule: "Noisy", Priority: loader.Error, Time: at, OutputFields: map[string]any{"k8s.ns.name": "team", "k8s.pod.name": "web"}}) {
		t.Fatal("an Error alert quarantined a pod")
	}
	if !c.Quarantine.Observe(&alert.Alert{Rule: "Drop and execute new binary in container", Priority: loader.Critical, Time: at,
		OutputFields: map[string]any{"k8s.ns.name": "team", "k8s.pod.name": "web"}}) {
		t.Fatal("a Critical syscall alert with pod fields did not quarantine")
	}
	if !c.Quarantine.Observe(&alert.Alert{Rule: "Audit side", Priority: loader.Emergency, Time: at,
		OutputFields: map[string]any{"ka.target.resource": "pods", "ka.target.namespace": "kube-system", "ka.target.name": "dns"}}) {
		t.Fatal("an audit alert on a pod did not quarantine")
	}
	exec := `{"kind":"PodExecOptions","command":["sh"],"container":"c"}`
	d := decide(t, c, review("q1", "CONNECT", "team", "web", "exec", "alice", nil, exec))
	want := `pod team/web is quarantined (open incident: Critical "Drop and execute new binary in container" at 2026-12-02T08:00:00Z): exec refused`
	if d.Response.Allowed || d.Response.Result.Message != want || !d.Quarantined {
		t.Fatalf("%+v %+v", d.Response, d.Response.Result)
	}
	// also in an exempt namespace, and port-forward
	if d = decide(t, c, review("q2", "CONNECT", "kube-system", "dns", "portforward", "alice", nil, `{"kind":"PodPortForwardOptions"}`)); d.Response.Allowed ||
		!strings.Contains(d.Response.Result.Message, "portforward refused") {
		t.Fatalf("%+v", d.Response)
	}
	// an ordinary pod, and other operations on the quarantined one
	if d = decide(t, c, review("q3", "CONNECT", "team", "other", "exec", "alice", nil, exec)); !d.Response.Allowed {
		t.Fatalf("ordinary pod: %+v", d.Response.Result)
	}
	if d = decide(t, c, review("q4", "CONNECT", "team", "web", "log", "alice", nil, "")); !d.Response.Allowed {
		t.Fatalf("log: %+v", d.Response.Result)
	}
	c.Quarantine.Clear("team", "web")
	if d = decide(t, c, review("q5", "CONNECT", "team", "web", "exec", "alice", nil, exec)); !d.Response.Allowed {
		t.Fatalf("after Clear: %+v", d.Response.Result)
	}
	if st := c.Stats(); st.Quarantined != 2 || st.Denied != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// workloadReview is an UPDATE of an apps/v1 workload from old to new.
func workloadReview(uid, resource, kind, ns, name, object, old string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":%q,`+
		`"kind":{"group":"apps","version":"v1","kind":%q},"resource":{"group":"apps","version":"v1","resource":%q},`+
		`"name":%q,"namespace":%q,"operation":"UPDATE","userInfo":{"username":"alice","uid":"u-1"},"object":%s,"oldObject":%s}}`,
		uid, kind, resource, name, ns, object, old)
}

func TestQuarantineOwnerTemplate(t *testing.T) {
	c := NewController(nil)
	c.Quarantine = NewQuarantine()
	c.Quarantine.SetOwned("team", "web-5d4f-x2x", "inc-1 (Critical)", []Owner{{"ReplicaSet", "web-5d4f"}, {"Deployment", "web"}})
	dep := func(image string, replicas int) string {
		return fmt.Sprintf(`{"kind":"Deployment","metadata":{"name":"web","namespace":"team"},"spec":{"replicas":%d,`+
			`"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":%q}]}}}}`, replicas, image)
	}
	d := decide(t, c, workloadReview("o1", "deployments", "Deployment", "team", "web", dep("evil:1", 1), dep("busybox:1.36", 1)))
	want := "Deployment team/web: pod template update refused: its pod team/web-5d4f-x2x is quarantined (open incident: inc-1 (Critical))"
	if d.Response.Allowed || d.Response.Result.Message != want || !d.Quarantined {
		t.Fatalf("template change: %+v %+v", d.Response, d.Response.Result)
	}
	if d = decide(t, c, workloadReview("o2", "replicasets", "ReplicaSet", "team", "web-5d4f", dep("evil:1", 1), dep("busybox:1.36", 1))); d.Response.Allowed {
		t.Fatal("the ReplicaSet's template change was admitted")
	}
	// scaling (the template unchanged, its keys reordered) and other workloads pass
	reordered := `{"kind":"Deployment","spec":{"template":{"spec":{"containers":[{"image":"busybox:1.36","name":"c"}]},"metadata":{"labels":{"app":"web"}}},"replicas":3}}`
	if d = decide(t, c, workloadReview("o3", "deployments", "Deployment", "team", "web", reordered, dep("busybox:1.36", 1))); !d.Response.Allowed {
		t.Fatalf("scale: %+v", d.Response.Result)
	}
	if d = decide(t, c, workloadReview("o4", "deployments", "Deployment", "team", "api", dep("evil:1", 1), dep("busybox:1.36", 1))); !d.Response.Allowed {
		t.Fatalf("another deployment: %+v", d.Response.Result)
	}
	if d = decide(t, c, workloadReview("o5", "deployments", "Deployment", "other", "web", dep("evil:1", 1), dep("busybox:1.36", 1))); !d.Response.Allowed {
		t.Fatalf("same name in another namespace: %+v", d.Response.Result)
	}
	c.Quarantine.Clear("team", "web-5d4f-x2x")
	if d = decide(t, c, workloadReview("o6", "deployments", "Deployment", "team", "web", dep("evil:1", 1), dep("busybox:1.36", 1))); !d.Response.Allowed {
		t.Fatalf("after Clear: %+v", d.Response.Result)
	}
}
