package deploy

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
	"github.com/saker-sec/saker/internal/testshared"
)

// alert is the part of Falco's JSON alert the test reads.
type alert struct {
	Rule         string         `json:"rule"`
	Priority     string         `json:"priority"`
	OutputFields map[string]any `json:"output_fields"`
}

// logs follows `docker logs -f` of a container: stdout lines (alerts) and stderr text.
type logs struct {
	alerts chan alert
	ready  chan struct{}
	stderr strings.Builder
	done   chan struct{}
}

func follow(t *testing.T, dd *dockertest.Daemon, id string) *logs {
	t.Helper()
	cmd := exec.Command(dockertest.DockerCLI, "-H", "unix://"+dd.Socket, "logs", "-f", id)
	out, _ := cmd.StdoutPipe()
	errp, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	l := &logs{alerts: make(chan alert, 1000), ready: make(chan struct{}), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var a alert
			if json.Unmarshal(sc.Bytes(), &a) == nil && a.Rule != "" {
				l.alerts <- a
			}
		}
		close(l.alerts)
	}()
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	go func() {
		sc := bufio.NewScanner(errp)
		once := false
		for sc.Scan() {
			<-mu
			l.stderr.WriteString(sc.Text() + "\n")
			mu <- struct{}{}
			if !once && strings.Contains(sc.Text(), "; ready") {
				once = true
				close(l.ready)
			}
		}
		close(l.done)
	}()
	return l
}

// waitReady waits up to 90s for the ready line of who.
func (l *logs) waitReady(t *testing.T, who string) {
	t.Helper()
	select {
	case <-l.ready:
	case <-l.done:
		t.Fatalf("%s ended before ready:\n%s", who, l.stderr.String())
	case <-time.After(90 * time.Second):
		t.Fatalf("%s not ready after 90s:\n%s", who, l.stderr.String())
	}
}

// hostAlert runs `echo linpeas TOKEN` on the host (TOKEN starting with prefix) and returns the
// built-in rule's alert for it, and the token.
func (l *logs) hostAlert(t *testing.T, prefix string) (alert, string) {
	t.Helper()
	tok := fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
	if err := exec.Command("/bin/echo", "linpeas", tok).Run(); err != nil {
		t.Fatal(err)
	}
	a, ok := l.waitAlert("Privilege escalation enumeration script executed",
		map[string]string{"proc.cmdline": "echo linpeas " + tok}, 20*time.Second)
	if !ok {
		t.Fatalf("no alert for a host process from the containerized saker:\n%s", l.stderr.String())
	}
	return a, tok
}

// waitAlert returns the first alert of rule whose output fields contain want, within d.
func (l *logs) waitAlert(rule string, want map[string]string, d time.Duration) (alert, bool) {
	deadline := time.After(d)
	for {
		select {
		case a, ok := <-l.alerts:
			if !ok {
				return alert{}, false
			}
			if a.Rule != rule {
				continue
			}
			match := true
			for k, v := range want {
				if fmt.Sprint(a.OutputFields[k]) != v {
					match = false
				}
			}
			if match {
				return a, true
			}
		case <-deadline:
			return alert{}, false
		}
	}
}

// The image is built once for the package's tests and removed after them (TestMain).
var image struct {
	once        sync.Once
	tag, socket string
	err         error
	out         []byte
}

// buildImage builds the image with scripts/image.sh on dd (once for the package's tests).
func buildImage(t *testing.T, dd *dockertest.Daemon) string {
	t.Helper()
	image.once.Do(func() {
		root, err := testshared.RepoRoot()
		if err != nil {
			image.err = err
			return
		}
		image.tag, image.socket = fmt.Sprintf("saker-test/saker:%d", os.Getpid()), dd.Socket
		build := exec.Command("/bin/sh", filepath.Join(root, "scripts", "image.sh"), image.tag)
		build.Env = append(os.Environ(), "DOCKER="+dockertest.DockerCLI+" -H unix://"+dd.Socket, "VERSION=image-test")
		image.out, image.err = build.CombinedOutput()
	})
	if image.err != nil {
		t.Fatalf("scripts/image.sh: %v\n%s", image.err, image.out)
	}
	return image.tag
}

func TestMain(m *testing.M) {
	code := m.Run()
	if image.tag != "" {
		exec.Command(dockertest.DockerCLI, "-H", "unix://"+image.socket, "rmi", "-f", image.tag).Run()
	}
	os.Exit(code)
}

// TestContainerImage builds the image, runs it as deploy/Containerfile documents, and checks
// detection on the host and in a container, then a clean stop.
func TestContainerImage(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	dd := dockertest.Start(t)
	tag := buildImage(t, dd)
	if v, err := dd.Try("run", "--rm", tag, "version"); err != nil || !strings.Contains(v, "image-test") {
		t.Fatalf("saker version in the image: %q %v", v, err)
	}
	if files := dd.Docker(t, "image", "inspect", "-f", "{{len .RootFS.Layers}}", tag); files != "2" {
		t.Errorf("image has %s layers, want 2 (the binary and the CA bundle on scratch)", files)
	}

	name := fmt.Sprintf("saker-image-test-%d", os.Getpid())
	id := dd.Docker(t, "run", "-d", "--name", name, "--pid=host", "--cap-drop=ALL", "--cap-add=SYS_ADMIN",
		"--cap-add=SYS_PTRACE", "--cap-add=DAC_READ_SEARCH", "--cap-add=SYS_RESOURCE", "--security-opt=apparmor=unconfined",
		"-v", "/sys/kernel/btf:/sys/kernel/btf:ro",
		"-v", "/etc/passwd:/etc/passwd:ro", "-v", "/etc/group:/etc/group:ro",
		"-v", dd.Socket+":/var/run/docker.sock:ro",
		tag, "run", "--json")
	t.Cleanup(func() { dd.Try("rm", "-f", id) })
	l := follow(t, dd, id)
	l.waitReady(t, "saker in its container")

	// on the host
	a, tok := l.hostAlert(t, "saker-image")
	if a.OutputFields["container.id"] != "host" || a.OutputFields["user.name"] != "root" {
		t.Errorf("host alert fields %v", a.OutputFields)
	}

	// in a container: its metadata comes through the mounted runtime socket
	cname := "saker-image-target-" + tok[len(tok)-6:]
	cid := dd.Docker(t, "run", "-d", "--network", "none", "--name", cname, dockertest.Image, "/bin/echo", "deepce", tok)
	t.Cleanup(func() { dd.Try("rm", "-f", cid) })
	a, ok := l.waitAlert("Container escape or enumeration tool executed",
		map[string]string{"proc.cmdline": "echo deepce " + tok}, 20*time.Second)
	if !ok {
		t.Fatalf("no alert for a container process:\n%s", l.stderr.String())
	}
	if a.OutputFields["container.id"] != cid[:12] || a.OutputFields["container.image.repository"] != strings.Split(dockertest.Image, ":")[0] {
		t.Errorf("container alert fields %v (want id %s, image %s)", a.OutputFields, cid[:12], dockertest.Image)
	}

	// docker stop sends SIGTERM to saker (pid 1 of its container): a clean exit, counters printed
	dd.Docker(t, "stop", "-t", "30", id)
	<-l.done
	if code := dd.Inspect(t, id, "{{.State.ExitCode}}"); code != "0" {
		t.Errorf("saker exited with %s after docker stop:\n%s", code, l.stderr.String())
	}
	if !strings.Contains(l.stderr.String(), "events: ") {
		t.Errorf("no final counters after docker stop:\n%s", l.stderr.String())
	}
}
