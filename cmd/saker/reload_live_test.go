package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitCount waits (bounded) until saker's stderr holds text n times.
func waitCount(t *testing.T, p *liveProc, text string, n int) {
	t.Helper()
	for i := 0; i < 300; i++ {
		if strings.Count(p.String(), text) >= n {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("stderr never said %q %d times:\n%s", text, n, p)
}

// waitLines waits (bounded) until get returns lines containing each of want, and returns them.
func waitLines(t *testing.T, what string, get func() []string, want ...string) []string {
	t.Helper()
	var lines []string
	for i := 0; i < 300; i++ {
		lines = get()
		all := strings.Join(lines, "\n")
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(all, w)
		}
		if ok {
			return lines
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never held %q:\n%s", what, want, strings.Join(lines, "\n"))
	return nil
}

// openBy lists the files process pid has open.
func openBy(t *testing.T, pid int) map[string]bool {
	t.Helper()
	fdDir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, e := range ents {
		if p, err := os.Readlink(filepath.Join(fdDir, e.Name())); err == nil {
			out[p] = true
		}
	}
	return out
}

// TestLiveReloadConfig edits the configuration file of a running `saker run`: the reload it
// triggers moves the file channel, adds an HTTP channel and moves the web server; a SIGHUP
// with the configuration unchanged keeps the file channel's open file (the file renamed
// meanwhile still gets the alerts); a broken configuration keeps every channel running. The
// alert of each phase is a read of its own file, so the content of every destination says
// which phases it saw.
func TestLiveReloadConfig(t *testing.T) {
	dir := t.TempDir()
	secret := func(phase int) string { return filepath.Join(dir, fmt.Sprintf("secret-%d", phase)) }
	for i := 1; i <= 4; i++ {
		os.WriteFile(secret(i), []byte("x"), 0o600)
	}
	rules := filepath.Join(dir, "r.yaml")
	os.WriteFile(rules, []byte(`
- rule: secret read
  desc: test
  condition: evt.type in (open, openat, openat2) and evt.dir = < and fd.name startswith `+filepath.Join(dir, "secret-")+`
  output: "read %fd.name by %proc.name"
  priority: WARNING
`), 0o644)
	file1, file2 := filepath.Join(dir, "alerts1.json"), filepath.Join(dir, "alerts2.json")
	httpRec, httpURL := httpReceiver(t)
	port1, port2 := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "saker.yaml")
	writeConfig := func(s string) {
		t.Helper()
		if err := os.WriteFile(cfg, []byte("json_output: true\n"+s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	writeConfig(fmt.Sprintf(`
file_output: {enabled: true, keep_alive: true, filename: %s}
webserver: {enabled: true, listen_port: %d}
`, file1, port1))
	proc, lines := liveSaker(t, "-c", cfg, "-r", rules)
	pid := proc.cmd.Process.Pid
	read := func(phase int) {
		t.Helper()
		if out, err := exec.Command("cat", secret(phase)).CombinedOutput(); err != nil {
			t.Fatal(err, string(out))
		}
		if _, ok := waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool { return a.OutputFields["fd.name"] == secret(phase) }); !ok {
			t.Fatalf("no alert on stdout for %s:\n%s", secret(phase), proc)
		}
	}
	fileLines := func(path string) func() []string {
		return func() []string {
			b, _ := os.ReadFile(path)
			return strings.Split(strings.TrimSpace(string(b)), "\n")
		}
	}
	read(1)
	waitLines(t, file1, fileLines(file1), secret(1))

	// the configuration file changes: new file path, an HTTP channel, another port
	writeConfig(fmt.Sprintf(`
file_output: {enabled: true, keep_alive: true, filename: %s}
http_output: {enabled: true, url: %q}
webserver: {enabled: true, listen_port: %d, k8s_healthz_endpoint: /health}
`, file2, httpURL, port2))
	waitCount(t, proc, "configuration and rules reloaded (file)", 1)
	if open := openBy(t, pid); open[file1] || !open[file2] {
		t.Errorf("after the reload saker has %s open: %v, %s: %v; want only the new file", file1, open[file1], file2, open[file2])
	}
	read(2)
	waitLines(t, "HTTP receiver", httpRec.get, secret(2))
	waitLines(t, file2, fileLines(file2), secret(2))
	if s := strings.Join(fileLines(file1)(), "\n"); !strings.Contains(s, secret(1)) || strings.Contains(s, secret(2)) {
		t.Errorf("old file after the reload:\n%s", s)
	}
	if _, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/healthz", port1)); err == nil {
		t.Errorf("the old port %d still answers", port1)
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/health", port2))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("web server on the new port: %v %v", resp, err)
	}
	resp.Body.Close()

	// SIGHUP, nothing changed: the file channel is kept, still writing to the file it opened
	if err := os.Rename(file2, file2+".moved"); err != nil {
		t.Fatal(err)
	}
	proc.cmd.Process.Signal(syscall.SIGHUP)
	waitCount(t, proc, "configuration and rules reloaded (signal)", 1)
	read(3)
	waitLines(t, "HTTP receiver", httpRec.get, secret(3))
	waitLines(t, file2+".moved", fileLines(file2+".moved"), secret(2), secret(3))
	if _, err := os.Stat(file2); err == nil {
		t.Errorf("the unchanged file channel reopened %s", file2)
	}

	// a broken configuration keeps everything running
	writeConfig(fmt.Sprintf(`
file_output: {enabled: true, keep_alive: true, filename: %s}
http_output: {enabled: true, url: %q}
webserver: {enabled: true, listen_port: %d}
output_timeout: -5
`, file1, httpURL, port1))
	waitCount(t, proc, "reload failed", 1)
	read(4)
	waitLines(t, "HTTP receiver", httpRec.get, secret(4), "Saker internal: rules reload failed")
	waitLines(t, file2+".moved", fileLines(file2+".moved"), secret(4), "output_timeout")
	ms, err := scrape(t, port2)
	if err != nil {
		t.Fatal(err)
	}
	if ms[`saker_rules_reloads_total{result="success"}`] != 2 || ms[`saker_rules_reloads_total{result="failure"}`] != 1 ||
		sumOf(ms, "saker_alerts_total") < 5 {
		t.Errorf("metrics after three reloads: success %v, failure %v, alerts %v", ms[`saker_rules_reloads_total{result="success"}`],
			ms[`saker_rules_reloads_total{result="failure"}`], sumOf(ms, "saker_alerts_total"))
	}
	if err := proc.stop(syscall.SIGTERM); err != nil {
		t.Errorf("saker did not exit cleanly: %v\n%s", err, proc)
	}
	if s := strings.Join(fileLines(file1)(), "\n"); strings.Count(s, "secret read") != 1 {
		t.Errorf("the old file got alerts after the reload moved the channel:\n%s", s)
	}
}
