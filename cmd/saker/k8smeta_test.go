package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/internal/k8stest"
	"github.com/saker-sec/saker/internal/testshared"
)

// TestLiveK8sMetadata runs saker live with k8s_metadata against a real kube-apiserver (no
// kubelet): a namespace, a Deployment, its ReplicaSet, a pod of that ReplicaSet bound to the
// test node, a service selecting it and the node object are created on the API; a real
// container started by dockerd with the pod's CRI labels then opens a file, and the alert
// carries what only the API server knows (deployment, replicaset, service, namespace and node
// labels). A label changed on the API shows in the next alert (the watch), and once the pod is
// deleted the fields fall back to the container's CRI labels.
func TestLiveK8sMetadata(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	script := k8stest.Script(t)
	dd := dockertest.Start(t)
	t.Setenv("DOCKER_HOST", "unix://"+dd.Socket)
	cl := k8stest.Start(t, script, k8stest.Certs(t, script))
	cs := cl.Client(t, "saker-k8smeta-test")
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	const node, ns = "saker-test-node", "shop"
	_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: node,
		Labels: map[string]string{"saker-zone": "z1"}}}, metav1.CreateOptions{})
	must(err)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"team": "payments"}}}, metav1.CreateOptions{})
	must(err)
	// no controller manager: the namespace's default service account (pods need it) is ours
	_, err = cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	must(err)
	sel := map[string]string{"app": "web"}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: sel},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}
	yes := true
	dep, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"owner": "dep"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl}}, metav1.CreateOptions{})
	must(err)
	rs, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f", Labels: map[string]string{"owner": "rs"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: dep.Name, UID: dep.UID, Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}, Template: tmpl}}, metav1.CreateOptions{})
	must(err)
	pod, err := cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-5d8f-x7k2p",
		Labels:          map[string]string{"app": "web", "tier": "front"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: "busybox"}}}}, metav1.CreateOptions{})
	must(err)
	_, err = cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-svc", Labels: map[string]string{"exposed": "yes"}},
		Spec: corev1.ServiceSpec{Selector: sel, Ports: []corev1.ServicePort{{Port: 80}}}}, metav1.CreateOptions{})
	must(err)

	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	must(os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: admin, user: {token: %q}}]
contexts: [{name: test, context: {cluster: test, user: admin}}]
current-context: test
`, cl.Server, cl.CA, cl.Token)), 0o600))
	cfg := filepath.Join(dir, "saker.yaml")
	must(os.WriteFile(cfg, []byte(`json_output: true
k8s_metadata:
  enabled: true
  kubeconfig: `+kubeconfig+`
  node_name: `+node+`
`), 0o644))
	marker := fmt.Sprintf("saker-k8s-%d", time.Now().UnixNano())
	rules := filepath.Join(dir, "r.yaml")
	must(os.WriteFile(rules, []byte(`
- rule: marker open in a pod
  desc: test
  condition: evt.type in (open, openat, openat2) and evt.dir = < and fd.name endswith `+marker+` and container.id != host
  output: "open %fd.name pod=%k8s.pod.name ns=%k8s.ns.name dep=%k8s.deployment.name depid=%k8s.deployment.id rs=%k8s.rs.name rsl=%k8s.rs.labels svc=%k8s.svc.name svcl=%k8s.svc.label[exposed] nsl=%k8s.ns.labels team=%k8s.ns.label[team] nsid=%k8s.ns.id podl=%k8s.pod.labels tier=%k8s.pod.label[tier] zone=%k8s.node.label[saker-zone] node=%k8s.node.name"
  priority: WARNING
`), 0o644))
	proc, lines := liveSaker(t, "-c", cfg, "-r", rules)

	id := dd.Run(t, "--network", "none", "--label", "io.kubernetes.pod.name="+pod.Name, "--label", "io.kubernetes.pod.namespace="+ns,
		"--label", "io.kubernetes.pod.uid="+string(pod.UID), "--label", "io.kubernetes.container.name=app", dockertest.Image, "sleep", "300")
	// waitFields opens the marker in the container until an alert's fields satisfy ok (the
	// container's metadata and the directory's first lists arrive in the background).
	waitFields := func(what string, ok func(f map[string]any) bool) map[string]any {
		t.Helper()
		var last map[string]any
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
			dd.Try("exec", id, "cat", "/etc/"+marker) // no such file: the open is what counts
			a, got := waitAlert(t, lines, 2*time.Second, func(a falcoAlert) bool { return a.Rule == "marker open in a pod" })
			if got {
				last = a.OutputFields
				if ok(last) {
					return last
				}
			}
		}
		t.Fatalf("%s: no such alert within 60s; last fields %v\n%s", what, last, proc)
		return nil
	}
	f := waitFields("API metadata", func(f map[string]any) bool { return f["k8s.deployment.name"] == "web" })
	want := map[string]any{
		"k8s.pod.name": pod.Name, "k8s.ns.name": ns, "k8s.deployment.id": string(dep.UID), "k8s.rs.name": rs.Name,
		"k8s.rs.labels": "owner:rs", "k8s.svc.name": "web-svc", "k8s.svc.label[exposed]": "yes",
		"k8s.ns.labels": "kubernetes.io/metadata.name:shop, team:payments", "k8s.ns.label[team]": "payments",
		"k8s.pod.labels": "app:web, tier:front", "k8s.pod.label[tier]": "front", "k8s.node.label[saker-zone]": "z1", "k8s.node.name": node,
	}
	for k, v := range want {
		if f[k] != v {
			t.Errorf("%s = %v, want %v", k, f[k], v)
		}
	}
	if f["k8s.ns.id"] == nil || f["k8s.ns.id"] == "" {
		t.Errorf("k8s.ns.id has no value: %v", f)
	}

	// the watch: a label changed on the API server is in the next alerts
	_, err = cs.CoreV1().Pods(ns).Patch(ctx, pod.Name, types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"back"}}}`), metav1.PatchOptions{})
	must(err)
	waitFields("changed label", func(f map[string]any) bool { return f["k8s.pod.label[tier]"] == "back" })

	// deleted: the API server's fields are gone, the CRI ones stay
	must(cs.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}))
	f = waitFields("pod deleted", func(f map[string]any) bool { return f["k8s.deployment.name"] == nil })
	if f["k8s.pod.name"] != pod.Name || f["k8s.ns.name"] != ns || f["k8s.svc.name"] != nil || f["k8s.ns.label[team]"] != nil {
		t.Errorf("after the pod's deletion: %v", f)
	}
	if err := proc.stop(syscall.SIGTERM); err != nil {
		t.Errorf("exit: %v", err)
	}
}
