package response

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/response/netisolate"
)

// benchAction measures, per iteration, the time from Engine.Handle (the alert handed over)
// to the action's response alert (the action done), and reports p50 and p99. prepare runs
// before each iteration, untimed, and returns the target.
func benchAction(b *testing.B, policy string, env actions.Env, prepare func() *actions.Target, after func()) {
	p, err := Parse("bench.yaml", []byte(policy))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan *alert.Alert, 1)
	e, err := New(Options{Policy: p, Env: env, Emit: func(a *alert.Alert) { done <- a }, Workers: 1,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close(context.Background())
	var lat []time.Duration
	for b.Loop() {
		b.StopTimer()
		t := prepare()
		a := trigger("bench")
		b.StartTimer()
		start := time.Now()
		e.Handle(a, t)
		r := <-done
		lat = append(lat, time.Since(start))
		b.StopTimer()
		if o := r.OutputFields["outcome"]; o != "done" {
			b.Fatalf("%s: %v %v", r.Rule, o, r.OutputFields["error"])
		}
		if after != nil {
			after()
		}
		b.StartTimer()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
}

func BenchmarkKillProcess(b *testing.B) {
	var cmd *exec.Cmd
	benchAction(b, "rules: [{name: r, match: {}, actions: [{action: kill_process}]}]", actions.Env{}, func() *actions.Target {
		cmd = exec.Command("/bin/sleep", "60")
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		return &actions.Target{PID: int64(cmd.Process.Pid)}
	}, func() { cmd.Wait() })
}

func BenchmarkRunProgram(b *testing.B) {
	benchAction(b, "rules: [{name: r, match: {}, actions: [{action: run_program, with: {command: [/bin/true]}}]}]", actions.Env{},
		func() *actions.Target { return &actions.Target{PID: 1} }, nil)
}

func BenchmarkWebhook(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	benchAction(b, "rules: [{name: r, match: {}, actions: [{action: webhook, with: {url: '"+srv.URL+"'}}]}]", actions.Env{},
		func() *actions.Target { return &actions.Target{PID: 1} }, nil)
}

// BenchmarkSnapshot: a host process's snapshot with 10000 events of its own in the ring.
func BenchmarkSnapshot(b *testing.B) {
	cmd := exec.Command("/bin/sleep", "600")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	pid := int64(cmd.Process.Pid)
	env := actions.Env{SnapshotDir: filepath.Join(b.TempDir(), "s")}
	p, _ := Parse("x", []byte("rules: [{name: r, match: {}, actions: [{action: snapshot}]}]"))
	e, _ := New(Options{Policy: p})
	env.Ring = e.Ring()
	e.Close(context.Background())
	fillRing(b, env.Ring, "host", pid, 10000)
	benchAction(b, "rules: [{name: r, match: {}, actions: [{action: snapshot}]}]", env,
		func() *actions.Target {
			return &actions.Target{PID: pid, Procs: []actions.Proc{{PID: pid, Role: "target"}}}
		}, nil)
}

func benchContainer(b *testing.B, action string, after func(d *dockertest.Daemon, id string)) {
	d := dockertest.Start(b)
	id := d.Run(b, d.Image, "sleep", "3600")
	benchAction(b, "rules: [{name: r, match: {}, actions: [{action: "+action+"}]}]", actions.Env{DockerSocket: d.Socket},
		func() *actions.Target { return &actions.Target{ContainerID: id[:12]} }, func() { after(d, id) })
	d.Try("unpause", id)
}

func BenchmarkContainerPause(b *testing.B) {
	benchContainer(b, "container_pause", func(d *dockertest.Daemon, id string) { d.Docker(b, "unpause", id) })
}

func BenchmarkContainerKill(b *testing.B) {
	benchContainer(b, "container_kill", func(d *dockertest.Daemon, id string) {
		d.Try("wait", id)
		d.Docker(b, "start", id)
	})
}

func BenchmarkContainerStop(b *testing.B) {
	// busybox's sleep as init ignores SIGTERM: the stop takes its whole timeout, then SIGKILL
	benchContainer(b, "container_stop, with: {timeout: 1s}", func(d *dockertest.Daemon, id string) { d.Docker(b, "start", id) })
}

// BenchmarkNetworkIsolate: a process in its own network namespace (made with ip netns) is
// quarantined by namespace: netns cookie lookup (setns on a locked thread) and a map update.
func BenchmarkNetworkIsolate(b *testing.B) {
	iso, err := netisolate.Load("")
	if err != nil {
		b.Skip(err)
	}
	defer iso.Close()
	ns := fmt.Sprintf("skbench%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		b.Fatalf("%v %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	cmd := exec.Command("ip", "netns", "exec", ns, "/bin/sleep", "600")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	cookie, err := netisolate.NetnsCookie("/run/netns/" + ns)
	if err != nil {
		b.Fatal(err)
	}
	for range 100 { // until ip netns exec has entered the namespace and exec'd sleep
		if c, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", cmd.Process.Pid)); err == nil && c == "/usr/bin/sleep" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	benchAction(b, "rules: [{name: r, match: {}, actions: [{action: network_isolate}]}]", actions.Env{Isolator: iso},
		func() *actions.Target {
			iso.ReleaseNetns(cookie)
			return &actions.Target{PID: int64(cmd.Process.Pid), ContainerID: "abcdefabcdef"}
		}, nil)
}
