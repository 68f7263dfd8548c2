// Command benchlive measures `saker run` on the live host, each figure side by side with its
// baseline in the same run (see scripts/bench-live.sh, which builds saker and the workload
// program liveloop.c and runs this; BENCHMARKS.md quotes its output):
//
//   - overhead: a getppid loop and an open+close loop, bare, with a program that only returns
//     on sys_exit (the floor: what the kernel adds for any probe on that hook), and under
//     `saker run` with the given rules, in pairs (median, ratio, delta per call); then the
//     same loops again with kernel.bpf_stats_enabled=1 for the probe's in-kernel ns per
//     program run and per event, read from saker's metrics (saker_probe_prog_run_*), so the
//     timed loops do not pay for the statistics;
//   - latency: the time from a marker open (the event's own timestamp, in the alert) to the
//     alert's line read from saker's stdout, idle and while an open+close loop runs;
//   - storm: open+close paced at rising rates for the highest rate with zero drops, then
//     unpaced loops on every CPU: drops counted, the drop alert, RSS over time, markers
//     alerted during the storm, and a marker after it alerting again;
//   - memory: saker's RSS with the rules and N more sleeping threads on the host;
//   - workers: the storm's paced ladder with pipeline.workers 1 and -compare (2), in
//     interleaved rounds: the highest zero-drop rate of each and saker's CPU over the ladder.
//
// -workers N runs every mode's saker with pipeline.workers N.
//
// It needs root (the probe). Wall-clock figures are only meaningful on a quiet machine.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/saker-sec/saker/internal/probefloor"
	"github.com/saker-sec/saker/internal/procstat"
	"github.com/saker-sec/saker/pkg/probe"
)

var (
	sakerBin = flag.String("saker", "saker", "the saker binary")
	loopBin  = flag.String("loop", "liveloop", "the workload program (scripts/liveloop.c)")
	rulesArg = flag.String("rules", "", "comma-separated rules files (the upstream three)")
	modes    = flag.String("modes", "overhead,latency,storm,memory", "what to measure, comma-separated")
	pairs    = flag.Int("pairs", 5, "overhead: bare/saker pairs")
	getppidN = flag.Int("getppid", 2000000, "overhead: getppid calls per loop")
	openN    = flag.Int("openclose", 300000, "overhead: open+close iterations per loop")
	markers  = flag.Int("markers", 200, "latency: markers per phase")
	stormSec = flag.Int("storm-seconds", 10, "storm: seconds of unpaced loops")
	threads  = flag.Int("threads", 5000, "memory: sleeping threads")
	ringArg  = flag.Int("ring-bytes", 0, "latency: saker's --ring-bytes (0: its default)")
	tmpDir   = flag.String("tmp", "", "scratch directory (default: a new one)")
	workersN = flag.Int("workers", -1, "saker's pipeline.workers in every mode (-1: the default); the workers mode compares 1 and -compare")
	compareN = flag.Int("compare", 2, "workers: the worker count compared with 1")
	rounds   = flag.Int("rounds", 2, "workers: interleaved rounds")
)

func main() {
	flag.Parse()
	if *tmpDir == "" {
		d, err := os.MkdirTemp("", "benchlive")
		check(err)
		defer os.RemoveAll(d)
		*tmpDir = d
	}
	st, _ := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled")
	fmt.Printf("# benchlive %s, load average %s, %d CPUs, kernel.bpf_stats_enabled %s (the timed loops run with it as found)\n",
		time.Now().UTC().Format(time.RFC3339), loadavg(), runtime.NumCPU(), strings.TrimSpace(string(st)))
	for _, m := range strings.Split(*modes, ",") {
		switch m {
		case "overhead":
			overhead()
		case "latency":
			latency()
		case "storm":
			storm()
		case "memory":
			memory()
		case "workers":
			workersMode()
		default:
			fmt.Fprintf(os.Stderr, "benchlive: unknown mode %q\n", m)
			os.Exit(2)
		}
	}
	fmt.Printf("# load average at the end %s\n", loadavg())
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchlive:", err)
		os.Exit(1)
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// bpfStats sets kernel.bpf_stats_enabled and returns what puts the previous value back.
func bpfStats(v string) func() {
	const p = "/proc/sys/kernel/bpf_stats_enabled"
	old, err := os.ReadFile(p)
	check(err)
	check(os.WriteFile(p, []byte(v), 0o644))
	return func() { os.WriteFile(p, old, 0o644) }
}

// ---- the saker process ----

type line struct {
	rule string
	evt  time.Time // the alert's time: the event's timestamp
	recv time.Time // when its line was read
	out  map[string]any
}

type saker struct {
	cmd    *exec.Cmd
	url    string
	token  string
	mu     sync.Mutex
	lines  []line
	stderr strings.Builder
	done   chan struct{}
}

// startSaker runs `saker run --json` with the rules (and extra rules files) and the metrics
// endpoint on a free loopback port, and waits for its ready line.
func startSaker(extra []string, opts ...string) *saker {
	s := &saker{done: make(chan struct{}), token: "benchlive-token"}
	tok := filepath.Join(*tmpDir, "token")
	check(os.WriteFile(tok, []byte(s.token), 0o600))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s.url = fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	args := []string{"run", "--json", "-o", "webserver.enabled=true", "-o", "webserver.listen_port=" + strconv.Itoa(port),
		"-o", "webserver.auth.token_file=" + tok}
	if *workersN >= 0 && !slices.Contains(opts, "--workers") {
		args = append(args, "--workers", strconv.Itoa(*workersN))
	}
	args = append(args, opts...)
	for _, r := range append(strings.Split(*rulesArg, ","), extra...) {
		if r != "" {
			args = append(args, "-r", r)
		}
	}
	s.cmd = exec.Command(*sakerBin, args...)
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := s.cmd.StdoutPipe()
	check(err)
	errp, err := s.cmd.StderrPipe()
	check(err)
	check(s.cmd.Start())
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(errp)
		once := sync.Once{}
		for sc.Scan() {
			s.mu.Lock()
			s.stderr.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if strings.HasSuffix(sc.Text(), "; ready") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			recv := time.Now()
			var a struct {
				Rule   string         `json:"rule"`
				Time   time.Time      `json:"time"`
				Fields map[string]any `json:"output_fields"`
			}
			if json.Unmarshal(sc.Bytes(), &a) != nil {
				continue
			}
			s.mu.Lock()
			s.lines = append(s.lines, line{rule: a.Rule, evt: a.Time, recv: recv, out: a.Fields})
			s.mu.Unlock()
		}
	}()
	select {
	case <-ready:
	case <-s.done:
		check(fmt.Errorf("saker exited before ready: %s", s.stderrText()))
	case <-time.After(120 * time.Second):
		check(fmt.Errorf("saker not ready after 120 s: %s", s.stderrText()))
	}
	return s
}

func (s *saker) stderrText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stderr.String()
}

func (s *saker) stop() {
	s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill()
	}
	s.cmd.Wait()
}

// alerts returns the lines of rule seen so far.
func (s *saker) alerts(rule string) []line {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []line
	for _, l := range s.lines {
		if l.rule == rule {
			out = append(out, l)
		}
	}
	return out
}

// metrics scrapes saker's /metrics into series name{labels} → value.
func (s *saker) metrics() map[string]float64 {
	m, err := procstat.Scrape(s.url, s.token)
	check(err)
	return m
}

// rss is saker's VmRSS in bytes.
func (s *saker) rss() int64 { return statusKB(s.cmd.Process.Pid, "VmRSS:") * 1024 }

func statusKB(pid int, key string) int64 {
	m, _ := procstat.Status(pid)
	return m[strings.TrimSuffix(key, ":")]
}

// ---- workloads ----

// loop runs liveloop with args and returns the number it prints.
func loop(args ...string) float64 {
	out, err := exec.Command(*loopBin, args...).Output()
	if err != nil {
		check(fmt.Errorf("%s %v: %v", *loopBin, args, err))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	check(err)
	return v
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func pct(v []float64, p float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	i := int(p/100*float64(len(s)) + 0.5)
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

func fmtList(v []float64, f string) string {
	p := make([]string, len(v))
	for i, x := range v {
		p[i] = fmt.Sprintf(f, x)
	}
	return strings.Join(p, " ")
}

// progDelta is the change of the probe's program statistics between two scrapes: total run
// time (ns) and runs, summed over the programs, and sys_exit's own.
func progDelta(a, b map[string]float64) (allNS, allRuns, exitNS, exitRuns float64) {
	for k, v := range b {
		switch {
		case strings.HasPrefix(k, "saker_probe_prog_run_time_seconds_total{"):
			d := (v - a[k]) * 1e9
			allNS += d
			if strings.Contains(k, `prog="sys_exit"`) {
				exitNS = d
			}
		case strings.HasPrefix(k, "saker_probe_prog_run_count_total{"):
			d := v - a[k]
			allRuns += d
			if strings.Contains(k, `prog="sys_exit"`) {
				exitRuns = d
			}
		}
	}
	return
}

func dropped(m map[string]float64) float64 {
	var n float64
	for k, v := range m {
		if strings.HasPrefix(k, "saker_events_dropped_total{") {
			n += v
		}
	}
	return n
}

// ---- overhead ----

// sakerLoops starts saker with the extra rules files and measures the two loops under it:
// wall ns per call/iteration, then (with the kernel's BPF statistics on) ns per sys_exit run
// for each loop, all programs' ns per event read, and events per open+close iteration.
func sakerLoops(extra []string, gp, oc, path string) (g, o, kG, kO, kEv, evIter float64) {
	s := startSaker(extra)
	defer s.stop()
	time.Sleep(time.Second) // let the start-up work (proc scan, first events) settle
	g = loop("getppid", gp)
	o = loop("openclose", oc, path)
	restore := bpfStats("1")
	m0 := s.metrics()
	loop("getppid", gp)
	m1 := s.metrics()
	loop("openclose", oc, path)
	time.Sleep(200 * time.Millisecond) // the reader catches up
	m2 := s.metrics()
	restore()
	_, _, ns, runs := progDelta(m0, m1)
	kG = ns / runs
	allNS, _, ns, runs := progDelta(m1, m2)
	kO = ns / runs
	ev := m2["saker_events_read_total"] - m1["saker_events_read_total"]
	kEv = allNS / ev
	n, _ := strconv.ParseFloat(oc, 64)
	evIter = ev / n
	if d := dropped(m2); d > 0 {
		fmt.Printf("(%v events dropped)\n", d)
	}
	return
}

func overhead() {
	path := "/etc/hostname"
	gp, oc := strconv.Itoa(*getppidN), strconv.Itoa(*openN)
	// the upstream rules read no fd.realpath, so the probe skips the resolved-path walk; the
	// second configuration adds a rule that reads it (the walk on), for its cost
	walkRule := filepath.Join(*tmpDir, "walk.yaml")
	check(os.WriteFile(walkRule, []byte(`- rule: benchlive realpath
  desc: reads fd.realpath, so the probe walks opened paths
  condition: evt.type = openat and fd.realpath = /nonexistent/benchlive
  output: never %fd.realpath
  priority: DEBUG
`), 0o644))
	type conf struct {
		name                      string
		extra                     []string
		g, o, kG, kO, kEv, evIter []float64
	}
	confs := []*conf{{name: "saker"}, {name: "saker+walk", extra: []string{walkRule}}}
	var bareG, bareO, floorG, floorO []float64
	fmt.Printf("\n## overhead: %d pairs, getppid x%s, open+close x%s of %s\n", *pairs, gp, oc, path)
	for i := 0; i < *pairs; i++ {
		bare := func() {
			bareG = append(bareG, loop("getppid", gp))
			bareO = append(bareO, loop("openclose", oc, path))
			// the floor: the loops with a program that only returns on sys_exit
			detach := attachEmpty()
			floorG = append(floorG, loop("getppid", gp))
			floorO = append(floorO, loop("openclose", oc, path))
			detach()
		}
		if i%2 == 0 {
			bare()
		}
		for _, c := range confs {
			g, o, kG, kO, kEv, evIter := sakerLoops(c.extra, gp, oc, path)
			c.g, c.o, c.kG, c.kO, c.kEv, c.evIter = append(c.g, g), append(c.o, o), append(c.kG, kG), append(c.kO, kO), append(c.kEv, kEv), append(c.evIter, evIter)
		}
		if i%2 == 1 {
			bare()
		}
	}
	fmt.Printf("%-28s %s\n", "getppid ns/call bare:", fmtList(bareG, "%.0f"))
	fmt.Printf("%-28s %s\n", "open+close ns/iter bare:", fmtList(bareO, "%.0f"))
	fmt.Printf("%-28s %s\n", "getppid ns/call floor:", fmtList(floorG, "%.0f"))
	fmt.Printf("%-28s %s\n", "open+close ns/iter floor:", fmtList(floorO, "%.0f"))
	fmt.Printf("floor (an empty program on sys_exit, the kernel's cost of the hook): getppid delta %+.0f ns/call, open+close delta %+.2f us/iter\n",
		median(floorG)-median(bareG), (median(floorO)-median(bareO))/1000)
	for _, c := range confs {
		fmt.Printf("%-28s %s\n", "getppid ns/call "+c.name+":", fmtList(c.g, "%.0f"))
		fmt.Printf("%-28s %s\n", "open+close ns/iter "+c.name+":", fmtList(c.o, "%.0f"))
	}
	for _, c := range confs {
		fmt.Printf("%s: getppid median bare %.0f, with %.0f: ratio %.2f, delta %+.0f ns/call; open+close median bare %.0f, with %.0f: ratio %.2f, delta %+.2f us/iter\n",
			c.name, median(bareG), median(c.g), median(c.g)/median(bareG), median(c.g)-median(bareG),
			median(bareO), median(c.o), median(c.o)/median(bareO), (median(c.o)-median(bareO))/1000)
		fmt.Printf("%s in-kernel (bpf stats): getppid %s ns per sys_exit run (median %.0f); open+close %s ns per sys_exit run (median %.0f), %s ns per event read (median %.0f), %s events per iteration\n",
			c.name, fmtList(c.kG, "%.0f"), median(c.kG), fmtList(c.kO, "%.0f"), median(c.kO), fmtList(c.kEv, "%.0f"), median(c.kEv), fmtList(c.evIter, "%.2f"))
	}
}

// attachEmpty attaches the floor (internal/probefloor) and returns what detaches it.
func attachEmpty() (detach func()) {
	detach, err := probefloor.Attach()
	check(err)
	return detach
}

// ---- latency ----

const markerRule = "benchlive marker"

// markerRules writes a rules file alerting on opens of files under dir.
func markerRules(dir string) string {
	p := filepath.Join(*tmpDir, "marker.yaml")
	r := fmt.Sprintf(`- rule: %s
  desc: an open of a benchlive marker file
  condition: evt.type in (open, openat, openat2) and fd.name startswith %s/
  output: marker %%fd.name
  priority: WARNING
`, markerRule, dir)
	check(os.WriteFile(p, []byte(r), 0o644))
	return p
}

// openMarkers opens n marker files, one every gap, and returns their names.
func openMarkers(dir, tag string, n int, gap time.Duration) []string {
	var names []string
	for i := 0; i < n; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%s-%d", tag, i))
		f, err := os.Create(p)
		check(err)
		f.Close()
		names = append(names, p)
		time.Sleep(gap)
	}
	return names
}

// waitMarkers waits (up to wait) for the alerts of names and returns their latencies (ms) and
// how many did not come.
func waitMarkers(s *saker, names []string, wait time.Duration) (lat []float64, missing int) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	deadline := time.Now().Add(wait)
	for {
		lat, missing = lat[:0], len(want)
		for _, l := range s.alerts(markerRule) {
			if n, _ := l.out["fd.name"].(string); want[n] {
				lat = append(lat, float64(l.recv.Sub(l.evt).Microseconds())/1000)
				missing--
			}
		}
		if missing <= 0 || time.Now().After(deadline) {
			return lat, missing
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func latency() {
	dir := filepath.Join(*tmpDir, "markers")
	check(os.MkdirAll(dir, 0o755))
	var opts []string
	ring := "the default ring"
	if *ringArg > 0 {
		opts = []string{"--ring-bytes", strconv.Itoa(*ringArg)}
		ring = fmt.Sprintf("--ring-bytes %d", *ringArg)
	}
	s := startSaker([]string{markerRules(dir)}, opts...)
	defer s.stop()
	time.Sleep(time.Second)
	fmt.Printf("\n## latency (%s): syscall (the event's timestamp) to the alert line read from stdout, %d markers per phase, 10 ms apart\n", ring, *markers)
	report := func(what string, lat []float64, missing int) {
		fmt.Printf("%-56s p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms  (%d alerts, %d missing)\n", what, pct(lat, 50), pct(lat, 99), pct(lat, 100), len(lat), missing)
	}
	c0, t0 := cpuTicks(s.cmd.Process.Pid), time.Now()
	m0 := s.metrics()
	time.Sleep(5 * time.Second)
	m1 := s.metrics()
	fmt.Printf("saker's CPU over 5 s without a workload: %.1f%% of a core (%.0f events/s from the rest of the host)\n",
		float64(cpuTicks(s.cmd.Process.Pid)-c0)/100/time.Since(t0).Seconds()*100,
		(m1["saker_events_read_total"]-m0["saker_events_read_total"])/time.Since(t0).Seconds())
	lat, miss := waitMarkers(s, openMarkers(dir, "idle", *markers, 10*time.Millisecond), 10*time.Second)
	report("idle", lat, miss)
	// under load: open+close paced at 25k and 100k iterations a second (50k and 200k events/s,
	// rates the pipeline keeps up with), then unpaced loops (1, then one per CPU), where the
	// pipeline falls behind and the latency is the ring's backlog
	type phase struct {
		paced int // iterations a second; 0: unpaced
		n     int // loops
	}
	for _, ph := range []phase{{25000, 1}, {100000, 1}, {0, 1}, {0, runtime.NumCPU()}} {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for i := 0; i < ph.n; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
						if ph.paced > 0 {
							loop("rate", strconv.Itoa(ph.paced), "1", "/etc/hostname")
						} else {
							loop("openclose", "20000", "/etc/hostname")
						}
					}
				}
			}()
		}
		time.Sleep(500 * time.Millisecond)
		m0 := s.metrics()
		t0 := time.Now()
		names := openMarkers(dir, fmt.Sprintf("load%d-%d", ph.paced, ph.n), *markers, 10*time.Millisecond)
		m1 := s.metrics()
		rate := (m1["saker_events_read_total"] - m0["saker_events_read_total"]) / time.Since(t0).Seconds()
		close(stop)
		wg.Wait()
		lat, miss := waitMarkers(s, names, 30*time.Second)
		what := fmt.Sprintf("%d unpaced open+close loop(s)", ph.n)
		if ph.paced > 0 {
			what = fmt.Sprintf("open+close paced at %dk/s", ph.paced/1000)
		}
		report(fmt.Sprintf("%s, %.0fk events/s", what, rate/1000), lat, miss)
	}
	if d := dropped(s.metrics()); d > 0 {
		fmt.Printf("(%v events dropped during the latency runs)\n", d)
	}
}

// ---- storm ----

func storm() {
	stormRing(0)
	stormRing(64 << 20)
}

// stormRing is the storm with a ring of ringBytes (0: the default).
func stormRing(ringBytes int) {
	dir := filepath.Join(*tmpDir, "storm")
	check(os.MkdirAll(dir, 0o755))
	opts := []string{"--drop-alert-interval", "1s"}
	what := fmt.Sprintf("the default ring (%d MiB for %d CPUs)", probe.DefaultRingBytes(probe.OnlineCPUs())>>20, probe.OnlineCPUs())
	if ringBytes > 0 {
		opts = append(opts, "--ring-bytes", strconv.Itoa(ringBytes))
		what = fmt.Sprintf("a %d MiB ring", ringBytes>>20)
	}
	s := startSaker([]string{markerRules(dir)}, opts...)
	defer s.stop()
	time.Sleep(time.Second)
	fmt.Printf("\n## storm, %s\n", what)
	best := pacedBest(s)
	fmt.Printf("highest paced rate the pipeline sustains with zero drops: %.0f events/s\n", best)

	// unpaced: two loops per CPU, markers every 10 ms, RSS sampled
	m0 := s.metrics()
	var rss []float64
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for {
			rss = append(rss, float64(s.rss())/(1<<20))
			select {
			case <-stopRSS:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	end := time.Now().Add(time.Duration(*stormSec) * time.Second)
	for i := 0; i < 2*runtime.NumCPU(); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				loop("openclose", "20000", "/etc/hostname")
			}
		}()
	}
	t0, c0 := time.Now(), cpuTicks(s.cmd.Process.Pid)
	names := openMarkers(dir, "storm", *stormSec*100, 10*time.Millisecond)
	wg.Wait()
	el := time.Since(t0).Seconds()
	cores := float64(cpuTicks(s.cmd.Process.Pid)-c0) / 100 / el
	time.Sleep(time.Second)
	m1 := s.metrics()
	lat, miss := waitMarkers(s, names, 5*time.Second)
	close(stopRSS)
	<-rssDone
	ev := m1["saker_events_read_total"] - m0["saker_events_read_total"]
	fmt.Printf("unpaced, %d loops for %.1f s: %.0f events/s read, %v dropped (%s)\n", 2*runtime.NumCPU(), el, ev/el, dropped(m1)-dropped(m0), dropWhere(m1))
	fmt.Printf("saker's CPU during the storm: %.2f cores (the pipeline is one goroutine: at most about one core, plus output and GC)\n", cores)
	fmt.Printf("drop alerts: %d\n", len(s.alerts("Falco internal: syscall event drop")))
	fmt.Printf("markers opened during the storm: %d, alerted: %d, %d not (the others' events were dropped in the kernel; see TestLiveStormMarkers for the kept ones)\n", len(names), len(lat), miss)
	fmt.Printf("RSS during and after the storm (MiB, the ring's mapping included; %d samples, every 250 ms): min %.1f, median %.1f, max %.1f\n",
		len(rss), pct(rss, 0), median(rss), pct(rss, 100))
	// recovery: a marker after the storm alerts promptly
	time.Sleep(2 * time.Second)
	after := openMarkers(dir, "after", 20, 10*time.Millisecond)
	lat, miss = waitMarkers(s, after, 10*time.Second)
	pid := s.cmd.Process.Pid
	fmt.Printf("after the storm: %d of %d markers alerted, latency p50 %.2f ms, max %.2f ms; RSS %.1f MiB = RssAnon %.1f + RssFile %.1f (the ring's double mapping %.1f)\n",
		len(lat), len(after), pct(lat, 50), pct(lat, 100), float64(s.rss())/(1<<20),
		float64(statusKB(pid, "RssAnon:"))/1024, float64(statusKB(pid, "RssFile:"))/1024, float64(ringKB(pid))/1024)
	_ = miss
}

// pacedBest runs the paced open+close loop at rising rates and returns the highest event
// rate the whole pipeline sustained: zero drops, and the reader kept up (the ring drained
// within 300 ms of the loop's end).
func pacedBest(s *saker) float64 {
	best := 0.0
	for _, it := range []int{25000, 50000, 100000, 150000, 200000, 250000, 300000, 400000, 600000} {
		m0 := s.metrics()
		t0 := time.Now()
		done := loop("rate", strconv.Itoa(it), "3", "/etc/hostname")
		end := time.Now()
		el := end.Sub(t0).Seconds()
		m1 := s.metrics()
		for { // wait for the reader to drain the ring
			time.Sleep(100 * time.Millisecond)
			m2 := s.metrics()
			if m2["saker_events_read_total"]-m1["saker_events_read_total"] < 2000 {
				break
			}
			m1 = m2
		}
		drain := time.Since(end) - 100*time.Millisecond
		ev := m1["saker_events_read_total"] - m0["saker_events_read_total"]
		d := dropped(m1) - dropped(m0)
		kept := d == 0 && drain <= 300*time.Millisecond
		fmt.Printf("paced %6d iter/s asked, %6.0f done: %7.0f events/s read, %v dropped, ring drained %3d ms after the end, kept up: %v\n",
			it, done, ev/el, d, drain.Milliseconds(), kept)
		if !kept || done < float64(it)*0.95 {
			break // dropping or behind, or the generator cannot reach the rate
		}
		best = ev / el
	}
	return best
}

// ---- workers ----

// workersMode compares the highest paced open+close rate with zero drops, and saker's CPU
// at that rate, for pipeline.workers 1 and -compare, in interleaved rounds.
func workersMode() {
	dir := filepath.Join(*tmpDir, "workers")
	check(os.MkdirAll(dir, 0o755))
	fmt.Printf("\n## workers: highest paced open+close rate with zero drops, workers 1 vs %d, %d rounds\n", *compareN, *rounds)
	res := map[int][]float64{}
	for r := 0; r < *rounds; r++ {
		for _, w := range []int{1, *compareN} {
			s := startSaker([]string{markerRules(dir)}, "--drop-alert-interval", "1s", "--workers", strconv.Itoa(w))
			time.Sleep(time.Second)
			fmt.Printf("# round %d, workers=%d, load %s\n", r+1, w, loadavg())
			c0, t0 := cpuTicks(s.cmd.Process.Pid), time.Now()
			best := pacedBest(s)
			cores := float64(cpuTicks(s.cmd.Process.Pid)-c0) / 100 / time.Since(t0).Seconds()
			s.stop()
			fmt.Printf("round %d workers=%d: highest zero-drop rate %.0f events/s (saker's CPU over the ladder %.2f cores)\n", r+1, w, best, cores)
			res[w] = append(res[w], best)
		}
	}
	for _, w := range []int{1, *compareN} {
		fmt.Printf("workers=%d: highest zero-drop rate, median of %d rounds: %.0f events/s\n", w, *rounds, median(res[w]))
	}
	if m := median(res[1]); m > 0 {
		fmt.Printf("ratio workers=%d / workers=1: %.2f\n", *compareN, median(res[*compareN])/m)
	}
}

func dropWhere(m map[string]float64) string {
	var p []string
	for k, v := range m {
		if strings.HasPrefix(k, "saker_events_dropped_total{") && v > 0 {
			p = append(p, fmt.Sprintf("%s %v", strings.TrimPrefix(k, "saker_events_dropped_total"), v))
		}
	}
	sort.Strings(p)
	return strings.Join(p, ", ")
}

// ---- memory ----

// memory is saker's RSS with the default configuration, then keeping the executable's pages
// that start-up touched (--keep-startup-pages: as before internal/selfmem).
func memory() {
	memoryWith("the default configuration")
	memoryWith("--keep-startup-pages", "--keep-startup-pages")
}

func memoryWith(what string, opts ...string) {
	s := startSaker(nil, opts...)
	defer s.stop()
	time.Sleep(time.Second)
	idle, idleAnon := s.rss(), statusKB(s.cmd.Process.Pid, "RssAnon:")
	fmt.Printf("\n## memory, %s: saker's RSS with the rules, then with %d more sleeping threads\n", what, *threads)
	cmd := exec.Command(*loopBin, "threads", strconv.Itoa(*threads))
	in, err := cmd.StdinPipe()
	check(err)
	out, err := cmd.StdoutPipe()
	check(err)
	check(cmd.Start())
	r := bufio.NewReader(out)
	if l, err := r.ReadString('\n'); err != nil || strings.TrimSpace(l) != "ready" {
		check(fmt.Errorf("threads helper: %q %v", l, err))
	}
	for i := 0; i < 3; i++ { // events, so the state gauge (every 4,096 events) is current
		loop("openclose", "5000", "/etc/hostname")
		time.Sleep(500 * time.Millisecond)
	}
	pid := s.cmd.Process.Pid
	st := s.metrics()["saker_state_threads"]
	fmt.Printf("before: RSS %.1f MiB, RssAnon %.1f MiB; with the threads: RSS %.1f MiB = RssAnon %.1f + RssFile %.1f (the ring's double mapping %.1f, the binary's pages the rest); VmHWM %.1f MiB; saker_state_threads %v; %.0f bytes of RssAnon per thread\n",
		float64(idle)/(1<<20), float64(idleAnon)/1024, float64(s.rss())/(1<<20), float64(statusKB(pid, "RssAnon:"))/1024, float64(statusKB(pid, "RssFile:"))/1024,
		float64(ringKB(pid))/1024, float64(statusKB(pid, "VmHWM:"))/1024, st, float64(statusKB(pid, "RssAnon:")-idleAnon)*1024/float64(*threads))
	in.Close()
	io.Copy(io.Discard, r)
	if err := cmd.Wait(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Println("threads helper:", err)
	}
}

// ringKB is the resident KiB of pid's BPF map mappings (the ring buffer, mapped twice).
func ringKB(pid int) int64 {
	kb, _ := procstat.BPFMapRSS(pid)
	return kb
}

// cpuTicks is pid's user + system CPU time in clock ticks (1/100 s).
func cpuTicks(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	sy, _ := strconv.ParseInt(f[12], 10, 64)
	return u + sy
}
