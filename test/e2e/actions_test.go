package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// actions lists what TestLive does, one upstream-rule trigger each (some raise more than
// one rule). Every action works in its own directory or with its own token, and removes
// whatever it creates outside the run directory.
func actions() []action {
	return []action{
		{"read /etc/shadow", func(t *testing.T, e *env) []expect {
			argv := []string{"/usr/bin/python3", "-c", "open('/etc/shadow').read() # " + e.tok}
			run(t, false, nil, argv...)
			return []expect{{"Read sensitive file untrusted", map[string]string{
				"proc.name": "python3", "proc.cmdline": cmdline(argv...), "fd.name": "/etc/shadow",
				"proc.pname": testComm, "evt.type": "openat", "proc.exepath": "/usr/bin/python3.11"}}}
		}},
		{"directory traversal read below /etc", func(t *testing.T, e *env) []expect {
			raw := "/etc/../etc/../etc/hostname"
			argv := []string{"/usr/bin/python3", "-c", "open('" + raw + "').read() # " + e.tok}
			run(t, false, nil, argv...)
			return []expect{{"Directory traversal monitored file read", map[string]string{
				"proc.cmdline": cmdline(argv...), "fd.name": "/etc/hostname", "fd.nameraw": raw}}}
		}},
		{"shell spawned by nginx", func(t *testing.T, e *env) []expect {
			nginx := copyExe(t, helperBin, filepath.Join(e.dir, "nginx"))
			run(t, false, nil, nginx, "spawn", "/bin/sh", "-c", "true "+e.tok)
			// proc.name is the task name the kernel gives (the basename of the path run,
			// "sh"), whatever /bin/sh links to.
			w := map[string]string{"proc.name": "sh", "proc.cmdline": "sh -c true " + e.tok, "proc.pname": "nginx"}
			w2 := map[string]string{"proc.pexepath": nginx, "proc.pcmdline": cmdline(nginx, "spawn", "/bin/sh", "-c", "true "+e.tok)}
			for k, v := range w {
				w2[k] = v
			}
			return []expect{{"Run shell untrusted", w2}, {"Web Server Spawned Shell", w}}
		}},
		{"reverse shell command from a web server", func(t *testing.T, e *env) []expect {
			php := copyExe(t, helperBin, filepath.Join(e.dir, "php-fpm"))
			arg := "echo /dev/tcp/" + nsAddr + "/4444 " + e.tok
			run(t, false, nil, php, "spawn", "/bin/sh", "-c", arg)
			return []expect{{"Reverse Shell from Web Server", map[string]string{
				"proc.cmdline": "~-c " + arg, "proc.pname": "php-fpm"}}}
		}},
		{"suspicious child of a web server", func(t *testing.T, e *env) []expect {
			httpd := copyExe(t, helperBin, filepath.Join(e.dir, "httpd"))
			run(t, true, nil, httpd, "spawn", "/usr/bin/id", e.tok) // no such user: id fails
			return []expect{{"Web Server Spawned Suspicious Child Process", map[string]string{
				"proc.name": "id", "proc.cmdline": "id " + e.tok, "proc.pname": "httpd"}}}
		}},
		{"process spawned by a database server", func(t *testing.T, e *env) []expect {
			mysqld := copyExe(t, helperBin, filepath.Join(e.dir, "mysqld"))
			run(t, false, nil, mysqld, "spawn", "/usr/bin/true", e.tok)
			return []expect{{"DB program spawned process", map[string]string{
				"proc.name": "true", "proc.cmdline": "true " + e.tok, "proc.pname": "mysqld"}}}
		}},
		{"find private keys", func(t *testing.T, e *env) []expect {
			argv := []string{"/usr/bin/find", e.dir, "-name", "id_rsa"}
			run(t, false, nil, argv...)
			return []expect{{"Search Private Keys or Passwords", map[string]string{
				"proc.name": "find", "proc.cmdline": cmdline(argv...), "proc.pname": testComm}}}
		}},
		{"find AWS credentials", func(t *testing.T, e *env) []expect {
			argv := []string{"/usr/bin/find", e.dir, "-path", "*/.aws/credentials"}
			run(t, false, nil, argv...)
			return []expect{{"Find AWS Credentials", map[string]string{
				"proc.name": "find", "proc.cmdline": cmdline(argv...), "proc.cwd": mustCwd(t) + "/"}}}
		}},
		{"truncate a log file", func(t *testing.T, e *env) []expect {
			log := "/var/log/" + e.tok + ".log"
			t.Cleanup(func() { os.Remove(log) })
			run(t, false, nil, helperBin, "write", log)
			return []expect{{"Clear Log Activities", map[string]string{
				"proc.name": "sakerhelper", "fd.name": log, "proc.cmdline": cmdline(helperBin, "write", log)}}}
		}},
		{"shred a file", func(t *testing.T, e *env) []expect {
			f := filepath.Join(e.dir, "data")
			writeFile(t, f, "secret\n")
			argv := []string{"/usr/bin/shred", "-u", f}
			run(t, false, nil, argv...)
			return []expect{{"Remove Bulk Data from Disk", map[string]string{
				"proc.name": "shred", "proc.cmdline": cmdline(argv...)}}}
		}},
		{"symlink over /etc/shadow", func(t *testing.T, e *env) []expect {
			l := filepath.Join(e.dir, "shadow-link")
			argv := []string{"/usr/bin/ln", "-s", "/etc/shadow", l}
			run(t, false, nil, argv...)
			return []expect{{"Create Symlink Over Sensitive Files", map[string]string{
				"proc.name": "ln", "proc.cmdline": cmdline(argv...), "evt.arg.target": "/etc/shadow", "evt.arg.linkpath": l}}}
		}},
		{"hard link to /etc/shadow", func(t *testing.T, e *env) []expect {
			// The link is removed right away; when the run directory is on another
			// filesystem link(2) fails with EXDEV, which the rule matches as well.
			l := filepath.Join(e.dir, "shadow-hardlink")
			argv := []string{"/usr/bin/ln", "/etc/shadow", l}
			run(t, true, nil, argv...)
			os.Remove(l)
			return []expect{{"Create Hardlink Over Sensitive Files", map[string]string{
				"proc.name": "ln", "proc.cmdline": cmdline(argv...), "evt.arg.oldpath": "/etc/shadow", "evt.arg.newpath": l}}}
		}},
		{"ptrace attach", func(t *testing.T, e *env) []expect {
			run(t, false, nil, helperBin, "ptrace-attach")
			return []expect{{"PTRACE attached to process", map[string]string{
				"proc.name": "sakerhelper", "proc.cmdline": "sakerhelper ptrace-attach", "proc.pname": testComm}}}
		}},
		{"ptrace traceme", func(t *testing.T, e *env) []expect {
			run(t, false, nil, helperBin, "traceme")
			return []expect{{"PTRACE anti-debug attempt", map[string]string{
				"proc.name": "sakerhelper", "proc.cmdline": "sakerhelper traceme", "proc.pname": testComm}}}
		}},
		{"exec from /dev/shm", func(t *testing.T, e *env) []expect {
			name := "ske2e" + e.tok[len(e.tok)-8:]
			p := copyExe(t, "/usr/bin/true", "/dev/shm/"+name)
			t.Cleanup(func() { os.Remove(p) })
			run(t, false, nil, p, e.tok)
			return []expect{{"Execution from /dev/shm", map[string]string{
				"proc.name": comm(p), "proc.exepath": p, "proc.cmdline": cmdline(p, e.tok)}}}
		}},
		{"fileless exec from memfd", func(t *testing.T, e *env) []expect {
			run(t, false, nil, helperBin, "memfd", "/usr/bin/true", e.tok)
			// fexecve replaces the helper itself: the parent is this test.
			return []expect{{"Fileless execution via memfd_create", map[string]string{
				"proc.cmdline": "~ " + e.tok, "proc.pname": testComm, "evt.arg.flags": "~EXE_FROM_MEMFD"}}}
		}},
		{"write a .bashrc", func(t *testing.T, e *env) []expect {
			rc := filepath.Join(e.dir, ".bashrc")
			run(t, false, nil, helperBin, "write", rc)
			run(t, false, nil, "/usr/bin/cat", rc)
			w := map[string]string{"proc.name": "sakerhelper", "fd.name": rc, "proc.cmdline": cmdline(helperBin, "write", rc)}
			return []expect{
				{"Modify Shell Configuration File", w},
				{"Create Hidden Files or Directories", w},
				{"Read Shell Configuration File", map[string]string{"proc.name": "cat", "fd.name": rc, "proc.cmdline": "cat " + rc}},
			}
		}},
		{"hidden directory", func(t *testing.T, e *env) []expect {
			d := filepath.Join(e.dir, ".hidden")
			argv := []string{"/usr/bin/mkdir", d}
			run(t, false, nil, argv...)
			return []expect{{"Create Hidden Files or Directories", map[string]string{
				"proc.name": "mkdir", "proc.cmdline": cmdline(argv...), "evt.type": "mkdir"}}}
		}},
		{"hidden directory by a relative path", func(t *testing.T, e *env) []expect {
			// mkdir(".x") in the cwd: the rule tests evt.arg.path, which Falco resolves
			// against the cwd (a relative path alone has no "/.").
			argv := []string{"/usr/bin/mkdir", ".hidden-" + e.tok}
			runIn(t, e.dir, argv...)
			return []expect{{"Create Hidden Files or Directories", map[string]string{
				"proc.name": "mkdir", "proc.cmdline": cmdline(argv...), "evt.type": "mkdir"}}}
		}},
		{"rename to a hidden name by a relative path", func(t *testing.T, e *env) []expect {
			writeFile(t, filepath.Join(e.dir, "plain"), "x")
			argv := []string{"/usr/bin/mv", "plain", ".plain-" + e.tok}
			runIn(t, e.dir, argv...)
			return []expect{{"Create Hidden Files or Directories", map[string]string{
				"proc.name": "mv", "proc.cmdline": cmdline(argv...), "evt.type": "renameat2",
				"evt.arg.newpath": filepath.Join(e.dir, ".plain-"+e.tok)}}}
		}},
		{"read a shell configuration file by a relative path", func(t *testing.T, e *env) []expect {
			writeFile(t, filepath.Join(e.dir, ".zshrc"), "# "+e.tok)
			argv := []string{"/usr/bin/python3", "-c", "open('.zshrc').read() # " + e.tok}
			runIn(t, e.dir, argv...)
			return []expect{{"Read Shell Configuration File", map[string]string{
				"proc.name": "python3", "fd.name": filepath.Join(e.dir, ".zshrc"), "proc.cmdline": cmdline(argv...)}}}
		}},
		{"proc.ppid of a child forked by a thread", func(t *testing.T, e *env) []expect {
			// The parent's process id, not the id of its thread that forked.
			cmd := exec.Command(helperBin, "thread-spawn", "/usr/bin/true", ppidToken, e.tok)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
			return []expect{{ppidRule, map[string]string{
				"proc.ppid": strconv.Itoa(cmd.Process.Pid), "proc.pname": "sakerhelper",
				"proc.cmdline": "true " + ppidToken + " " + e.tok}}}
		}},
		{"crontab", func(t *testing.T, e *env) []expect {
			c := copyExe(t, "/usr/bin/true", filepath.Join(e.dir, "crontab"))
			run(t, false, nil, c, "-l", e.tok)
			return []expect{{"Schedule Cron Jobs", map[string]string{
				"proc.name": "crontab", "proc.cmdline": "crontab -l " + e.tok}}}
		}},
		{"ssh keys of a user", func(t *testing.T, e *env) []expect {
			home := "/home/" + e.tok
			t.Cleanup(func() { os.RemoveAll(home) })
			if err := os.MkdirAll(home+"/.ssh", 0o700); err != nil {
				t.Fatal(err)
			}
			key := home + "/.ssh/id_test"
			writeFile(t, key, "not a key\n")
			ak := home + "/.ssh/authorized_keys"
			run(t, false, nil, "/usr/bin/cat", key)
			run(t, false, nil, helperBin, "write", ak)
			return []expect{
				{"Read ssh information", map[string]string{"proc.name": "cat", "fd.name": key, "proc.cmdline": "cat " + key}},
				{"Adding ssh keys to authorized_keys", map[string]string{"proc.name": "sakerhelper", "fd.name": ak}},
				{"Write below monitored dir", map[string]string{"proc.name": "sakerhelper", "fd.name": ak}},
			}
		}},
		{"delete shell history", func(t *testing.T, e *env) []expect {
			h := filepath.Join(e.dir, ".bash_history")
			writeFile(t, h, "ls\n")
			argv := []string{"/usr/bin/rm", h}
			run(t, false, nil, argv...)
			return []expect{{"Delete or rename shell history", map[string]string{
				"proc.name": "rm", "proc.cmdline": cmdline(argv...), "evt.arg.name": h}}}
		}},
		{"setuid bit", func(t *testing.T, e *env) []expect {
			f := filepath.Join(e.dir, "suid")
			writeFile(t, f, "")
			argv := []string{"/usr/bin/chmod", "u+s", f}
			run(t, false, nil, argv...)
			return []expect{{"Set Setuid or Setgid bit", map[string]string{
				"proc.name": "chmod", "proc.cmdline": cmdline(argv...), "evt.arg.filename": f, "evt.arg.mode": "~S_ISUID"}}}
		}},
		{"create a file below /dev", func(t *testing.T, e *env) []expect {
			f := "/dev/" + e.tok
			t.Cleanup(func() { os.Remove(f) })
			run(t, false, nil, helperBin, "write", f)
			return []expect{{"Create files below dev", map[string]string{
				"proc.name": "sakerhelper", "fd.name": f, "proc.cmdline": cmdline(helperBin, "write", f)}}}
		}},
		{"netcat with -e", func(t *testing.T, e *env) []expect {
			nc := copyExe(t, "/usr/bin/true", filepath.Join(e.dir, "nc"))
			run(t, false, nil, nc, "-e", "/bin/sh", e.tok)
			w := map[string]string{"proc.name": "nc", "proc.cmdline": "nc -e /bin/sh " + e.tok, "proc.pname": testComm}
			return []expect{{"Launch Suspicious Network Tool on Host", w}, {"Netcat/Socat Remote Code Execution on Host", w}}
		}},
		{"GLIBC_TUNABLES in the environment", func(t *testing.T, e *env) []expect {
			run(t, false, []string{"GLIBC_TUNABLES=glibc.malloc.check=0"}, "/usr/bin/true", e.tok)
			return []expect{{"Potential Local Privilege Escalation via Environment Variables Misuse", map[string]string{
				"proc.name": "true", "proc.cmdline": "true " + e.tok, "proc.env": "~GLIBC_TUNABLES=glibc.malloc.check=0"}}}
		}},
		{"HTTP_PROXY for curl", func(t *testing.T, e *env) []expect {
			c := copyExe(t, "/usr/bin/true", filepath.Join(e.dir, "curl"))
			run(t, false, []string{"HTTP_PROXY=http://" + nsAddr + ":3128"}, c, e.tok)
			return []expect{{"Program run with disallowed http proxy env", map[string]string{
				"proc.name": "curl", "proc.cmdline": "curl " + e.tok, "proc.env": "~HTTP_PROXY=http://" + nsAddr + ":3128"}}}
		}},
		{"stratum miner command line", func(t *testing.T, e *env) []expect {
			argv := []string{"/usr/bin/true", "-o", "stratum+tcp://" + nsAddr + ":3333", e.tok}
			run(t, false, nil, argv...)
			return []expect{{"Detect crypto miners using the Stratum protocol", map[string]string{
				"proc.name": "true", "proc.cmdline": cmdline(argv...)}}}
		}},
		{"known miner binary", func(t *testing.T, e *env) []expect {
			x := copyExe(t, "/usr/bin/true", filepath.Join(e.dir, "xmrig"))
			run(t, false, nil, x, e.tok)
			return []expect{{"Known Cryptominer Process Executed", map[string]string{
				"proc.name": "xmrig", "proc.cmdline": "xmrig " + e.tok, "proc.exepath": x}}}
		}},
		{"user management binary", func(t *testing.T, e *env) []expect {
			g := copyExe(t, "/usr/bin/true", filepath.Join(e.dir, "groupadd"))
			run(t, false, nil, g, e.tok)
			return []expect{{"User mgmt binaries", map[string]string{
				"proc.name": "groupadd", "proc.cmdline": "groupadd " + e.tok}}}
		}},
		{"pkexec with no arguments", func(t *testing.T, e *env) []expect {
			skipIfLoginuidRoot(t)
			p := copyExe(t, "/usr/bin/true", filepath.Join(e.dir, "pkexec"))
			run(t, false, nil, p)
			return []expect{{"Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)", map[string]string{
				"proc.name": "pkexec", "proc.exepath": p, "proc.cmdline": "pkexec"}}}
		}},
		{"sudo -s with a trailing backslash", func(t *testing.T, e *env) []expect {
			skipIfLoginuidRoot(t)
			p := copyExe(t, "/usr/bin/true", filepath.Join(e.dir, "sudo"))
			run(t, false, nil, p, "-s", e.tok+`\`)
			return []expect{{"Sudo Potential Privilege Escalation", map[string]string{
				"proc.name": "sudo", "proc.exepath": p, "proc.cmdline": `sudo -s ` + e.tok + `\`}}}
		}},
		{"apt source list", func(t *testing.T, e *env) []expect {
			if _, err := os.Stat("/etc/apt/sources.list.d"); err != nil {
				t.Skip("no /etc/apt/sources.list.d")
			}
			f := "/etc/apt/sources.list.d/" + e.tok + ".list"
			t.Cleanup(func() { os.Remove(f) })
			run(t, false, nil, helperBin, "write", f)
			w := map[string]string{"proc.name": "sakerhelper", "fd.name": f, "proc.cmdline": cmdline(helperBin, "write", f)}
			return []expect{{"Update Package Repository", w}, {"Write below etc", w}}
		}},
		{"write below /root", func(t *testing.T, e *env) []expect {
			f := "/root/" + e.tok
			t.Cleanup(func() { os.Remove(f) })
			run(t, false, nil, helperBin, "write", f)
			return []expect{{"Write below root", map[string]string{
				"proc.name": "sakerhelper", "fd.name": f, "proc.cmdline": cmdline(helperBin, "write", f)}}}
		}},
		{"binary and monitored dirs in a private mount namespace", func(t *testing.T, e *env) []expect {
			// tmpfs mounted over /usr/sbin and /usr/local/sbin in a private mount namespace:
			// the real directories are never touched.
			f, d, g := "/usr/sbin/"+e.tok, "/usr/sbin/"+e.tok+".d", "/usr/sbin/"+e.tok+".renamed"
			m := "/usr/local/sbin/" + e.tok
			script := strings.Join([]string{
				"set -e",
				"mount -t tmpfs sakere2e /usr/sbin",
				"mount -t tmpfs sakere2e /usr/local/sbin",
				helperBin + " write " + f,
				"/usr/bin/mkdir " + d,
				"/usr/bin/mv " + f + " " + g,
				helperBin + " write " + m,
			}, "\n")
			run(t, false, nil, "/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", script)
			return []expect{
				{"Write below binary dir", map[string]string{"proc.name": "sakerhelper", "fd.name": f, "proc.cmdline": cmdline(helperBin, "write", f)}},
				{"Mkdir binary dirs", map[string]string{"proc.name": "mkdir", "evt.arg.path": d, "proc.cmdline": "mkdir " + d}},
				{"Modify binary dirs", map[string]string{"proc.name": "mv", "proc.cmdline": "mv " + f + " " + g}},
				{"Write below monitored dir", map[string]string{"proc.name": "sakerhelper", "fd.name": m}},
			}
		}},
		{"setns", func(t *testing.T, e *env) []expect {
			run(t, false, nil, helperBin, "setns")
			return []expect{{"Change thread namespace", map[string]string{
				"proc.name": "sakerhelper", "proc.cmdline": "sakerhelper setns", "proc.pname": testComm}}}
		}},
		{"BPF program load", func(t *testing.T, e *env) []expect {
			run(t, false, nil, helperBin, "bpf")
			return []expect{{"BPF Program Not Profiled", map[string]string{
				"proc.name": "sakerhelper", "proc.cmdline": "sakerhelper bpf", "evt.arg.cmd": "~BPF_PROG_LOAD"}}}
		}},
		{"userfaultfd as nobody", func(t *testing.T, e *env) []expect {
			run(t, false, nil, helperBin, "userfaultfd")
			return []expect{{"Unprivileged Delegation of Page Faults Handling to a Userspace Process", map[string]string{
				"proc.name": "sakerhelper", "proc.cmdline": "sakerhelper userfaultfd", "user.uid": "65534"}}}
		}},
		{"setuid as nobody", func(t *testing.T, e *env) []expect {
			run(t, false, nil, helperBin, "setuid")
			return []expect{{"Non sudo setuid", map[string]string{
				"proc.name": "sakerhelper", "proc.cmdline": "sakerhelper setuid", "user.uid": "65534", "evt.arg.uid": "~1"}}}
		}},
		{"system binary connects out", func(t *testing.T, e *env) []expect {
			tee := copyExe(t, helperBin, filepath.Join(e.dir, "tee"))
			run(t, false, nil, tee, "connect", nsAddr, "8080")
			return []expect{{"System procs network activity", map[string]string{
				"proc.name": "tee", "proc.cmdline": "tee connect " + nsAddr + " 8080",
				"fd.rport": "8080", "fd.l4proto": "tcp", "fd.name": "~->" + nsAddr + ":8080"}}}
		}},
		{"ssh to a non-standard port", func(t *testing.T, e *env) []expect {
			ssh := copyExe(t, helperBin, filepath.Join(e.dir, "ssh"))
			run(t, false, nil, ssh, "connect", nsAddr, "4444")
			return []expect{{"Disallowed SSH Connection Non Standard Port", map[string]string{
				"proc.name": "ssh", "proc.exepath": ssh, "fd.rport": "4444", "fd.l4proto": "tcp", "fd.name": "~->" + nsAddr + ":4444"}}}
		}},
		{"UDP to an unexpected port", func(t *testing.T, e *env) []expect {
			run(t, false, nil, helperBin, "udp", nsAddr, "9999")
			return []expect{{"Unexpected UDP Traffic", map[string]string{
				"proc.name": "sakerhelper", "fd.rport": "9999", "fd.l4proto": "udp", "fd.name": "~->" + nsAddr + ":9999"}}}
		}},
		{"python connects out", func(t *testing.T, e *env) []expect {
			argv := []string{"/usr/bin/python3", "-c", "import socket; socket.create_connection(('" + nsAddr + "', 8080)).close() # " + e.tok}
			run(t, false, nil, argv...)
			return []expect{{"Interpreted procs outbound network activity", map[string]string{
				"proc.name": "python3", "proc.cmdline": cmdline(argv...), "fd.rport": "8080", "fd.l4proto": "tcp", "fd.name": "~->" + nsAddr + ":8080"}}}
		}},
		{"python accepts a connection from the namespace", func(t *testing.T, e *env) []expect {
			code := "import socket; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(('" + hostAddr + "', 8081)); s.listen(1); print('ready', flush=True); s.settimeout(20); c,a=s.accept(); c.close() # " + e.tok
			srv := startBackground(t, "/usr/bin/python3", "-c", code)
			run(t, false, nil, "ip", "netns", "exec", curNetns, helperBin, "connect", hostAddr, "8081")
			srv.Wait()
			w := map[string]string{"proc.name": "python3", "proc.cmdline": cmdline("/usr/bin/python3", "-c", code),
				"fd.lport": "8081", "fd.name": "~" + nsAddr + ":"}
			return []expect{{"Interpreted procs inbound network activity", w}, {"Unexpected inbound connection source", w}}
		}},
	}
}
