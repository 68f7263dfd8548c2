package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testpki"
	"github.com/saker-sec/saker/pkg/reload"
)

// admissionRules is a k8s_admission rules file whose deny message carries tag.
func admissionRules(tag string) string {
	return fmt.Sprintf(`- rule: Deny Privileged
  desc: test
  condition: ka.target.resource=pods and ka.verb=create and ka.req.pod.containers.privileged intersects (true)
  output: %s privileged pod refused (pod=%%ka.target.name ns=%%ka.target.namespace)
  priority: WARNING
  source: k8s_admission
  action: deny
`, tag)
}

// admissionReview is an AdmissionReview of a privileged pod's creation in ns.
func admissionReview(uid, ns string) []byte {
	return []byte(fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{
"uid":%q,"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},
"name":"p1","namespace":%q,"operation":"CREATE","userInfo":{"username":"alice","groups":["dev"]},
"object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1","namespace":%q},
"spec":{"containers":[{"name":"c","image":"nginx:1","securityContext":{"privileged":true}}]}}}}`, uid, ns, ns))
}

// TestAdmissionSource runs the admission webhook as a mode of the agent (its configuration's
// admission section, HTTPS, a token file): a privileged pod is denied with the rules file's
// message and its alert reaches the stdout channel; the same pod in an exempt namespace is
// allowed; after the rules file changes and the agent reloads, the new rule decides; exec into
// a pod of the agent's quarantine is refused; a request without the token gets 401.
func TestAdmissionSource(t *testing.T) {
	pki := testpki.New(t, "admission")
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(rulesFile, []byte(admissionRules("FIRST")), 0o600)
	os.WriteFile(tokenFile, []byte("adm-s3cret\n"), 0o600)
	cfgFile := filepath.Join(dir, "saker.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
rules_files: [%s]
json_output: true
watch_config_files: false
admission:
  enabled: true
  listen: 127.0.0.1:0
  cert: %s
  key: %s
  token_file: %s
  exempt_namespaces: [trusted]
`, rulesFile, pki.CertFile, pki.KeyFile, tokenFile)), 0o600)
	out := &lineWaiter{want: `"rule":"Deny Privileged"`, seen: make(chan struct{})}
	a, err := New(Options{ConfigFile: cfgFile, Stdout: out, Stderr: &syncBuf{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	src, err := a.NewAdmissionSource()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, src) }()
	deadline := time.Now().Add(10 * time.Second)
	for a.Ready() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", a.Ready())
		}
		time.Sleep(10 * time.Millisecond)
	}

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool}}}
	post := func(body []byte, token string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", src.URL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rv struct {
			Response map[string]any `json:"response"`
		}
		json.NewDecoder(resp.Body).Decode(&rv)
		return resp.StatusCode, rv.Response
	}
	message := func(r map[string]any) string {
		st, _ := r["status"].(map[string]any)
		m, _ := st["message"].(string)
		return m
	}

	code, r := post(admissionReview("u1", "default"), "adm-s3cret")
	if code != 200 || r["allowed"] != false || !strings.HasPrefix(message(r), "FIRST privileged pod refused (pod=p1 ns=default)") || r["uid"] != "u1" {
		t.Fatalf("privileged pod: %d %v", code, r)
	}
	select {
	case <-out.seen:
	case <-time.After(10 * time.Second):
		t.Fatalf("no alert on stdout: %q", out.String())
	}
	if !strings.Contains(out.String(), `"source":"k8s_admission"`) {
		t.Errorf("alert: %s", out.String())
	}
	if code, r = post(admissionReview("u2", "trusted"), "adm-s3cret"); code != 200 || r["allowed"] != true {
		t.Errorf("exempt namespace: %d %v", code, r)
	}
	if code, _ = post(admissionReview("u3", "default"), "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}

	os.WriteFile(rulesFile, []byte(admissionRules("SECOND")), 0o600)
	if res := a.Reload(reload.TriggerSignal); res.Err != nil {
		t.Fatal(res.Err)
	}
	if code, r = post(admissionReview("u4", "default"), "adm-s3cret"); code != 200 || !strings.HasPrefix(message(r), "SECOND privileged pod refused") {
		t.Fatalf("after reload: %d %v", code, r)
	}
	// the agent's quarantine (fed by its incident store) refuses exec into a quarantined pod
	a.opts.Quarantine.Set("default", "web", "INC-1")
	exec := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u5",
"kind":{"group":"","version":"v1","kind":"PodExecOptions"},"resource":{"group":"","version":"v1","resource":"pods"},
"subResource":"exec","name":"web","namespace":"default","operation":"CONNECT","userInfo":{"username":"alice"},
"object":{"kind":"PodExecOptions","command":["sh"],"container":"c"}}}`)
	if code, r = post(exec, "adm-s3cret"); code != 200 || r["allowed"] != false || !strings.Contains(message(r), "quarantined") {
		t.Errorf("exec into a quarantined pod: %d %v", code, r)
	}
	if st := src.Controller().Stats(); st.Denied != 3 || st.Quarantined != 1 || st.Exempt != 1 {
		t.Errorf("stats %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestAdmissionBuiltinRules: with admission enabled and no rules files, the built-in rules
// include the admission defaults; enabled without a serving pair is a configuration error.
func TestAdmissionBuiltinRules(t *testing.T) {
	pki := testpki.New(t, "admission")
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("t\n"), 0o600)
	a, err := New(Options{Overrides: []string{"admission.enabled=true", "admission.listen=127.0.0.1:0",
		"admission.cert=" + pki.CertFile, "admission.key=" + pki.KeyFile, "admission.token_file=" + tokenFile,
		"rules_files=" + filepath.Join(dir, "none.yaml")}, Stdout: &syncBuf{}, Stderr: &syncBuf{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Rules().Ruleset.Source("k8s_admission") == nil {
		t.Fatal("the built-in rules of an agent with admission enabled hold no k8s_admission rules")
	}
	if _, err := New(Options{Overrides: []string{"admission.enabled=true"}, Stdout: &syncBuf{}, Stderr: &syncBuf{}}); err == nil ||
		!strings.Contains(err.Error(), "admission: HTTPS is required") {
		t.Errorf("no cert: %v", err)
	}
}
