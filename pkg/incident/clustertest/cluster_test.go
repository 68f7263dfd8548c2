package clustertest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/internal/k8stest"
	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/admission"
	"github.com/saker-sec/saker/pkg/agent"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/incident"
	"github.com/saker-sec/saker/pkg/k8saudit"
)

// alerts collects the agent's alerts (a Sink).
type alerts struct {
	mu   sync.Mutex
	list []*alert.Alert
}

func (c *alerts) Name() string { return "test" }
func (c *alerts) Alert(a *alert.Alert) {
	c.mu.Lock()
	c.list = append(c.list, a)
	c.mu.Unlock()
}

func (c *alerts) find(rule string) *alert.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, a := range c.list {
		if a.Rule == rule {
			return a
		}
	}
	return nil
}

// The rule conditions on the incident: a read of /etc/shadow in a pod that someone exec'd into.
const rules = `
- rule: Shadow read after an API exec
  desc: test rule of the incident store
  condition: >
    evt.type in (open, openat, openat2) and evt.dir = < and evt.is_open_read = true and fd.name = /etc/shadow
    and container.id != host and incident.k8s_verb = exec
  output: shadow read in pod %k8s.ns.name/%k8s.pod.name after %incident.k8s_user ran %incident.k8s_verb (incident %incident.id; %incident.chain)
  priority: CRITICAL
- rule: Lone critical read
  desc: test rule of the incident store (a Critical alert in a pod with no API action)
  condition: >
    evt.type in (open, openat, openat2) and evt.dir = < and evt.is_open_read = true and fd.name = /etc/saker-lone
    and container.id != host and k8s.pod.name = saker-lone
  output: lone read in pod %k8s.ns.name/%k8s.pod.name
  priority: CRITICAL
`

func TestIncidentAgainstAPIServerAndContainer(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	script := k8stest.Script(t)
	d := dockertest.Start(t)
	dir := k8stest.Certs(t, script)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	// alice: a static token user of the API server (system:masters, so no RBAC objects)
	tb := make([]byte, 16)
	rand.Read(tb)
	aliceToken := hex.EncodeToString(tb)
	f, err := os.OpenFile(filepath.Join(dir, "tokens.csv"), os.O_APPEND|os.O_WRONLY, 0)
	must(err)
	fmt.Fprintf(f, "%s,alice,alice-uid,system:masters\n", aliceToken)
	must(f.Close())
	auditToken, err := os.ReadFile(filepath.Join(dir, "audit-token"))
	must(err)

	// the agent: the live probe, the audit webhook, the incident store feeding the quarantine
	work := t.TempDir()
	db := filepath.Join(work, "incidents.db")
	cfgFile := filepath.Join(work, "saker.yaml")
	must(os.WriteFile(cfgFile, fmt.Appendf(nil, "json_output: true\nstdout_output: {enabled: false}\nincidents: {enabled: true, path: %s, window: 10m}\n", db), 0o600))
	rulesFile := filepath.Join(work, "rules.yaml")
	must(os.WriteFile(rulesFile, []byte(rules), 0o600))
	t.Setenv("DOCKER_HOST", "unix://"+d.Socket)
	cm := container.New(container.Config{})
	defer cm.Close()
	q := admission.NewQuarantine()
	got := &alerts{}
	a, err := agent.New(agent.Options{ConfigFile: cfgFile, RulesFiles: []string{rulesFile}, Containers: cm,
		Quarantine: q, Sinks: []agent.Sink{got}, Stdout: os.Stdout, Stderr: os.Stderr})
	must(err)
	wh, err := agent.NewWebhookSource(k8saudit.WebhookConfig{Listen: "127.0.0.1:0",
		CertFile: filepath.Join(dir, "receiver.crt"), KeyFile: filepath.Join(dir, "receiver.key"),
		ClientCAFile: filepath.Join(dir, "ca.crt"), Tokens: []string{strings.TrimSpace(string(auditToken))}})
	must(err)
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- a.Run(ctx, &agent.ProbeSource{Log: os.Stderr}, wh) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("agent: %v", err)
		}
		a.Close()
	}()
	for deadline := time.Now().Add(90 * time.Second); a.Ready() != nil; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("agent not ready: %v", a.Ready())
		}
	}
	store := a.Incidents().Store()

	// the admission webhook: no rules, only the quarantine
	ctl := admission.NewController(nil)
	ctl.Quarantine = q
	srv, err := admission.NewServer(admission.ServerConfig{Listen: "127.0.0.1:0",
		CertFile: filepath.Join(dir, "receiver.crt"), KeyFile: filepath.Join(dir, "receiver.key"),
		ClientCAFile: filepath.Join(dir, "ca.crt")}, ctl)
	must(err)
	defer srv.Close()
	admConf := k8stest.AdmissionConfig(t, dir, srv.Addr().String())

	cluster := k8stest.Start(t, script, dir, "SAKER_K8S_AUDIT_URL="+wh.Webhook().URL(), "SAKER_K8S_ADMISSION_CONFIG="+admConf)
	cs := cluster.Client(t, "saker-incident-test")
	aliceCfg := &rest.Config{Host: cluster.Server, BearerToken: aliceToken, TLSClientConfig: rest.TLSClientConfig{CAFile: cluster.CA}, UserAgent: "kubectl"}
	tctx, tcancel := context.WithTimeout(ctx, 4*time.Minute)
	defer tcancel()

	ns := "saker-inc"
	k8stest.Namespace(t, tctx, cs, ns)
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	must(err)
	whc, err := admission.WebhookConfiguration(admission.WebhookConfigOptions{URL: srv.URL(), CABundle: ca, FailurePolicy: "Fail"})
	must(err)
	_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(tctx, whc, metav1.CreateOptions{})
	must(err)

	// A Deployment, its ReplicaSet and pod P (no controller manager: the test makes them as
	// the controllers would, owner references included).
	labels := map[string]string{"app": "web", "pod-template-hash": "6b9d7c"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "docker.io/library/busybox:1.36", Command: []string{"sleep", "3600"}}}}}
	one := int32(1)
	dep, err := cs.AppsV1().Deployments(ns).Create(tctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: tmpl}}, metav1.CreateOptions{})
	must(err)
	yes := true
	rsTmpl := tmpl.DeepCopy()
	rsTmpl.Labels = labels
	rs, err := cs.AppsV1().ReplicaSets(ns).Create(tctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-6b9d7c", Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: dep.UID, Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels}, Template: *rsTmpl}}, metav1.CreateOptions{})
	must(err)
	pod, err := cs.CoreV1().Pods(ns).Create(tctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-6b9d7c-x7k2p", Labels: labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
		Spec: tmpl.Spec}, metav1.CreateOptions{})
	must(err)

	execInto := func(cfg *rest.Config, name string) error {
		c, err := kubernetes.NewForConfig(cfg)
		must(err)
		req := c.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(name).SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "c", Command: []string{"cat", "/etc/shadow"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		exe, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
		must(err)
		var so, se bytes.Buffer
		return exe.StreamWithContext(tctx, remotecommand.StreamOptions{Stdout: &so, Stderr: &se})
	}
	// alice execs into P: admitted, then failed for want of a kubelet; the API server records it
	if err := execInto(aliceCfg, pod.Name); err == nil || strings.Contains(err.Error(), "denied the request") {
		t.Fatalf("first exec: %v", err)
	} else {
		t.Logf("alice's exec (no kubelet): %v", err)
	}
	var inc *incident.Incident
	for deadline := time.Now().Add(60 * time.Second); inc == nil; time.Sleep(200 * time.Millisecond) {
		for _, in := range store.OpenIncidents() {
			if in.Pod == pod.Name && in.Kind == incident.KindExec {
				inc = in
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no exec incident for pod %s; open: %+v", pod.Name, store.OpenIncidents())
		}
	}
	if inc.User != "alice" || inc.PodUID != string(pod.UID) || len(inc.Owners) != 2 || inc.Owners[1] != (incident.Owner{Kind: "Deployment", Name: "web"}) {
		t.Fatalf("incident %+v", inc)
	}

	// a real container labelled as P reads /etc/shadow: the live probe sees it in P
	id := d.Run(t, "--label", "io.kubernetes.pod.name="+pod.Name, "--label", "io.kubernetes.pod.namespace="+ns,
		"--label", "io.kubernetes.pod.uid="+string(pod.UID), "--label", "io.kubernetes.container.name=c", d.Image, "sh", "-c", "echo 'root:*:19000:0:99999:7:::' >/etc/shadow; exec sleep 600")
	var al *alert.Alert
	for deadline := time.Now().Add(60 * time.Second); al == nil; {
		d.Docker(t, "exec", id, "cat", "/etc/shadow")
		time.Sleep(500 * time.Millisecond)
		al = got.find("Shadow read after an API exec")
		if al == nil && time.Now().After(deadline) {
			t.Fatalf("no alert for the shadow read in the container labelled %s/%s", ns, pod.Name)
		}
	}
	if al.OutputFields["incident.id"] != inc.ID || al.OutputFields["incident.k8s_user"] != "alice" || al.OutputFields["incident.k8s_verb"] != "exec" ||
		al.OutputFields["k8s.pod.name"] != pod.Name {
		t.Fatalf("alert fields %v", al.OutputFields)
	}
	if ch, _ := al.OutputFields["incident.chain"].(string); !strings.HasPrefix(ch, "admin create pod -> alice exec [cat /etc/shadow]") {
		t.Fatalf("chain %q", ch)
	}
	t.Logf("alert: %s", al.Output)

	// A Critical alert in a pod no API action touched opens an incident of its own, and that
	// first alert carries the incident's id and the chain it starts.
	lone := d.Run(t, "--label", "io.kubernetes.pod.name=saker-lone", "--label", "io.kubernetes.pod.namespace="+ns,
		"--label", "io.kubernetes.pod.uid=saker-lone-uid", "--label", "io.kubernetes.container.name=c", d.Image, "sh", "-c", "echo lone >/etc/saker-lone; exec sleep 600")
	var la *alert.Alert
	for deadline := time.Now().Add(60 * time.Second); la == nil; {
		d.Docker(t, "exec", lone, "cat", "/etc/saker-lone")
		time.Sleep(500 * time.Millisecond)
		la = got.find("Lone critical read")
		if la == nil && time.Now().After(deadline) {
			t.Fatalf("no alert for the read in the container labelled %s/saker-lone", ns)
		}
	}
	var loneInc *incident.Incident
	for _, in := range store.OpenIncidents() {
		if in.Pod == "saker-lone" && in.Kind == incident.KindAlert {
			loneInc = in
		}
	}
	if loneInc == nil {
		t.Fatalf("no alert incident for saker-lone; open: %+v", store.OpenIncidents())
	}
	if la.OutputFields["incident.id"] != loneInc.ID || la.OutputFields["incident.chain"] != "Lone critical read (Critical)" {
		t.Fatalf("the first alert's incident fields: %v (incident %s)", la.OutputFields, loneInc.ID)
	}
	if _, ok := la.OutputFields["incident.k8s_user"]; ok {
		t.Fatalf("an alert incident has no user: %v", la.OutputFields)
	}

	// the incident is Critical now: a second exec into P is refused, naming it
	if err := execInto(aliceCfg, pod.Name); err == nil || !strings.Contains(err.Error(), "denied the request") || !strings.Contains(err.Error(), inc.ID) {
		t.Fatalf("second exec: %v", err)
	} else {
		t.Logf("second exec: %v", err)
	}
	// and so is a change of its Deployment's pod template; scaling is not
	dep, err = cs.AppsV1().Deployments(ns).Get(tctx, "web", metav1.GetOptions{})
	must(err)
	dep.Spec.Template.Spec.Containers[0].Image = "docker.io/library/busybox:1.37"
	if _, err := cs.AppsV1().Deployments(ns).Update(tctx, dep, metav1.UpdateOptions{}); err == nil ||
		!strings.Contains(err.Error(), "Deployment saker-inc/web: pod template update refused") || !strings.Contains(err.Error(), inc.ID) {
		t.Fatalf("template update: %v", err)
	}
	dep, err = cs.AppsV1().Deployments(ns).Get(tctx, "web", metav1.GetOptions{})
	must(err)
	three := int32(3)
	dep.Spec.Replicas = &three
	if _, err := cs.AppsV1().Deployments(ns).Update(tctx, dep, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("scale: %v", err)
	}

	// saker incidents lists it from the file
	must(store.Flush())
	root, err := testshared.RepoRoot()
	must(err)
	bin := filepath.Join(work, "saker")
	build := exec.Command("go", "build", "-o", bin, "./cmd/saker")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "incidents", "--path", db, "--json").Output()
	must(err)
	var listed []incident.Incident
	must(json.Unmarshal(out, &listed))
	var row *incident.Incident
	for i := range listed {
		if listed[i].ID == inc.ID {
			row = &listed[i]
		}
	}
	if row == nil || row.User != "alice" || row.Severity != "Critical" || row.Alerts < 1 || row.Pod != pod.Name || !contains(row.Verbs, "exec") {
		t.Fatalf("saker incidents: %s", out)
	}
	text, err := exec.Command(bin, "incidents", "--path", db).Output()
	must(err)
	if !strings.Contains(string(text), inc.ID) || !strings.Contains(string(text), ns+"/"+pod.Name) {
		t.Fatalf("saker incidents:\n%s", text)
	}
	t.Logf("saker incidents:\n%s", text)
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
