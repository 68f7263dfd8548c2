package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/saker-sec/saker/pkg/agent"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/reload"

	"github.com/saker-sec/saker/internal/testshared"
)

// reloadRules: a Warning rule on mmap/mprotect exits and a Notice rule on close exits; the
// output names the event number, so every alert says which event raised it.
const reloadRules = `
- rule: memory map
  desc: test
  condition: evt.dir = < and evt.type in (mmap, mprotect)
  output: "map n=%evt.num"
  priority: WARNING
- rule: file closed
  desc: test
  condition: evt.dir = < and evt.type = close
  output: "close n=%evt.num"
  priority: NOTICE
`

// (syncBuffer, for the reloader's and the test's goroutines, is in container_test.go.)

// lineReceiver collects what real loopback receivers get: HTTP bodies or syslog lines.
type lineReceiver struct {
	mu    sync.Mutex
	lines []string
	conns sync.WaitGroup // syslog: connections not yet closed by the sender
}

// drained waits (bounded) until every syslog connection was closed by the sender and read
// to its end: what saker wrote before it closed its outputs has then been received.
func (r *lineReceiver) drained(t *testing.T) {
	t.Helper()
	done := make(chan struct{})
	go func() { r.conns.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Errorf("a syslog connection stayed open 10 s after saker closed its outputs")
	}
}

func (r *lineReceiver) add(l string) {
	r.mu.Lock()
	r.lines = append(r.lines, l)
	r.mu.Unlock()
}

func (r *lineReceiver) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// httpReceiver is a falcosidekick-like HTTP endpoint on loopback.
func httpReceiver(t *testing.T) (*lineReceiver, string) {
	rec := &lineReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.add(strings.TrimSuffix(string(b), "\n"))
	}))
	t.Cleanup(srv.Close)
	return rec, srv.URL
}

// syslogReceiver is a syslog server on loopback TCP; it keeps the JSON part of each message.
func syslogReceiver(t *testing.T) (*lineReceiver, string) {
	rec := &lineReceiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			rec.conns.Add(1)
			go func() {
				defer rec.conns.Done()
				defer c.Close()
				sc := bufio.NewScanner(c)
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				for sc.Scan() {
					if _, msg, ok := strings.Cut(sc.Text(), "]: "); ok {
						rec.add(msg)
					}
				}
			}()
		}
	}()
	return rec, "tcp://" + ln.Addr().String()
}

// freePort returns a loopback port nobody listens on.
func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// scrape reads /metrics at port and returns the value of each sample line ("name{labels}").
func scrape(t *testing.T, port int) (map[string]float64, error) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			out[l[:i]] = v
		}
	}
	return out, nil
}

// sumOf adds the samples of a metric over its label sets.
func sumOf(ms map[string]float64, name string) float64 {
	s := 0.0
	for k, v := range ms {
		if k == name || strings.HasPrefix(k, name+"{") {
			s += v
		}
	}
	return s
}

// alertNums reads JSON alert lines: their rules and evt.num, in order.
func alertNums(t *testing.T, what string, lines []string) (rules []string, nums []int) {
	t.Helper()
	for _, l := range lines {
		var a falcoAlert
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatalf("%s: bad alert %q: %v", what, l, err)
		}
		rules = append(rules, a.Rule)
		n, _ := a.OutputFields["evt.num"].(float64)
		nums = append(nums, int(n))
	}
	return rules, nums
}

// TestReloadAppliesConfiguration replays a capture through saker run's pipeline and reloads
// the configuration file twice between events, asserting with the receivers' content and
// the metrics' values:
//
//   - first reload: the file channel moves to another path, HTTP and syslog channels are
//     added, priority goes from warning to notice, the web server moves to another port, the
//     program channel is unchanged. The old file holds exactly the alerts of the events
//     before the swap and is closed; the new file, the HTTP and the syslog receivers hold
//     exactly the alerts after it, the Notice rule's included; the program is the same
//     process throughout and gets every alert once; the old port is closed, the new one
//     serves counters that continued (events read, alerts, one successful reload).
//   - second reload, broken (an unreadable CA file, and a new port and file path that must
//     not be taken): everything keeps running as it was, the failure is counted, and its
//     internal alert goes to every running channel.
//
// A straight replay of the same capture is the oracle for which events alert.
func TestReloadAppliesConfiguration(t *testing.T) {
	shared := sharedDir(t)
	capture := filepath.Join(shared, "captures", "curl_google.scap")
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(reloadRules), 0o600)
	file1, file2, file3 := filepath.Join(dir, "alerts1.json"), filepath.Join(dir, "alerts2.json"), filepath.Join(dir, "alerts3.json")
	progOut, pids := filepath.Join(dir, "program.json"), filepath.Join(dir, "pids")
	httpRec, httpURL := httpReceiver(t)
	syslogRec, syslogAddr := syslogReceiver(t)
	port1, port2, port3 := freePort(t), freePort(t), freePort(t)

	// the oracle: every alert of the capture, with both rules on
	out, errOut, code := saker(t, "run", "-e", capture, "-r", rules, "--json", "-o", "priority=notice")
	if code != 0 {
		t.Fatalf("straight replay: exit %d: %s", code, errOut)
	}
	allRules, allNums := alertNums(t, "straight replay", strings.Split(strings.TrimSpace(out), "\n"))

	cfgFile := filepath.Join(dir, "saker.yaml")
	common := fmt.Sprintf(`
rules_files: [%s]
json_output: true
stdout_output: {enabled: false}
program_output: {enabled: true, keep_alive: true, program: "echo $$ >> %s; exec cat >> %s"}
`, rules, pids, progOut)
	writeConfig := func(extra string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(common+extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(fmt.Sprintf(`
priority: warning
file_output: {enabled: true, keep_alive: true, filename: %s}
webserver: {enabled: true, listen_port: %d}
`, file1, port1))

	cmd := &cobra.Command{}
	var stdout, stderr syncBuffer
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	cm := container.New(container.Config{Providers: []container.Provider{}})
	defer cm.Close()
	rn, err := newAgent(cmd, &runOptions{configFile: cfgFile}, true, cm)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	defer rn.Close()
	d := rn.Detector()
	src, err := agent.OpenCapture(capture)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	var events, swap1, swap2 int
	reloadAt := func(ev *event.Event) {
		events = int(d.Events)
		switch {
		case swap1 == 0 && ev.Num >= 700:
			swap1 = int(ev.Num)
			ms, err := scrape(t, port1)
			if err != nil {
				t.Fatalf("web server before the reload: %v", err)
			}
			if ms["saker_events_read_total"] != float64(events) {
				t.Fatalf("before the reload: saker_events_read_total %v, want %d", ms["saker_events_read_total"], events)
			}
			writeConfig(fmt.Sprintf(`
priority: notice
file_output: {enabled: true, keep_alive: true, filename: %s}
http_output: {enabled: true, url: %q}
syslog_output: {enabled: true, address: %q}
webserver: {enabled: true, listen_port: %d}
`, file2, httpURL, syslogAddr, port2))
			if res := rn.Reload(reload.TriggerManual); res.Err != nil {
				t.Fatalf("reload: %v\n%s", res.Err, stderr.String())
			}
			if open := testshared.OpenPaths(t); open[file1] || !open[file2] {
				t.Errorf("after the reload, %s is open: %v, %s is open: %v; want the old file closed", file1, open[file1], file2, open[file2])
			}
			if _, err := scrape(t, port1); err == nil {
				t.Errorf("the old web server port %d still answers", port1)
			}
			ms, err = scrape(t, port2)
			if err != nil {
				t.Fatalf("web server on the new port: %v", err)
			}
			want := map[string]float64{
				"saker_events_read_total":                     float64(events),
				`saker_rules_reloads_total{result="success"}`: 1,
				`saker_rules_reloads_total{result="failure"}`: 0,
			}
			for k, v := range want {
				if ms[k] != v {
					t.Errorf("after the reload: %s = %v, want %v", k, ms[k], v)
				}
			}
			if n := sumOf(ms, "saker_alerts_total"); n != float64(d.Matched) || n == 0 {
				t.Errorf("after the reload: saker_alerts_total sums to %v, want the %d alerts so far", n, d.Matched)
			}
		case swap2 == 0 && ev.Num >= 1100:
			swap2 = int(ev.Num)
			writeConfig(fmt.Sprintf(`
priority: notice
file_output: {enabled: true, keep_alive: true, filename: %s}
http_output: {enabled: true, url: %q, ca_cert: %s}
syslog_output: {enabled: true, address: %q}
webserver: {enabled: true, listen_port: %d}
`, file3, httpURL, filepath.Join(dir, "missing-ca.pem"), syslogAddr, port3))
			res := rn.Reload(reload.TriggerManual)
			if res.Err == nil || !strings.Contains(res.Err.Error(), "missing-ca.pem") {
				t.Fatalf("broken configuration: reload error %v, want one naming the CA file", res.Err)
			}
			if _, err := scrape(t, port3); err == nil {
				t.Errorf("a failed reload opened its web server port %d", port3)
			}
			if testshared.OpenPaths(t)[file3] {
				t.Errorf("a failed reload left %s open", file3)
			}
			ms, err := scrape(t, port2)
			if err != nil {
				t.Fatalf("web server after a failed reload: %v", err)
			}
			if ms[`saker_rules_reloads_total{result="failure"}`] != 1 || ms["saker_rules_reload_failing"] != 1 ||
				ms[`saker_rules_reloads_total{result="success"}`] != 1 {
				t.Errorf("after a failed reload: reloads %v/%v, failing %v", ms[`saker_rules_reloads_total{result="success"}`],
					ms[`saker_rules_reloads_total{result="failure"}`], ms["saker_rules_reload_failing"])
			}
		}
	}
	src.Before = reloadAt
	if err := rn.Run(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	if swap2 == 0 {
		t.Fatalf("the capture ended before both reloads (events %d)", events)
	}
	if err := rn.Close(); err != nil {
		t.Fatal(err)
	}

	// what each channel should hold: the oracle's alerts, split at the first reload (before
	// it, only the Warning rule ran), and the failure alert of the second
	var before, after []string
	for i, n := range allNums {
		key := fmt.Sprintf("%s/%d", allRules[i], n)
		switch {
		case n < swap1 && allRules[i] == "memory map":
			before = append(before, key)
		case n >= swap1:
			after = append(after, key)
		}
	}
	internalAt := -1 // where the failure alert goes among the alerts after the first reload
	for i, k := range after {
		if n, _ := strconv.Atoi(k[strings.IndexByte(k, '/')+1:]); n >= swap2 {
			internalAt = i
			break
		}
	}
	afterWithFailure := append(append(append([]string(nil), after[:internalAt]...), agent.ReloadFailureRule+"/0"), after[internalAt:]...)
	keys := func(what string, lines []string) []string {
		rs, ns := alertNums(t, what, lines)
		out := make([]string, len(rs))
		for i := range rs {
			out[i] = fmt.Sprintf("%s/%d", rs[i], ns[i])
		}
		return out
	}
	same := func(what string, got, want []string) {
		t.Helper()
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s: %d alerts\n%v\nwant %d\n%v", what, len(got), got, len(want), want)
		}
	}
	if len(before) == 0 || len(after) == 0 || internalAt < 0 {
		t.Fatalf("reload points leave nothing to compare: %d alerts before, %d after", len(before), len(after))
	}
	t.Logf("%d alerts before the first reload (event %d), %d after; second reload at event %d", len(before), swap1, len(after), swap2)
	same("old file "+file1, keys(file1, testshared.ReadLines(t, file1)), before)
	same("new file "+file2, keys(file2, testshared.ReadLines(t, file2)), afterWithFailure)
	same("HTTP receiver", keys("HTTP", httpRec.get()), afterWithFailure)
	syslogRec.drained(t)
	same("syslog receiver", keys("syslog", syslogRec.get()), afterWithFailure)
	same("program (kept)", keys("program", testshared.ReadLines(t, progOut)), append(append([]string(nil), before...), afterWithFailure...))
	if l := testshared.ReadLines(t, file3); len(l) != 0 {
		t.Errorf("the failed reload's file got %d alerts", len(l))
	}
	if p := testshared.ReadLines(t, pids); len(p) != 1 {
		t.Errorf("the unchanged program channel was started %d times (%v), want once", len(p), p)
	}
	for _, l := range testshared.ReadLines(t, file2) {
		if strings.Contains(l, agent.ReloadFailureRule) && !strings.Contains(l, "missing-ca.pem") {
			t.Errorf("the failure alert does not name the problem: %s", l)
		}
	}
	for _, want := range []string{"configuration and rules reloaded (manual)", "reload failed", fmt.Sprintf("web server on 127.0.0.1:%d stopped", port1)} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
}

// TestReloadWebserverInPlace: a reload that keeps the web server's address reconfigures the
// running server (no new listener: the health path changes on the same port); the one move
// that cannot be made live, another listen_address on the same port, fails naming the key
// and leaves the server as it was.
func TestReloadWebserverInPlace(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(reloadRules), 0o600)
	port := freePort(t)
	cfgFile := filepath.Join(dir, "saker.yaml")
	writeConfig := func(ws string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf("rules_files: [%s]\nstdout_output: {enabled: false}\nwebserver: %s\n", rules, ws)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	status := func(path string) int {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	writeConfig(fmt.Sprintf("{enabled: true, listen_port: %d}", port))
	cmd := &cobra.Command{}
	var stderr syncBuffer
	cmd.SetOut(io.Discard)
	cmd.SetErr(&stderr)
	rn, err := newAgent(cmd, &runOptions{configFile: cfgFile}, true, nil)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	defer rn.Close()
	srv := rn.WebServer()
	writeConfig(fmt.Sprintf("{enabled: true, listen_port: %d, k8s_healthz_endpoint: /ready}", port))
	if res := rn.Reload(reload.TriggerManual); res.Err != nil {
		t.Fatal(res.Err)
	}
	if rn.WebServer() != srv || status("/ready") != 200 || status("/healthz") != 404 {
		t.Errorf("same address: server replaced %v, /ready %d, /healthz %d; want the running server reconfigured",
			rn.WebServer() != srv, status("/ready"), status("/healthz"))
	}
	writeConfig(fmt.Sprintf("{enabled: true, listen_address: 0.0.0.0, listen_port: %d}", port))
	res := rn.Reload(reload.TriggerManual)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "webserver.listen_address") {
		t.Errorf("another address on the same port: %v, want an error naming webserver.listen_address", res.Err)
	}
	if rn.WebServer() != srv || status("/ready") != 200 {
		t.Errorf("after the failed move: /ready %d", status("/ready"))
	}
	if n := strings.Count(stderr.String(), "web server on"); n != 1 {
		t.Errorf("%d web servers started, want 1:\n%s", n, stderr.String())
	}
}
