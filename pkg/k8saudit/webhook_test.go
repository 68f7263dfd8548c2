package k8saudit

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testpki"
)

const testToken = "s3cret-token"

func eventList(ids ...string) string {
	var items []string
	for _, id := range ids {
		items = append(items, fmt.Sprintf(`{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":%q,"stage":"ResponseComplete","verb":"get","user":{"username":"u"},"stageTimestamp":"2026-12-02T06:00:00Z"}`, id))
	}
	return `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[` + strings.Join(items, ",") + `]}`
}

type poster struct {
	t      *testing.T
	client *http.Client
	url    string
}

func (p poster) post(body []byte, hdr map[string]string) (int, http.Header) {
	p.t.Helper()
	req, err := http.NewRequest(http.MethodPost, p.url+"?timeout=30s", bytes.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func nextIDs(t *testing.T, w *Webhook, n int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ids []string
	for range n {
		ev, err := w.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, ev.AuditID())
	}
	return ids
}

func TestWebhookTLSTokenAndClientCert(t *testing.T) {
	pki := testpki.New(t, "saker-test")
	w, err := NewWebhook(WebhookConfig{Listen: "127.0.0.1:0", CertFile: pki.CertFile, KeyFile: pki.KeyFile,
		ClientCAFile: pki.CAFile, Tokens: []string{testToken}, Warn: func(error) {}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if !strings.HasPrefix(w.URL(), "https://127.0.0.1:") || !strings.HasSuffix(w.URL(), "/k8s-audit") {
		t.Fatalf("url %s", w.URL())
	}
	plain := poster{t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool}}}, w.URL()}
	withCert := poster{t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{pki.ClientCert}}}}, w.URL()}
	other := testpki.New(t, "other")
	foreignCert := poster{t, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool, Certificates: []tls.Certificate{other.ClientCert}}}}, w.URL()}

	if code, h := plain.post([]byte(eventList("n1")), nil); code != 401 || h.Get("WWW-Authenticate") == "" {
		t.Errorf("no credentials: %d", code)
	}
	if code, _ := plain.post([]byte(eventList("n2")), bearer("wrong")); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := plain.post([]byte(eventList("t1", "t2")), bearer(testToken)); code != 200 {
		t.Errorf("token: %d", code)
	}
	if code, _ := withCert.post([]byte(eventList("c1")), nil); code != 200 {
		t.Errorf("client cert: %d", code)
	}
	// A certificate from another CA is not presented (Go's client offers only certificates
	// of the CAs the server names) or fails the handshake: never accepted.
	req, _ := http.NewRequest(http.MethodPost, w.URL(), strings.NewReader(eventList("x")))
	if resp, err := foreignCert.client.Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("foreign client certificate: %d", resp.StatusCode)
		}
	}
	if got := strings.Join(nextIDs(t, w, 3), ","); got != "t1,t2,c1" {
		t.Errorf("events %s", got)
	}
	st := w.Stats()
	if st.Unauthorized != 3 || st.Accepted != 2 || st.Events != 3 {
		t.Errorf("stats %+v", st)
	}
	// Plain HTTP to the TLS port is not served.
	if resp, err := http.Post(strings.Replace(w.URL(), "https", "http", 1), "application/json", strings.NewReader(eventList("h"))); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP accepted on the TLS endpoint")
		}
	}
}

func TestWebhookConfigChecks(t *testing.T) {
	pki := testpki.New(t, "saker-test")
	for _, c := range []struct {
		cfg  WebhookConfig
		want string
	}{
		{WebhookConfig{Listen: "0.0.0.0:0", Tokens: []string{"t"}}, "requires TLS"},
		{WebhookConfig{Listen: "[::]:0", Tokens: []string{"t"}}, "requires TLS"},
		{WebhookConfig{Listen: "127.0.0.1:0"}, "no authentication"},
		{WebhookConfig{Listen: "127.0.0.1:0", ClientCAFile: pki.CAFile}, "requires TLS"},
		{WebhookConfig{Listen: "127.0.0.1:0", Tokens: []string{"t"}, CertFile: pki.CertFile}, "both"},
		{WebhookConfig{Listen: "127.0.0.1:0", Tokens: []string{""}}, "empty bearer token"},
		{WebhookConfig{Listen: "127.0.0.1:0", TokenFile: "/nonexistent/tokens"}, "no such file"},
	} {
		w, err := NewWebhook(c.cfg)
		if err == nil {
			w.Close()
			t.Errorf("%+v: no error", c.cfg)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	// Non-loopback with TLS is allowed (listening on all addresses; the test only connects to
	// loopback).
	w, err := NewWebhook(WebhookConfig{Listen: "0.0.0.0:0", CertFile: pki.CertFile, KeyFile: pki.KeyFile, Tokens: []string{"t"}})
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	// The default is loopback, port 9765, /k8s-audit.
	cfg := WebhookConfig{Tokens: []string{"t"}}
	if w, err := NewWebhook(cfg); err == nil {
		if !strings.HasPrefix(w.URL(), "http://127.0.0.1:9765/k8s-audit") {
			t.Errorf("default URL %s", w.URL())
		}
		w.Close()
	}
}

func TestWebhookLimitsAndBackPressure(t *testing.T) {
	var warns []string
	w, err := NewWebhook(WebhookConfig{Listen: "127.0.0.1:0", Tokens: []string{testToken}, QueueEvents: 3, MaxBodyBytes: 4096,
		Warn: func(err error) { warns = append(warns, err.Error()) }})
	if err != nil {
		t.Fatal(err)
	}
	p := poster{t, http.DefaultClient, w.URL()}
	auth := bearer(testToken)
	if code, _ := p.post([]byte(eventList("q1", "q2")), auth); code != 200 {
		t.Fatalf("first: %d", code)
	}
	code, h := p.post([]byte(eventList("q3", "q4")), auth)
	if code != 429 || h.Get("Retry-After") != "1" {
		t.Fatalf("full queue: %d retry-after %q", code, h.Get("Retry-After"))
	}
	if got := strings.Join(nextIDs(t, w, 1), ","); got != "q1" {
		t.Fatalf("got %s", got)
	}
	// One slot freed: two events fit now (the API server's retry succeeds).
	if code, _ := p.post([]byte(eventList("q3", "q4")), auth); code != 200 {
		t.Fatalf("retry: %d", code)
	}
	if code, _ := p.post([]byte(eventList("a", "b", "c", "d")), auth); code != 413 {
		t.Errorf("more events than the queue holds: %d", code)
	}
	// gzip
	var gz bytes.Buffer
	z := gzip.NewWriter(&gz)
	z.Write([]byte(eventList()))
	z.Close()
	if code, _ := p.post(gz.Bytes(), map[string]string{"Authorization": "Bearer " + testToken, "Content-Encoding": "gzip"}); code != 200 {
		t.Errorf("gzip: %d", code)
	}
	// a gzip body that decompresses beyond the limit
	gz.Reset()
	z = gzip.NewWriter(&gz)
	z.Write([]byte(`{"kind":"EventList","items":[],"pad":"` + strings.Repeat("x", 10000) + `"}`))
	z.Close()
	if code, _ := p.post(gz.Bytes(), map[string]string{"Authorization": "Bearer " + testToken, "Content-Encoding": "gzip"}); code != 413 {
		t.Errorf("gzip bomb: %d", code)
	}
	if code, _ := p.post([]byte(`{"kind":"EventList","pad":"`+strings.Repeat("x", 5000)+`"}`), auth); code != 413 {
		t.Errorf("large body: %d", code)
	}
	if code, _ := p.post([]byte(`{"kind":"Status"}`), auth); code != 400 {
		t.Errorf("not audit: %d", code)
	}
	if code, _ := p.post([]byte(`{"kind":"EventList","items":[{"kind":"Event","auditID":"bad"}]}`), auth); code != 200 {
		t.Errorf("item without stageTimestamp: %d", code)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "stageTimestamp") || !strings.Contains(warns[0], "data not recognized as a k8s audit event") {
		t.Errorf("warnings %q", warns)
	}
	if code, _ := p.post([]byte(eventList()), map[string]string{"Authorization": "Bearer " + testToken, "Content-Type": "text/plain"}); code != 415 {
		t.Errorf("content type: %d", code)
	}
	req, _ := http.NewRequest(http.MethodGet, w.URL(), nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 405 {
		t.Errorf("GET: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	st := w.Stats()
	if st.Refused != 1 || st.RefusedEvents != 2 || st.TooLarge != 3 || st.Events != 4 || st.QueueLength != 3 || st.SkippedItems != 1 {
		t.Errorf("stats %+v", st)
	}
	// Close: what was accepted is still delivered, then io.EOF.
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(nextIDs(t, w, 3), ","); got != "q2,q3,q4" {
		t.Errorf("after close: %s", got)
	}
	if _, err := w.Next(context.Background()); err != io.EOF {
		t.Errorf("drained: %v", err)
	}
}

// FuzzWebhookBody posts arbitrary bodies to the handler (in process): never a crash, every
// answer one of the documented codes, and as many events queued as the body holds.
func FuzzWebhookBody(f *testing.F) {
	f.Add([]byte(eventList("a", "b")), false)
	f.Add([]byte(`{"kind":"Event","stageTimestamp":"2026-12-02T06:00:00Z"}`), false)
	f.Add([]byte(`[{"kind":"EventList","items":[{}]}]`), true)
	w, err := NewWebhook(WebhookConfig{Listen: "127.0.0.1:0", Tokens: []string{testToken}, QueueEvents: 1 << 20, MaxBodyBytes: 1 << 20, Warn: func(error) {}})
	if err != nil {
		f.Fatal(err)
	}
	defer w.Close()
	h := w.Handler()
	f.Fuzz(func(t *testing.T, body []byte, gz bool) {
		if gz {
			var b bytes.Buffer
			z := gzip.NewWriter(&b)
			z.Write(body)
			z.Close()
			body = b.Bytes()
		}
		before := w.Stats().Events
		req := httptest.NewRequest(http.MethodPost, "/k8s-audit", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testToken)
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			after := w.Stats().Events
			for range after - before {
				if _, err := w.Next(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
		case 400, 413:
			if w.Stats().Events != before {
				t.Fatal("events queued for a refused request")
			}
		default:
			t.Fatalf("status %d", rec.Code)
		}
	})
}
