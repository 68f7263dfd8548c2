package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/saker-sec/saker/internal/k8stest"
	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/pkg/sysfields"
)

// collector keeps the alerts and events the webhook delivered, for tests to wait on.
type collector struct {
	mu     sync.Mutex
	cond   *sync.Cond
	alerts []*alert.Alert
	events int
	err    error
}

func (c *collector) add(a *alert.Alert) {
	c.mu.Lock()
	c.alerts = append(c.alerts, a)
	c.mu.Unlock()
	c.cond.Broadcast()
}

// wait blocks until match holds for one alert of rule, or the deadline passes.
func (c *collector) wait(t *testing.T, rule string, match func(of map[string]any) bool) *alert.Alert {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	timer := time.AfterFunc(90*time.Second, c.cond.Broadcast)
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for _, a := range c.alerts {
			if a.Rule == rule && match(a.OutputFields) {
				return a
			}
		}
		if c.err != nil || time.Now().After(deadline) {
			var seen []string
			for _, a := range c.alerts {
				seen = append(seen, a.Rule+": "+a.Output)
			}
			t.Fatalf("no %q alert matching after %d events (source error %v); alerts:\n%s", rule, c.events, c.err, strings.Join(seen, "\n"))
		}
		c.cond.Wait()
	}
}

func TestAuditRulesAgainstAPIServer(t *testing.T) {
	script := k8stest.Script(t)
	dir := k8stest.Certs(t, script)
	token, err := os.ReadFile(filepath.Join(dir, "audit-token"))
	if err != nil {
		t.Fatal(err)
	}
	// The receiver: TLS with the cluster CA's pair for 127.0.0.1; the API server presents a
	// client certificate and a bearer token (either authenticates).
	wh, err := k8saudit.NewWebhook(k8saudit.WebhookConfig{
		Listen: "127.0.0.1:0", CertFile: filepath.Join(dir, "receiver.crt"), KeyFile: filepath.Join(dir, "receiver.key"),
		ClientCAFile: filepath.Join(dir, "ca.crt"), Tokens: []string{strings.TrimSpace(string(token))},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer wh.Close()

	rulesDir := filepath.Join(testshared.Dir(t), "falco-rules")
	rs, errs, _ := engine.LoadFiles([]string{filepath.Join(rulesDir, "falco_rules.yaml"), filepath.Join(rulesDir, "k8s_audit_rules.yaml")},
		engine.Options{Sources: map[string]fields.Source{"syscall": sysfields.NewSource(state.New(state.Options{})), "k8s_audit": k8saudit.NewFieldSource()}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	col := &collector{}
	col.cond = sync.NewCond(&col.mu)
	det := &k8saudit.Detector{Rules: rs, Hostname: "saker-test", Emit: col.add}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := wh.Next(ctx)
			if err != nil {
				col.mu.Lock()
				col.err = err
				col.mu.Unlock()
				col.cond.Broadcast()
				return
			}
			col.mu.Lock()
			col.events++
			col.mu.Unlock()
			det.Event(ev)
		}
	}()

	cluster := k8stest.Start(t, script, dir, "SAKER_K8S_AUDIT_URL="+wh.URL())
	cfg := cluster.Config("saker-clustertest")
	cs := cluster.Client(t, "saker-clustertest")
	tctx, tcancel := context.WithTimeout(ctx, 3*time.Minute)
	defer tcancel()
	ns := "saker-e2e"
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = cs.CoreV1().Namespaces().Create(tctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	must(err)
	// No controller manager: the namespace's default service account is ours to create.
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(tctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	must(err)

	yes := true
	priv := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "priv"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
		Name: "c", Image: "docker.io/library/busybox:1.36", Command: []string{"sleep", "3600"},
		SecurityContext: &corev1.SecurityContext{Privileged: &yes}}}}}
	_, err = cs.CoreV1().Pods(ns).Create(tctx, priv, metav1.CreateOptions{})
	must(err)
	hp := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "hostpath"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "docker.io/library/busybox:1.36", VolumeMounts: []corev1.VolumeMount{{Name: "etc", MountPath: "/host/etc"}}}},
		Volumes:    []corev1.Volume{{Name: "etc", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}}}
	_, err = cs.CoreV1().Pods(ns).Create(tctx, hp, metav1.CreateOptions{})
	must(err)

	// exec into the privileged pod: without a kubelet the API server cannot connect it, but it
	// records the request.
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("priv").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "c", Command: []string{"cat", "/etc/shadow"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	exe, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	must(err)
	var so, se bytes.Buffer
	execErr := exe.StreamWithContext(tctx, remotecommand.StreamOptions{Stdout: &so, Stderr: &se})
	if execErr == nil {
		t.Fatalf("exec into a pod without a node succeeded?")
	}
	t.Logf("exec (no kubelet): %v", execErr)

	_, err = cs.RbacV1().ClusterRoleBindings().Create(tctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mallory-admin"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
		Subjects: []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "mallory"}}}, metav1.CreateOptions{})
	must(err)
	_, err = cs.CoreV1().Secrets(ns).Create(tctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "db-pass"}, StringData: map[string]string{"password": "hunter2"}}, metav1.CreateOptions{})
	must(err)
	_, err = cs.CoreV1().Secrets(ns).Get(tctx, "db-pass", metav1.GetOptions{})
	must(err)
	_, err = cs.CoreV1().ConfigMaps(ns).Create(tctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "aws-creds"}, Data: map[string]string{"aws_access_key_id": "AKIAEXAMPLE"}}, metav1.CreateOptions{})
	must(err)

	is := func(of map[string]any, k, v string) bool { s, ok := of[k].(string); return ok && s == v }
	a := col.wait(t, "Create Privileged Pod", func(of map[string]any) bool {
		return is(of, "ka.resp.name", "priv") && is(of, "ka.user.name", "admin") && is(of, "ka.target.namespace", ns)
	})
	if imgs, _ := a.OutputFields["ka.req.pod.containers.image"].([]any); len(imgs) != 1 || imgs[0] != "docker.io/library/busybox:1.36" {
		t.Errorf("privileged pod images %#v", a.OutputFields["ka.req.pod.containers.image"])
	}
	checkJSON(t, a)
	a = col.wait(t, "Create Sensitive Mount Pod", func(of map[string]any) bool { return is(of, "ka.resp.name", "hostpath") })
	if v, _ := a.OutputFields["jevt.value[/requestObject/spec/volumes]"].(string); !strings.Contains(v, `"path":"/etc"`) {
		t.Errorf("volumes %q", v)
	}
	col.wait(t, "Attach/Exec Pod", func(of map[string]any) bool {
		return is(of, "ka.target.name", "priv") && is(of, "ka.target.subresource", "exec") && is(of, "ka.uri.param[command]", "cat")
	})
	a = col.wait(t, "Attach to cluster-admin Role", func(of map[string]any) bool { return is(of, "ka.user.name", "admin") })
	if subj, _ := a.OutputFields["ka.req.binding.subjects"].([]any); len(subj) != 1 || !strings.Contains(fmt.Sprint(subj[0]), `"name":"mallory"`) {
		t.Errorf("subjects %#v", a.OutputFields["ka.req.binding.subjects"])
	}
	col.wait(t, "K8s Secret Get Successfully", func(of map[string]any) bool {
		return is(of, "ka.target.name", "db-pass") && is(of, "ka.response.code", "200")
	})
	col.wait(t, "Create/Modify Configmap With Private Credentials", func(of map[string]any) bool {
		return is(of, "ka.req.configmap.name", "aws-creds") && is(of, "ka.verb", "create")
	})
	// The log backend wrote the same events as JSON lines: replayed from the file they raise
	// the same alerts.
	replayed := map[string]int{}
	evs, err := k8saudit.ReadFile(filepath.Join(dir, "audit.log"), func(err error) { t.Errorf("audit.log: %v", err) })
	must(err)
	for _, ev := range evs {
		for _, a := range k8saudit.Evaluate(rs, ev, "saker-test", false) {
			replayed[a.Rule]++
		}
	}
	for _, r := range []string{"Create Privileged Pod", "Create Sensitive Mount Pod", "Attach/Exec Pod", "Attach to cluster-admin Role",
		"K8s Secret Get Successfully", "Create/Modify Configmap With Private Credentials"} {
		if replayed[r] == 0 {
			t.Errorf("replaying audit.log (%d events) raised no %q alert: %v", len(evs), r, replayed)
		}
	}
	if dump := os.Getenv("SAKER_K8S_AUDIT_DUMP"); dump != "" {
		data, err := os.ReadFile(filepath.Join(dir, "audit.log"))
		must(err)
		must(os.WriteFile(dump, data, 0o644))
	}
	st := wh.Stats()
	if st.Unauthorized != 0 || st.Refused != 0 || st.Events == 0 {
		t.Errorf("webhook stats %+v", st)
	}
	t.Logf("webhook: %+v; %d alerts", st, len(col.alerts))
}

func checkJSON(t *testing.T, a *alert.Alert) {
	t.Helper()
	b, err := a.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"source":"k8s_audit"`, `"priority":"Warning"`, `"rule":"Create Privileged Pod"`, `"hostname":"saker-test"`, `"tags":["k8s"]`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("alert JSON lacks %s: %s", want, b)
		}
	}
}
