package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
