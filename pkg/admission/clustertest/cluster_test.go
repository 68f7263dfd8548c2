package clustertest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"

	"github.com/saker-sec/saker/internal/k8stest"
	"github.com/saker-sec/saker/pkg/admission"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// warnings collects the warning headers the API server returns to the client.
type warnings struct {
	mu   sync.Mutex
	list []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	w.list = append(w.list, text)
	w.mu.Unlock()
}

func (w *warnings) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	l := w.list
	w.list = nil
	return l
}

func TestAdmissionAgainstAPIServer(t *testing.T) {
	script := k8stest.Script(t)
	dir := k8stest.Certs(t, script)

	// The test rules, then the built-in admission rules with the repository rule enabled for
	// busybox only.
	testRules, err := os.ReadFile("../testdata/rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	approved := loader.File{Name: "approved.yaml", Data: []byte("- list: admission_approved_repositories\n  items: [docker.io/library/busybox]\n  override:\n    items: append\n" +
		"- rule: Admission Deny Unapproved Image Repository\n  enabled: true\n  override:\n    enabled: replace\n")}
	rs, errs, warns := engine.Load([]loader.File{{Name: "rules.yaml", Data: testRules}, admission.DefaultRules(), approved}, engine.Options{Sources: map[string]fields.Source{
		admission.SourceName: admission.NewFieldSource(), k8saudit.SourceName: k8saudit.NewFieldSource()}})
	if len(errs)+len(warns) > 0 {
		t.Fatal(errs, warns)
	}
	ctl := admission.NewController(rs)
	ctl.Hostname = "saker-test"
	ctl.Quarantine = admission.NewQuarantine() // set before serving; filled by Observe later
	var mu sync.Mutex
	var matches []admission.Match
	ctl.Emit = func(m admission.Match) { mu.Lock(); matches = append(matches, m); mu.Unlock() }
	matched := func(rule, pod string) *admission.Match {
		mu.Lock()
		defer mu.Unlock()
		for i := range matches {
			if matches[i].Alert.Rule == rule && matches[i].Alert.OutputFields["ka.target.name"] == pod {
				return &matches[i]
			}
		}
		return nil
	}
	// The webhook: the cluster CA's serving pair for 127.0.0.1; the API server authenticates
	// with a client certificate of that CA (no bearer token is configured).
	srv, err := admission.NewServer(admission.ServerConfig{Listen: "127.0.0.1:0",
		CertFile: filepath.Join(dir, "receiver.crt"), KeyFile: filepath.Join(dir, "receiver.key"),
		ClientCAFile: filepath.Join(dir, "ca.crt")}, ctl)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	admConf := k8stest.AdmissionConfig(t, dir, srv.Addr().String())
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	cluster := k8stest.Start(t, script, dir, "SAKER_K8S_ADMISSION_CONFIG="+admConf)
	warned := &warnings{}
	cfg := cluster.Config("saker-admission-test")
	cfg.WarningHandler = warned
	cs, err := kubernetes.NewForConfig(cfg)
	must(err)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	ns := "saker-adm"
	k8stest.Namespace(t, ctx, cs, ns, "kube-system")

	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	must(err)
	whc, err := admission.WebhookConfiguration(admission.WebhookConfigOptions{URL: srv.URL(), CABundle: ca, FailurePolicy: "Fail"})
	must(err)
	_, err = cs.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, whc, metav1.CreateOptions{})
	must(err)

	yes := true
	pod := func(name string, mod func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "docker.io/library/busybox:1.36", Command: []string{"sleep", "3600"}}}}}
		if mod != nil {
			mod(p)
		}
		return p
	}
	privileged := func(p *corev1.Pod) { p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes} }

	// The API server loads webhook configurations asynchronously: wait (dry-run creates, so
	// nothing is stored) until a privileged pod is refused by our rule.
	for {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, pod("probe", privileged), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "privileged pod refused") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the webhook never refused the probe pod (last: %v); server stats %+v", err, srv.Stats())
		}
		time.Sleep(200 * time.Millisecond)
	}
	warned.take()

	denied := func(p *corev1.Pod, n, want string) {
		t.Helper()
		_, err := cs.CoreV1().Pods(n).Create(ctx, p, metav1.CreateOptions{})
		if err == nil {
			t.Fatalf("pod %s/%s admitted", n, p.Name)
		}
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `admission webhook "admission.saker.dev" denied the request: `+want) {
			t.Fatalf("pod %s/%s: %v (want the message %q)", n, p.Name, err, want)
		}
		if _, err := cs.CoreV1().Pods(n).Get(ctx, p.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("denied pod %s/%s exists: %v", n, p.Name, err)
		}
	}
	admitted := func(p *corev1.Pod, n string) {
		t.Helper()
		if _, err := cs.CoreV1().Pods(n).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("pod %s/%s: %v", n, p.Name, err)
		}
	}

	denied(pod("priv", privileged), ns, "privileged pod refused (user=admin pod=priv ns=saker-adm images=(docker.io/library/busybox:1.36))")
	denied(pod("hostpath", func(p *corev1.Pod) {
		p.Spec.Volumes = []corev1.Volume{{Name: "etc", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/etc"}}}}
		p.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "etc", MountPath: "/host/etc"}}
	}), ns, "pod mounting a sensitive host path refused (user=admin pod=hostpath ns=saker-adm paths=(/etc))")

	zero := int64(0)
	denied(pod("pidroot", func(p *corev1.Pod) {
		p.Spec.HostPID = true
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: &zero}
	}), ns, "Root pod in the host PID namespace refused (user=admin pod=pidroot ns=saker-adm run_as_user=(0))")
	denied(pod("miner", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "evil.example/miner:6.1" }), ns,
		"Image from an unapproved repository refused (user=admin pod=miner ns=saker-adm images=(evil.example/miner:6.1))")

	admitted(pod("benign", nil), ns)
	if w := warned.take(); len(w) != 0 {
		t.Errorf("benign pod: warnings %q", w)
	}
	if matched("Pod Created", "benign") == nil {
		t.Error("no alert of the alert-only rule for the benign pod")
	}

	admitted(pod("latest", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "docker.io/library/busybox:latest" }), ns)
	if w := warned.take(); len(w) != 1 || w[0] != "image with the latest tag (pod=latest images=(docker.io/library/busybox:latest))" {
		t.Errorf("warn rule: client got warnings %q", w)
	}

	admitted(pod("hostnet", func(p *corev1.Pod) { p.Spec.HostNetwork = true }), ns)
	if m := matched("Deny Host Network Pod (dry run)", "hostnet"); m == nil || !m.DryRun || m.Action != admission.ActionDeny {
		t.Errorf("dry-run deny rule: match %+v", m)
	}

	before := ctl.Stats().Exempt
	admitted(pod("priv-system", privileged), "kube-system")
	admitted(pod("pidroot-system", func(p *corev1.Pod) { p.Spec.HostPID = true }), "kube-system")
	if ctl.Stats().Exempt <= before {
		t.Error("the kube-system pod was not reviewed as exempt")
	}

	// exec (CONNECT pods/exec) is refused at admission, before any kubelet is dialled
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name("benign").SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{Container: "c", Command: []string{"cat", "/etc/shadow"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
	exe, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
	must(err)
	var so, se bytes.Buffer
	execErr := exe.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &so, Stderr: &se})
	if execErr == nil || !strings.Contains(execErr.Error(), "exec into pod refused (pod=benign command=cat user=admin)") {
		t.Errorf("exec: %v", execErr)
	}

	// Quarantine: with the built-in rules only (exec is alert-only there), exec into a pod with
	// an open Critical incident is refused naming it, exec into an ordinary pod is admitted
	// (and then fails for want of a kubelet).
	builtin, errs, _ := engine.Load([]loader.File{admission.DefaultRules()}, engine.Options{Sources: map[string]fields.Source{admission.SourceName: admission.NewFieldSource()}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	ctl.SetRules(builtin)
	if !ctl.Quarantine.Observe(&alert.Alert{Rule: "Drop and execute new binary in container", Priority: loader.Critical, Time: time.Now(),
		OutputFields: map[string]any{"k8s.ns.name": ns, "k8s.pod.name": "benign"}}) {
		t.Fatal("not quarantined")
	}
	execInto := func(name string) error {
		req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(name).SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "c", Command: []string{"id"}, Stdout: true}, scheme.ParameterCodec)
		exe, err := remotecommand.NewSPDYExecutor(cfg, "POST", req.URL())
		must(err)
		return exe.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &so, Stderr: &se})
	}
	if err := execInto("benign"); err == nil || !strings.Contains(err.Error(), `pod saker-adm/benign is quarantined (open incident: Critical "Drop and execute new binary in container" at `) {
		t.Errorf("exec into the quarantined pod: %v", err)
	}
	if err := execInto("latest"); err == nil || strings.Contains(err.Error(), "denied the request") || matched("Admission Exec Into Pod", "latest") == nil {
		t.Errorf("exec into an ordinary pod: %v (admission alert %v)", err, matched("Admission Exec Into Pod", "latest"))
	} else {
		t.Logf("exec into an ordinary pod, admitted: %v", err)
	}

	st := srv.Stats()
	if st.Unauthorized != 0 || st.BadRequests != 0 || st.Requests == 0 {
		t.Errorf("server stats %+v", st)
	}
	t.Logf("server %+v controller %+v", st, ctl.Stats())
}
