package enforce

import (
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testshared"
)

// BenchmarkKillLatency (root, real probe): an execve killed by an enforce: kill rule, over
// b.N runs. Reported: start→reaped, the parent's fork+exec until waitid returns the child
// killed (p50/p99); decision→reaped, from the probe's timestamp of the kill decision (at the
// execve's entry) until waitid returns; and, as the reference, start→reaped for a child whose
// execve fails (ENOENT) and exits at once.
func BenchmarkKillLatency(b *testing.B) {
	l := startLive(b, Options{})
	bin := filepath.Join(l.dir, "kill", "enfecho")
	testshared.CopyExecutable(b, "/bin/echo", bin)
	missing := filepath.Join(l.dir, "missing", "enfecho")
	var killed, decision, failed []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin)
		t0 := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		err := cmd.Wait()
		t1 := time.Now()
		if !killedBySIGKILL(err) {
			b.Fatalf("not killed: %v", err)
		}
		killed = append(killed, t1.Sub(t0))
		a := l.waitAlert(b, cmd.Process.Pid)
		decision = append(decision, t1.Sub(a.Time))

		t0 = time.Now()
		if err := exec.Command(missing).Run(); err == nil {
			b.Fatal("missing program ran")
		}
		failed = append(failed, time.Since(t0))
	}
	b.StopTimer()
	pct := func(d []time.Duration, p float64) float64 {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return float64(d[int(float64(len(d)-1)*p)].Microseconds())
	}
	b.ReportMetric(pct(killed, .5), "killed-p50-µs")
	b.ReportMetric(pct(killed, .99), "killed-p99-µs")
	b.ReportMetric(pct(decision, .5), "decision-p50-µs")
	b.ReportMetric(pct(decision, .99), "decision-p99-µs")
	b.ReportMetric(pct(failed, .5), "enoent-p50-µs")
	b.ReportMetric(pct(failed, .99), "enoent-p99-µs")
}
