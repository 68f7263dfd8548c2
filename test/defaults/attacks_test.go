package defaults

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	defaultrules "github.com/saker-sec/saker/rules"
)

// attack is one behaviour of a standard attack simulation, done the plain way (as the
// simplest tool or simulator does it) and in evasive ways (renamed tools, interpreters,
// relative paths through a directory fd, `..` and `//`, renames and links instead of
// writes). Each way is a check: its script, the built-in rules it must raise and the fields
// the alert must carry ({T}: the way's token, {D}: its scratch directory).
type attack struct {
	name string
	ways []way
}

type way struct {
	name string
	check
}

// inEtc runs script as root in a private mount namespace whose /etc is a tmpfs holding
// copies of the account databases and login.defs: the shadow tools work there, the host's
// /etc is never touched.
func inEtc(script string) string {
	return `mkdir -p {D}/etc && cp -a /etc/passwd /etc/shadow /etc/group /etc/gshadow /etc/login.defs {D}/etc/ &&
unshare -m /bin/sh -c 'mount -t tmpfs saker-{T} /etc && cp -a {D}/etc/* /etc/ && ` + script + `'`
}

// inPrivate runs script in a private mount namespace with a tmpfs over dir.
func inPrivate(dir, script string) string {
	return fmt.Sprintf(`unshare -m /bin/sh -c 'mount -t tmpfs saker-{T} %s && %s'`, dir, script)
}

// inChroot runs script with the static busybox chrooted into {D}/r, a scratch root on the
// same file system as {D} with empty /etc, /var/tmp and /var/lib/dpkg: a file can be renamed
// from /var/tmp into /etc there (the real rename(2) of an attacker's mv, which a tmpfs over
// /etc would turn into a copy), and the paths the kernel is given are the ones a rule sees.
func inChroot(script string) string {
	return `mkdir -p {D}/r/etc {D}/r/var/tmp {D}/r/var/lib/dpkg {D}/r/bin && cp /bin/busybox {D}/r/bin/ &&
chroot {D}/r /bin/busybox sh -c '` + script + ` # {T}'`
}

// pyDirfd creates name relative to a directory fd of dir, from python (the path never
// appears whole in any argument).
func pyDirfd(dir, name string) string {
	return fmt.Sprintf(`/usr/bin/python3 -c "import os; d = os.open('%s', os.O_RDONLY); os.close(os.open('%s', os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=d)) # {T}"`, dir, name)
}

// copyAs copies the program src to {D}/dir/name (a trusted name in an unusual path, or an
// innocent name for a known tool).
func copyAs(src, name string) string {
	return fmt.Sprintf("mkdir -p {D}/bin && cp %s {D}/bin/%s", src, name)
}

// viaLink makes /tmp/saker-{T}-NAME a symbolic link to target and runs script with {L} standing
// for the link (a link placed outside the watched directory), removing the link afterwards.
func viaLink(name, target, script string) string {
	l := "/tmp/saker-{T}-" + name
	return fmt.Sprintf("ln -s %s %s && %s; rm -f %s", target, l, strings.ReplaceAll(script, "{L}", l), l)
}

// uring runs the io_uring helper (pkg/probe/testdata/uring.c, built by the test as {U}) as
// {D}/bin/name: its opens, writes and connects are io_uring requests, not syscalls.
func uring(name, args string) string {
	return fmt.Sprintf("mkdir -p {D}/bin && cp {U} {D}/bin/%[1]s && {D}/bin/%[1]s %s", name, args)
}

// uringConnect has the io_uring helper named name connect (through io_uring) to a listener
// on 127.0.0.1 that reads the helper's two messages and answers.
func uringConnect(name string) string {
	return `/usr/bin/python3 -c "
import socket
l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen()
print(l.getsockname()[1], flush=True)
c, _ = l.accept(); d = b''
while len(d) < 8:
    b = c.recv(16)
    if not b: break
    d += b
c.sendall(b'ok'); c.close() # {T}" > {D}/port & for i in $(seq 200); do [ -s {D}/port ] && break; sleep 0.05; done; ` +
		uring(name, "connect 127.0.0.1 $(cat {D}/port)") + "; wait"
}

// hardLink makes {D}/h a hard link to target (the scratch directory is on the file system of
// /etc: below /var/lib) and runs script.
func hardLink(target, script string) string {
	return fmt.Sprintf("ln %s {D}/h && %s", target, script)
}

// manyFiles creates n empty files in {D}/data.
func manyFiles(n int) string {
	return fmt.Sprintf("mkdir -p {D}/data && (cd {D}/data && touch $(seq -f 'f%%g' %d))", n)
}

var attacks = []attack{
	{"sensitive file read", []way{
		{"plain", check{[]string{"Shadow file read by unexpected process"}, ": > {D}/empty && cat /etc/shadow {D}/empty >/dev/null",
			map[string]string{"proc.name": "cat", "fd.name": "/etc/shadow", "fd.realpath": "/etc/shadow", "evt.is_io_uring": "false"}}},
		{"symlink in /tmp", check{[]string{"Shadow file read by unexpected process"}, viaLink("s", "/etc/shadow", "cat {L} >/dev/null"),
			map[string]string{"proc.name": "cat", "fd.name": "/tmp/saker-{T}-s", "fd.realpath": "/etc/shadow", "evt.is_io_uring": "false"}}},
		{"io_uring", check{[]string{"Shadow file read by unexpected process"}, uring("rd", "open /etc/shadow"),
			map[string]string{"proc.name": "rd", "fd.name": "/etc/shadow", "fd.realpath": "/etc/shadow", "evt.is_io_uring": "true"}}},
		{"io_uring through a symlink", check{[]string{"Shadow file read by unexpected process"}, viaLink("s", "/etc/shadow", uring("rd", "open {L}")),
			map[string]string{"proc.name": "rd", "fd.name": "/tmp/saker-{T}-s", "fd.realpath": "/etc/shadow", "evt.is_io_uring": "true"}}},
		{"io_uring relative to a directory fd", check{[]string{"Shadow file read by unexpected process"}, uring("rd", "open shadow /etc"),
			map[string]string{"proc.name": "rd", "fd.name": "/etc/shadow", "fd.realpath": "/etc/shadow", "evt.is_io_uring": "true"}}},
		{"ssh key through a symlink", check{[]string{"SSH private key read by unexpected process"}, "mkdir -p {D}/.ssh && echo k > {D}/.ssh/id_rsa && " + viaLink("k", "{D}/.ssh/id_rsa", "cat {L} >/dev/null"),
			map[string]string{"proc.name": "cat", "fd.name": "/tmp/saker-{T}-k", "fd.realpath": "{D}/.ssh/id_rsa"}}},
		{"ssh key through io_uring and a symlink", check{[]string{"SSH private key read by unexpected process"}, "mkdir -p {D}/.ssh && echo k > {D}/.ssh/id_ed25519 && " + viaLink("k", "{D}/.ssh/id_ed25519", uring("rd", "open {L}")),
			map[string]string{"proc.name": "rd", "fd.name": "/tmp/saker-{T}-k", "fd.realpath": "{D}/.ssh/id_ed25519", "evt.is_io_uring": "true"}}},
		{"cloud credentials through a symlink", check{[]string{"Cloud provider credentials read"}, "mkdir -p {D}/.aws && echo k > {D}/.aws/credentials && " + viaLink("c", "{D}/.aws/credentials", "cat {L} >/dev/null"),
			map[string]string{"proc.name": "cat", "fd.name": "/tmp/saker-{T}-c", "fd.realpath": "{D}/.aws/credentials"}}},
	}},
	{"log clearing", []way{
		{"plain", check{[]string{"Log file truncated"}, ": >> /var/log/saker-{T}.log && : > /var/log/saker-{T}.log; rm -f /var/log/saker-{T}.log",
			map[string]string{"proc.name": "bash", "fd.name": "/var/log/saker-{T}.log"}}},
		{"truncate -s 0", check{[]string{"Log file overwritten or moved away"}, ": >> /var/log/saker-{T}.log && truncate -s 0 /var/log/saker-{T}.log; rm -f /var/log/saker-{T}.log",
			map[string]string{"proc.name": "truncate", "fd.name": "/var/log/saker-{T}.log"}}},
		{"moved away through ..", check{[]string{"Log file overwritten or moved away"}, ": >> /var/log/saker-{T}.log && cd /var/log/apt && mv ../saker-{T}.log {D}/gone.log",
			map[string]string{"proc.name": "mv", "fs.path.source": "/var/log/saker-{T}.log"}}},
		{"truncate -s 0 through a symlink", check{[]string{"Log file overwritten or moved away"}, ": >> /var/log/saker-{T}.log && " + viaLink("log", "/var/log/saker-{T}.log", "truncate -s 0 {L}") + "; rm -f /var/log/saker-{T}.log",
			map[string]string{"proc.name": "truncate", "fd.name": "/tmp/saker-{T}-log", "fd.realpath": "/var/log/saker-{T}.log"}}},
	}},
	{"shell history", []way{
		{"plain delete", check{[]string{"Shell history deleted or truncated"}, "printf ls >> {D}/.bash_history && rm {D}/.bash_history",
			map[string]string{"proc.name": "rm", "proc.cmdline": "rm {D}/.bash_history"}}},
		{"plain rename", check{[]string{"Shell history renamed or overwritten"}, "printf ls >> {D}/.bash_history && mv {D}/.bash_history {D}/old",
			map[string]string{"proc.name": "mv", "fs.path.source": "{D}/.bash_history"}}},
		{"renamed shred", check{[]string{"Shell history renamed or overwritten", "File wiped before deletion"}, "printf ls >> {D}/.zsh_history && " + copyAs("/usr/bin/shred", "cleaner") + " && {D}/bin/cleaner -u {D}/.zsh_history",
			map[string]string{"proc.name": "cleaner", "proc.exepath": "{D}/bin/cleaner"}}},
	}},
	{"write below ssh dir", []way{
		{"plain", check{[]string{"Write below SSH directory"}, "mkdir -p {D}/.ssh && echo 'Host *' > {D}/.ssh/config",
			map[string]string{"proc.name": "bash", "fd.name": "{D}/.ssh/config"}}},
		{"dirfd and //", check{[]string{"Write below SSH directory"}, "mkdir -p {D}/.ssh && " + pyDirfd("{D}", ".//.ssh//rc"),
			map[string]string{"proc.name": "python3", "fd.name": "{D}/.ssh/rc"}}},
		{"symlink in /tmp", check{[]string{"Write below SSH directory"}, "mkdir -p {D}/.ssh && " + viaLink("c", "{D}/.ssh/config", "echo 'Host *' > {L}"),
			map[string]string{"proc.name": "bash", "fd.name": "/tmp/saker-{T}-c", "fd.realpath": "{D}/.ssh/config"}}},
	}},
	{"links to sensitive files", []way{
		{"plain symlink", check{[]string{"Symbolic link to credential file created"}, "ln -s /etc/shadow {D}/s",
			map[string]string{"proc.name": "ln", "evt.args": "~target=/etc/shadow"}}},
		{"relative symlink", check{[]string{"Symbolic link to credential file created"}, `cd {D} && ln -s "$(realpath --relative-to={D} /etc/shadow)" s`,
			map[string]string{"proc.name": "ln", "fs.path.source": "/etc/shadow", "evt.args": "~target=../"}}},
		{"// symlink", check{[]string{"Symbolic link to credential file created"}, "ln -s //etc//sudoers {D}/s",
			map[string]string{"proc.name": "ln", "fs.path.source": "/etc/sudoers"}}},
		{"plain hard link", check{[]string{"Hard link to credential file created"}, "ln /etc/shadow {D}/h",
			map[string]string{"proc.name": "ln", "fs.path.source": "/etc/shadow", "fs.path.target": "{D}/h"}}},
		{"hard link of a hard link", check{[]string{"Hard link to credential file created"}, "ln /etc/shadow {D}/h && ln {D}/h {D}/h2",
			map[string]string{"proc.name": "ln", "fs.path.source": "{D}/h", "fs.path.canonical": "/etc/shadow"}}},
		{"hard link through dirfd", check{[]string{"Hard link to credential file created"}, `/usr/bin/python3 -c "import os; d = os.open('/etc', os.O_RDONLY); os.link('shadow', '{D}/h', src_dir_fd=d) # {T}"`,
			map[string]string{"proc.name": "python3", "fs.path.source": "/etc/shadow"}}},
	}},
	{"reads through hard links to sensitive files", []way{
		{"plain", check{[]string{"Shadow file read by unexpected process"}, hardLink("/etc/shadow", "cat {D}/h >/dev/null"),
			map[string]string{"proc.name": "cat", "fd.name": "{D}/h", "fd.realpath": "{D}/h", "fd.canonical": "/etc/shadow"}}},
		{"link of a link", check{[]string{"Shadow file read by unexpected process"}, hardLink("/etc/shadow", "ln {D}/h {D}/h2 && cat {D}/h2 >/dev/null"),
			map[string]string{"proc.name": "cat", "fd.name": "{D}/h2", "fd.canonical": "/etc/shadow"}}},
		{"io_uring", check{[]string{"Shadow file read by unexpected process"}, hardLink("/etc/shadow", uring("rd", "open {D}/h")),
			map[string]string{"proc.name": "rd", "fd.name": "{D}/h", "fd.canonical": "/etc/shadow", "evt.is_io_uring": "true"}}},
		{"python relative to a directory fd", check{[]string{"Shadow file read by unexpected process"}, hardLink("/etc/shadow", `/usr/bin/python3 -c "import os; d = os.open('{D}', os.O_RDONLY); os.close(os.open('h', os.O_RDONLY, dir_fd=d)) # {T}"`),
			map[string]string{"proc.name": "python3", "fd.name": "{D}/h", "fd.canonical": "/etc/shadow"}}},
		{"password database", check{[]string{"Password database modified by unexpected process"}, hardLink("/etc/gshadow", `/usr/bin/python3 -c "import os; os.close(os.open('{D}/h', os.O_WRONLY | os.O_APPEND)) # {T}"`),
			map[string]string{"proc.name": "python3", "fd.name": "{D}/h", "fd.canonical": "/etc/gshadow"}}},
	}},
	{"script from /dev/shm", []way{
		{"plain", check{[]string{"Script run from shared memory"}, "printf '#!/bin/sh\\ntrue\\n' > /dev/shm/saker-{T}.sh && chmod +x /dev/shm/saker-{T}.sh && /dev/shm/saker-{T}.sh; rm -f /dev/shm/saker-{T}.sh",
			map[string]string{"proc.cmdline": "~/dev/shm/saker-{T}.sh", "proc.exepath": "/usr/bin/dash"}}},
		{"sh -c", check{[]string{"Script run from shared memory"}, "printf '#!/bin/sh\\ntrue\\n' > /dev/shm/saker-{T}.sh && chmod +x /dev/shm/saker-{T}.sh && sh -c /dev/shm/saker-{T}.sh; rm -f /dev/shm/saker-{T}.sh",
			map[string]string{"proc.cmdline": "~/dev/shm/saker-{T}.sh", "proc.pcmdline": "~sh -c /dev/shm/saker-{T}.sh"}}},
		{"cd and sh ./x", check{[]string{"Script run from shared memory"}, "printf 'true\\n' > /dev/shm/saker-{T} && cd /dev/shm && sh ./saker-{T}; rm -f /dev/shm/saker-{T}",
			map[string]string{"proc.name": "sh", "fd.name": "/dev/shm/saker-{T}"}}},
		{"python", check{[]string{"Script run from shared memory"}, "echo 'pass' > /dev/shm/saker-{T}.py && /usr/bin/python3 /dev/shm/saker-{T}.py; rm -f /dev/shm/saker-{T}.py",
			map[string]string{"proc.name": "python3", "fd.name": "/dev/shm/saker-{T}.py"}}},
		{"executed through a symlink in /tmp", check{[]string{"Script run from shared memory"}, "printf '#!/bin/sh\\ntrue\\n' > /dev/shm/saker-{T}.sh && chmod +x /dev/shm/saker-{T}.sh && " + viaLink("x", "/dev/shm/saker-{T}.sh", "{L}") + "; rm -f /dev/shm/saker-{T}.sh",
			map[string]string{"proc.exepath": "/usr/bin/dash", "fd.name": "/tmp/saker-{T}-x", "fd.realpath": "/dev/shm/saker-{T}.sh"}}},
	}},
	{"write below etc", []way{
		{"plain", check{[]string{"Write below etc"}, etcWrite("/etc", "/etc/saker-{T}"),
			map[string]string{"proc.name": "busybox", "fd.name": "/etc/saker-{T}"}}},
		{"dirfd", check{[]string{"Write below etc"}, inPrivate("/etc", strings.ReplaceAll(pyDirfd("/etc", "saker-{T}"), `'`, `'\''`)),
			map[string]string{"proc.name": "python3", "fd.name": "/etc/saker-{T}"}}},
		{"relative name with ..", check{[]string{"Write below etc"}, inPrivate("/etc", "mkdir /etc/default && cd /etc/default && : > ../saker-{T}"),
			map[string]string{"proc.name": "sh", "fd.name": "/etc/saker-{T}"}}},
		{"renamed into place", check{[]string{"Write below etc"}, inChroot("echo x > /var/tmp/m && mv /var/tmp/m /etc/motd-{T}"),
			map[string]string{"proc.name": "busybox", "fs.path.target": "/etc/motd-{T}"}}},
		{"symlink in /tmp", check{[]string{"Write below etc"}, inPrivate("/etc", viaLink("e", "/etc/saker-{T}", ": >> {L}")),
			map[string]string{"proc.name": "sh", "fd.name": "/tmp/saker-{T}-e", "fd.realpath": "/etc/saker-{T}", "evt.is_io_uring": "false"}}},
		{"io_uring through a symlink in /tmp", check{[]string{"Write below etc"}, "mkdir -p {D}/bin && cp {U} {D}/bin/cfg && " + inPrivate("/etc", viaLink("e", "/etc/saker-{T}", "{D}/bin/cfg create {L}")),
			map[string]string{"proc.name": "cfg", "fd.name": "/tmp/saker-{T}-e", "fd.realpath": "/etc/saker-{T}", "evt.is_io_uring": "true"}}},
	}},
	{"write below root", []way{
		{"plain", check{[]string{"Write below root directory"}, ": > /saker-{T}; rm -f /saker-{T}",
			map[string]string{"proc.name": "bash", "fd.name": "/saker-{T}"}}},
		{"dirfd", check{[]string{"Write below root directory"}, pyDirfd("/", "saker-{T}") + "; rm -f /saker-{T}",
			map[string]string{"proc.name": "python3", "fd.name": "/saker-{T}"}}},
		{"symlink in /tmp", check{[]string{"Write below root directory"}, viaLink("r", "/saker-{T}", ": > {L}") + "; rm -f /saker-{T}",
			map[string]string{"proc.name": "bash", "fd.name": "/tmp/saker-{T}-r", "fd.realpath": "/saker-{T}"}}},
	}},
	{"write below binary dir", []way{
		{"plain", check{[]string{"Write below binary directory"}, ": > /usr/local/bin/saker-{T}; rm -f /usr/local/bin/saker-{T}",
			map[string]string{"proc.name": "bash", "fd.name": "/usr/local/bin/saker-{T}"}}},
		{"cp", check{[]string{"Write below binary directory"}, "cp /bin/true /usr/local/bin/saker-{T}; rm -f /usr/local/bin/saker-{T}",
			map[string]string{"proc.name": "cp", "fd.name": "/usr/local/bin/saker-{T}"}}},
		{"symlink planted", check{[]string{"Binary directory entry changed"}, "ln -s {D}/payload /usr/local/bin/saker-{T}; rm -f /usr/local/bin/saker-{T}",
			map[string]string{"proc.name": "ln", "fs.path.target": "/usr/local/bin/saker-{T}"}}},
		{"written through a symlink in /tmp", check{[]string{"Write below binary directory"}, viaLink("b", "/usr/local/bin/saker-{T}", "cat /bin/true > {L}") + "; rm -f /usr/local/bin/saker-{T}",
			map[string]string{"proc.name": "bash", "fd.name": "/tmp/saker-{T}-b", "fd.realpath": "/usr/local/bin/saker-{T}"}}},
	}},
	{"ssh key discovery", []way{
		{"plain", check{[]string{"Credential search on the command line"}, "find {D} -name id_rsa",
			map[string]string{"proc.name": "find", "proc.cmdline": "find {D} -name id_rsa"}}},
		{"renamed find with a glob", check{[]string{"Credential search on the command line"}, copyAs("/usr/bin/find", "lookup") + " && {D}/bin/lookup {D} -name 'id_*'",
			map[string]string{"proc.name": "lookup", "proc.exepath": "{D}/bin/lookup"}}},
	}},
	{"cloud credential discovery", []way{
		{"plain", check{[]string{"Credential search on the command line"}, "grep -r aws_secret_access_key {D} || true",
			map[string]string{"proc.name": "grep", "proc.cmdline": "grep -r aws_secret_access_key {D}"}}},
		{"python glob", check{[]string{"Credential search on the command line"}, `/usr/bin/python3 -c "import glob; glob.glob('{D}/*/.aws/credentials')"`,
			map[string]string{"proc.name": "python3", "proc.cmdline": "~.aws/credentials"}}},
	}},
	{"bulk data removal", []way{
		{"shred", check{[]string{"Data destruction command executed"}, "echo data > {D}/f && shred -u {D}/f",
			map[string]string{"proc.name": "shred", "proc.cmdline": "shred -u {D}/f"}}},
		{"rm -rf of a data directory", check{[]string{"Data destruction command executed"}, inPrivate("/srv", "mkdir -p /srv/a/b && : > /srv/a/b/c && rm -rf /srv # {T}") + " || true",
			map[string]string{"proc.name": "rm", "proc.cmdline": "rm -rf /srv"}}},
		{"renamed shred", check{[]string{"File wiped before deletion"}, "echo data > {D}/file.txt && " + copyAs("/usr/bin/shred", "tidy") + " && {D}/bin/tidy -u {D}/file.txt",
			map[string]string{"proc.name": "tidy", "fs.path.target": "{D}/00"}}},
	}},
	{"mass deletion", []way{
		{"rm -r of a data directory", check{[]string{"Mass file deletion"}, manyFiles(250) + " && rm -r {D}/data",
			map[string]string{"proc.name": "rm", "proc.cmdline": "rm -r {D}/data", "proc.deletions": "200"}}},
		{"find -delete", check{[]string{"Mass file deletion"}, manyFiles(250) + " && find {D}/data -delete",
			map[string]string{"proc.name": "find", "proc.cmdline": "find {D}/data -delete"}}},
		{"python loop", check{[]string{"Mass file deletion"}, manyFiles(250) + ` && /usr/bin/python3 -c "import os; [os.unlink(os.path.join('{D}/data', f)) for f in os.listdir('{D}/data')] # {T}"`,
			map[string]string{"proc.name": "python3", "proc.deletions": "200"}}},
		{"one rm per file from find -exec", check{[]string{"Mass file deletion"}, manyFiles(250) + ` && find {D}/data -type f -exec rm {} \;`,
			map[string]string{"proc.name": "rm", "proc.pcmdline": "~find {D}/data -type f -exec rm", "proc.deletions": "1", "proc.pdeletions": "200"}}},
		{"after a larger removal in /tmp by the same shell", check{[]string{"Mass file deletion"}, "mkdir -p /tmp/saker-{T} && (cd /tmp/saker-{T} && touch $(seq 400)) && rm -r /tmp/saker-{T} && " + manyFiles(250) + " && rm -r {D}/data",
			map[string]string{"proc.name": "rm", "proc.cmdline": "rm -r {D}/data", "proc.deletions": "200"}}},
		{"renamed rm", check{[]string{"Mass file deletion"}, manyFiles(250) + " && " + copyAs("/usr/bin/rm", "tidy") + " && {D}/bin/tidy -r {D}/data",
			map[string]string{"proc.name": "tidy", "proc.exepath": "{D}/bin/tidy"}}},
		{"io_uring unlink, one program per file", check{[]string{"Mass file deletion"}, manyFiles(250) + " && mkdir -p {D}/bin && cp {U} {D}/bin/del && for f in {D}/data/*; do {D}/bin/del unlink $f; done",
			map[string]string{"proc.name": "del", "proc.exepath": "{D}/bin/del", "evt.is_io_uring": "true", "proc.pdeletions": "200"}}},
	}},
	{"system binary network activity", []way{
		{"plain", check{[]string{"System utility made network connection"}, copyAs("/usr/bin/python3", "sha1sum") + ` && {D}/bin/sha1sum -c "import socket; l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen(); c = socket.socket(); c.connect(l.getsockname()) # {T}"`,
			map[string]string{"proc.name": "sha1sum", "proc.exepath": "{D}/bin/sha1sum"}}},
		{"listener named date", check{[]string{"System utility made network connection"}, copyAs("/usr/bin/python3", "date") + ` && {D}/bin/date -c "import socket; l = socket.socket(); l.bind(('127.0.0.1', 0)); l.listen() # {T}"`,
			map[string]string{"proc.name": "date", "proc.exepath": "{D}/bin/date"}}},
		{"io_uring connect by a program named date", check{[]string{"System utility made network connection"}, uringConnect("date"),
			map[string]string{"proc.name": "date", "proc.exepath": "{D}/bin/date", "evt.is_io_uring": "true"}}},
	}},
	{"user management", []way{
		{"useradd", check{[]string{"User account created"}, inEtc("useradd -M -N -s /usr/sbin/nologin sk{T}"),
			map[string]string{"proc.name": "useradd", "proc.cmdline": "useradd -M -N -s /usr/sbin/nologin sk{T}"}}},
		{"usermod and userdel", check{[]string{"User account modified or deleted"}, inEtc("useradd -M -N sk{T} && usermod -s /bin/bash sk{T} && userdel sk{T}"),
			map[string]string{"proc.name": "usermod", "proc.cmdline": "usermod -s /bin/bash sk{T}"}}},
		{"renamed useradd", check{[]string{"Password database modified by unexpected process"}, "mkdir -p {D}/bin && cp /usr/sbin/useradd {D}/bin/acct && " + inEtc("{D}/bin/acct -M -N sk{T}"),
			map[string]string{"proc.name": "acct", "fd.name": "/etc/passwd"}}},
		{"database swapped in", check{[]string{"Account database replaced by unexpected program"}, inChroot("echo sk{T}:x:0:0::/:/bin/sh > /var/tmp/pw && mv /var/tmp/pw /etc/passwd"),
			map[string]string{"proc.name": "busybox", "fs.path.target": "/etc/passwd", "fs.path.source": "/var/tmp/pw"}}},
	}},
	{"ptrace anti-debugging", []way{
		{"plain", check{[]string{"Ptrace anti-debugging attempt"}, `/usr/bin/python3 -c "import ctypes; ctypes.CDLL(None).ptrace(0, 0, 0, 0) # {T}"`,
			map[string]string{"proc.name": "python3"}}},
		{"raw syscall from a program named gdb", check{[]string{"Ptrace anti-debugging attempt"}, copyAs("/usr/bin/python3", "gdb") + ` && {D}/bin/gdb -c "import ctypes; ctypes.CDLL(None).syscall(101, 0, 0, 0, 0) # {T}"`,
			map[string]string{"proc.name": "gdb", "proc.exepath": "{D}/bin/gdb"}}},
	}},
	{"loader environment misuse", []way{
		{"GLIBC_TUNABLES", check{[]string{"Dynamic loader tunables or audit library set"}, "GLIBC_TUNABLES=glibc.malloc.mxfast=0 /bin/echo {T} >/dev/null",
			map[string]string{"proc.name": "echo", "proc.cmdline": "echo {T}"}}},
		{"LD_AUDIT", check{[]string{"Dynamic loader tunables or audit library set"}, "LD_AUDIT={D}/audit.so /bin/echo {T} >/dev/null 2>&1",
			map[string]string{"proc.name": "echo", "proc.cmdline": "echo {T}"}}},
	}},
	{"files created below /dev", []way{
		{"plain", check{[]string{"File created below dev"}, ": > /dev/saker-{T}; rm -f /dev/saker-{T}",
			map[string]string{"proc.name": "bash", "fd.name": "/dev/saker-{T}"}}},
		{"dirfd", check{[]string{"File created below dev"}, pyDirfd("/dev", "saker-{T}") + "; rm -f /dev/saker-{T}",
			map[string]string{"proc.name": "python3", "fd.name": "/dev/saker-{T}"}}},
		{"hidden directory through //", check{[]string{"File created below dev"}, `/usr/bin/python3 -c "import os; os.mkdir('//dev//.saker-{T}')"; rmdir /dev/.saker-{T}`,
			map[string]string{"proc.name": "python3", "fs.path.name": "/dev/.saker-{T}"}}},
		{"symlink in /tmp", check{[]string{"File created below dev"}, viaLink("d", "/dev/saker-{T}", ": > {L}") + "; rm -f /dev/saker-{T}",
			map[string]string{"proc.name": "bash", "fd.name": "/tmp/saker-{T}-d", "fd.realpath": "/dev/saker-{T}"}}},
	}},
	{"package database write", []way{
		{"plain", check{[]string{"Package database modified by unexpected program"}, inPrivate("/var/lib/dpkg", ": > /var/lib/dpkg/status # {T}"),
			map[string]string{"proc.name": "sh", "fd.name": "/var/lib/dpkg/status"}}},
		{"renamed into place through .. and //", check{[]string{"Package database modified by unexpected program"}, inChroot("echo x > /var/tmp/s && mv /var/tmp/s //var/lib/../lib/dpkg//status"),
			map[string]string{"proc.name": "busybox", "fs.path.target": "/var/lib/dpkg/status"}}},
		{"symlink in /tmp", check{[]string{"Package database modified by unexpected program"}, inPrivate("/var/lib/dpkg", viaLink("p", "/var/lib/dpkg/status", ": > {L}")),
			map[string]string{"proc.name": "sh", "fd.name": "/tmp/saker-{T}-p", "fd.realpath": "/var/lib/dpkg/status"}}},
	}},
}

// TestLiveAttacks does every behaviour of attacks, each way, on the host, and checks that
// the built-in rules raise the expected alert with the expected fields. Everything touched
// lives in the way's scratch directory, in a private mount namespace (/etc, /var/lib/dpkg,
// /srv) or is a token-named file removed at once (/var/log, /dev, /, /usr/local/bin).
func TestLiveAttacks(t *testing.T) {
	need(t)
	helper := buildUring(t)
	i := 0
	for _, a := range attacks {
		for _, w := range a.ways {
			tok := fmt.Sprintf("skat%d%02d", os.Getpid()%100000, i)
			i++
			t.Run(a.name+"/"+w.name, func(t *testing.T) {
				dir := filepath.Join(runDir, tok)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				defer os.RemoveAll(dir)
				n := saker.Mark()
				script := subst(strings.ReplaceAll(w.script, "{U}", helper), tok, dir, "") + "\n# " + tok
				if out, err := runScript(script); err != nil {
					t.Fatalf("action failed: %v\n%s\n%s", err, script, out)
				}
				expect(t, w.check, n, func(a *alert) bool { return ofToken(a, tok) }, tok, dir, "")
			})
		}
	}
}

// buildUring compiles the probe tests' io_uring helper (pkg/probe/testdata/uring.c: file
// and network operations through raw io_uring requests) with gcc into the run directory.
func buildUring(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		testNeedTool(t, "gcc (Debian package gcc)")
	}
	bin := filepath.Join(runDir, "uring")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	src := filepath.Join(repoRoot, "pkg", "probe", "testdata", "uring.c")
	if out, err := exec.Command(gcc, "-O1", "-Wall", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc %s: %v\n%s", src, err, out)
	}
	return bin
}

// pgBin finds the PostgreSQL server programs (Debian's postgresql-NN package).
func pgBin() string {
	m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	if len(m) == 0 {
		return ""
	}
	return filepath.Dir(m[len(m)-1])
}

// TestLiveAttackDatabase runs a real PostgreSQL server (a fresh cluster in a scratch
// directory, unix socket only, no TCP) and makes it run programs the way SQL injection does
// (COPY ... TO PROGRAM, which the server runs through /bin/sh -c): a plain command, and one
// that replaces the shell with an interpreter.
func TestLiveAttackDatabase(t *testing.T) {
	need(t)
	bin := pgBin()
	if bin == "" {
		testNeedTool(t, "PostgreSQL server (Debian package postgresql-15)")
		return
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil {
		testNeedTool(t, "user postgres (Debian package postgresql-15)")
		return
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	gid, _ := strconv.Atoi(pgUser.Gid)
	dir := filepath.Join(runDir, "pg")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	asPG := func(args ...string) ([]byte, error) {
		c := exec.Command("runuser", append([]string{"-u", "postgres", "--"}, args...)...)
		c.Dir = dir
		return c.CombinedOutput()
	}
	if out, err := asPG(filepath.Join(bin, "initdb"), "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres"); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	if out, err := asPG(filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-w", "-t", "60", "-l", filepath.Join(dir, "log"),
		"-o", "-c listen_addresses='' -k "+dir, "start"); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, log)
	}
	defer asPG(filepath.Join(bin, "pg_ctl"), "-D", filepath.Join(dir, "data"), "-w", "-m", "fast", "stop")
	psql := filepath.Join(bin, "psql")
	if _, err := os.Stat(psql); err != nil {
		psql = "psql"
	}
	for i, w := range []way{
		{"shell", check{[]string{"Shell started by database server"}, `id >/dev/null # {T}`,
			map[string]string{"proc.name": "sh", "proc.cmdline": "~# {T}"}}},
		{"interpreter replacing the shell", check{[]string{"Unexpected program started by database server"}, `exec /usr/bin/python3 -c "import os # {T}"`,
			map[string]string{"proc.name": "python3", "proc.cmdline": "~# {T}"}}},
	} {
		tok := fmt.Sprintf("skdb%d%02d", os.Getpid()%100000, i)
		t.Run(w.name, func(t *testing.T) {
			n := saker.Mark()
			prog := strings.ReplaceAll(subst(w.script, tok, "", ""), "'", "''")
			if out, err := asPG(psql, "-h", dir, "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1",
				"-c", "COPY (SELECT 1) TO PROGRAM '"+prog+"'"); err != nil {
				t.Fatalf("psql: %v\n%s", err, out)
			}
			expect(t, w.check, n, func(a *alert) bool { return ofToken(a, tok) }, tok, "", "")
			// the parent must be the server itself
			for _, a := range saker.Since(n) {
				if a.Rule == w.rules[0] && ofToken(&a, tok) {
					if !strings.Contains(a.Output, "parent=postgres") {
						t.Errorf("%s: parent is not postgres: %s", w.rules[0], a.Output)
					}
				}
			}
		})
	}
}

// testNeedTool skips (or, under CI=true, fails) a test whose tool is not installed.
func testNeedTool(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (scripts/test.sh installs it)", what)
	}
	t.Skipf("%s is not installed", what)
}

// TestLiveAttackCoverage checks that the attack checks name built-in rules and that every
// behaviour is done at least two ways.
func TestLiveAttackCoverage(t *testing.T) {
	names := map[string]bool{}
	for _, n := range defaultrules.Names() {
		names[n] = true
	}
	for _, a := range attacks {
		if len(a.ways) < 2 {
			t.Errorf("%s: %d ways, want a plain and at least one evasive", a.name, len(a.ways))
		}
		for _, w := range a.ways {
			for _, r := range w.rules {
				if !names[r] {
					t.Errorf("%s/%s: %q is not a built-in rule", a.name, w.name, r)
				}
			}
		}
	}
}
