package k8stest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// AdmissionConfig writes, in dir (made by Certs), the AdmissionConfiguration with which the API
// server authenticates to an admission webhook at addr (host:port) with dir's
// audit-client.crt/key, and returns its path, for SAKER_K8S_ADMISSION_CONFIG.
func AdmissionConfig(t testing.TB, dir, addr string) string {
	t.Helper()
	return admissionConfig(t, dir, fmt.Sprintf("  - name: %q\n    user:\n      client-certificate: %s\n      client-key: %s\n",
		addr, filepath.Join(dir, "audit-client.crt"), filepath.Join(dir, "audit-client.key")))
}

// AdmissionConfigToken is AdmissionConfig with a bearer token instead of the client pair.
func AdmissionConfigToken(t testing.TB, dir, addr, token string) string {
	t.Helper()
	return admissionConfig(t, dir, fmt.Sprintf("  - name: %q\n    user:\n      token: %q\n", addr, token))
}

// admissionConfig writes the webhook kubeconfig with users (a YAML list) and the
// AdmissionConfiguration naming it, and returns the latter's path.
func admissionConfig(t testing.TB, dir, users string) string {
	t.Helper()
	kubeconfig := filepath.Join(dir, "admission-webhook.kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\nusers:\n"+users), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "admission-config.yaml")
	if err := os.WriteFile(conf, fmt.Appendf(nil, `apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
  - name: ValidatingAdmissionWebhook
    configuration:
      apiVersion: apiserver.config.k8s.io/v1
      kind: WebhookAdmissionConfiguration
      kubeConfigFile: %s
`, kubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	return conf
}

// Namespace creates the namespace ns and the default service account of ns and of each of
// also (no controller manager runs to create them).
func Namespace(t testing.TB, ctx context.Context, cs kubernetes.Interface, ns string, also ...string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range append([]string{ns}, also...) {
		_, err := cs.CoreV1().ServiceAccounts(n).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}
