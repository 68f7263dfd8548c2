package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/saker-sec/saker/internal/testshared"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/output"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

func sharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t)
}

// scrape fetches /metrics and parses it as Prometheus text exposition.
func scrape(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mfs
}

// value returns the value of the series of a family whose labels include want; the sum over
// all matching series.
func value(mfs map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range mf.Metric {
		ok := true
		for k, v := range want {
			hit := false
			for _, l := range m.Label {
				if l.GetName() == k && l.GetValue() == v {
					hit = true
				}
			}
			ok = ok && hit
		}
		if !ok {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Untyped != nil:
			sum += m.Untyped.GetValue()
		}
	}
	return sum, found
}

const rulesYAML = `
- rule: Open file
  desc: x
  condition: evt.type in (open, openat) and evt.dir=<
  output: "open %fd.name by %proc.name"
  priority: WARNING
- rule: Close file
  desc: x
  condition: evt.type = close and evt.dir=<
  output: "close %fd.num"
  priority: NOTICE
`

func TestMetricsEndpoint(t *testing.T) {
	capture := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesFile, []byte(rulesYAML), 0o600)

	m := New("1.2.3")
	mgr := output.NewManager(output.Options{Observe: m.ObserveAlert, DropAlertInterval: time.Hour})
	mgr.Add(output.NewWriter("stdout", io.Discard, output.DefaultFormat), 1<<20)
	blocked, _ := output.NewProgram(output.ProgramConfig{Command: "exec sleep 600", KeepAlive: true})
	mgr.Add(blocked, 4)
	m.WatchOutputs(mgr)
	mgr.Start()
	srv, err := m.Serve(ServerConfig{ListenPort: 0, Metrics: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())

	mfs := scrape(t, srv.Addr())
	if v, ok := value(mfs, "saker_events_read_total", nil); !ok || v != 0 {
		t.Fatalf("events read before any event: %v %v", v, ok)
	}
	if v, ok := value(mfs, "saker_build_info", map[string]string{"version": "1.2.3"}); !ok || v != 1 {
		t.Errorf("build info %v %v", v, ok)
	}

	// drive events: the capture replayed 20 times, as a run loop would
	var events uint64
	byRule := map[string]int{}
	var last state.Stats
	for pass := 0; pass < 20; pass++ {
		d := detect.New(state.Options{})
		rs, errs, _ := engine.LoadFiles([]string{rulesFile}, engine.Options{Sources: d.Sources()})
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		start := time.Now()
		m.ObserveRulesLoad(time.Since(start)+time.Millisecond, len(rs.Enabled()), nil, pass > 0)
		d.Rules = rs
		d.Emit = func(a *alert.Alert) { byRule[a.Rule]++; mgr.Send(a) }
		r, err := scap.Open(capture)
		if err != nil {
			t.Fatal(err)
		}
		r.OnMetadata = func(r *scap.Reader) { d.LoadCapture(r) }
		var ev event.Event
		for {
			if err := r.Next(&ev); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			m.EventsRead.Add(1)
			events++
			d.Event(&ev)
		}
		r.Close()
		last = d.State.Stats()
		m.SetState(last)
	}
	m.ObserveRulesLoad(0, 0, errors.New("broken"), true)
	m.SetDrops(func() ([]string, []uint64) { return []string{"kernel", "too_big", "user"}, []uint64{7, 2, 3} })
	if byRule["Open file"] == 0 || byRule["Close file"] == 0 {
		t.Fatalf("alerts %v", byRule)
	}
	total := uint64(byRule["Open file"] + byRule["Close file"])
	for s := mgr.Stats()[0]; s.Sent < total; s = mgr.Stats()[0] {
		time.Sleep(time.Millisecond)
	}

	mfs = scrape(t, srv.Addr())
	check := func(name string, labels map[string]string, want float64) {
		t.Helper()
		if v, ok := value(mfs, name, labels); !ok || v != want {
			t.Errorf("%s%v = %v (present %v), want %v", name, labels, v, ok, want)
		}
	}
	check("saker_events_read_total", nil, float64(events))
	check("saker_events_dropped_total", map[string]string{"where": "kernel"}, 7)
	check("saker_events_dropped_total", map[string]string{"where": "user"}, 3)
	check("saker_events_dropped_total", map[string]string{"where": "too_big"}, 2)
	check("saker_alerts_total", map[string]string{"rule": "Open file", "priority": "Warning", "source": "syscall"}, float64(byRule["Open file"]))
	check("saker_alerts_total", map[string]string{"rule": "Close file", "priority": "Notice"}, float64(byRule["Close file"]))
	check("saker_output_sent_total", map[string]string{"channel": "stdout"}, float64(total))
	check("saker_output_dropped_total", map[string]string{"channel": "stdout"}, 0)
	check("saker_output_queue_capacity", map[string]string{"channel": "program"}, 4)
	check("saker_state_threads", nil, float64(last.Threads))
	check("saker_state_fds", nil, float64(last.FDs))
	check("saker_state_users", nil, float64(last.Users))
	check("saker_rules_reloads_total", map[string]string{"result": "success"}, 19)
	check("saker_rules_reloads_total", map[string]string{"result": "failure"}, 1)
	check("saker_rules_reload_failing", nil, 1)
	check("saker_rules_enabled", nil, 2)
	if v, _ := value(mfs, "saker_output_dropped_total", map[string]string{"channel": "program"}); v == 0 {
		t.Errorf("the blocked program dropped nothing")
	}
	if v, _ := value(mfs, "saker_rules_load_duration_seconds", nil); v <= 0 {
		t.Errorf("rules load duration %v", v)
	}
	if last.Threads == 0 {
		t.Errorf("state has no threads")
	}
	for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "go_goroutines"} {
		if _, ok := mfs[name]; !ok {
			t.Errorf("%s missing", name)
		}
	}
	if v, _ := value(mfs, "process_resident_memory_bytes", nil); v <= 0 {
		t.Errorf("resident memory %v", v)
	}

	// health and version
	for path, want := range map[string]string{"/healthz": `"status":"ok"`, "/version": `"saker_version":"1.2.3"`, "/versions": `"saker_version":"1.2.3"`} {
		resp, err := http.Get("http://" + srv.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var js map[string]any
		if resp.StatusCode != 200 || json.Unmarshal(b, &js) != nil || !contains(string(b), want) {
			t.Errorf("%s: %d %s", path, resp.StatusCode, b)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	mgr.Close(ctx)
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestServerOptions(t *testing.T) {
	m := New("x")
	unhealthy := errors.New("probe detached")
	srv, err := m.Serve(ServerConfig{HealthzPath: "/health", Healthy: func() error { return unhealthy }})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	if host := srv.Addr(); host[:10] != "127.0.0.1:" {
		t.Errorf("default listen address %s, want loopback", host)
	}
	resp, err := http.Get("http://" + srv.Addr() + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/health %d, want 503", resp.StatusCode)
	}
	resp, _ = http.Get("http://" + srv.Addr() + "/metrics")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics served with Metrics off: %d", resp.StatusCode)
	}
	if _, err := m.Serve(ServerConfig{ListenAddress: "256.1.1.1"}); err == nil {
		t.Error("bad address accepted")
	}
	if _, err := m.Serve(ServerConfig{CertFile: "/nonexistent.pem"}); err == nil {
		t.Error("missing certificate accepted")
	}
}
