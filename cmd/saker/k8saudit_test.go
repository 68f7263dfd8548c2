package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// alertsOf decodes Falco JSON alerts, one per line.
func alertsOf(t *testing.T, out string) []map[string]any {
	t.Helper()
	var as []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %q: %v", l, err)
		}
		as = append(as, m)
	}
	return as
}

// TestRunAuditFile replays the kube-apiserver audit log kept in pkg/k8saudit's testdata with
// upstream Falco's k8s audit rules, loaded together with its syscall rules.
func TestRunAuditFile(t *testing.T) {
	shared := sharedDir(t)
	out, errs, code := saker(t, "run", "--json", "-e", "../../pkg/k8saudit/testdata/apiserver-audit.jsonl",
		"-r", filepath.Join(shared, "falco-rules/falco_rules.yaml"),
		"-r", filepath.Join(shared, "falco-rules/k8s_audit_rules.yaml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	byRule := map[string]map[string]any{}
	for _, a := range alertsOf(t, out) {
		if a["source"] != "k8s_audit" {
			t.Errorf("alert of source %v: %v", a["source"], a)
		}
		byRule[a["rule"].(string)] = a
	}
	want := map[string]map[string]string{
		"Create Privileged Pod":                            {"ka.resp.name": "priv", "ka.target.namespace": "saker-e2e"},
		"Create Disallowed Namespace":                      {"ka.target.name": "saker-e2e", "ka.user.name": "admin"},
		"Attach/Exec Pod":                                  {"ka.target.subresource": "exec", "ka.uri.param[command]": "cat"},
		"Create Sensitive Mount Pod":                       {"ka.resp.name": "hostpath"},
		"K8s Secret Get Successfully":                      {"ka.target.name": "db-pass", "ka.response.code": "200"},
		"Attach to cluster-admin Role":                     {"ka.user.name": "admin"},
		"Create/Modify Configmap With Private Credentials": {"ka.req.configmap.name": "aws-creds"},
	}
	for rule, fields := range want {
		a, ok := byRule[rule]
		if !ok {
			t.Errorf("no alert of %q; alerts: %v", rule, keys(byRule))
			continue
		}
		of, _ := a["output_fields"].(map[string]any)
		for f, v := range fields {
			got, ok := of[f]
			if !ok {
				t.Errorf("%s: no output field %s: %v", rule, f, of)
			} else if v != "" && got != v {
				t.Errorf("%s: %s = %v, want %s", rule, f, got, v)
			}
		}
	}
	if p := byRule["Create Privileged Pod"]; p != nil {
		if !strings.Contains(p["output"].(string), "pod=priv") || p["priority"] != "Warning" {
			t.Errorf("privileged pod alert: %v", p)
		}
	}
	if !strings.Contains(errs, "events: 10, alerts: 12") {
		t.Errorf("summary: %s", errs)
	}
}

func keys(m map[string]map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// TestRunAuditFileSkipsBadLines: lines that are no audit events are warned about, naming the
// file and line, and skipped; the rest is evaluated and the exit status is 0.
func TestRunAuditFileSkipsBadLines(t *testing.T) {
	shared := sharedDir(t)
	good, err := os.ReadFile("../../pkg/k8saudit/testdata/apiserver-audit.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(good), "\n")
	f := filepath.Join(t.TempDir(), "audit.json")
	data := lines[0] + "not json at all\n" + `{"kind":"Other"}` + "\n" + strings.Join(lines[1:], "")
	if err := os.WriteFile(f, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errs, code := saker(t, "run", "--json", "-e", f, "-r", filepath.Join(shared, "falco-rules/k8s_audit_rules.yaml"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, l := range []string{f + ":2:", f + ":3:"} {
		if !strings.Contains(errs, l) {
			t.Errorf("no warning for %s in %s", l, errs)
		}
	}
	if n := len(alertsOf(t, out)); n != 12 {
		t.Errorf("%d alerts, want 12", n)
	}
}

// TestLiveWebhookBesideProbe: `saker run` with k8s_audit enabled runs the audit webhook
// beside the probe; an EventList of a privileged pod's creation posted with the token
// raises the upstream rule's alert on stdout, and a request without it gets 401.
func TestLiveWebhookBesideProbe(t *testing.T) {
	shared := sharedDir(t)
	dir := t.TempDir()
	port := freePort(t)
	cfg := filepath.Join(dir, "saker.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`rules_files: [%s, %s]
json_output: true
k8s_audit:
  enabled: true
  webhook:
    listen: 127.0.0.1:%d
    tokens: [t0ken]
`, filepath.Join(shared, "falco-rules/falco_rules.yaml"), filepath.Join(shared, "falco-rules/k8s_audit_rules.yaml"), port)), 0o644)
	p, lines := liveSaker(t, "-c", cfg)
	ev, err := os.ReadFile("../../pkg/k8saudit/testdata/privileged-pod.json")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.TrimSpace(string(ev)) + `]}`
	url := fmt.Sprintf("http://127.0.0.1:%d/k8s-audit", port)
	post := func(token string) int {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%v; saker: %s", err, p)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != 401 {
		t.Errorf("without the token: %d, want 401", code)
	}
	if code := post("t0ken"); code != 200 {
		t.Fatalf("with the token: %d", code)
	}
	a, ok := waitAlert(t, lines, 60*time.Second, func(a falcoAlert) bool { return a.Rule == "Create Privileged Pod" })
	if !ok {
		t.Fatalf("no privileged pod alert; saker: %s", p)
	}
	if a.Source != "k8s_audit" || a.OutputFields["ka.user.name"] != "alice" {
		t.Errorf("alert %+v", a)
	}
	if err := p.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("saker: %v\n%s", err, p)
	}
	if !strings.Contains(p.String(), "k8s audit webhook on http://127.0.0.1:") {
		t.Errorf("stderr does not announce the webhook: %s", p)
	}
}
