// Package k8stest runs a real Kubernetes control plane (kube-apiserver + etcd, no kubelet) for
// tests through scripts/k8s-cluster.sh: the checks that the machine can run one (root, tools),
// the cluster's certificates, start with the script's environment knobs, stop at the test's end
// (also when the start fails half way), and a client for the cluster's admin.
package k8stest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/saker-sec/saker/internal/testshared"
)

// Script returns the path of scripts/k8s-cluster.sh after checking that a control plane can
// run here: it skips the test without root (fails under CI=true, where tests run as root) and
// fails when a tool the script needs is missing (scripts/test.sh installs them).
func Script(t testing.TB) string {
	t.Helper()
	root, err := testshared.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the test control plane needs root (it installs etcd-server); CI runs as root")
		}
		t.Skip("the test control plane needs root (it installs etcd-server); CI runs it")
	}
	for _, tool := range []string{"openssl", "curl", "ss", "setsid", "go"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing (scripts/test.sh installs what the tests need): %v", tool, err)
		}
	}
	cache := os.Getenv("SAKER_K8S_CACHE")
	if cache == "" {
		cache = "/var/cache/saker-test/kube-apiserver"
	}
	if m, _ := filepath.Glob(filepath.Join(cache, "bin", "kube-apiserver-*")); len(m) == 0 {
		t.Log("kube-apiserver is not built yet: building it now (about 12 minutes on 2 cores; scripts/test.sh does it before the tests)")
	}
	return filepath.Join(root, "scripts", "k8s-cluster.sh")
}

// Run runs `bash args...` with env added to the environment and returns its standard output;
// a failure ends the test with both outputs.
func Run(t testing.TB, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("bash", args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v\n%s%s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// Cluster is a running control plane. Dir holds its state and certificates (ca.crt,
// receiver.crt/key for a webhook receiver, audit-client.crt/key, audit-token); Server is the
// API server's URL, Token the admin's bearer token, CA the CA file clients trust.
type Cluster struct {
	Script string
	Dir    string
	Server string
	Token  string
	CA     string
}

// Certs makes the cluster's certificates in a new temporary directory (before Start, so that a
// webhook receiver can serve the receiver pair the API server will trust) and returns it.
func Certs(t testing.TB, script string) string {
	t.Helper()
	dir := t.TempDir()
	Run(t, nil, script, "certs", dir)
	return dir
}

// Start starts etcd and kube-apiserver with their state in dir (made by Certs), env passing the
// script's knobs (SAKER_K8S_AUDIT_URL, SAKER_K8S_ADMISSION_CONFIG, ...), waits until the API
// server is ready, and stops both when the test ends.
func Start(t testing.TB, script, dir string, env ...string) *Cluster {
	t.Helper()
	t.Cleanup(func() { exec.Command("bash", script, "stop", dir).Run() })
	out := Run(t, env, script, "start", dir)
	info := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			info[k] = v
		}
	}
	if info["server"] == "" || info["token"] == "" {
		t.Fatalf("%s start printed %q", script, out)
	}
	return &Cluster{Script: script, Dir: dir, Server: info["server"], Token: info["token"], CA: info["ca"]}
}

// Config is a client configuration for the cluster's admin, named agent in the API server's
// logs and audit events.
func (c *Cluster) Config(agent string) *rest.Config {
	return &rest.Config{Host: c.Server, BearerToken: c.Token, TLSClientConfig: rest.TLSClientConfig{CAFile: c.CA}, UserAgent: agent}
}

// Client is a clientset for the cluster's admin.
func (c *Cluster) Client(t testing.TB, agent string) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(c.Config(agent))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}
