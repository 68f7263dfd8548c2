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
)

// Image is the local busybox image the script builds.
const Image = "saker-test/busybox:1.35"

// DockerCLI is the docker client of Debian's docker.io (matching the daemon's API version).
const DockerCLI = "/usr/bin/docker"

// Daemon is a running private dockerd.
type Daemon struct {
	Socket string
	Image  string
}

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
		root, err := repoRoot()
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
	})
	if failure != nil {
		t.Fatalf("dockertest: cannot start dockerd: %v", failure)
	}
	return daemon
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
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
