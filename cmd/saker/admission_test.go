package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/saker-sec/saker/internal/testshared"
)

// clusterCerts makes a CA and serving pair with scripts/k8s-cluster.sh certs (openssl only).
func clusterCerts(t *testing.T) string {
	t.Helper()
	root, err := testshared.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if out, err := exec.Command("bash", filepath.Join(root, "scripts", "k8s-cluster.sh"), "certs", dir).CombinedOutput(); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	return dir
}

func TestAdmissionWebhookConfig(t *testing.T) {
	dir := clusterCerts(t)
	out, errOut, code := saker(t, "admission", "webhook-config", "--url", "https://127.0.0.1:9766/validate",
		"--ca-file", filepath.Join(dir, "ca.crt"), "--failure-policy", "Ignore")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var c admissionregistrationv1.ValidatingWebhookConfiguration
	if err := yaml.UnmarshalStrict([]byte(out), &c); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	w := c.Webhooks[0]
	if c.Kind != "ValidatingWebhookConfiguration" || string(*w.FailurePolicy) != "Ignore" || *w.ClientConfig.URL != "https://127.0.0.1:9766/validate" ||
		!bytes.Equal(w.ClientConfig.CABundle, ca) || w.NamespaceSelector.MatchExpressions[0].Values[0] != "kube-system" {
		t.Fatalf("%s", out)
	}
	if !strings.Contains(out, "failurePolicy: Ignore\n") {
		t.Errorf("failurePolicy not explicit:\n%s", out)
	}
	_, errOut, code = saker(t, "admission", "webhook-config", "--url", "https://x", "--failure-policy", "open")
	if code == 0 || !strings.Contains(errOut, `--failure-policy "open": Fail or Ignore`) {
		t.Errorf("bad policy: exit %d %q", code, errOut)
	}
}

func TestAdmissionServe(t *testing.T) {
	dir := clusterCerts(t)
	tokenFile := filepath.Join(dir, "audit-token")
	token, _ := os.ReadFile(tokenFile)
	cmd := exec.Command(sakerBin, "admission", "serve", "--listen", "127.0.0.1:0", "--cert", filepath.Join(dir, "receiver.crt"),
		"--key", filepath.Join(dir, "receiver.key"), "--token-file", tokenFile, "--hostname", "h1")
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	errs := bufio.NewReader(stderr)
	line, err := errs.ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "saker admission: serving ")
	if err != nil || !ok {
		t.Fatalf("first line %q: %v", line, err)
	}
	pool := x509.NewCertPool()
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.crt"))
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	body := `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"r-1","resource":{"group":"","version":"v1","resource":"pods"},` +
		`"name":"priv","namespace":"team","operation":"CREATE","userInfo":{"username":"alice"},` +
		`"object":{"kind":"Pod","metadata":{"name":"priv"},"spec":{"containers":[{"name":"c","image":"busybox:1.36","securityContext":{"privileged":true}}]}}}}`
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var rv struct {
		Response struct {
			UID     string
			Allowed bool
			Status  struct{ Message string }
		}
	}
	if err := json.Unmarshal(data, &rv); err != nil || rv.Response.UID != "r-1" || rv.Response.Allowed ||
		rv.Response.Status.Message != "Privileged container refused (user=alice pod=priv ns=team images=(busybox:1.36))" {
		t.Fatalf("%d %s (%v)", resp.StatusCode, data, err)
	}
	alertLine, err := bufio.NewReader(stdout).ReadString('\n')
	var a map[string]any
	if err != nil || json.Unmarshal([]byte(alertLine), &a) != nil || a["rule"] != "Admission Deny Privileged Container" || a["source"] != "k8s_admission" || a["hostname"] != "h1" {
		t.Fatalf("alert %q: %v", alertLine, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(errs)
	if err := cmd.Wait(); err != nil || !strings.Contains(string(rest), "1 reviews, 1 denied, 0 warned, 0 exempt, 1 alerts") {
		t.Fatalf("exit %v: %s", err, rest)
	}
	_, errOut, code := saker(t, "admission", "serve", "--token-file", tokenFile)
	if code == 0 || !strings.Contains(errOut, "TLS is required") {
		t.Errorf("without TLS: exit %d %q", code, errOut)
	}
}
