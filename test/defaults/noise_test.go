package defaults

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
)

// severe are the priorities the benign workload must not raise.
var severe = map[string]bool{"Emergency": true, "Alert": true, "Critical": true, "Error": true, "Warning": true}

// TestBenignWorkloadNoise runs a benign workload under the package's saker (default rules): a
// git clone of this repository, a go build of Saker from the clone, an apt-get reinstall of a
// small package, `go test` of one small package (its binary runs from /tmp/go-build*),
// `docker run --rm busybox true`, and `docker exec` into a running busybox
// container (ls, ps, ping of its loopback). No alert of priority Warning or above may be attributable to it.
//
// Attribution (other tests run on this machine at the same time): an alert is the workload's
// when its process is the workload's shell or descends from it (proc.apid[1..15] holds the
// shell's pid), when it comes from one of the workload's containers (container.id), or when
// a command line names one of those containers (the runtime's own processes: runc create,
// runc init ... carry the container's full id or name).
func TestBenignWorkloadNoise(t *testing.T) {
	need(t)
	dd := dockertest.Start(t)
	dir := t.TempDir()
	stamp := fmt.Sprintf("%d", time.Now().UnixNano()%1000000000)
	name := "saker-benign-" + stamp
	cidRm := filepath.Join(dir, "cid-rm")
	cidExec := filepath.Join(dir, "cid-exec")
	dk := fmt.Sprintf("%s -H unix://%s", dockertest.DockerCLI, dd.Socket)
	script := fmt.Sprintf(`set -e
cd %[1]s
git clone -q %[2]s repo
cd repo && go build -o %[1]s/saker-built ./cmd/saker && go test -count=1 -run NONE ./pkg/fields/ >/dev/null && cd ..
for i in $(seq 1 30); do
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall hostname >/dev/null 2>%[1]s/apt.err && break
	sleep 10 # another process may hold the dpkg lock
done
[ "$i" -lt 30 ]
%[3]s run --rm --network none --cidfile %[4]s %[5]s true
%[3]s run -d --network none --cidfile %[6]s --name %[7]s %[5]s sleep 120 >/dev/null
%[3]s exec %[7]s ls / >/dev/null
%[3]s exec %[7]s sh -c 'cat /etc/hostname; ps' >/dev/null
%[3]s exec %[7]s ping -c 1 -W 2 127.0.0.1 >/dev/null
`, dir, repoRoot, dk, cidRm, dockertest.Image, cidExec, name)
	t.Cleanup(func() { dd.Try("rm", "-f", name) })

	n := saker.Mark()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "/bin/bash", "-c", script)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	shell := strconv.Itoa(cmd.Process.Pid)
	err := cmd.Wait()
	if err != nil {
		apt, _ := os.ReadFile(filepath.Join(dir, "apt.err"))
		t.Fatalf("workload: %v\n%s\n%s", err, out.String(), apt)
	}
	if _, err := dd.Try("rm", "-f", name); err != nil {
		t.Errorf("docker rm %s: %v", name, err)
	}
	var ids []string
	for _, f := range []string{cidRm, cidExec} {
		b, err := os.ReadFile(f)
		if err != nil || len(strings.TrimSpace(string(b))) < 12 {
			t.Fatalf("container id file %s: %v %q", f, err, b)
		}
		ids = append(ids, strings.TrimSpace(string(b)))
	}
	// the last events of the workload reach saker after a short delay; a marker process run
	// after it bounds the wait (its alert comes after theirs)
	marker := "saker-noise-end-" + stamp
	m := saker.Mark()
	exec.Command("/bin/echo", "linpeas", marker).Run()
	if _, ok := waitFor(saker, m, func(a *alert) bool { v, _ := a.Field("proc.cmdline"); return strings.Contains(v, marker) }); !ok {
		t.Errorf("marker alert for %q never came: saker may have stopped reading events", marker)
	}

	ours := func(a *alert) string {
		if v, _ := a.Field("proc.pid"); v == shell {
			return "workload shell"
		}
		for i := 1; i <= ancestors; i++ {
			if v, _ := a.Field(fmt.Sprintf("proc.apid[%d]", i)); v == shell {
				return fmt.Sprintf("descendant of the workload shell (depth %d)", i)
			}
		}
		c, _ := a.Field("container.id")
		for _, id := range ids {
			if c == id[:12] {
				return "in container " + c
			}
		}
		for _, k := range []string{"proc.cmdline", "proc.pcmdline"} {
			v, _ := a.Field(k)
			for _, id := range ids {
				if strings.Contains(v, id) {
					return "runtime process of container " + id[:12]
				}
			}
			if strings.Contains(v, name) {
				return "runtime process of " + name
			}
		}
		return ""
	}
	all, mine := 0, 0
	rules := map[string]int{}
	for _, a := range saker.Since(n) {
		all++
		why := ours(&a)
		if why == "" {
			continue
		}
		mine++
		rules[a.Priority+" "+a.Rule]++
		if severe[a.Priority] {
			t.Errorf("benign workload raised %s %q (%s): %s", a.Priority, a.Rule, why, a.Output)
		}
	}
	var names []string
	for r, c := range rules {
		names = append(names, fmt.Sprintf("%s ×%d", r, c))
	}
	sort.Strings(names)
	t.Logf("%d alerts on the machine during the workload, %d of them the workload's: %q", all, mine, names)
}
