package k8saudit

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testpki"
	"github.com/saker-sec/saker/pkg/alert"
)

// benchEvents are audit events as kube-apiserver v1.37.2 wrote them (testdata/apiserver-audit.jsonl,
// its log backend during TestAuditRulesAgainstAPIServer: namespace, service account, pod
// creations with request and response objects, exec, RBAC, secrets, configmaps) and a larger
// pod creation.
func benchEvents(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	data, err := os.ReadFile(filepath.Join("testdata", "privileged-pod.json"))
	if err != nil {
		tb.Fatal(err)
	}
	out = append(out, bytes.TrimSpace(data))
	lines, err := os.ReadFile(filepath.Join("testdata", "apiserver-audit.jsonl"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(lines)), "\n") {
		out = append(out, []byte(l))
	}
	return out
}

// BenchmarkWebhookEvents measures audit events per second through the webhook (HTTPS on
// loopback, bearer token, EventLists of 400 events as the API server's batch backend sends
// them, 2 senders) into a Detector with Falco's upstream falco_rules.yaml + k8s_audit_rules.yaml.
//
//	go test -run '^$' -bench BenchmarkWebhookEvents -benchtime 200000x ./pkg/k8saudit/
func BenchmarkWebhookEvents(b *testing.B) {
	rs := upstreamRules(b)
	pki := testpki.New(b, "bench")
	w, err := NewWebhook(WebhookConfig{Listen: "127.0.0.1:0", CertFile: pki.CertFile, KeyFile: pki.KeyFile, Tokens: []string{testToken}, QueueEvents: 1 << 16})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	evs := benchEvents(b)
	const batch = 400
	var body bytes.Buffer
	body.WriteString(`{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[`)
	for i := range batch {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(evs[i%len(evs)])
	}
	body.WriteString(`]}`)
	payload := body.Bytes()

	var processed, alerts atomic.Int64
	det := &Detector{Rules: rs, Hostname: "bench", Emit: func(a *alert.Alert) { alerts.Add(1) }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for {
			ev, err := w.Next(ctx)
			if err != nil {
				return
			}
			det.Event(ev)
			processed.Add(1)
		}
	}()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.Pool}, MaxIdleConnsPerHost: 4}
	client := &http.Client{Transport: tr}
	posts := (b.N + batch - 1) / batch
	total := int64(posts * batch)
	b.SetBytes(int64(len(payload) / batch))
	b.ResetTimer()
	start := time.Now()
	cpu0 := cpuTime()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(posts) {
				for {
					req, _ := http.NewRequest(http.MethodPost, w.URL(), bytes.NewReader(payload))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("Authorization", "Bearer "+testToken)
					resp, err := client.Do(req)
					if err != nil {
						failed.Store(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests { // back-pressure: retry as the API server does
						time.Sleep(10 * time.Millisecond)
						continue
					}
					if resp.StatusCode != 200 {
						failed.Store(fmt.Errorf("status %d", resp.StatusCode))
						return
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	for processed.Load() < total {
		time.Sleep(time.Millisecond)
	}
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(total)/el.Seconds(), "events/s")
	// CPU seconds the whole process (senders' TLS included) spent: on a shared machine the
	// wall-clock figure says more about the neighbours than about Saker.
	b.ReportMetric(float64(total)/cpu.Seconds(), "events/cpu-s")
	b.ReportMetric(float64(alerts.Load())/float64(total), "alerts/event")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDetector is the rules' share alone: parsed events through the upstream rules.
func BenchmarkDetector(b *testing.B) {
	rs := upstreamRules(b)
	var parsed []*Event
	for _, e := range benchEvents(b) {
		res, err := Parse(e)
		if err != nil {
			b.Fatal(err)
		}
		parsed = append(parsed, res.Events...)
	}
	det := &Detector{Rules: rs, Emit: func(*alert.Alert) {}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ev := *parsed[i%len(parsed)]
		ev.num = serial.Add(1)
		det.Event(&ev)
	}
}

// BenchmarkParse is the parsing share: one EventList of 400 events.
func BenchmarkParse(b *testing.B) {
	evs := benchEvents(b)
	var body bytes.Buffer
	body.WriteString(`{"kind":"EventList","items":[`)
	for i := range 400 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.Write(evs[i%len(evs)])
	}
	body.WriteString(`]}`)
	b.SetBytes(int64(body.Len()))
	for i := 0; i < b.N; i++ {
		if _, err := Parse(body.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*400)/b.Elapsed().Seconds(), "events/s")
}
