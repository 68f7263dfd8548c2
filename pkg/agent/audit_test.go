package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineWaiter is stdout: it signals when a line holding want was written.
type lineWaiter struct {
	mu   sync.Mutex
	b    bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.b.Write(p)
	if strings.Contains(w.b.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return len(p), nil
}

func (w *lineWaiter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestWebhookSource runs the agent with the k8s audit webhook of its configuration (a
// token, loopback), posts an EventList of a privileged pod's creation and reads the alert of
// upstream Falco's rule from the stdout channel; a request without the token gets 401 and
// raises nothing.
func TestWebhookSource(t *testing.T) {
	shared := sharedDir(t)
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "saker.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
rules_files: [%s, %s]
json_output: true
k8s_audit:
  enabled: true
  cluster_name: test-cluster
  webhook:
    listen: 127.0.0.1:0
    tokens: [s3cret]
`, filepath.Join(shared, "falco-rules/falco_rules.yaml"), filepath.Join(shared, "falco-rules/k8s_audit_rules.yaml"))), 0o600)
	out := &lineWaiter{want: `"rule":"Create Privileged Pod"`, seen: make(chan struct{})}
	a, err := New(Options{ConfigFile: cfgFile, Stdout: out, Stderr: &syncBuf{}})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	src, err := NewWebhookSource(WebhookConfig(a.Config(), func(err error) { t.Error(err) }))
	if err != nil {
		t.Fatal(err)
	}
	url := src.Webhook().URL()
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("webhook at %s", url)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, src) }()

	ev, err := os.ReadFile("../k8saudit/testdata/privileged-pod.json")
	if err != nil {
		t.Fatal(err)
	}
	body := `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[` + strings.TrimSpace(string(ev)) + `]}`
	post := func(token string) int {
		req, _ := http.NewRequest("POST", url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != 401 {
		t.Errorf("without a token: %d, want 401", code)
	}
	if code := post("wrong"); code != 401 {
		t.Errorf("with a wrong token: %d, want 401", code)
	}
	if code := post("s3cret"); code != 200 {
		t.Fatalf("with the token: %d", code)
	}
	select { // the alert of the accepted request
	case <-out.seen:
	case <-time.After(time.Minute): // a hang guard, not a speed limit
		t.Fatalf("no privileged pod alert; stdout:\n%s", out.String())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := src.Webhook().Stats(); st.Unauthorized != 2 || st.Accepted != 1 || st.Events != 1 {
		t.Errorf("webhook stats %+v", st)
	}
	var alerts []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		alerts = append(alerts, m)
	}
	var priv map[string]any
	for _, al := range alerts {
		if al["source"] != "k8s_audit" {
			t.Errorf("alert of source %v", al["source"])
		}
		if al["rule"] == "Create Privileged Pod" {
			if priv != nil {
				t.Errorf("two privileged pod alerts: the unauthenticated requests were evaluated")
			}
			priv = al
		}
	}
	of := priv["output_fields"].(map[string]any)
	if of["ka.user.name"] != "alice" || of["ka.target.namespace"] != "default" || priv["priority"] != "Warning" {
		t.Errorf("alert %v", priv)
	}
	if ev, al := a.Evaluated(); ev != 1 || al != uint64(len(alerts)) {
		t.Errorf("evaluated %d events, %d alerts; %d alerts printed", ev, al, len(alerts))
	}
}
