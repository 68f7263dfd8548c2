package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/internal/testshared"
)

// TestLiveContainerContext runs saker live beside a real dockerd: upstream rules alert on a
// privileged container with a host mount, and every alert carries the container's metadata
// (added with append_output, as Falco users add container fields); host processes are "host".
func TestLiveContainerContext(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	dd := dockertest.Start(t)
	t.Setenv("DOCKER_HOST", "unix://"+dd.Socket)
	shared := sharedDir(t)
	dir := t.TempDir()
	hostDir := filepath.Join(dir, "hostdir")
	os.MkdirAll(hostDir, 0o755)
	marker := fmt.Sprintf("saker-ctr-%d", time.Now().UnixNano())
	os.WriteFile(filepath.Join(hostDir, marker), []byte("x"), 0o644)
	cfg := filepath.Join(dir, "saker.yaml")
	os.WriteFile(cfg, []byte(`
json_output: true
append_output:
  - match: {source: syscall}
    extra_fields: [container.id, container.name, container.image.repository, container.image.tag, container.privileged, container.mounts, container.type]
    suggested_output: true
`), 0o644)
	own := filepath.Join(dir, "own.yaml")
	os.WriteFile(own, []byte(`
- rule: marker read
  desc: test
  condition: evt.type in (open, openat, openat2) and evt.dir = < and fd.name endswith `+marker+`
  output: "marker %fd.name read by %proc.name"
  priority: WARNING
`), 0o644)
	rules := filepath.Join(shared, "falco-rules")
	proc, lines := liveSaker(t, "-c", cfg, "-r", filepath.Join(rules, "falco_rules.yaml"),
		"-r", filepath.Join(rules, "falco-incubating_rules.yaml"), "-r", own)

	name := "saker-priv-" + marker[len(marker)-6:]
	// The manager fetches a container's metadata asynchronously, from its cgroup's first
	// sight: live, the init's exec waits a bounded time for it (state.Options.ContainerWait),
	// which a slow runtime can still outlast. So the container's init waits, a read in the container is repeated until its alert names
	// the container, and only then pid 1 execs again for the rule under test: exec /bin/sleep
	// (a real execve even in busybox's standalone shell, which runs applets named without a
	// path in-process), still vpid 1, so the upstream container_started macro holds.
	init := "until [ -e /sk-go ]; do sleep 0.05; done; exec /bin/sleep 60"
	id := dd.Run(t, "--privileged", "--network", "none", "--name", name, "-v", hostDir+":/host", dockertest.Image, "sh", "-c", init)
	short := id[:12]
	isOurs := func(a falcoAlert) bool { return a.OutputFields["container.id"] == short }
	// Live, the exec of a container's init waits (bounded) for the metadata fetch in flight
	// (state.Options.ContainerWait), so the init's own first exec is flagged too.
	var read, first falcoAlert
	for deadline := time.Now().Add(20 * time.Second); ; {
		dd.Docker(t, "exec", id, "cat", "/host/"+marker)
		a, ok := waitAlert(t, lines, 2*time.Second, func(a falcoAlert) bool {
			if a.Rule == "Launch Privileged Container" && isOurs(a) && a.OutputFields["proc.name"] == "sh" {
				first = a
			}
			return a.Rule == "marker read" && isOurs(a)
		})
		if ok && a.OutputFields["container.name"] == name {
			read = a
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert naming the container for the read in it:\n%s", proc)
		}
	}
	dd.Docker(t, "exec", id, "touch", "/sk-go")
	a, ok := waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool {
		return a.Rule == "Launch Privileged Container" && isOurs(a) && a.OutputFields["proc.name"] == "sleep"
	})
	if !ok {
		t.Fatalf("no 'Launch Privileged Container' for %s's pid 1 exec of sleep:\n%s", short, proc)
	}
	if f := a.OutputFields; f["container.name"] != name || f["container.privileged"] != true {
		t.Errorf("privileged container alert fields: %v", f)
	}
	if f := first.OutputFields; f["container.name"] != name || f["container.privileged"] != true {
		t.Errorf("the init's first exec (sh) raised no 'Launch Privileged Container' naming the container: %v", f)
	}
	a = read
	f := a.OutputFields
	if f["fd.name"] != "/host/"+marker || f["proc.name"] != "cat" || f["container.name"] != name ||
		f["container.image.repository"] != "saker-test/busybox" || f["container.image.tag"] != "1.35" ||
		f["container.privileged"] != true || f["container.type"] != "docker" ||
		!strings.Contains(fmt.Sprint(f["container.mounts"]), hostDir+":/host::true:") {
		t.Errorf("read in the privileged container: %v", f)
	}
	// suggested_output: Falco's container fields at the end of the text, and in output_fields
	if want := " container_id=" + short + " container_name=" + name + " container_image_repository=saker-test/busybox container_image_tag=1.35 k8s_pod_name=<NA> k8s_ns_name=<NA>"; !strings.HasSuffix(a.Output, want) {
		t.Errorf("output %q does not end with %q", a.Output, want)
	}
	if _, ok := f["k8s.ns.name"]; !ok {
		t.Errorf("output_fields lack k8s.ns.name: %v", f)
	}
	// the same read from the host
	os.ReadFile(filepath.Join(hostDir, marker))
	a, ok = waitAlert(t, lines, 20*time.Second, func(a falcoAlert) bool {
		return a.Rule == "marker read" && a.OutputFields["container.id"] == "host"
	})
	if !ok {
		t.Fatalf("no alert for the read on the host:\n%s", proc)
	}
	if a.OutputFields["container.name"] != "host" || a.OutputFields["container.privileged"] != nil {
		t.Errorf("host read: %v", a.OutputFields)
	}
	if err := proc.stop(syscall.SIGTERM); err != nil {
		t.Errorf("exit: %v", err)
	}
}

// TestCaptureCarriesContainers records live events while a container runs: the capture holds
// the container's metadata (scap container events), so a replay names the container without
// asking any runtime.
func TestCaptureCarriesContainers(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	dd := dockertest.Start(t)
	t.Setenv("DOCKER_HOST", "unix://"+dd.Socket)
	dir := t.TempDir()
	marker := fmt.Sprintf("saker-cap-%d", time.Now().UnixNano())
	name := "saker-cap-" + marker[len(marker)-6:]
	id := dd.Run(t, "--network", "none", "--name", name, dockertest.Image, "sleep", "120")
	rules := filepath.Join(dir, "r.yaml")
	os.WriteFile(rules, []byte(`
- rule: marker open
  desc: test
  condition: evt.type in (open, openat) and evt.dir = < and fd.name endswith `+marker+`
  output: "open %fd.name in %container.name (%container.id, %container.image.repository)"
  priority: WARNING
`), 0o644)
	// A capture the kernel dropped events of (the ring overflows while other tests' loads
	// run on the machine) may lack the open: such a capture is taken again; one without
	// drops must hold it.
	var out, errOut, capErr string
	for attempt := 1; attempt <= 3; attempt++ {
		capFile := filepath.Join(dir, fmt.Sprintf("c%d.scap", attempt))
		var drops int
		capErr, drops = captureContainerOpen(t, dd, capFile, id, marker)
		var code int
		out, errOut, code = saker(t, "run", "-e", capFile, "-r", rules, "--json")
		if code != 0 {
			t.Fatalf("replay exit %d: %s", code, errOut)
		}
		if strings.Contains(out, `"rule":"marker open"`) || drops == 0 {
			break
		}
		t.Logf("capture %d: %d kernel drops and no marker open; again", attempt, drops)
	}
	if !strings.Contains(out, `"container.name":"`+name+`"`) || !strings.Contains(out, `"container.id":"`+id[:12]+`"`) ||
		!strings.Contains(out, `"container.image.repository":"saker-test/busybox"`) {
		t.Errorf("replayed alert lacks the container's metadata:\n%s\n%s\ncapture: %s", out, errOut, capErr)
	}
}

// captureContainerOpen runs saker capture of the container's events into capFile while the
// container opens /etc/marker, and returns the capture's stderr and its kernel drops.
func captureContainerOpen(t *testing.T, dd *dockertest.Daemon, capFile, id, marker string) (string, int) {
	t.Helper()
	cmd := exec.Command(sakerBin, "capture", "-w", capFile, "container.id != host")
	errb := &syncBuffer{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	for i := 0; i < 300 && !strings.Contains(errb.String(), "; ready"); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	dd.Try("exec", id, "cat", "/etc/"+marker) // fails (no such file): the open is what counts
	// the capture says when it wrote the container's metadata (a scap container event); the
	// open is in the probe's ring by now, and the ring is drained after SIGINT
	recorded := "saker: capture: container " + id
	for i := 0; i < 300 && !strings.Contains(errb.String(), recorded); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(errb.String(), recorded) {
		t.Fatalf("the capture never recorded container %s's metadata:\n%s", id, errb.String())
	}
	cmd.Process.Signal(syscall.SIGINT)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("capture: %v\n%s", err, errb.String())
	}
	var drops int
	if _, after, ok := strings.Cut(errb.String(), "kernel drops: "); ok {
		fmt.Sscanf(after, "%d", &drops)
	}
	return errb.String(), drops
}

// syncBuffer is a bytes buffer safe for one writer (a child's stderr) and concurrent readers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
