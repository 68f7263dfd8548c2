// Package dockertest gives tests a real Docker daemon: it starts the private dockerd of
// scripts/dockerd.sh (Debian's docker.io, own data root and socket, local busybox image), runs
// containers and removes them when the test ends.
//
// Without root the tests are skipped with a message; when CI=true a daemon that cannot start
// fails the test instead.
package dockertest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testshared"
)

// Image is the local busybox image the script builds.
const Image = "saker-test/busybox:1.35"

// DockerCLI is the docker client of Debian's docker.io (matching the daemon's API version).
const DockerCLI = "/usr/bin/docker"

// Daemon is a running private dockerd.
type Daemon struct {
	Socket string
	Image  string
	// Containerd is the socket of the containerd dockerd runs itself: Docker's containers are
	// there in the namespace "moby", and RunContainerd runs plain containerd containers in it.
	Containerd string
	// Runc is the runc wrapper of scripts/dockerd.sh (plain containerd containers use it too).
	Runc string
}

// CtrCLI is the containerd client of Debian's containerd.
const CtrCLI = "/usr/bin/ctr"

// ContainerdImage is Image as containerd names it once imported.
const ContainerdImage = "docker.io/" + Image

var (
	once    sync.Once
	daemon  *Daemon
	failure error
)

// Start returns the private daemon, starting it on first use (the daemon outlives the test
// process, so later runs reuse it).
func Start(t testing.TB) *Daemon {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("dockertest: the docker tests need root (CI=true)")
		}
		t.Skip("dockertest: not root, cannot start dockerd; skipping the docker tests")
	}
	once.Do(func() {
		root, err := testshared.RepoRoot()
		if err != nil {
			failure = err
			return
		}
		cmd := exec.Command("/bin/sh", filepath.Join(root, "scripts", "dockerd.sh"))
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			failure = fmt.Errorf("scripts/dockerd.sh: %v\n%s", err, errb.String())
			return
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		daemon = &Daemon{Socket: lines[len(lines)-1], Image: Image}
		for _, l := range lines[:len(lines)-1] {
			if v, ok := strings.CutPrefix(l, "containerd="); ok {
				daemon.Containerd = v
			} else if v, ok := strings.CutPrefix(l, "runc="); ok {
				daemon.Runc = v
			}
		}
		if daemon.Containerd == "" || daemon.Runc == "" {
			failure = fmt.Errorf("scripts/dockerd.sh printed no containerd socket or runc wrapper: %q", out.String())
		}
	})
	if failure != nil {
		t.Fatalf("dockertest: cannot start dockerd: %v", failure)
	}
	return daemon
}

// Docker runs the docker CLI against the daemon and returns its trimmed output; a failure
// fails the test.
func (d *Daemon) Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := d.Try(args...)
	if err != nil {
		t.Fatalf("docker %s: %v", strings.Join(args, " "), err)
	}
	return out
}

// Try is Docker returning the error.
func (d *Daemon) Try(args ...string) (string, error) {
	cmd := exec.Command(DockerCLI, append([]string{"-H", "unix://" + d.Socket}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Run starts a detached container ("docker run -d <args>") and returns its full id; it is
// removed when the test ends. args are run options followed by the image and command.
func (d *Daemon) Run(t testing.TB, args ...string) string {
	t.Helper()
	id := d.Docker(t, append([]string{"run", "-d", "--label", "saker.test=1"}, args...)...)
	t.Cleanup(func() { d.Try("rm", "-f", id) })
	return id
}

// Pid is the host pid of a container's init process.
func (d *Daemon) Pid(t testing.TB, id string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := d.Docker(t, "inspect", "-f", "{{.State.Pid}}", id)
		if pid, err := strconv.Atoi(s); err == nil && pid > 0 {
			return pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s has no pid (%q)", id, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Inspect runs "docker inspect -f format id".
func (d *Daemon) Inspect(t testing.TB, id, format string) string {
	t.Helper()
	return d.Docker(t, "inspect", "-f", format, id)
}

// Ctr runs the ctr CLI against dockerd's containerd in namespace ns and returns its trimmed
// output; a failure fails the test.
func (d *Daemon) Ctr(t testing.TB, ns string, args ...string) string {
	t.Helper()
	out, err := d.TryCtr(ns, args...)
	if err != nil {
		t.Fatalf("ctr -n %s %s: %v", ns, strings.Join(args, " "), err)
	}
	return out
}

// TryCtr is Ctr returning the error.
func (d *Daemon) TryCtr(ns string, args ...string) (string, error) {
	cmd := exec.Command(CtrCLI, append([]string{"-a", d.Containerd, "-n", ns}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

var imported sync.Map // containerd namespace → struct{}

// ImportImage makes ContainerdImage available in containerd namespace ns (docker save | ctr
// images import, once per namespace and process; a no-op when it is there already).
func (d *Daemon) ImportImage(t testing.TB, ns string) {
	t.Helper()
	if _, ok := imported.Load(ns); ok {
		return
	}
	if out, _ := d.TryCtr(ns, "images", "ls", "-q", "name=="+ContainerdImage); out == ContainerdImage {
		imported.Store(ns, struct{}{})
		return
	}
	save := exec.Command(DockerCLI, "-H", "unix://"+d.Socket, "save", Image)
	imp := exec.Command(CtrCLI, "-a", d.Containerd, "-n", ns, "images", "import", "-")
	pipe, err := save.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	imp.Stdin = pipe
	var errb bytes.Buffer
	save.Stderr, imp.Stderr = &errb, &errb
	if err := save.Start(); err != nil {
		t.Fatal(err)
	}
	impErr := imp.Run()
	saveErr := save.Wait()
	if impErr != nil || saveErr != nil {
		t.Fatalf("docker save %s | ctr -n %s images import -: %v %v: %s", Image, ns, saveErr, impErr, errb.String())
	}
	imported.Store(ns, struct{}{})
}

// RunContainerd starts a plain containerd container (no Docker) from ContainerdImage in
// namespace ns with "ctr run -d <opts> IMAGE id <cmd>", using the runc wrapper. id is the
// container id (tests use 64 hex characters, as cgroup paths need). opts are ctr run options
// (--privileged, --label k=v, --mount …), cmd the command. The container is removed when the
// test ends.
func (d *Daemon) RunContainerd(t testing.TB, ns, id string, opts []string, cmd ...string) {
	t.Helper()
	d.ImportImage(t, ns)
	args := append([]string{"run", "-d", "--runc-binary", d.Runc}, opts...)
	args = append(append(args, ContainerdImage, id), cmd...)
	d.Ctr(t, ns, args...)
	t.Cleanup(func() { d.RemoveContainerd(ns, id) })
}

// RemoveContainerd kills a plain containerd container's task and deletes task and container
// (errors are ignored: it may be gone already).
func (d *Daemon) RemoveContainerd(ns, id string) {
	d.TryCtr(ns, "tasks", "kill", "-s", "SIGKILL", id)
	for range 50 {
		if _, err := d.TryCtr(ns, "tasks", "delete", id); err == nil {
			break
		} else if out, _ := d.TryCtr(ns, "tasks", "ls", "-q"); !strings.Contains(out, id) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.TryCtr(ns, "containers", "delete", id)
}

// ContainerdPid is the host pid of a plain containerd container's task.
func (d *Daemon) ContainerdPid(t testing.TB, ns, id string) int {
	t.Helper()
	for _, line := range strings.Split(d.Ctr(t, ns, "tasks", "ls"), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == id {
			if pid, err := strconv.Atoi(f[1]); err == nil {
				return pid
			}
		}
	}
	t.Fatalf("containerd container %s in namespace %s has no task", id, ns)
	return 0
}
