package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/dockertest"
	defaultrules "github.com/saker-sec/saker/rules"
)

// defaultsConfig adds to every alert the fields that tell which action raised it.
const defaultsConfig = `
json_output: true
rules_files: []
append_output:
  - match: {source: syscall}
    extra_fields: [proc.cmdline, proc.pcmdline, "proc.acmdline[2]", fd.name, proc.exepath, proc.pexepath, evt.args, evt.num]
`

// sameEvent returns "rule A | rule B (evt.num N)" for every two built-in rules that alerted
// for the same event: one behaviour must raise one alert (the built-in rules run with
// rule_matching: all).
func sameEvent(alerts []alert) []string {
	byNum := map[string][]string{}
	for _, a := range alerts {
		if n, ok := a.Field("evt.num"); ok && n != "<NA>" {
			byNum[n] = append(byNum[n], a.Rule)
		}
	}
	var out []string
	for n, rules := range byNum {
		sort.Strings(rules)
		for i := range rules {
			for j := i + 1; j < len(rules); j++ {
				if rules[i] != rules[j] {
					out = append(out, fmt.Sprintf("%s | %s (evt.num %s)", rules[i], rules[j], n))
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

// ofAction reports whether an alert comes from the action with token tok working in dir.
func ofAction(a *alert, e *env) bool {
	for _, k := range []string{"proc.cmdline", "proc.pcmdline", "proc.acmdline[2]", "fd.name", "proc.exepath", "proc.pexepath", "evt.args"} {
		if v, ok := a.Field(k); ok && (strings.Contains(v, e.tok) || strings.Contains(v, e.dir)) {
			return true
		}
	}
	return false
}

// defaultRulesByAction is, for each action of actions(), the built-in rules it must raise.
var defaultRulesByAction = map[string][]string{
	"read /etc/shadow":                        {"Shadow file read by unexpected process"},
	"shell spawned by nginx":                  {"Shell started by web server"},
	"reverse shell command from a web server": {"Shell redirection to /dev/tcp"},
	"find private keys":                       {"Credential search on the command line"},
	"truncate a log file":                     {"Log file truncated"},
	"symlink over /etc/shadow":                {"Symbolic link to credential file created"},
	"hard link to /etc/shadow":                {"Hard link to credential file created"},
	"exec from /dev/shm":                      {"Program executed from shared memory"},
	"fileless exec from memfd":                {"Fileless execution from memfd"},
	"write a .bashrc":                         {"Shell startup file modified"},
	"crontab":                                 {"Crontab installed from command line"},
	"ssh keys of a user":                      {"SSH authorized keys modified"},
	"delete shell history":                    {"Shell history deleted or truncated"},
	"setuid bit":                              {"Setuid bit set on file"},
	"netcat with -e":                          {"Netcat run with command execution"},
	"stratum miner command line":              {"Stratum mining protocol on command line"},
	"known miner binary":                      {"Miner dropped in hidden or temporary path"},
	"user management binary":                  {"User account created"},
	"pkexec with no arguments":                {"Pkexec run without arguments"},
	"binary and monitored dirs in a private mount namespace": {"System binary renamed or replaced", "Write below binary directory"},
	"system binary connects out":                             {"Program executed from temporary directory", "Program from temporary directory made outbound connection"},
	"ssh to a non-standard port":                             {"Program from temporary directory made outbound connection"},
	"python accepts a connection from the namespace":         {"Interpreter or shell opened listening socket"},
}

// TestLiveDefaultRules runs Saker's built-in rules live (no -r) and does the real things of
// actions(): every built-in rule listed for an action must alert, attributed to the action by
// its token or directory in the alert's fields (added with append_output).
func TestLiveDefaultRules(t *testing.T) {
	need(t)
	cfg := filepath.Join(runDir, "defaults.yaml")
	if err := os.WriteFile(cfg, []byte(defaultsConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startSaker(t, "run", "-c", cfg)
	defer stop(t, s, syscall.SIGINT)
	curNetns = newNetns(t).name
	discover := os.Getenv("SAKER_E2E_DISCOVER") != ""
	fired := map[string]bool{}
	for i, a := range actions() {
		t.Run(a.name, func(t *testing.T) {
			e := &env{s: s, dir: filepath.Join(runDir, fmt.Sprintf("d%02d", i)), tok: fmt.Sprintf("sakerdef-%d-%02d", os.Getpid(), i)}
			if err := os.MkdirAll(e.dir, 0o755); err != nil {
				t.Fatal(err)
			}
			n := s.Mark()
			a.do(t, e)
			want := defaultRulesByAction[a.name]
			got := map[string]bool{}
			deadline := time.Now().Add(alertWait)
			for {
				for _, al := range s.Since(n) {
					if ofAction(&al, e) {
						got[al.Rule] = true
					}
				}
				missing := false
				for _, r := range want {
					missing = missing || !got[r]
				}
				if (!missing && !discover) || time.Now().After(deadline) || (discover && time.Since(deadline.Add(-alertWait)) > 3*time.Second) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			var names []string
			for r := range got {
				names = append(names, r)
				fired[r] = true
			}
			sort.Strings(names)
			if discover {
				t.Logf("DISCOVER %q: %q", a.name, names)
				return
			}
			for _, r := range want {
				if !got[r] {
					t.Errorf("built-in rule %q did not alert for %q (alerts of this action: %q)", r, a.name, names)
				}
			}
		})
	}
	n := 0
	for _, rules := range defaultRulesByAction {
		n += len(rules)
	}
	t.Logf("%d built-in rules alerted for the actions, %d of them asserted", len(fired), n)
	if !discover {
		for _, p := range sameEvent(s.Since(0)) {
			t.Errorf("one event raised two built-in rules: %s", p)
		}
	}
}

// containerActions are things done inside a privileged busybox container (docker exec): each
// runs a program under the name a built-in container rule watches for (busybox copied under
// that name, as an attacker's dropped tool would be), or does the action itself.
var containerActions = []struct {
	name  string
	argv  []string
	rules []string
}{
	{"text editor", []string{"vi", "-c", "q", "/etc/hostname"}, []string{"Text editor run in container"}},
	{"download tool", []string{"wget", "-q", "-T", "1", "http://127.0.0.1:9/"}, nil},
	{"package manager", []string{"sh", "-c", "mkdir -p /usr/bin && cp /bin/busybox /usr/bin/apt-get && exec /usr/bin/apt-get update"}, []string{"Package manager run in container", "Binary written to system directory in container"}},
	{"compiler", []string{"sh", "-c", "mkdir -p /usr/bin && cp /bin/busybox /usr/bin/gcc && exec /usr/bin/gcc --version"}, []string{"Compiler run in container"}},
	{"sudo", []string{"sh", "-c", "mkdir -p /usr/bin && cp /bin/busybox /usr/bin/sudo && exec /usr/bin/sudo id"}, []string{"Sudo run in container"}},
	{"ssh server", []string{"sh", "-c", "mkdir -p /usr/sbin && cp /bin/busybox /usr/sbin/sshd && exec /usr/sbin/sshd -D"}, []string{"SSH server started in container"}},
	{"runtime client", []string{"sh", "-c", "mkdir -p /usr/bin && cp /bin/busybox /usr/bin/docker && exec /usr/bin/docker ps"}, []string{"Container runtime client run in container"}},
	{"kubectl", []string{"sh", "-c", "mkdir -p /usr/bin && cp /bin/busybox /usr/bin/kubectl && exec /usr/bin/kubectl get pods"}, []string{"Kubernetes client tool run in container"}},
	{"packet capture", []string{"sh", "-c", "mkdir -p /usr/sbin && cp /bin/busybox /usr/sbin/tcpdump && exec /usr/sbin/tcpdump -i any"}, []string{"Packet capture in container"}},
	{"network discovery", []string{"ifconfig", "-a"}, []string{"Network configuration discovery in container"}},
	{"executable made", []string{"sh", "-c", "cp /bin/busybox /tmp/dropped && chmod +x /tmp/dropped && /tmp/dropped true"}, []string{"Executable made in container", "Shell in container with CAP_SYS_ADMIN"}},
	{"mount", []string{"sh", "-c", "mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && umount /mnt/t"}, []string{"Mount executed in container"}},
	{"device node", []string{"mknod", "/tmp/devnode", "c", "1", "3"}, []string{"Privileged helper executed in container"}},
	{"proc sys write", []string{"sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"}, []string{"Write to /proc/sys from container"}},
	{"new namespace", []string{"unshare", "-m", "true"}, []string{"New namespace created in container"}},
	{"nsenter", []string{"nsenter", "-t", "1", "-m", "true"}, []string{"Namespace change in container", "Nsenter into host namespaces"}},
	{"sensitive file", []string{"sh", "-c", "echo 'root:x:1:' > /etc/shadow; cat /etc/shadow"}, []string{"Password database modified by unexpected process", "Shadow file read by unexpected process"}},
	{"crontab", []string{"crontab", "-l"}, nil},
	{"netcat", []string{"nc", "-l", "-p", "4444", "-w", "1"}, []string{"Netcat listener started"}},
	{"shell history", []string{"sh", "-c", "mkdir -p /root && echo x > /root/.bash_history && rm /root/.bash_history"}, []string{"Shell history deleted or truncated"}},
	{"user added", []string{"sh", "-c", "echo 'sakeruser:x:1001:1001::/home/s:/bin/sh' >> /etc/passwd"}, nil},
	{"setuid binary", []string{"sh", "-c", "cp /bin/busybox /tmp/suid && chmod u+s /tmp/suid"}, []string{"Setuid bit set on file"}},
	{"chroot", []string{"chroot", "/", "true"}, nil},
	{"sysctl", []string{"sysctl", "-w", "net.ipv4.ip_forward=0"}, nil},
	{"kernel module listing", []string{"lsmod"}, nil},
	{"ping", []string{"ping", "-c", "1", "-W", "1", "127.0.0.1"}, nil},
}

// TestLiveDefaultContainerRules runs the built-in rules live beside a real dockerd and does
// real things inside a privileged container; alerts are attributed by container id.
func TestLiveDefaultContainerRules(t *testing.T) {
	need(t)
	dd := dockertest.Start(t)
	t.Setenv("DOCKER_HOST", "unix://"+dd.Socket)
	cfg := filepath.Join(runDir, "defaults-ctr.yaml")
	os.WriteFile(cfg, []byte(`
json_output: true
rules_files: []
append_output:
  - match: {source: syscall}
    extra_fields: [container.id, proc.cmdline, evt.num]
`), 0o644)
	s := startSaker(t, "run", "-c", cfg)
	defer stop(t, s, syscall.SIGINT)
	id := dd.Run(t, "--privileged", "--network", "none", dockertest.Image, "sleep", "300")
	short := id[:12]
	discover := os.Getenv("SAKER_E2E_DISCOVER") != ""
	for _, a := range containerActions {
		t.Run(a.name, func(t *testing.T) {
			n := s.Mark()
			dd.Try(append([]string{"exec", id}, a.argv...)...)
			got := map[string]bool{}
			deadline := time.Now().Add(alertWait)
			if discover {
				deadline = time.Now().Add(3 * time.Second)
			}
			for time.Now().Before(deadline) {
				for _, al := range s.Since(n) {
					if c, _ := al.Field("container.id"); c == short {
						got[al.Rule] = true
					}
				}
				all := !discover
				for _, r := range a.rules {
					all = all && got[r]
				}
				if all {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			var names []string
			for r := range got {
				names = append(names, r)
			}
			sort.Strings(names)
			if discover {
				t.Logf("DISCOVER %q: %q", a.name, names)
				return
			}
			for _, r := range a.rules {
				if !got[r] {
					t.Errorf("built-in rule %q did not alert for %q in container %s (alerts: %q)", r, a.name, short, names)
				}
			}
		})
	}
	if !discover {
		for _, p := range sameEvent(s.Since(0)) {
			t.Errorf("one event raised two built-in rules: %s", p)
		}
	}
}

// TestDefaultRulesLiveCoverage checks the live checks above cover at least 40 built-in rules,
// each of them a rule the built-in ruleset defines.
func TestDefaultRulesLiveCoverage(t *testing.T) {
	names := map[string]bool{}
	for _, n := range defaultrules.Names() {
		names[n] = true
	}
	covered := map[string]bool{}
	for _, rules := range defaultRulesByAction {
		for _, r := range rules {
			covered[r] = true
		}
	}
	for _, a := range containerActions {
		for _, r := range a.rules {
			covered[r] = true
		}
	}
	for r := range covered {
		if !names[r] {
			t.Errorf("%q is not a built-in rule", r)
		}
	}
	if len(covered) < 40 {
		t.Errorf("live checks cover %d built-in rules, want at least 40", len(covered))
	}
	t.Logf("live checks cover %d of %d built-in rules", len(covered), len(names))
}
