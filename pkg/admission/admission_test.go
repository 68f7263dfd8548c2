package admission

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/saker-sec/saker/internal/testpki"
)

func podObject(name string, spec string) string {
	return fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":%s}`, name, spec)
}

func review(uid, op, ns, name, sub, user string, groups []string, object string) []byte {
	g, _ := json.Marshal(groups)
	if object == "" {
		object = "null"
	}
	return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":%q,`+
		`"kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"subResource":%q,`+
		`"name":%q,"namespace":%q,"operation":%q,"userInfo":{"username":%q,"uid":"u-1","groups":%s},"object":%s,"oldObject":null,"dryRun":false}}`,
		uid, sub, name, ns, op, user, g, object)
}

const (
	privSpec     = `{"containers":[{"name":"c","image":"busybox:1.36","securityContext":{"privileged":true}}]}`
	hostPathSpec = `{"containers":[{"name":"c","image":"busybox:1.36"}],"volumes":[{"name":"etc","hostPath":{"path":"/etc"}}]}`
	benignSpec   = `{"containers":[{"name":"c","image":"busybox:1.36"}]}`
	latestSpec   = `{"containers":[{"name":"c","image":"busybox:latest"}]}`
	hostNetSpec  = `{"hostNetwork":true,"containers":[{"name":"c","image":"busybox:1.36"}]}`
)

func decide(t *testing.T, c *Controller, body []byte) *Decision {
	t.Helper()
	rv, err := DecodeReview(body)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Review(rv.Request)
	if err != nil {
		t.Fatal(err)
	}
	if d.Response.UID != rv.Request.UID {
		t.Fatalf("uid %q, want %q", d.Response.UID, rv.Request.UID)
	}
	return d
}

func rulesOf(d *Decision) []string {
	var out []string
	for _, m := range d.Matches {
		out = append(out, m.Alert.Rule)
	}
	return out
}

func TestControllerDecisions(t *testing.T) {
	c := NewController(loadRules(t))
	var mu sync.Mutex
	var emitted []Match
	c.Emit = func(m Match) { mu.Lock(); emitted = append(emitted, m); mu.Unlock() }
	users := []string{"system:authenticated"}

	d := decide(t, c, review("u1", "CREATE", "team", "priv", "", "alice", users, podObject("priv", privSpec)))
	if d.Response.Allowed || d.Response.Result == nil || d.Response.Result.Code != 403 {
		t.Fatalf("privileged pod: %+v", d.Response)
	}
	if want := "privileged pod refused (user=alice pod=priv ns=team images=(busybox:1.36))"; d.Response.Result.Message != want {
		t.Errorf("message %q, want %q", d.Response.Result.Message, want)
	}
	d = decide(t, c, review("u2", "CREATE", "team", "hp", "", "alice", users, podObject("hp", hostPathSpec)))
	if d.Response.Allowed || !strings.Contains(d.Response.Result.Message, "sensitive host path refused (user=alice pod=hp ns=team paths=(/etc))") {
		t.Fatalf("hostPath pod: %+v %+v", d.Response, d.Response.Result)
	}
	d = decide(t, c, review("u3", "CREATE", "team", "ok", "", "alice", users, podObject("ok", benignSpec)))
	if !d.Response.Allowed || d.Response.Result != nil || len(d.Response.Warnings) != 0 || fmt.Sprint(rulesOf(d)) != "[Pod Created]" {
		t.Fatalf("benign pod: %+v matches %v", d.Response, rulesOf(d))
	}
	d = decide(t, c, review("u4", "CREATE", "team", "lt", "", "alice", users, podObject("lt", latestSpec)))
	if !d.Response.Allowed || len(d.Response.Warnings) != 1 || d.Response.Warnings[0] != "image with the latest tag (pod=lt images=(busybox:latest))" {
		t.Fatalf("latest: %+v", d.Response)
	}
	d = decide(t, c, review("u5", "CREATE", "team", "hn", "", "alice", users, podObject("hn", hostNetSpec)))
	if !d.Response.Allowed || len(d.Response.Warnings) != 0 {
		t.Fatalf("dry-run deny rule enforced: %+v", d.Response)
	}
	if len(d.Matches) != 2 || d.Matches[0].Alert.Rule != "Deny Host Network Pod (dry run)" || !d.Matches[0].DryRun || d.Matches[0].Action != ActionDeny {
		t.Fatalf("dry-run matches %+v", d.Matches)
	}
	// exemptions: namespace, group, user
	for _, tc := range []struct {
		ns, user string
		groups   []string
		why      string
	}{{"kube-system", "alice", users, "namespace kube-system"}, {"team", "system:node:n1", []string{"system:nodes", "system:authenticated"}, "group system:nodes"}} {
		d = decide(t, c, review("u6", "CREATE", tc.ns, "priv", "", tc.user, tc.groups, podObject("priv", privSpec)))
		if !d.Response.Allowed || d.Exempt != tc.why || len(d.Matches) != 0 {
			t.Fatalf("exempt %s: %+v %q %v", tc.why, d.Response, d.Exempt, rulesOf(d))
		}
	}
	c.Exemptions.Users = []string{"ci-bot"}
	if d = decide(t, c, review("u7", "CREATE", "team", "priv", "", "ci-bot", users, podObject("priv", privSpec))); !d.Response.Allowed || d.Exempt != "user ci-bot" {
		t.Fatalf("user exemption: %+v", d)
	}
	// exec: CONNECT with PodExecOptions; the command is a URI parameter as in audit events
	d = decide(t, c, review("u8", "CONNECT", "team", "ok", "exec", "alice", users,
		`{"kind":"PodExecOptions","apiVersion":"v1","stdout":true,"container":"c","command":["cat","/etc/shadow"]}`))
	if d.Response.Allowed || d.Response.Result.Message != "exec into pod refused (pod=ok command=cat user=alice)" {
		t.Fatalf("exec: %+v %+v", d.Response, d.Response.Result)
	}
	for _, m := range emitted {
		if m.Alert.Rule == "Audit Pod Create" || m.Alert.Source != SourceName {
			t.Fatalf("alert of rule %q source %q on admission", m.Alert.Rule, m.Alert.Source)
		}
	}
	st := c.Stats()
	if st.Reviews != 9 || st.Denied != 3 || st.Exempt != 3 || st.Warned != 1 || st.Allowed != 6 || int(st.Alerts) != len(emitted) {
		t.Fatalf("stats %+v (emitted %d)", st, len(emitted))
	}
	// no ruleset: admitted
	c.SetRules(nil)
	if d = decide(t, c, review("u9", "CREATE", "team", "priv", "", "alice", users, podObject("priv", privSpec))); !d.Response.Allowed {
		t.Fatal("no rules, denied")
	}
}

func TestDecodeReviewErrors(t *testing.T) {
	good := string(review("u1", "CREATE", "team", "p", "", "alice", nil, podObject("p", benignSpec)))
	for _, tc := range []struct{ body, want string }{
		{"", "AdmissionReview: EOF"},
		{"{", "AdmissionReview: unexpected EOF"},
		{good + "{}", "AdmissionReview: data after the JSON document"},
		{strings.Replace(good, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1), `expected apiVersion admission.k8s.io/v1 kind AdmissionReview, got apiVersion "admission.k8s.io/v1beta1" kind "AdmissionReview"`},
		{`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, "AdmissionReview: no request"},
		{strings.Replace(good, `"uid":"u1"`, `"uid":""`, 1), "request has no uid"},
		{strings.Replace(good, `"CREATE"`, `"PATCH"`, 1), `request u1: unknown operation "PATCH"`},
		{strings.Replace(good, `"resource":"pods"`, `"resource":""`, 1), "request u1: no resource"},
		{strings.Replace(good, `"object":{`, `"object":[{`, 1)[:len(good)-len(`,"oldObject":null,"dryRun":false}}`)+1] + `],"oldObject":null}}`, "request u1: object is not a JSON object"},
		{strings.Replace(good, `"uid":"u1"`, `"uid":7`, 1), "cannot unmarshal number"},
	} {
		_, err := DecodeReview([]byte(tc.body))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q: error %v, want %q", tc.body, err, tc.want)
		}
	}
}

func newTestServer(t *testing.T, cfg ServerConfig) (*Server, *testpki.PKI) {
	t.Helper()
	p := testpki.New(t, "admission test")
	cfg.Listen, cfg.CertFile, cfg.KeyFile, cfg.ClientCAFile = "127.0.0.1:0", p.CertFile, p.KeyFile, p.CAFile
	s, err := NewServer(cfg, NewController(loadRules(t)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, p
}

func TestServer(t *testing.T) {
	s, p := newTestServer(t, ServerConfig{Tokens: []string{"s3cret"}, MaxBodyBytes: 64 << 10})
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{p.ClientCert}}}}
	noCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.Pool}}}
	post := func(c *http.Client, method, token, ctype string, body []byte) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, s.URL()+"?timeout=10s", bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		req.Header.Set("Content-Type", ctype)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%d: body %q: %v", resp.StatusCode, data, err)
		}
		return resp.StatusCode, m
	}
	priv := review("uid-priv", "CREATE", "team", "priv", "", "alice", nil, podObject("priv", privSpec))
	code, m := post(withCert, "POST", "", "application/json", priv)
	resp, _ := m["response"].(map[string]any)
	if code != 200 || m["apiVersion"] != APIVersion || m["kind"] != ReviewKind || resp["uid"] != "uid-priv" || resp["allowed"] != false {
		t.Fatalf("client cert: %d %v", code, m)
	}
	if st, _ := resp["status"].(map[string]any); st["code"] != float64(403) || !strings.HasPrefix(st["message"].(string), "privileged pod refused (user=alice") {
		t.Fatalf("status %v", resp["status"])
	}
	code, m = post(noCert, "POST", "s3cret", "application/json", review("uid-ok", "CREATE", "team", "ok", "", "alice", nil, podObject("ok", benignSpec)))
	if resp, _ = m["response"].(map[string]any); code != 200 || resp["uid"] != "uid-ok" || resp["allowed"] != true {
		t.Fatalf("token: %d %v", code, m)
	}
	for _, tc := range []struct {
		c             *http.Client
		method, token string
		ctype         string
		body          []byte
		code          int
		reason, msg   string
	}{
		{noCert, "POST", "", "application/json", priv, 401, "Unauthorized", "client certificate or bearer token is required"},
		{noCert, "POST", "wrong", "application/json", priv, 401, "Unauthorized", ""},
		{withCert, "GET", "", "application/json", nil, 405, "MethodNotAllowed", "only POST"},
		{withCert, "POST", "", "text/plain", priv, 415, "UnsupportedMediaType", `"text/plain"`},
		{withCert, "POST", "", "application/json", []byte("not json"), 400, "BadRequest", "AdmissionReview: invalid character"},
		{withCert, "POST", "", "application/json", []byte(`{"apiVersion":"v1","kind":"Pod"}`), 400, "BadRequest", `got apiVersion "v1" kind "Pod"`},
		{withCert, "POST", "", "application/json", bytes.Repeat([]byte(" "), 65<<10), 413, "RequestEntityTooLarge", "over 65536 bytes"},
	} {
		code, m := post(tc.c, tc.method, tc.token, tc.ctype, tc.body)
		if code != tc.code || m["reason"] != tc.reason || !strings.Contains(fmt.Sprint(m["message"]), tc.msg) {
			t.Errorf("%s %s: %d %v, want %d %s %q", tc.method, tc.ctype, code, m, tc.code, tc.reason, tc.msg)
		}
	}
	if st := s.Stats(); st.Requests != 9 || st.Unauthorized != 2 || st.BadRequests != 4 || st.TooLarge != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestServerConfigErrors(t *testing.T) {
	p := testpki.New(t, "admission test")
	for _, tc := range []struct {
		cfg  ServerConfig
		want string
	}{
		{ServerConfig{Tokens: []string{"x"}}, "TLS is required"},
		{ServerConfig{CertFile: p.CertFile, KeyFile: p.KeyFile}, "no authentication configured"},
		{ServerConfig{CertFile: p.CertFile, KeyFile: p.KeyFile, Tokens: []string{""}}, "empty bearer token"},
		{ServerConfig{CertFile: p.CertFile, KeyFile: p.KeyFile, Tokens: []string{"x"}, Path: "validate"}, "must start with /"},
		{ServerConfig{CertFile: p.CertFile, KeyFile: p.KeyFile, ClientCAFile: p.KeyFile}, "no PEM certificate"},
	} {
		s, err := NewServer(tc.cfg, NewController(nil))
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
	// loopback by default
	s, err := NewServer(ServerConfig{CertFile: p.CertFile, KeyFile: p.KeyFile, Tokens: []string{"x"}, Listen: ""}, NewController(nil))
	if err != nil {
		t.Skipf("default port busy: %v", err)
	}
	defer s.Close()
	if !strings.HasPrefix(s.Addr().String(), "127.0.0.1:") {
		t.Errorf("default listen %s", s.Addr())
	}
}

func TestWebhookConfiguration(t *testing.T) {
	for _, fp := range []string{"Fail", "Ignore"} {
		c, err := WebhookConfiguration(WebhookConfigOptions{URL: "https://127.0.0.1:9766/validate", CABundle: []byte("PEM"), FailurePolicy: fp, ExcludeNamespaces: []string{"kube-system"}})
		if err != nil {
			t.Fatal(err)
		}
		w := c.Webhooks[0]
		if string(*w.FailurePolicy) != fp || *w.ClientConfig.URL != "https://127.0.0.1:9766/validate" || string(*w.SideEffects) != "None" ||
			w.AdmissionReviewVersions[0] != "v1" || w.NamespaceSelector.MatchExpressions[0].Values[0] != "kube-system" || *w.TimeoutSeconds != 5 {
			t.Errorf("%s: %+v", fp, w)
		}
	}
	c, err := WebhookConfiguration(WebhookConfigOptions{ServiceNamespace: "saker", ServiceName: "saker-admission", ServicePort: 443})
	if err != nil || *c.Webhooks[0].ClientConfig.Service.Path != DefaultPath || string(*c.Webhooks[0].FailurePolicy) != "Fail" {
		t.Fatalf("service: %v %+v", err, c)
	}
	for _, tc := range []struct {
		o    WebhookConfigOptions
		want string
	}{
		{WebhookConfigOptions{URL: "https://x", FailurePolicy: "Open"}, `failure policy "Open"`},
		{WebhookConfigOptions{}, "a URL or a service is required"},
		{WebhookConfigOptions{URL: "https://x", ServiceName: "s"}, "not both"},
		{WebhookConfigOptions{ServiceName: "s"}, "needs a namespace"},
		{WebhookConfigOptions{URL: "https://x", TimeoutSeconds: 31}, "1 to 30"},
	} {
		if _, err := WebhookConfiguration(tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v", tc.o, err)
		}
	}
}

func FuzzDecodeReview(f *testing.F) {
	f.Add(review("u1", "CREATE", "team", "priv", "", "alice", []string{"g"}, podObject("priv", privSpec)))
	f.Add(review("u2", "CONNECT", "team", "p", "exec", "alice", nil, `{"command":["sh","-c","id"],"container":"c"}`))
	f.Add(review("u3", "DELETE", "", "n", "", "", nil, ""))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","operation":"UPDATE","resource":{"group":"apps","version":"v1","resource":"deployments"},"object":{},"oldObject":{}}}`))
	rs := loadRules(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rv, err := DecodeReview(data)
		if err != nil {
			if rv != nil {
				t.Fatal("review with an error")
			}
			return
		}
		c := NewController(rs)
		d, err := c.Review(rv.Request)
		if err != nil {
			return
		}
		if d.Response.UID != rv.Request.UID {
			t.Fatalf("uid %q for %q", d.Response.UID, rv.Request.UID)
		}
		if !d.Response.Allowed && (d.Response.Result == nil || d.Response.Result.Message == "") {
			t.Fatal("denied without a message")
		}
	})
}
