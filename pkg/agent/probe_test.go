package agent

import (
	"context"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/saker-sec/saker/internal/procstat"
	"github.com/saker-sec/saker/internal/testshared"
)

// With the real probe: /readyz turns 200 once the probe is attached and the host scanned,
// /healthz is 200 while it runs; once the probe is detached (the source stopped), both fail
// naming the probe.
func TestProbeReadyThenDetached(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	c := &clock{t: time.Now()}
	a, base, _ := newTestAgent(t, c, closeRule, nil)
	src := &ProbeSource{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, src) }()
	ready := false
	for i := 0; i < 1200 && !ready; i++ { // bounded wait for the probe to load and the scan
		if code, _ := get(t, base+"/readyz"); code == http.StatusOK {
			ready = true
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		cancel()
		t.Fatalf("/readyz never 200: %v", a.Ready())
	}
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz with the probe attached: %d %v", code, body)
	}
	// an event of our own making before the detach (a quiet host may make none): it is in the
	// ring when the probe stops, and delivered
	if out, err := exec.Command("/bin/true").CombinedOutput(); err != nil {
		t.Fatalf("/bin/true: %v %s", err, out)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, body := get(t, base+p); code != 503 || !strings.Contains(body["error"], "probe detached") {
			t.Errorf("%s after the probe was detached: %d %v", p, code, body)
		}
	}
	if a.Detector().Events == 0 {
		t.Error("the probe delivered no event")
	}
}

// With the real probe and the kernel's BPF statistics on, the metrics report the probe's
// attached programs' run time and count (sys_exit runs at every syscall exit of the host).
func TestProbeProgramMetrics(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		t.Fatalf("enabling BPF statistics: %v", err)
	}
	defer st.Close()
	c := &clock{t: time.Now()}
	a, base, _ := newTestAgent(t, c, closeRule, nil)
	defer runLive(t, a, &ProbeSource{})()
	var runs, secs float64
	for i := 0; i < 100 && (runs == 0 || secs == 0); i++ {
		exec.Command("/bin/true").Run()
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		m, err := procstat.Parse(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		runs = m[`saker_probe_prog_run_count_total{prog="sys_exit"}`]
		secs = m[`saker_probe_prog_run_time_seconds_total{prog="sys_exit"}`]
		time.Sleep(50 * time.Millisecond)
	}
	if runs == 0 || secs == 0 {
		t.Errorf("sys_exit: %v runs, %v s", runs, secs)
	}
	t.Logf("sys_exit: %.0f runs, %.0f ns each", runs, secs*1e9/runs)
}

// runLive runs the agent with src until the returned stop is called, once the agent is ready
// (bounded wait for the probe to load and the host scan).
func runLive(t *testing.T, a *Agent, src Source) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx, src) }()
	stop = func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	for i := 0; i < 1200 && a.Ready() != nil; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if err := a.Ready(); err != nil {
		stop()
		t.Fatalf("not ready: %v", err)
	}
	return stop
}
