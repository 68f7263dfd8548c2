package probe

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// The gates of testdata/gates.c: one sequence of syscalls made through the x86_64 syscall
// instruction, through `int $0x80` from a 64-bit program, and by a real 32-bit program.
var gates = []struct {
	name  string
	flags []string
}{
	{"syscall64", []string{"-static", "-DGATE_SYSCALL64"}},
	{"int80", []string{"-static", "-no-pie", "-mno-red-zone", "-DGATE_INT80"}},
	{"ia32", []string{"-m32", "-static", "-DGATE_IA32"}},
}

// buildGates compiles testdata/gates.c once per gate into dir and returns the binaries by gate.
func buildGates(t testing.TB, dir string) map[string]string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		testshared.Need(t, "gcc not installed (the 32-bit syscall tests build their programs)")
	}
	src, err := filepath.Abs("testdata/gates.c")
	if err != nil {
		t.Fatal(err)
	}
	probe := exec.Command("gcc", "-m32", "-static", "-x", "c", "-o", filepath.Join(dir, "m32"), "-")
	probe.Stdin = strings.NewReader("int main(void) { return 0; }\n")
	if b, err := probe.CombinedOutput(); err != nil {
		testshared.Need(t, fmt.Sprintf("gcc cannot build static 32-bit programs (gcc-multilib missing?): %v: %s", err, b))
	}
	out := map[string]string{}
	for _, g := range gates {
		bin := filepath.Join(dir, "gates-"+g.name)
		args := append([]string{"-O1", "-Wall", "-Werror", "-o", bin}, g.flags...)
		cmd := exec.Command("gcc", append(args, src)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gcc %s: %v: %s", g.name, err, b)
		}
		out[g.name] = bin
	}
	return out
}

// tcpSink listens on 127.0.0.1 and reads every connection to its end; it returns the port
// and a channel that receives each connection's bytes.
func tcpSink(t testing.TB) (int, chan []byte) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan []byte, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				var all []byte
				b := make([]byte, 4096)
				for {
					n, err := c.Read(b)
					all = append(all, b[:n]...)
					if err != nil {
						got <- all
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, got
}

// runGate runs a gates binary (copied to one path, so that every gate has the same exe and
// proc.name) with the probe capturing, and returns its records in order, from its execve to
// its end marker.
func runGate(t *testing.T, c *collector, bin, work string, port int, extra ...string) (int, []*rec) {
	t.Helper()
	exe := filepath.Join(work, "saker-gates")
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(exe)
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	files := filepath.Join(work, "files")
	os.RemoveAll(files)
	if err := os.Mkdir(files, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{files, strconv.Itoa(port)}, extra...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", bin, err, out)
	}
	pid := cmd.Process.Pid
	end := filepath.Join(files, "end")
	c.wait(t, "end marker of "+filepath.Base(bin), func(r *rec) bool {
		s, _ := r.ev.ParamStr("name")
		return r.ev.TID == int64(pid) && r.ev.Type == typ("openat") && s == end
	})
	var out []*rec
	c.mu.Lock()
	for _, r := range c.recs {
		if r.ev.TID == int64(pid) {
			out = append(out, r)
		}
	}
	c.mu.Unlock()
	return pid, out
}

// rendered is an event as a rule sees it.
type rendered struct {
	typ, args, fdName, procName string
	ia32                        string // evt.is_ia32
	rec                         *rec
}

// render runs records through a state engine and reads evt.type, evt.args, fd.name,
// proc.name and evt.is_ia32, the way rules and outputs do.
func render(t *testing.T, recs []*rec) []rendered {
	t.Helper()
	d := detect.New(state.Options{})
	bindF := func(name string) fields.Extractor {
		info, ok := d.Source.Field(name)
		if !ok {
			t.Fatalf("no field %s", name)
		}
		ex, err := d.Source.Extractor(info, "")
		if err != nil {
			t.Fatal(err)
		}
		return ex
	}
	names := []string{"evt.type", "evt.args", "fd.name", "proc.name", "evt.is_ia32"}
	exs := make([]fields.Extractor, len(names))
	infos := make([]fields.Info, len(names))
	for i, n := range names {
		exs[i] = bindF(n)
		infos[i], _ = d.Source.Field(n)
	}
	var out []rendered
	for _, r := range recs {
		var ev event.Event
		if err := event.Decode(r.raw, &ev, true); err != nil {
			t.Fatal(err)
		}
		ctx := d.Event(&ev)
		if ctx == nil {
			continue
		}
		var vals [5]string
		for i, ex := range exs {
			if v, ok := ex(ctx); ok {
				vals[i] = fields.Format(infos[i].Type, infos[i].List, v)
			}
		}
		out = append(out, rendered{vals[0], vals[1], vals[2], vals[3], vals[4], r})
	}
	return out
}

var (
	clientPort = regexp.MustCompile(`127\.0\.0\.1:\d+->`)
	inoParam   = regexp.MustCompile(`\bino=\d+`)
)

// between returns the events after the begin marker and before the end marker, normalised:
// the files directory as DIR, the client's ephemeral port as CPORT, inode numbers as N.
func between(t *testing.T, evs []rendered, files string) []string {
	t.Helper()
	var out []string
	in := false
	for _, e := range evs {
		if e.typ == "openat" && strings.Contains(e.args, files+"/begin") {
			in = true
			continue
		}
		if e.typ == "openat" && strings.Contains(e.args, files+"/end") {
			return out
		}
		if !in {
			continue
		}
		line := e.typ + " " + e.args + " | fd.name=" + e.fdName + " | proc.name=" + e.procName
		if e.typ == "execve" {
			// the failed execve's process params (vm sizes, page faults, pids) differ
			// between a 32-bit and a 64-bit program: compare what the call was
			line = fmt.Sprintf("execve res=%d exe=%s args=%q filename=%s | proc.name=%s",
				e.rec.int(t, "res"), e.rec.str(t, "exe"), e.rec.ev.Strings(e.rec.ev.Index("args"), nil),
				e.rec.str(t, "filename"), e.procName)
		}
		if e.typ == "mmap" {
			// the address and the process's memory sizes differ: compare the request
			line = "mmap"
			for _, p := range []string{"addr", "length", "prot", "flags", "fd", "offset"} {
				v, _ := e.rec.ev.ParamInt(p)
				line += fmt.Sprintf(" %s=%d", p, v)
			}
		}
		line = strings.ReplaceAll(line, files, "DIR")
		line = clientPort.ReplaceAllString(line, "127.0.0.1:CPORT->")
		line = inoParam.ReplaceAllString(line, "ino=N")
		out = append(out, line)
	}
	t.Fatalf("no end marker among %d events", len(evs))
	return nil
}

// The same syscalls made through the three gates give the same events, with the same
// evt.args, fd.name and proc.name.
func TestIA32SameEvents(t *testing.T) {
	c := sharedProbe(t)
	defer c.p.SetSyscalls(nil)
	if err := c.p.SetSyscalls(Supported()); err != nil { // read and write too
		t.Fatal(err)
	}
	work, _ := filepath.EvalSymlinks(t.TempDir())
	bins := buildGates(t, work)
	port, conns := tcpSink(t)
	files := filepath.Join(work, "files")

	got := map[string][]string{}
	for _, g := range gates {
		pid, recs := runGate(t, c, bins[g.name], work, port)
		if a, b := string(<-conns), string(<-conns); !(a == "hello-gates" && b == "hello-gatesx" || b == "hello-gates" && a == "hello-gatesx") {
			t.Errorf("%s: the sink read %q and %q", g.name, a, b)
		}
		evs := render(t, recs)
		// the exec of the program itself (a 64-bit exec of a 32-bit program for ia32)
		x := -1
		for i, e := range evs {
			if e.typ == "execve" && e.rec.int(t, "res") == 0 {
				x = i
				break
			}
		}
		if x < 0 {
			t.Fatalf("%s: no execve of the program among %d events", g.name, len(evs))
		}
		ex := evs[x].rec
		if ex.str(t, "exe") != filepath.Join(work, "saker-gates") ||
			ex.str(t, "comm") != "saker-gates" || ex.str(t, "trusted_exepath") != filepath.Join(work, "saker-gates") ||
			evs[x].procName != "saker-gates" || ex.int(t, "pid") != int64(pid) {
			t.Errorf("%s: exec of the program: %s | proc.name=%s", g.name, evs[x].args, evs[x].procName)
		}
		if a := ex.ev.Strings(ex.ev.Index("args"), nil); len(a) != 2 || a[0] != files || a[1] != strconv.Itoa(port) {
			t.Errorf("%s: exec args %q", g.name, a)
		}
		got[g.name] = between(t, evs, files)
		// evt.is_ia32: true on every event of the program's 32-bit calls, false on its
		// 64-bit ones. The exec that starts it is the test's own 64-bit call, but the kernel
		// returns from the exec of a 32-bit program as from a 32-bit call: true there.
		want := "false"
		if g.name != "syscall64" {
			want = "true"
		}
		if wx := map[bool]string{true: "true", false: "false"}[g.name == "ia32"]; evs[x].ia32 != wx {
			t.Errorf("%s: evt.is_ia32=%s on the exec of the program, want %s", g.name, evs[x].ia32, wx)
		}
		n := 0
		for _, e := range evs[x+1:] {
			if e.typ == "procexit" { // not a syscall
				continue
			}
			n++
			if e.ia32 != want {
				t.Errorf("%s: evt.is_ia32=%s on %s %s", g.name, e.ia32, e.typ, e.args)
			}
		}
		if n < 40 {
			t.Errorf("%s: only %d events after the exec", g.name, n)
		}
	}
	ref := got["syscall64"]
	// the reference itself: every call of the sequence, decoded as the 64-bit probe does
	want := []string{"open", "write", "close", "openat", "read", "close", "creat", "close", "dup", "dup2",
		"close", "close", "rename", "renameat", "mkdir", "rmdir", "symlink", "link", "chmod", "fchmodat",
		"lchown", "chown", "unlink", "unlink", "unlink", "unlinkat", "setuid", "setuid", "setresuid",
		"setresgid", "setgid", "ptrace", "kill", "socket", "connect", "write", "close", "socket", "connect",
		"sendmsg", "sendto", "close", "pipe2", "close", "close", "mmap", "execve"}
	var types []string
	for _, l := range ref {
		types = append(types, strings.Fields(l)[0])
	}
	if strings.Join(types, " ") != strings.Join(want, " ") {
		t.Fatalf("64-bit reference events:\n%s\nwant types %v", strings.Join(ref, "\n"), want)
	}
	for _, l := range ref {
		t.Log(l)
	}
	for _, g := range gates[1:] {
		if strings.Join(got[g.name], "\n") == strings.Join(ref, "\n") {
			continue
		}
		for i := 0; i < len(ref) || i < len(got[g.name]); i++ {
			var a, b string
			if i < len(ref) {
				a = ref[i]
			}
			if i < len(got[g.name]) {
				b = got[g.name][i]
			}
			if a != b {
				t.Errorf("%s event %d:\n  64-bit: %s\n  %s: %s", g.name, i, a, g.name, b)
			}
		}
	}
}

// The in-kernel selection selects the ia32 numbers of the selected syscalls, and only them.
func TestIA32Selection(t *testing.T) {
	c := sharedProbe(t)
	defer c.p.SetSyscalls(nil)
	work, _ := filepath.EvalSymlinks(t.TempDir())
	bins := buildGates(t, work)
	port, _ := tcpSink(t)
	for _, sel := range [][]string{{"openat", "execve"}, {"openat", "unlink", "connect"}} {
		if err := c.p.SetSyscalls(sel); err != nil {
			t.Fatal(err)
		}
		on := map[uint16]bool{}
		for _, n := range sel {
			on[typ(n)] = true
		}
		for _, g := range gates[1:] {
			c.reset()
			_, recs := runGate(t, c, bins[g.name], work, port)
			seen := map[uint16]int{}
			for _, r := range recs {
				if !on[r.ev.Type] {
					t.Errorf("%s, selection %v: %s recorded", g.name, sel, r.ev.Info.Name)
				}
				seen[r.ev.Type]++
			}
			for _, n := range sel {
				if seen[typ(n)] == 0 {
					t.Errorf("%s, selection %v: no %s event", g.name, sel, n)
				}
			}
			if on[typ("connect")] && seen[typ("connect")] != 2 {
				t.Errorf("%s: %d connect events, want 2 (socketcall and direct)", g.name, seen[typ("connect")])
			}
		}
	}
}

// The ia32 numbers are those of the kernel's ia32 table (the installed asm/unistd_32.h).
func TestIA32Table(t *testing.T) {
	hdr := "/usr/include/x86_64-linux-gnu/asm/unistd_32.h"
	b, err := os.ReadFile(hdr)
	if err != nil {
		hdr = "/usr/include/asm/unistd_32.h"
		b, err = os.ReadFile(hdr)
	}
	if err != nil {
		testshared.Need(t, "no asm/unistd_32.h (linux-libc-dev): "+err.Error())
	}
	nrs := map[string]uint32{}
	for _, m := range regexp.MustCompile(`(?m)^#define __NR_(\w+) (\d+)$`).FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(m[2])
		nrs[m[1]] = uint32(n)
	}
	// the header's name of each ia32 number the probe encodes
	header := map[uint32]string{
		16: "lchown", 22: "umount", 23: "setuid", 46: "setgid", 70: "setreuid", 71: "setregid",
		90: "mmap", 95: "fchown", 164: "setresuid", 170: "setresgid", 182: "chown", 192: "mmap2",
		198: "lchown32", 203: "setreuid32", 204: "setregid32", 207: "fchown32", 208: "setresuid32",
		210: "setresgid32", 212: "chown32", 213: "setuid32", 214: "setgid32", 59: "oldolduname",
		180: "pread64", 181: "pwrite64", 221: "fcntl64",
	}
	for nr32, name := range ia32Syscalls {
		hname := name
		if h, ok := header[nr32]; ok {
			hname = h
		}
		if got, ok := nrs[hname]; !ok || got != nr32 {
			t.Errorf("ia32 %d (%s): %s says %d (present %v)", nr32, name, hdr, got, ok)
		}
	}
	if nrs["socketcall"] != ia32Socketcall {
		t.Errorf("socketcall %d", nrs["socketcall"])
	}
	// every supported syscall that the ia32 table has is translated
	for name := range syscalls {
		if _, ok := nrs[name]; ok && name != "procexit" && len(ia32Numbers(name)) == 0 {
			t.Errorf("%s is in the ia32 table (%d) but not translated", name, nrs[name])
		}
	}
	tab, err := ia32Table()
	if err != nil {
		t.Fatal(err)
	}
	if tab[5] != syscalls["open"].nr || tab[213] != syscalls["setuid"].nr || tab[1] != 512 {
		t.Errorf("ia32Table: 5→%d 213→%d 1→%d", tab[5], tab[213], tab[1])
	}
	// selection bits: the 64-bit number of openat and the ia32 one
	v := selectionValues(map[uint32]bool{syscalls["openat"].nr: true, syscalls["connect"].nr: true})
	if v[257] != sel64 || v[295] != selIA32 || v[ia32Socketcall] != selIA32 || v[362] != selIA32 || v[5] != 0 {
		t.Errorf("selection values: 257=%d 295=%d 102=%d 362=%d 5=%d", v[257], v[295], v[102], v[362], v[5])
	}
}

// A 32-bit process's fork and clone are seen in the parent and in the child, with the flags
// and ids the 64-bit calls give.
func TestIA32Fork(t *testing.T) {
	c := sharedProbe(t)
	work, _ := filepath.EvalSymlinks(t.TempDir())
	bins := buildGates(t, work)
	port, _ := tcpSink(t)
	for _, g := range gates {
		c.reset()
		exe := filepath.Join(work, "saker-gates-"+g.name)
		b, _ := os.ReadFile(bins[g.name])
		os.WriteFile(exe, b, 0o755)
		cmd := exec.Command(exe, work, strconv.Itoa(port), "fork")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", g.name, err, out)
		}
		pid := cmd.Process.Pid
		c.wait(t, "procexit of "+g.name, func(r *rec) bool { return r.is("procexit", pid) })
		for _, name := range []string{"fork", "clone"} {
			parent := c.wait(t, g.name+" "+name+" in the parent", func(r *rec) bool { return r.is(name, pid) && r.int(t, "res") > 0 })
			child := int(parent.int(t, "res"))
			r := c.wait(t, g.name+" "+name+" in the child", func(r *rec) bool { return r.is(name, child) })
			checkComplete(t, r)
			// the child returns from the parent's call: a 32-bit one for int80 and ia32
			if r.ev.IsIA32() != (g.name != "syscall64") || parent.ev.IsIA32() != (g.name != "syscall64") {
				t.Errorf("%s %s: evt.is_ia32 %v in the parent, %v in the child", g.name, name, parent.ev.IsIA32(), r.ev.IsIA32())
			}
			if r.int(t, "res") != 0 || r.int(t, "pid") != int64(child) || r.int(t, "ptid") != int64(pid) ||
				r.str(t, "exe") != exe || r.str(t, "comm") != filepath.Base(exe)[:15] {
				t.Errorf("%s %s child: res %d pid %d ptid %d exe %q comm %q", g.name, name, r.int(t, "res"),
					r.int(t, "pid"), r.int(t, "ptid"), r.str(t, "exe"), r.str(t, "comm"))
			}
			// clone(SIGCHLD) and fork share no resources: no CLONE_* flag but those two carry
			if f, _ := r.ev.ParamUint("flags"); f != 0 {
				t.Errorf("%s %s child: flags %#x", g.name, name, f)
			}
		}
	}
}
