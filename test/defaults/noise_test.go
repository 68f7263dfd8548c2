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

// serverPackages are what a Debian server runs beside its applications and what the benign
// workload exercises; the test installs them (non-interactive) before it starts.
var serverPackages = []string{"needrestart", "unattended-upgrades", "logrotate", "man-db", "cron", "openssh-server", "openssh-client", "python3"}

// installServerPackages installs serverPackages with apt-get (retrying while another process
// holds the dpkg lock). needrestart is kept in list mode so that it never restarts a service.
func installServerPackages(t *testing.T) {
	t.Helper()
	var missing []string
	for _, p := range serverPackages {
		if out, err := exec.Command("dpkg-query", "-W", "-f=${Status}", p).Output(); err != nil || !strings.Contains(string(out), "install ok installed") {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return
	}
	var last []byte
	for i := 0; i < 30; i++ {
		cmd := exec.Command("apt-get", append([]string{"install", "-y", "-q"}, missing...)...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_MODE=l")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return
		}
		last = out
		if !strings.Contains(string(out), "lock") {
			break
		}
		time.Sleep(10 * time.Second)
	}
	t.Fatalf("apt-get install %v failed:\n%s", missing, last)
}

// TestBenignWorkloadNoise runs a benign workload under the package's saker (default rules), the
// work of a Debian server: a git clone of this repository, a go build of Saker from the clone,
// `go test` of one small package (its binary runs from /tmp/go-build*), python3 -m compileall,
// an apt-get reinstall of a small package with needrestart hooked into apt (it reads every
// process's environment and maps), unattended-upgrade --dry-run, logrotate -f on a test
// configuration (compress, postrotate script), mandb, cron running a job from /etc/cron.d, an
// ssh login with a key to an sshd on 127.0.0.1, `docker run --rm busybox true` and `docker
// exec` into a running busybox container (ls, ps, ping of its loopback), and mass deletions:
// make's clean step removing 300 build outputs below /var/lib, find -delete of 300 files below
// /var/tmp, rm -rf of the clone. No alert of priority
// Warning or above may be attributable to it. A systemd timer (systemd-run --on-active) is
// part of it only where systemd is PID 1.
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
	installServerPackages(t)
	tag := "saker-noise-" + stamp // in the command lines of the cron job, the timer and the ssh command
	cronFile := "/etc/cron.d/" + tag
	t.Cleanup(func() { os.Remove(cronFile) })
	systemd := false
	if b, err := os.ReadFile("/proc/1/comm"); err == nil && strings.TrimSpace(string(b)) == "systemd" {
		systemd = true
	} else {
		t.Logf("PID 1 is %q, not systemd: no systemd-run timer in the workload", strings.TrimSpace(string(b)))
	}
	sshPort := 20000 + os.Getpid()%20000
	buildDir, tmpDir := "/var/lib/"+tag, "/var/tmp/"+tag // mass deletions outside /tmp
	t.Cleanup(func() { os.RemoveAll(buildDir); os.RemoveAll(tmpDir) })
	// the administrator's part, before the mark: the cron job file, the ssh keys and sshd's
	// configuration (writing them is what the persistence rules watch for)
	setup := fmt.Sprintf(`set -e
cd %[1]s
echo "* * * * * root echo %[2]s > %[1]s/cron.out" > %[3]s
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N '' -f hostkey && ssh-keygen -q -t ed25519 -N '' -f userkey
cp userkey.pub authorized_keys
printf 'ListenAddress 127.0.0.1\nPort %[4]d\nHostKey %[1]s/hostkey\nAuthorizedKeysFile %[1]s/authorized_keys\nStrictModes no\nPermitRootLogin prohibit-password\nPasswordAuthentication no\nUsePAM yes\nPidFile %[1]s/sshd.pid\n' > sshd_config
`, dir, tag, cronFile, sshPort)
	if out, err := exec.Command("/bin/bash", "-c", setup).CombinedOutput(); err != nil {
		t.Fatalf("workload setup: %v\n%s", err, out)
	}
	script := fmt.Sprintf(`set -e
cd %[1]s
git clone -q %[2]s repo
cd repo && go build -o %[1]s/saker-built ./cmd/saker && go test -count=1 -run NONE ./pkg/fields/ >/dev/null && cd ..
mkdir -p py/pkg && printf 'def f():\n    return 1\n' > py/pkg/a.py && printf 'import os\n' > py/pkg/__init__.py
python3 -m compileall -q py
export DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=l
for i in $(seq 1 30); do
	apt-get install -y -q --reinstall hostname >%[1]s/apt.out 2>%[1]s/apt.err && break
	sleep 10 # another process may hold the dpkg lock
done
[ "$i" -lt 30 ]
grep -qi "restart" %[1]s/apt.out || { echo "needrestart did not run after apt-get"; cat %[1]s/apt.out; exit 1; }
# unattended-upgrade's dry run resolves every upgrade (minutes on a loaded machine): it runs
# beside the next steps, bounded to 150s (timeout's 124 is accepted: its start, cache, lock and
# log handling are what a server sees every day)
( timeout -k 10 150 unattended-upgrade --dry-run >uu.out 2>&1 && echo 0 > uu.rc || echo $? > uu.rc ) & UU=$!
mkdir -p logs && echo line > logs/app.log
printf '%%s {\n rotate 2\n compress\n missingok\n postrotate\n  echo rotated > %[1]s/logs/postrotate.out\n endscript\n}\n' %[1]s/logs/app.log > logrotate.conf
logrotate -f -s %[1]s/logrotate.state logrotate.conf
[ -s logs/postrotate.out ]
mandb -q
CRON=
pgrep -x cron >/dev/null || { cron -f -L 0 & CRON=$!; } # a running cron runs the job as well
for i in $(seq 1 80); do [ -s cron.out ] && break; sleep 1; done
[ -z "$CRON" ] || { kill $CRON; wait $CRON 2>/dev/null || true; }
[ -s cron.out ] || { echo "cron did not run the job"; exit 1; }
/usr/sbin/sshd -D -e -f %[1]s/sshd_config 2>sshd.log & SSHD=$!
for i in $(seq 1 50); do ssh -q -i userkey -p %[10]d -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=%[1]s/known_hosts root@127.0.0.1 "echo %[8]s; id -u" > ssh.out 2>ssh.err && break; sleep 0.2; done
kill $SSHD; wait $SSHD 2>/dev/null || true
grep -q %[8]s ssh.out || { echo "ssh login failed"; cat ssh.err sshd.log; exit 1; }
wait $UU
grep -qx '0\|124\|137' uu.rc || { echo "unattended-upgrade failed: $(cat uu.rc)"; cat uu.out; exit 1; }
if [ %[11]t = true ]; then
	systemd-run --quiet --on-active=1 --unit %[8]s /bin/sh -c "echo %[8]s > %[1]s/timer.out"
	for i in $(seq 1 30); do [ -s timer.out ] && break; sleep 1; done
	[ -s timer.out ]
fi
# mass deletions a server makes: a build's clean step (outside /tmp), a temporary-file
# cleaner, the removal of a clone
mkdir -p %[12]s/build && (cd %[12]s/build && touch $(seq -f 'o%%g.o' 300))
printf 'clean:\n\trm -rf build\n' > %[12]s/Makefile
make -s -C %[12]s clean
mkdir -p %[13]s && (cd %[13]s && touch $(seq -f 's%%g' 300))
find %[13]s -mindepth 1 -mtime -1 -delete
rm -rf repo
%[3]s run --rm --network none --cidfile %[4]s %[5]s true
%[3]s run -d --network none --cidfile %[6]s --name %[7]s %[5]s sleep 120 >/dev/null
%[3]s exec %[7]s ls / >/dev/null
%[3]s exec %[7]s sh -c 'cat /etc/hostname; ps' >/dev/null
%[3]s exec %[7]s ping -c 1 -W 2 127.0.0.1 >/dev/null
`, dir, repoRoot, dk, cidRm, dockertest.Image, cidExec, name, tag, cronFile, sshPort, systemd, buildDir, tmpDir)
	t.Cleanup(func() { dd.Try("rm", "-f", name) })

	// the setup's own alerts (it writes what the persistence rules watch) may still be on
	// their way: a marker process run after it bounds the wait, so they land before the mark
	setupEnd := "saker-noise-setup-" + stamp
	m0 := saker.Mark()
	exec.Command("/bin/echo", "linpeas", setupEnd).Run()
	if _, ok := waitFor(saker, m0, func(a *alert) bool { v, _ := a.Field("proc.cmdline"); return strings.Contains(v, setupEnd) }); !ok {
		t.Fatalf("marker alert for %q never came: saker may have stopped reading events", setupEnd)
	}
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
			if strings.Contains(v, tag) {
				return "command of the workload (cron job, timer or ssh command)"
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
