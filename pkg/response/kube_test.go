package response

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/saker-sec/saker/internal/k8stest"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/response/actions"
)

// startCluster starts the test control plane of scripts/k8s-cluster.sh (kube-apiserver and
// etcd on 127.0.0.1; see ../shared/k8s/TEST-CLUSTER.md) and returns a client.
func startCluster(t *testing.T) kubernetes.Interface {
	t.Helper()
	script := k8stest.Script(t)
	return k8stest.Start(t, script, k8stest.Certs(t, script)).Client(t, "saker-response-test")
}

// TestKubernetesActions against a real API server: label and annotate the alert's pod, put it
// behind the deny-all NetworkPolicy, delete it; kube-system is refused.
func TestKubernetesActions(t *testing.T) {
	cs := startCluster(t)
	ctx := context.Background()
	const ns = "saker-resp"
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// no controller-manager: the namespace's default ServiceAccount is made by hand
	if _, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "victim", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := cs.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e, s, _, _ := newEngine(t, `
rules:
  - name: contain
    match: {rules: [contain]}
    actions:
      - action: k8s_label_pod
        with: {labels: {saker.dev/suspicious: "true", app: ""}}
      - action: k8s_annotate_pod
        with: {annotations: {saker.dev/rule: contain}}
      - action: k8s_networkpolicy
  - name: delete
    match: {rules: [delete]}
    actions:
      - action: k8s_delete_pod
`, actions.Env{Kube: cs})
	// the pod named by the container's CRI labels
	tgt := &actions.Target{PID: 1, ContainerID: "0123456789ab", Container: &container.Info{ID: "0123456789ab",
		Labels: map[string]string{container.LabelPodName: "victim", container.LabelPodNamespace: ns}}}
	e.Handle(trigger("contain"), tgt)
	e.Flush()
	for _, a := range s.take() {
		if a.OutputFields["outcome"] != "done" {
			t.Errorf("%s", a.Output)
		}
	}
	p, err := cs.CoreV1().Pods(ns).Get(ctx, "victim", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Labels["saker.dev/suspicious"] != "true" || p.Labels[actions.QuarantineLabel] != "true" || p.Labels["app"] != "" || p.Annotations["saker.dev/rule"] != "contain" {
		t.Errorf("pod labels %v annotations %v", p.Labels, p.Annotations)
	}
	np, err := cs.NetworkingV1().NetworkPolicies(ns).Get(ctx, actions.QuarantinePolicy, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if np.Spec.PodSelector.MatchLabels[actions.QuarantineLabel] != "true" || len(np.Spec.PolicyTypes) != 2 || len(np.Spec.Ingress) != 0 || len(np.Spec.Egress) != 0 {
		t.Errorf("policy %+v", np.Spec)
	}
	// the pod named by the alert's fields; kube-system refused
	a := trigger("delete")
	a.OutputFields = map[string]any{"k8s.ns.name": "kube-system", "k8s.pod.name": "kube-proxy"}
	e.Handle(a, &actions.Target{PID: 1, ContainerID: "host"})
	b := trigger("delete")
	b.OutputFields = map[string]any{"k8s.ns.name": ns, "k8s.pod.name": "victim"}
	e.Handle(b, &actions.Target{PID: 1, ContainerID: "host"})
	e.Flush()
	as := s.take()
	if len(as) != 2 || as[0].OutputFields["outcome"] != "refused" || as[1].OutputFields["outcome"] != "done" {
		for _, x := range as {
			t.Log(x.Output)
		}
		t.Fatal("delete")
	}
	if _, err := cs.CoreV1().Pods(ns).Get(ctx, "victim", metav1.GetOptions{}); err == nil {
		// grace period 0 without a kubelet: the API server removes it at once
		t.Error("pod still there after k8s_delete_pod")
	}
}
