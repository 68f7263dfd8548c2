package deploy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/restmapper"

	"github.com/saker-sec/saker/internal/k8stest"
	"github.com/saker-sec/saker/internal/testshared"
)

// buildSaker builds cmd/saker into the test's temporary directory.
func buildSaker(t *testing.T) string {
	t.Helper()
	root, err := testshared.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "saker")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/saker")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// createAll creates the rendered objects through the dynamic client (dryRun: server-side
// validated, nothing stored).
func createAll(t *testing.T, ctx context.Context, dyn dynamic.Interface, mapper meta.RESTMapper, objs []*unstructured.Unstructured, dryRun bool) {
	t.Helper()
	opts := metav1.CreateOptions{FieldValidation: "Strict"}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s %s: %v", gvk, o.GetName(), err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			ri = dyn.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if _, err := ri.Create(ctx, o, opts); err != nil {
			t.Fatalf("create %s %s (dry run %v): %v", gvk.Kind, o.GetName(), dryRun, err)
		}
	}
}

// TestChartOnAPIServer creates the chart's objects on a real kube-apiserver (server-side
// validated, strict field validation): its default rendering as a dry run, then a rendering
// whose webhook URL is a loopback port, for real. There saker runs with the rendered
// Deployment's arguments and ConfigMap (`saker run --no-probe`, its admission section), the
// chart's generated certificate and token (the API server authenticates with that token, from
// its admission configuration): the rendered webhook configuration makes the API server call
// it, and a privileged pod is denied with the rule's message (its alert on the service's stdout
// output) while a plain one is admitted and the chart's own namespace is exempt. The agent's
// service account may read the workload metadata and nothing else.
func TestChartOnAPIServer(t *testing.T) {
	script := k8stest.Script(t)
	dir := k8stest.Certs(t, script)
	bin := buildSaker(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := render(t, fmt.Sprintf("admission: {url: %q, tls: {ipAddresses: [127.0.0.1]}}", "https://"+addr+"/validate"))
	def := render(t, "")

	// the admission service, as the rendered Deployment runs it, with its secrets as files
	files := t.TempDir()
	for _, s := range []struct{ secret, key, dir string }{{"saker-admission-tls", "tls.crt", "tls"}, {"saker-admission-tls", "tls.key", "tls"}, {"saker-admission-auth", "token", "auth"}} {
		os.MkdirAll(filepath.Join(files, s.dir), 0o700)
		data := decode64(t, field(t, must(t, r, "Secret", s.secret), "data", s.key).(string))
		if err := os.WriteFile(filepath.Join(files, s.dir, s.key), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	token, _ := os.ReadFile(filepath.Join(files, "auth", "token"))
	// the ConfigMap's saker.yaml, its /etc/saker paths under files and its address on loopback
	conf := field(t, must(t, r, "ConfigMap", "saker-admission-config"), "data", "saker.yaml").(string)
	conf = strings.ReplaceAll(strings.ReplaceAll(conf, "/etc/saker/", files+"/"), "0.0.0.0:9766", addr)
	os.MkdirAll(filepath.Join(files, "config"), 0o700)
	if err := os.WriteFile(filepath.Join(files, "config", "saker.yaml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	c := container(t, must(t, r, "Deployment", "saker-admission"), "containers", "admission")
	var args []string
	for _, a := range strs(c["args"]) {
		args = append(args, strings.Replace(a, "/etc/saker/", files+"/", 1))
	}
	if strs(c["command"])[0] != "/usr/bin/saker" {
		t.Fatalf("command %v", c["command"])
	}
	srv := exec.Command(bin, args...)
	stderr, _ := srv.StderrPipe()
	stdout, _ := srv.StdoutPipe()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Signal(os.Interrupt); srv.Wait() })
	ready := make(chan string, 1)
	var logMu sync.Mutex
	var logText strings.Builder
	logged := func() string { logMu.Lock(); defer logMu.Unlock(); return logText.String() }
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			logMu.Lock()
			logText.WriteString(sc.Text() + "\n")
			logMu.Unlock()
			if strings.Contains(sc.Text(), "admission webhook on https://"+addr) && strings.HasSuffix(sc.Text(), "; ready") {
				ready <- sc.Text()
			}
		}
		close(ready)
	}()
	alerts := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			alerts <- sc.Text()
		}
	}()
	select {
	case l, ok := <-ready:
		if !ok {
			t.Fatalf("saker %v ended:\n%s", args, logged())
		}
		t.Log(l)
	case <-time.After(60 * time.Second):
		t.Fatalf("saker %v not ready:\n%s", args, logged())
	}

	// the API server authenticates to the webhook with the chart's token
	admConf := k8stest.AdmissionConfigToken(t, dir, addr, strings.TrimSpace(string(token)))
	cluster := k8stest.Start(t, script, dir, "SAKER_K8S_ADMISSION_CONFIG="+admConf)
	cfg := cluster.Config("saker-chart-test")
	cs := cluster.Client(t, "saker-chart-test")
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(cs.Discovery()))
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	k8stest.Namespace(t, ctx, cs, ReleaseNamespace)
	k8stest.Namespace(t, ctx, cs, "apps")
	createAll(t, ctx, dyn, mapper, def.Objects, true)
	createAll(t, ctx, dyn, mapper, r.Objects, false)
	if _, err := cs.AppsV1().DaemonSets(ReleaseNamespace).Get(ctx, "saker-agent", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	yes := true
	pod := func(name string, privileged bool) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "c", Image: "docker.io/library/busybox:1.36", Command: []string{"sleep", "3600"}}}}}
		if privileged {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: &yes}
		}
		return p
	}
	// webhook configurations load asynchronously: wait until a dry run is refused
	for {
		_, err := cs.CoreV1().Pods("apps").Create(ctx, pod("probe", true), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && strings.Contains(err.Error(), "Privileged container refused") {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("the rendered webhook never refused a privileged pod (last: %v)\n%s", err, logged())
		}
		time.Sleep(200 * time.Millisecond)
	}
	_, err = cs.CoreV1().Pods("apps").Create(ctx, pod("priv", true), metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), `admission webhook "admission.saker.dev" denied the request: Privileged container refused (user=admin pod=priv ns=apps`) {
		t.Fatalf("privileged pod: %v", err)
	}
	// the denial's alert went to the service's outputs (stdout_output, JSON)
	for found := false; !found; {
		select {
		case l := <-alerts:
			found = strings.Contains(l, `"rule":"Admission Deny Privileged Container"`) && strings.Contains(l, `"ka.target.name":"priv"`)
		case <-time.After(10 * time.Second):
			t.Fatal("no alert for the denied pod on the service's stdout output")
		}
	}
	if _, err := cs.CoreV1().Pods("apps").Create(ctx, pod("plain", false), metav1.CreateOptions{}); err != nil {
		t.Fatalf("plain pod: %v", err)
	}
	if _, err := cs.CoreV1().Pods(ReleaseNamespace).Create(ctx, pod("priv", true), metav1.CreateOptions{}); err != nil {
		t.Fatalf("privileged pod in the chart's exempt namespace: %v", err)
	}

	// the agent's service account: read-only on the workload metadata
	sa := "system:serviceaccount:" + ReleaseNamespace + ":saker-agent"
	for _, c := range []struct {
		verb, group, resource string
		allowed               bool
	}{{"list", "", "pods", true}, {"watch", "apps", "replicasets", true}, {"get", "", "nodes", true}, {"list", "batch", "cronjobs", true},
		{"get", "", "secrets", false}, {"create", "", "pods", false}, {"delete", "apps", "daemonsets", false}, {"list", "", "configmaps", false}} {
		rv, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: sa, Groups: []string{"system:serviceaccounts"}, ResourceAttributes: &authorizationv1.ResourceAttributes{Verb: c.verb, Group: c.group, Resource: c.resource}}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if rv.Status.Allowed != c.allowed {
			t.Errorf("%s may %s %s/%s: %v, want %v", sa, c.verb, c.group, c.resource, rv.Status.Allowed, c.allowed)
		}
	}
}
