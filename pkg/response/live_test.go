package response

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/procscan"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

const markerRules = `
- rule: Response test marker
  desc: the marker program ran in a container
  condition: evt.type in (execve, execveat) and evt.dir = < and container.id != host and proc.args = "4242"
  output: marker ran (pid=%proc.pid cmdline=%proc.cmdline container=%container.id user=%user.name exe=%proc.exepath)
  priority: CRITICAL
  tags: [response_test]
`

// live is the live pipeline of the agent, as the lead will wire it: probe → detector →
// response engine (ring fed with every event, alerts handed over with their state).
type live struct {
	p    *probe.Probe
	det  *detect.Detector
	eng  *Engine
	done chan struct{}
	mu   sync.Mutex
	as   []*alert.Alert
	got  chan *alert.Alert
}

func startLive(t *testing.T, rulesFile string, cm *container.Manager, eng func(*detect.Detector) *Engine) *live {
	t.Helper()
	det := detect.New(state.Options{Containers: cm})
	rs, errs, _ := engine.LoadFiles([]string{rulesFile}, engine.Options{Sources: det.Sources()})
	if rs == nil || len(errs) > 0 {
		t.Fatalf("rules: %v", errs)
	}
	det.Rules = rs
	p, err := probe.Load(probe.Options{ExcludeTGID: uint32(os.Getpid()), Syscalls: state.Syscalls, RingBytes: 16 << 20})
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("probe: %v", err)
		}
		t.Skipf("probe: %v", err)
	}
	threads, fds, err := procscan.Scan("/proc")
	if err != nil {
		t.Fatal(err)
	}
	users, _ := procscan.Users()
	groups, _ := procscan.Groups()
	ifs, _ := procscan.Interfaces()
	host, _ := os.Hostname()
	det.Metadata(&event.MachineInfo{Hostname: host, NumCPUs: 2}, ifs, users, groups, threads, fds)
	l := &live{p: p, det: det, done: make(chan struct{}), got: make(chan *alert.Alert, 64)}
	l.eng = eng(det)
	var pending []*alert.Alert
	det.Emit = func(a *alert.Alert) { pending = append(pending, a) }
	go func() {
		defer close(l.done)
		var buf []byte
		var ev event.Event
		var num uint64
		for {
			if err := p.Read(&buf); err != nil {
				return
			}
			if event.Decode(buf, &ev, true) != nil {
				continue
			}
			num++
			ev.Num = num
			ctx := det.Event(&ev)
			if ctx == nil {
				continue
			}
			l.eng.Event(&ev, ctx)
			for _, a := range pending {
				l.eng.Alert(a, det.State, ctx)
				l.got <- a
			}
			pending = pending[:0]
		}
	}()
	t.Cleanup(func() {
		p.Stop()
		<-l.done
		p.Close()
	})
	return l
}

func unpause(d *dockertest.Daemon, id string) { d.Try("unpause", id) }

// TestLiveDockerResponse: on a real dockerd container, with the live probe, a rule's alert
// makes the policy write a snapshot, kill the process in the container and pause the
// container; the snapshot's capture replays (pkg/scap and sysdig) to the same alert.
func TestLiveDockerResponse(t *testing.T) {
	d := dockertest.Start(t)
	id := d.Run(t, d.Image, "sleep", "3600")
	t.Cleanup(func() { unpause(d, id) })
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte(markerRules), 0o644)
	snapDir := filepath.Join(dir, "snapshots")
	pol, err := Parse("policy.yaml", []byte(`
rules:
  - name: contain the marker
    match:
      rules: ["Response test marker"]
      priority: critical
      output_fields: ["container.id!=host"]
    actions:
      - action: snapshot
        with: {window: 60s}
      - action: kill_process
      - action: container_pause
`))
	if err != nil {
		t.Fatal(err)
	}
	cm := container.New(container.Config{Providers: []container.Provider{container.NewDocker(d.Socket, container.TypeDocker)}})
	defer cm.Close()
	resp := make(chan *alert.Alert, 16)
	l := startLive(t, rulesFile, cm, func(*detect.Detector) *Engine {
		e, err := New(Options{Policy: pol, Env: actions.Env{DockerSocket: d.Socket, SnapshotDir: snapDir},
			Emit: func(a *alert.Alert) { resp <- a }, Workers: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
	defer l.eng.Close(context.Background())

	// some activity first (a child reading a file), then the marker: the shell execs it
	d.Docker(t, "exec", "-d", id, "sh", "-c", "cat /etc/hostname /etc/passwd > /dev/null; exec sleep 4242")
	var trig *alert.Alert
	timeout := time.After(90 * time.Second)
	for trig == nil {
		select {
		case a := <-l.got:
			if a.Rule == "Response test marker" {
				trig = a
			}
		case <-timeout:
			t.Fatal("no marker alert from the live probe")
		}
	}
	byAction := map[string]*alert.Alert{}
	for len(byAction) < 3 {
		select {
		case a := <-resp:
			byAction[a.OutputFields["action"].(string)] = a
		case <-timeout:
			t.Fatalf("response alerts: %v", byAction)
		}
	}
	for _, n := range []string{"snapshot", "kill_process", "container_pause"} {
		a := byAction[n]
		if a == nil || a.OutputFields["outcome"] != "done" || a.Source != "response" || a.OutputFields["rule"] != trig.Rule {
			t.Fatalf("%s: %+v", n, a)
		}
	}
	pid := trig.OutputFields["proc.pid"]
	pidN, _ := strconv.Atoi(stringOf(pid))
	// the process is gone (or a zombie until the shim, outside the frozen container, reaps it)
	if st, err := os.ReadFile("/proc/" + strconv.Itoa(pidN) + "/stat"); err == nil && !strings.Contains(string(st), ") Z ") && !strings.Contains(string(st), ") X ") {
		t.Errorf("pid %d still alive after kill_process: %s", pidN, st)
	}
	if k := byAction["kill_process"]; k.OutputFields["proc.pid"] != int64(pidN) || k.OutputFields["signal"] != "SIGKILL" {
		t.Errorf("kill_process acted on %v (%v), the marker is %d", k.OutputFields["proc.pid"], k.OutputFields["signal"], pidN)
	}
	if got := d.Inspect(t, id, "{{.State.Paused}}"); got != "true" {
		t.Errorf("container not paused: %s", got)
	}

	// the snapshot
	path := byAction["snapshot"].OutputFields["path"].(string)
	members := readSnapshot(t, path)
	for _, m := range []string{MemberAlertName, "events.scap", "processes.json", "container/inspect.json", "container/mounts.json",
		"proc/" + strconv.Itoa(pidN) + "/status", "proc/" + strconv.Itoa(pidN) + "/cmdline", "proc/" + strconv.Itoa(pidN) + "/maps",
		"proc/" + strconv.Itoa(pidN) + "/environ", "proc/" + strconv.Itoa(pidN) + "/fd"} {
		if _, ok := members[m]; !ok {
			t.Errorf("snapshot lacks %s (has %v)", m, keys(members))
		}
	}
	if c := string(members["proc/"+strconv.Itoa(pidN)+"/cmdline"]); c != "sleep\x004242\x00" {
		t.Errorf("cmdline %q", c)
	}
	var insp struct{ ID string }
	json.Unmarshal(members["container/inspect.json"], &insp)
	if insp.ID != id {
		t.Errorf("inspect.json is for %q, want %s", insp.ID, id)
	}
	hasNet := false
	for k := range members {
		if strings.HasPrefix(k, "net/") && strings.HasSuffix(k, "/tcp") {
			hasNet = true
		}
	}
	if !hasNet {
		t.Errorf("no net/*/tcp member: %v", keys(members))
	}

	// replay the capture through the same rules: the same alert
	scapFile := filepath.Join(dir, "events.scap")
	os.WriteFile(scapFile, members["events.scap"], 0o600)
	replayed := replay(t, rulesFile, scapFile)
	t.Logf("live alert: %s; snapshot %s: %d members, %v events, %d alerts on replay", trig.Output, path, len(members), byAction["snapshot"].OutputFields["events"], len(replayed))
	found := false
	for _, a := range replayed {
		if a.Rule == trig.Rule && a.Output == trig.Output {
			found = true
		}
	}
	if !found {
		var outs []string
		for _, a := range replayed {
			outs = append(outs, a.Rule+": "+a.Output)
		}
		t.Errorf("replay of the snapshot: no alert equal to\n  %s\ngot:\n  %s", trig.Output, strings.Join(outs, "\n  "))
	}
	if n, _ := byAction["snapshot"].OutputFields["events"].(int); n < 5 {
		t.Errorf("the snapshot holds %d events: the shell's clone, cat's execve and opens are missing", n)
	}
	// sysdig reads it too and sees the marker's execve and cat's opens before it
	out, err := exec.Command("sysdig", "-r", scapFile, "container.id="+id[:12]+" and ((evt.type=execve and proc.args contains 4242) or (evt.type=openat and evt.dir=< and fd.name=/etc/passwd and proc.args contains /etc/hostname))").CombinedOutput()
	if err != nil {
		t.Fatalf("sysdig -r: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "< execve res=0 exe=sleep args=4242") || !strings.Contains(string(out), "< openat fd=3(<f>/etc/passwd)") {
		t.Errorf("sysdig shows no marker execve or cat open:\n%s", out)
	}
}

const MemberAlertName = actions.MemberAlert

func stringOf(v any) string {
	switch x := v.(type) {
	case string:
		return x
	default:
		b, _ := json.Marshal(x)
		return string(b)
	}
}

func keys(m map[string][]byte) []string {
	var k []string
	for n := range m {
		k = append(k, n)
	}
	return k
}

// readSnapshot opens a snapshot, checks its manifest's hashes, and returns its members.
func readSnapshot(t *testing.T, path string) map[string][]byte {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("snapshot mode %v", st.Mode())
	}
	f, _ := os.Open(path)
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	members := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		members[h.Name] = b
	}
	var man actions.Manifest
	if err := json.Unmarshal(members[actions.MemberManifest], &man); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if len(man.Members) != len(members)-1 {
		t.Errorf("manifest lists %d members, archive has %d besides it", len(man.Members), len(members)-1)
	}
	for _, m := range man.Members {
		sum := sha256.Sum256(members[m.Name])
		if hex.EncodeToString(sum[:]) != m.SHA256 || len(members[m.Name]) != m.Size {
			t.Errorf("%s: sha256/size mismatch", m.Name)
		}
	}
	return members
}

// replay runs a capture through the rules as `saker run -e` does.
func replay(t *testing.T, rulesFile, path string) []*alert.Alert {
	t.Helper()
	det := detect.New(state.Options{})
	rs, errs, _ := engine.LoadFiles([]string{rulesFile}, engine.Options{Sources: det.Sources()})
	if rs == nil || len(errs) > 0 {
		t.Fatal(errs)
	}
	det.Rules = rs
	var out []*alert.Alert
	det.Emit = func(a *alert.Alert) { out = append(out, a) }
	r, err := scap.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.OnMetadata = func(r *scap.Reader) { det.LoadCapture(r) }
	var ev event.Event
	for {
		err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the snapshot's capture: %v", err)
		}
		det.Event(&ev)
	}
	return out
}

const hostRules = `
- rule: Response test host marker
  desc: the marker program ran on the host
  condition: evt.type in (execve, execveat) and evt.dir = < and container.id = host and proc.args = "4343"
  output: host marker ran (pid=%proc.pid cmdline=%proc.cmdline parent=%proc.pname user=%user.name)
  priority: CRITICAL
`

// TestLiveHostSnapshot: a host process's snapshot holds the events of its process tree only
// (the shell, the child it cloned in the window, the marker it exec'd), and replays to the
// same alert.
func TestLiveHostSnapshot(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("needs root (CI=true)")
		}
		t.Skip("needs root for the probe")
	}
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte(hostRules), 0o644)
	pol, err := Parse("policy.yaml", []byte("rules:\n  - name: keep evidence\n    match: {rules: [Response test host marker]}\n    actions:\n      - action: snapshot\n        with: {window: 60s}\n      - action: kill_process\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp := make(chan *alert.Alert, 16)
	l := startLive(t, rulesFile, nil, func(*detect.Detector) *Engine {
		e, err := New(Options{Policy: pol, Env: actions.Env{SnapshotDir: filepath.Join(dir, "s")},
			Emit: func(a *alert.Alert) { resp <- a }, Workers: 1, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return e
	})
	defer l.eng.Close(context.Background())
	sh := exec.Command("/bin/sh", "-c", "cat /etc/hostname > /dev/null; exec sleep 4343")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sh.Process.Kill(); sh.Wait() }()
	var trig *alert.Alert
	timeout := time.After(90 * time.Second)
	for trig == nil {
		select {
		case a := <-l.got:
			if a.Rule == "Response test host marker" {
				trig = a
			}
		case <-timeout:
			t.Fatal("no host marker alert")
		}
	}
	got := map[string]*alert.Alert{}
	for len(got) < 2 {
		select {
		case a := <-resp:
			got[a.OutputFields["action"].(string)] = a
		case <-timeout:
			t.Fatalf("response alerts: %v", got)
		}
	}
	if got["kill_process"].OutputFields["outcome"] != "done" || got["snapshot"].OutputFields["outcome"] != "done" {
		t.Fatalf("%v / %v", got["kill_process"].OutputFields, got["snapshot"].OutputFields)
	}
	sh.Wait()
	members := readSnapshot(t, got["snapshot"].OutputFields["path"].(string))
	scapFile := filepath.Join(dir, "events.scap")
	os.WriteFile(scapFile, members["events.scap"], 0o600)
	// every event belongs to the shell or the cat it cloned
	r, err := scap.Open(scapFile)
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	tids := map[int64]int{}
	sawCatOpen := false
	for {
		err := r.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		tids[ev.TID]++
		if ev.Info != nil && ev.Info.Name == "openat" && ev.Info.Dir == 'X' {
			if b, ok := ev.Param("name"); ok && strings.HasPrefix(string(b), "/etc/hostname") {
				sawCatOpen = true
			}
		}
	}
	r.Close()
	if _, ok := tids[int64(sh.Process.Pid)]; !ok || len(tids) != 2 || !sawCatOpen {
		t.Errorf("events by tid %v (shell %d), cat's open seen: %v", tids, sh.Process.Pid, sawCatOpen)
	}
	found := false
	for _, a := range replay(t, rulesFile, scapFile) {
		found = found || (a.Rule == trig.Rule && a.Output == trig.Output)
	}
	if !found {
		t.Errorf("replay: no alert equal to %s", trig.Output)
	}
}
