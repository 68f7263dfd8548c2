package sysfields

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// encode builds a raw event record (26-byte header, u16 lengths, values) of the current
// version of name/dir, with params given by name (absent ones empty).
func encode(t testing.TB, name string, dir byte, tid int64, ts uint64, params map[string]any) []byte {
	t.Helper()
	code := event.Current(name, dir)
	if code == 0xFFFF {
		t.Fatalf("no event %s %c", name, dir)
	}
	info := &event.Table[code]
	var vals [][]byte
	for _, p := range info.Params {
		v, ok := params[p.Name]
		if !ok {
			vals = append(vals, nil)
			continue
		}
		var b []byte
		switch x := v.(type) {
		case string:
			b = append([]byte(x), 0)
		case []byte:
			b = x
		case int:
			switch p.Type {
			case event.PTInt16, event.PTUint16, event.PTPort, event.PTSyscallid:
				b = binary.LittleEndian.AppendUint16(nil, uint16(x))
			case event.PTInt32, event.PTUint32, event.PTFlags32, event.PTEnumflags32, event.PTMode,
				event.PTUid, event.PTGid, event.PTFd32, event.PTPid32, event.PTSigset:
				b = binary.LittleEndian.AppendUint32(nil, uint32(x))
			case event.PTUint8, event.PTFlags8, event.PTEnumflags8, event.PTSigtype:
				b = []byte{byte(x)}
			default:
				b = binary.LittleEndian.AppendUint64(nil, uint64(x))
			}
		default:
			t.Fatalf("param %s: unsupported %T", p.Name, v)
		}
		if len(params) == 0 {
			b = nil
		}
		vals = append(vals, b)
	}
	n := len(vals)
	total := event.HeaderLen + 2*n
	for _, v := range vals {
		total += len(v)
	}
	raw := make([]byte, 0, total)
	raw = binary.LittleEndian.AppendUint64(raw, ts)
	raw = binary.LittleEndian.AppendUint64(raw, uint64(tid))
	raw = binary.LittleEndian.AppendUint32(raw, uint32(total))
	raw = binary.LittleEndian.AppendUint16(raw, code)
	raw = binary.LittleEndian.AppendUint32(raw, uint32(n))
	for _, v := range vals {
		raw = binary.LittleEndian.AppendUint16(raw, uint16(len(v)))
	}
	for _, v := range vals {
		raw = append(raw, v...)
	}
	return raw
}

func decode(t testing.TB, raw []byte, num uint64) *event.Event {
	t.Helper()
	ev := &event.Event{}
	if err := event.Decode(raw, ev, true); err != nil {
		t.Fatal(err)
	}
	ev.Num = num
	return ev
}

const (
	tsBase  = 1_700_000_000_000_000_000
	bashPID = 100
	curlPID = 200
)

// testEngine is a small host: init (1) → bash (100) → curl (200), users, groups, curl's fds 3
// (a file) and 4 (a connected TCP socket).
func testEngine() *state.Engine {
	st := state.New(state.Options{})
	st.AddUser(event.User{UID: 1000, GID: 1000, Name: "alice", Home: "/home/alice", Shell: "/bin/bash"})
	st.AddGroup(event.Group{GID: 1000, Name: "staff"})
	st.AddThread(event.ThreadInfo{TID: 1, PID: 1, PTID: 0, Comm: "systemd", Exe: "/sbin/init", ExePath: "/usr/lib/systemd/systemd", Cwd: "/", SID: 1, VPGID: 1, LoginUID: 0xFFFFFFFF})
	st.AddThread(event.ThreadInfo{TID: bashPID, PID: bashPID, PTID: 1, Comm: "bash", Exe: "bash", ExePath: "/usr/bin/bash", Cwd: "/home/alice", UID: 1000, GID: 1000, SID: bashPID, VPGID: bashPID, LoginUID: 1000, TTY: 34816})
	st.AddThread(event.ThreadInfo{TID: curlPID, PID: curlPID, PTID: bashPID, Comm: "curl", Exe: "curl", ExePath: "/usr/bin/curl",
		Args: []string{"-s", "http://example.com"}, Env: []string{"HOME=/home/alice", "LANG=C"}, Cwd: "/home/alice",
		UID: 1000, GID: 1000, SID: bashPID, VPGID: curlPID, LoginUID: 1000, TTY: 34816, FDLimit: 1024,
		CapPermitted: 1<<0 | 1<<21, CapEffective: 1 << 21, Cgroups: []string{"cpu=/user.slice", "memory=/user.slice"}})
	st.AddFD(event.FDInfo{TID: curlPID, FD: 3, Type: event.FDFileV2, Name: "/etc/ssl/certs/ca.pem", OpenFlags: 1, Ino: 42, Dev: 0x800001})
	st.AddFD(event.FDInfo{TID: curlPID, FD: 4, Type: event.FDIPv4Sock, L4Proto: state.L4TCP,
		SrcIP: netip.MustParseAddr("10.0.0.2"), SrcPort: 40000, DstIP: netip.MustParseAddr("93.184.216.34"), DstPort: 80})
	return st
}

func bind(t testing.TB, src fields.Source, ref string) (fields.Info, fields.Extractor) {
	t.Helper()
	info, arg := resolveRef(t, src, ref)
	ex, err := src.Extractor(info, arg)
	if err != nil {
		t.Fatalf("bind %s: %v", ref, err)
	}
	return info, ex
}

func TestExtractorValuesAndTypes(t *testing.T) {
	st := testEngine()
	src := NewSource(st)
	// curl reads its fd 3, then opens /etc/passwd (relative to its cwd via AT_FDCWD), then
	// sends on its socket
	read := st.Process(decode(t, encode(t, "read", 'X', curlPID, tsBase+10, map[string]any{"res": 5, "data": []byte("hello"), "fd": 3, "size": 4096}), 1))
	type check struct {
		field string
		typ   fields.Type
		want  any // string, uint64, int64, bool, netip.Addr, or nil for "no value"
	}
	run := func(ctx *state.Context, checks []check) {
		t.Helper()
		for _, c := range checks {
			info, ex := bind(t, src, c.field)
			if info.Type != c.typ {
				t.Errorf("%s: type %v, want %v", c.field, info.Type, c.typ)
			}
			v, ok := ex(ctx)
			if c.want == nil {
				if ok {
					t.Errorf("%s: got %+v, want no value", c.field, v)
				}
				continue
			}
			if !ok {
				t.Errorf("%s: no value, want %v", c.field, c.want)
				continue
			}
			switch w := c.want.(type) {
			case string:
				if v.S != w {
					t.Errorf("%s = %q, want %q", c.field, v.S, w)
				}
			case uint64:
				if v.N != w {
					t.Errorf("%s = %d, want %d", c.field, v.N, w)
				}
			case int64:
				if int64(v.N) != w {
					t.Errorf("%s = %d, want %d", c.field, int64(v.N), w)
				}
			case bool:
				if (v.N != 0) != w {
					t.Errorf("%s = %v, want %v", c.field, v.N != 0, w)
				}
			case netip.Addr:
				if v.IP() != netip.PrefixFrom(w, w.BitLen()) {
					t.Errorf("%s = %v, want %v as a full-length prefix", c.field, v.IP(), w)
				}
			}
		}
	}
	run(read, []check{
		{"evt.num", fields.Uint64, uint64(1)},
		{"evt.type", fields.String, "read"},
		{"evt.dir", fields.String, "<"},
		{"evt.rawtime", fields.AbsTime, uint64(tsBase + 10)},
		{"evt.rawtime.s", fields.AbsTime, uint64(1_700_000_000)},
		{"evt.rawtime.ns", fields.AbsTime, uint64(10)},
		{"evt.res", fields.String, "SUCCESS"},
		{"evt.rawres", fields.Int64, int64(5)},
		{"evt.failed", fields.Bool, false},
		{"evt.is_io_read", fields.Bool, true},
		{"evt.is_io_write", fields.Bool, false},
		{"evt.io_dir", fields.String, "read"},
		{"evt.buflen", fields.Uint64, uint64(5)},
		{"evt.buffer", fields.Bytes, "hello"},
		{"evt.category", fields.String, "file"},
		{"evt.arg.fd", fields.String, "<f>/etc/ssl/certs/ca.pem"},
		{"evt.arg[0]", fields.String, "5"},
		{"evt.rawarg.size", fields.Dyn, uint64(4096)},
		{"evt.args", fields.String, "res=5 data=hello fd=3(<f>/etc/ssl/certs/ca.pem) size=4096 "},
		{"evt.type.is.read", fields.Uint64, uint64(1)},
		{"evt.type.is.open", fields.Uint64, uint64(0)},
		{"proc.name", fields.String, "curl"},
		{"proc.exe", fields.String, "curl"},
		{"proc.exepath", fields.String, "/usr/bin/curl"},
		{"proc.cmdline", fields.String, "curl -s http://example.com"},
		{"proc.args", fields.String, "-s http://example.com"},
		{"proc.pid", fields.Int64, int64(curlPID)},
		{"proc.ppid", fields.Int64, int64(bashPID)},
		{"proc.pname", fields.String, "bash"},
		{"proc.pexepath", fields.String, "/usr/bin/bash"},
		{"proc.pcmdline", fields.String, "bash"},
		{"proc.aname[0]", fields.String, "curl"},
		{"proc.aname[1]", fields.String, "bash"},
		{"proc.aname[2]", fields.String, "systemd"},
		{"proc.aname[3]", fields.String, nil},
		{"proc.apid[2]", fields.Int64, int64(1)},
		{"proc.aexepath[2]", fields.String, "/usr/lib/systemd/systemd"},
		{"proc.env[HOME]", fields.String, "/home/alice"},
		{"proc.env[NOPE]", fields.String, nil},
		{"proc.cwd", fields.String, "/home/alice/"},
		{"proc.tty", fields.Uint64, uint64(34816)},
		{"proc.sid", fields.Int64, int64(bashPID)},
		{"proc.sname", fields.String, "bash"},
		{"proc.vpgid", fields.Int64, int64(curlPID)},
		{"proc.vpgid.name", fields.String, "curl"},
		{"proc.is_sid_leader", fields.Bool, false},
		{"proc.is_vpgid_leader", fields.Bool, true},
		{"proc.fdlimit", fields.Int64, int64(1024)},
		{"proc.fdopencount", fields.Uint64, uint64(2)},
		{"thread.tid", fields.Int64, int64(curlPID)},
		{"thread.ismain", fields.Bool, true},
		{"thread.cap_permitted", fields.String, "CAP_CHOWN CAP_SYS_ADMIN"},
		{"thread.cap_effective", fields.String, "CAP_SYS_ADMIN"},
		{"thread.cgroup[memory]", fields.String, "/user.slice"},
		{"fd.num", fields.Int64, int64(3)},
		{"fd.type", fields.String, "file"},
		{"fd.typechar", fields.String, "f"},
		{"fd.name", fields.String, "/etc/ssl/certs/ca.pem"},
		{"fd.directory", fields.String, "/etc/ssl/certs"},
		{"fd.filename", fields.String, "ca.pem"},
		{"fd.ino", fields.Int64, int64(42)},
		{"fd.sip", fields.IPAddr, nil},
		{"user.uid", fields.Uint64, uint64(1000)},
		{"user.name", fields.String, "alice"},
		{"user.homedir", fields.String, "/home/alice"},
		{"user.shell", fields.String, "/bin/bash"},
		{"user.loginuid", fields.Int64, int64(1000)},
		{"user.loginname", fields.String, "alice"},
		{"group.gid", fields.Uint64, uint64(1000)},
		{"group.name", fields.String, "staff"},
		{"container.id", fields.String, "host"},
		{"container.image", fields.String, nil},
		{"k8s.pod.name", fields.String, nil},
	})

	send := st.Process(decode(t, encode(t, "sendto", 'X', curlPID, tsBase+20, map[string]any{"res": 10, "data": []byte("GET / HTTP"), "fd": 4, "size": 10}), 2))
	run(send, []check{
		{"fd.type", fields.String, "ipv4"},
		{"fd.typechar", fields.String, "4"},
		{"fd.l4proto", fields.String, "tcp"},
		{"fd.sockfamily", fields.String, "ip"},
		{"fd.cip", fields.IPAddr, netip.MustParseAddr("10.0.0.2")},
		{"fd.sip", fields.IPAddr, netip.MustParseAddr("93.184.216.34")},
		{"fd.lip", fields.IPAddr, netip.MustParseAddr("10.0.0.2")},
		{"fd.rip", fields.IPAddr, netip.MustParseAddr("93.184.216.34")},
		{"fd.snet", fields.IPNet, netip.MustParseAddr("93.184.216.34")},
		{"fd.cport", fields.Port, uint64(40000)},
		{"fd.sport", fields.Port, uint64(80)},
		{"fd.lport", fields.Port, uint64(40000)},
		{"fd.rport", fields.Port, uint64(80)},
		{"fd.is_server", fields.Bool, false},
		{"fd.directory", fields.String, nil},
		{"evt.category", fields.String, "net"},
		{"evt.is_io_write", fields.Bool, true},
	})

	// a failed openat: no fd, but fd.name is the path it named (libsinsp), evt.res the errno
	open := st.Process(decode(t, encode(t, "openat", 'X', curlPID, tsBase+30, map[string]any{"fd": -2, "dirfd": -100, "name": "secret.txt", "flags": 1, "mode": 0}), 3))
	run(open, []check{
		{"evt.res", fields.String, "ENOENT"},
		{"evt.rawres", fields.Int64, int64(-2)},
		{"evt.failed", fields.Bool, true},
		{"evt.arg.flags", fields.String, "O_RDONLY"},
		{"evt.arg.fd", fields.String, "ENOENT"},
		{"evt.is_open_read", fields.Bool, true},
		{"evt.is_open_write", fields.Bool, false},
		{"fd.num", fields.Int64, int64(-1)},
		{"fd.name", fields.String, "/home/alice/secret.txt"},
		{"fd.typechar", fields.String, "f"},
		{"evt.abspath[src]", fields.String, "/home/alice/secret.txt"},
		{"fs.path.name", fields.String, "/home/alice/secret.txt"},
	})

	// an event of an unknown thread
	ghost := st.Process(decode(t, encode(t, "close", 'E', 999, tsBase+40, map[string]any{"fd": 7}), 4))
	run(ghost, []check{
		{"proc.name", fields.String, "<NA>"},
		{"proc.pname", fields.String, nil},
		{"proc.aname[0]", fields.String, "<NA>"}, // it is its own ancestor 0, as in sysdig
		{"proc.apid[0]", fields.Int64, int64(999)},
		{"proc.aname[1]", fields.String, nil},
		{"proc.vpid", fields.Int64, nil}, // not known (libsinsp's -1)
		{"thread.vtid", fields.Int64, nil},
		{"proc.sid", fields.Int64, int64(-1)},
		{"proc.vpgid", fields.Int64, int64(-1)},
		{"proc.exeline", fields.String, "<NA> "},
		{"container.type", fields.String, "host"},
		{"user.uid", fields.Uint64, uint64(0xFFFFFFFF)},
		{"user.name", fields.String, nil},
		{"fd.num", fields.Int64, int64(7)},
		{"fd.name", fields.String, nil},
		{"evt.dir", fields.String, ">"},
	})
}

// TestAncestorsWithoutIndex: proc.aname without an index yields the parent and lists every
// ancestor in Value.L (the compiler compares against any of them).
func TestAncestorsWithoutIndex(t *testing.T) {
	st := testEngine()
	src := NewSource(st)
	ctx := st.Process(decode(t, encode(t, "close", 'E', curlPID, tsBase, map[string]any{"fd": 3}), 1))
	_, ex := bind(t, src, "proc.aname")
	v, ok := ex(ctx)
	if !ok || v.S != "bash" {
		t.Fatalf("proc.aname = %q, %v; want bash", v.S, ok)
	}
	var names []string
	for _, x := range v.List() {
		names = append(names, x.S)
	}
	if strings.Join(names, ",") != "bash,systemd" {
		t.Errorf("proc.aname list = %v, want [bash systemd]", names)
	}
}

// TestNilEngineBindsEverything: catalogue-level use (rules validate) binds every field of the
// catalogue without state, and extraction then finds nothing rather than panicking.
func TestNilEngineBindsEverything(t *testing.T) {
	src := NewSource(nil)
	ev := decode(t, encode(t, "read", 'X', 5, tsBase, map[string]any{"res": 1, "data": []byte("x"), "fd": 0, "size": 1}), 1)
	ctx := &state.Context{Ev: ev, FDNum: -1}
	for _, f := range fields.SyscallCatalog().Fields() {
		arg := ""
		if f.Arg == fields.ArgRequired {
			arg = "x"
			if f.ArgIndex {
				arg = "0"
			}
		}
		ex, err := src.Extractor(f, arg)
		if err != nil {
			t.Errorf("%s: %v", f.Name, err)
			continue
		}
		if ex == nil {
			t.Errorf("%s: nil extractor", f.Name)
			continue
		}
		ex(ctx)
		ex(nil)
		ex("not a context")
	}
	if _, err := src.Extractor(fields.Info{Name: "evt.arg", Arg: fields.ArgRequired}, ""); err == nil {
		t.Error("evt.arg without an argument: no error")
	}
	if _, err := src.Extractor(fields.Info{Name: "no.such.field"}, ""); err == nil {
		t.Error("unknown field: no error")
	}
}

func TestEventCodes(t *testing.T) {
	src := NewSource(nil)
	codes, ok := src.EventCodes("open")
	if !ok || len(codes) < 2 {
		t.Fatalf("open: %v %v", codes, ok)
	}
	dirs := map[byte]bool{}
	for _, c := range codes {
		if event.Table[c].Name != "open" {
			t.Errorf("code %d is %s", c, event.Table[c].Name)
		}
		dirs[event.Table[c].Dir] = true
	}
	if !dirs['E'] || !dirs['X'] {
		t.Errorf("open codes %v lack a direction", codes)
	}
	// every version: execve has several
	if codes, _ := src.EventCodes("execve"); len(codes) < 6 {
		t.Errorf("execve: only %d codes", len(codes))
	}
	// a syscall without its own event is recorded as the generic event
	g, ok := src.EventCodes("madvise")
	if !ok || len(g) != 2 || event.Table[g[0]].Name != "syscall" {
		t.Errorf("madvise: %v %v", g, ok)
	}
	if _, ok := src.EventCodes("nosuchsyscall"); ok {
		t.Error("nosuchsyscall resolved")
	}
	if src.NumEventCodes() != event.NumEvents {
		t.Errorf("NumEventCodes %d", src.NumEventCodes())
	}
}

func TestFormatter(t *testing.T) {
	st := testEngine()
	src := NewSource(st)
	ctx := st.Process(decode(t, encode(t, "read", 'X', curlPID, tsBase, map[string]any{"res": 5, "data": []byte("hello"), "fd": 3, "size": 4096}), 7))
	cases := []struct {
		format, want string
		ok           bool
	}{
		{"%evt.num %proc.name (%thread.tid) %evt.type.", "7 curl (200) read.", true},
		{"%proc.aname[1]/%evt.arg.fd/%evt.arg[1]", "bash/<f>/etc/ssl/certs/ca.pem/hello", true},
		{"%fd.sip %proc.name", "", false},
		{"*%fd.sip %proc.name", "<NA> curl", true},
		{"100%", "100%", true},
		{"%fd.cport", "", false},
	}
	for _, c := range cases {
		f, err := NewFormatter(c.format, src)
		if err != nil {
			t.Errorf("%q: %v", c.format, err)
			continue
		}
		got, ok := f.Format(ctx)
		if ok != c.ok || got != c.want {
			t.Errorf("%q: %q, %v; want %q, %v", c.format, got, ok, c.want, c.ok)
		}
	}
	for _, bad := range []string{"%no.such", "%proc.aname[1", "%evt.num[3]"} {
		if _, err := NewFormatter(bad, src); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	f, _ := NewFormatter("*%evt.num %proc.name %fd.sip %evt.failed", src)
	js, ok := f.JSON(ctx)
	if !ok || string(js) != `{"evt.failed":false,"evt.num":7,"fd.sip":null,"proc.name":"curl"}` {
		t.Errorf("JSON = %s, %v", js, ok)
	}
}

// ruleFields are the syscall fields the upstream rule files use (conditions and outputs of
// falco_rules.yaml, falco-incubating_rules.yaml and falco-sandbox_rules.yaml).
var ruleFields = strings.Fields(`
	container.id container.image.repository container.mount.dest container.mounts container.privileged
	container.start_ts evt.arg.cmd evt.arg.domain evt.arg.fd evt.arg.filename evt.arg.flags
	evt.arg.linkpath evt.arg.mode evt.arg.name evt.arg.newpath evt.arg.oldpath evt.arg.path
	evt.arg.request evt.arg.target evt.arg.uid evt.args evt.buffer evt.is_open_exec evt.is_open_read
	evt.is_open_write evt.num evt.rawres evt.res evt.type fd.cip fd.cip.name fd.cnet fd.connected
	fd.directory fd.filename fd.ip fd.l4proto fd.lip.name fd.lport fd.name fd.name_changed fd.nameraw
	fd.net fd.num fd.port fd.rip fd.rip.name fd.rnet fd.rport fd.sip fd.sip.name fd.snet fd.sockfamily
	fd.sport fd.type fd.typechar group.gid group.name k8s.ns.name k8s.pod.name proc.aexe proc.aexepath
	proc.aname proc.args proc.cmdline proc.cwd proc.duration proc.env proc.exe proc.exe_ino.ctime
	proc.exe_ino.ctime_duration_proc_start proc.exe_ino.mtime proc.exepath proc.is_exe_from_memfd
	proc.is_exe_upper_layer proc.is_vpgid_leader proc.name proc.pcmdline proc.pexe proc.pexepath
	proc.pname proc.sname proc.tty proc.vpid thread.cap_effective thread.cap_permitted user.loginname
	user.loginuid user.name user.uid
`)

// noValueYet are rule fields bound but without values until a container metadata source and a
// DNS cache exist.
var noValueYet = map[string]bool{
	"container.image.repository": true, "container.mount.dest": true, "container.mounts": true,
	"container.privileged": true, "container.start_ts": true, "k8s.ns.name": true, "k8s.pod.name": true,
	"fd.cip.name": true, "fd.sip.name": true, "fd.lip.name": true, "fd.rip.name": true,
}

func sharedRules(t *testing.T) string {
	dir, _ := os.Getwd()
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		p := filepath.Dir(dir)
		if p == dir {
			t.Fatal("go.mod not found")
		}
		dir = p
	}
	rules := filepath.Join(dir, "..", "shared", "falco-rules")
	if _, err := os.Stat(rules); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared rules missing: %v", err)
		}
		t.Skipf("shared rules not available: %v", err)
	}
	return rules
}

// TestRuleFieldsCovered checks that the fields the upstream rules use are exactly ruleFields,
// that each is in the catalogue, and that each has an extractor (noValueYet aside).
func TestRuleFieldsCovered(t *testing.T) {
	dir := sharedRules(t)
	src := NewSource(nil)
	re := regexp.MustCompile(`\b(?:evt|proc|thread|fd|fs|user|group|container|k8s)\.[a-z0-9_.]*[a-z0-9_]`)
	found := map[string]bool{}
	for _, file := range []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"} {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		var items []map[string]any
		if err := yaml.Unmarshal(b, &items); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, it := range items {
			var texts []string
			for _, key := range []string{"condition", "output"} {
				if s, ok := it[key].(string); ok {
					texts = append(texts, s)
				}
			}
			if exs, ok := it["exceptions"].([]any); ok {
				for _, e := range exs {
					m, _ := e.(map[string]any)
					switch fs := m["fields"].(type) {
					case string:
						texts = append(texts, fs)
					case []any:
						for _, f := range fs {
							if s, ok := f.(string); ok {
								texts = append(texts, s)
							}
						}
					}
				}
			}
			for _, s := range texts {
				for _, loc := range re.FindAllStringIndex(s, -1) {
					if loc[0] > 0 && strings.ContainsRune("./-", rune(s[loc[0]-1])) {
						continue // part of a value such as registry.k8s.io/...
					}
					tok := s[loc[0]:loc[1]]
					info, _, ok := fields.Resolve(src.Field, tok)
					if !ok {
						t.Errorf("%s: %s is not a catalogue field", file, tok)
						continue
					}
					name := info.Name
					if info.Arg != fields.ArgNone && tok != info.Name {
						name = tok // keep evt.arg.X distinct
					}
					found[name] = true
				}
			}
		}
	}
	var got []string
	for f := range found {
		got = append(got, f)
	}
	sort.Strings(got)
	want := append([]string(nil), ruleFields...)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("fields used by the rules changed:\n got  %v\n want %v", got, want)
	}
	for _, f := range got {
		info, _, _ := fields.Resolve(src.Field, f)
		if !Supported(info.Name) && !noValueYet[f] {
			t.Errorf("%s has no extractor", f)
		}
	}
}

// BenchmarkRuleFields measures extracting the fields of a typical rule (Read sensitive file
// untrusted and its output) from one event.
func BenchmarkRuleFields(b *testing.B) {
	st := testEngine()
	src := NewSource(st)
	refs := []string{"evt.type", "evt.dir", "evt.is_open_read", "fd.typechar", "fd.name", "fd.directory",
		"proc.name", "proc.pname", "proc.aname[2]", "proc.cmdline", "proc.exepath", "user.name", "user.loginuid",
		"container.id", "evt.arg.flags", "proc.pid", "fd.num"}
	var exs []fields.Extractor
	for _, r := range refs {
		_, ex := bind(b, src, r)
		exs = append(exs, ex)
	}
	ctx := st.Process(decode(b, encode(b, "openat", 'X', curlPID, tsBase, map[string]any{"fd": 5, "dirfd": -100, "name": "/etc/shadow", "flags": 1, "mode": 0}), 1))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, ex := range exs {
			ex(ctx)
		}
	}
}

// FuzzFormatter: any format string either fails to parse with an error or renders without
// panicking.
func FuzzFormatter(f *testing.F) {
	for _, s := range []string{DefaultFormat, "%evt.num %proc.aname[2]", "*%evt.arg.fd%", "%[", "%proc.env[", "%%%", "%evt.type.is.open", "%fd.name.x"} {
		f.Add(s)
	}
	st := testEngine()
	src := NewSource(st)
	raw := encode(f, "read", 'X', curlPID, tsBase, map[string]any{"res": 5, "data": []byte("hi\x00\xff"), "fd": 3, "size": 4})
	f.Fuzz(func(t *testing.T, format string) {
		fm, err := NewFormatter(format, src)
		if err != nil {
			return
		}
		ctx := st.Process(decode(t, raw, 1))
		fm.Format(ctx)
		fm.JSON(ctx)
	})
}

// FuzzRenderParams: any decodable record renders (evt.args, every evt.arg[N], evt.rawarg[N],
// evt.res, fd and type fields) without panicking, with and without state.
func FuzzRenderParams(f *testing.F) {
	f.Add(encode(f, "read", 'X', curlPID, tsBase, map[string]any{"res": 5, "data": []byte("hello"), "fd": 3, "size": 4096}))
	f.Add(encode(f, "connect", 'X', curlPID, tsBase, map[string]any{"res": -115, "tuple": []byte{2, 1, 2, 3, 4, 0, 80, 5, 6, 7, 8, 1, 187}, "fd": 4}))
	f.Add(encode(f, "poll", 'E', curlPID, tsBase, map[string]any{"fds": []byte{1, 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 0}, "timeout": 5}))
	f.Add(encode(f, "execve", 'X', curlPID, tsBase, map[string]any{"res": 0, "exe": "curl", "args": []byte("a\x00b\x00")}))
	st := testEngine()
	withState := NewSourceWith(st, Options{Sysdig029: true})
	noState := NewSource(nil)
	refs := []string{"evt.args", "evt.info", "evt.res", "evt.rawres", "evt.type", "evt.category", "fd.name", "fd.typechar",
		"evt.buffer", "evt.buflen", "fs.path.name", "evt.abspath[src]", "evt.is_open_read"}
	for i := 0; i < 8; i++ {
		refs = append(refs, "evt.arg["+string(rune('0'+i))+"]", "evt.rawarg["+string(rune('0'+i))+"]")
	}
	var exs []fields.Extractor
	for _, src := range []fields.Source{withState, noState} {
		for _, r := range refs {
			_, ex := bind(f, src, r)
			exs = append(exs, ex)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev := &event.Event{}
		if event.Decode(raw, ev, true) != nil {
			return
		}
		ev.Raw = raw
		ctx := &state.Context{Ev: ev, Thread: st.Thread(curlPID), FDNum: -1}
		for _, ex := range exs {
			ex(ctx)
		}
	})
}

// TestGenericSyscall: a syscall without its own event (generic code, ID param) is named by its
// ID, so evt.type and syscall.type tell clock_gettime from madvise.
func TestGenericSyscall(t *testing.T) {
	st := testEngine()
	src := NewSource(st)
	for _, c := range []struct {
		id   int
		want string
	}{{139, "madvise"}, {176, "clock_gettime"}, {0, "<unknown>"}, {9999, "<unknown>"}} {
		ctx := st.Process(decode(t, encode(t, "syscall", 'X', curlPID, tsBase, map[string]any{"ID": c.id, "nativeID": 1}), 1))
		for _, f := range []string{"evt.type", "syscall.type"} {
			_, ex := bind(t, src, f)
			if v, ok := ex(ctx); !ok || v.S != c.want {
				t.Errorf("ID %d: %s = %q, %v; want %q", c.id, f, v.S, ok, c.want)
			}
		}
		_, ex := bind(t, src, "evt.args")
		if v, _ := ex(ctx); v.S != "" {
			t.Errorf("ID %d: evt.args = %q, want empty (sysdig shows no params)", c.id, v.S)
		}
	}
}

// TestAncestorsWithoutIndexPrinted: proc.apid without an index prints the process's own pid
// (libsinsp: apid[0]); in sysdig 0.29 mode proc.aname prints its own name (aname[0]). Both
// still match any ancestor.
func TestAncestorsWithoutIndexPrinted(t *testing.T) {
	st := testEngine()
	ctx := st.Process(decode(t, encode(t, "close", 'E', curlPID, tsBase, map[string]any{"fd": 3}), 1))
	info, ex := bind(t, NewSource(st), "proc.apid")
	v, ok := ex(ctx)
	if !ok || Render(info, v) != formatInt(curlPID) || len(v.List()) != 2 || v.List()[0].N != bashPID {
		t.Errorf("proc.apid = %q %v (list %v), want %d and ancestors [%d 1]", Render(info, v), ok, v.L, curlPID, bashPID)
	}
	info, ex = bind(t, NewSourceWith(st, Options{Sysdig029: true}), "proc.aname")
	if v, ok := ex(ctx); !ok || Render(info, v) != "curl" || len(v.List()) != 2 || v.List()[0].S != "bash" {
		t.Errorf("proc.aname (sysdig 0.29) = %q %v, want curl (list %v)", Render(info, v), ok, v.List())
	}
}

// TestContainerNameOfHostFD: fd.containername and fd.containerdirectory start with the raw
// container id, empty on the host (":/etc/ssl/certs/ca.pem"), as libsinsp builds them.
func TestContainerNameOfHostFD(t *testing.T) {
	st := testEngine()
	src := NewSource(st)
	ctx := st.Process(decode(t, encode(t, "close", 'E', curlPID, tsBase, map[string]any{"fd": 3}), 1))
	for f, want := range map[string]string{"fd.containername": ":/etc/ssl/certs/ca.pem", "fd.containerdirectory": ":/etc/ssl/certs"} {
		if got := value(t, src, f, ctx); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
}

// TestRawArgSigned: evt.rawarg of a signed param prints its sign (res=-2), as libsinsp does.
func TestRawArgSigned(t *testing.T) {
	st := testEngine()
	src := NewSource(st)
	ctx := st.Process(decode(t, encode(t, "openat", 'X', curlPID, tsBase, map[string]any{"fd": -2, "dirfd": -100, "name": "x", "flags": 1, "mode": 0}), 1))
	for f, want := range map[string]string{"evt.rawarg.fd": "-2", "evt.rawarg.dirfd": "-100", "evt.rawarg.flags": "1"} {
		if got := value(t, src, f, ctx); got != want {
			t.Errorf("%s = %q, want %q", f, got, want)
		}
	}
}

// BenchmarkScalarFields measures each field the upstream open rules test most, bound as the
// rule compiler binds it (fields.ScalarBinder: the string or number alone), on an open exit of
// a library; each iteration is a new event (its number moves on), so per-event memos miss.
//
//	go test -run '^$' -bench ScalarFields ./pkg/sysfields
func BenchmarkScalarFields(b *testing.B) {
	st := testEngine()
	src := NewSource(st).(*Source)
	ctx := st.Process(decode(b, encode(b, "openat", 'X', curlPID, tsBase, map[string]any{
		"fd": 5, "dirfd": -100, "name": "/usr/lib/x86_64-linux-gnu/libgnutls.so.30", "flags": 1, "mode": 0}), 1))
	for _, ref := range []string{"fd.name", "fd.nameraw", "fd.directory", "fd.filename", "fd.typechar", "evt.arg.flags",
		"proc.name", "proc.pname", "proc.cmdline", "proc.exepath", "container.id", "user.name",
		"fd.num", "evt.is_open_read", "proc.duration", "proc.vpid", "evt.res"} {
		info, arg := resolveRef(b, src, ref)
		b.Run(ref, func(b *testing.B) {
			var n uint64
			if info.Type == fields.String || info.Type == fields.Bytes {
				ex, err := src.StringExtractor(info, arg)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					ctx.Ev.Num++
					v, _, _ := ex(ctx)
					n += uint64(len(v))
				}
			} else {
				ex, err := src.NumberExtractor(info, arg)
				if err != nil {
					b.Fatal(err)
				}
				for b.Loop() {
					ctx.Ev.Num++
					v, _, _ := ex(ctx)
					n += v
				}
			}
			if n == 0 && ref != "fd.num" && ref != "proc.duration" && ref != "evt.res" {
				b.Fatalf("%s: no value", ref)
			}
		})
	}
}

func resolveRef(t testing.TB, src fields.Source, ref string) (fields.Info, string) {
	t.Helper()
	name, arg := ref, ""
	if i := strings.IndexByte(ref, '['); i > 0 && strings.HasSuffix(ref, "]") {
		name, arg = ref[:i], ref[i+1:len(ref)-1]
	}
	info, dotted, ok := fields.Resolve(src.Field, name)
	if !ok {
		t.Fatalf("field %s not in the catalogue", ref)
	}
	if dotted != "" {
		arg = dotted
	}
	return info, arg
}

// openFlags reads the flags of a table row by a per-code index, and of any other row (an
// older layout's) by classifying that row: both ways must agree on every row of the table.
func TestOpenFlagsIndexMatchesNames(t *testing.T) {
	opens := 0
	for code := range event.Table {
		info := &event.Table[code]
		var ev event.Event
		ev.Type, ev.Info = uint16(code), info
		for i := range info.Params {
			ev.Params[i] = []byte{0x41, 0x40, 0, 0} // O_RDONLY|O_CLOEXEC-like bits, 4 bytes
			ev.Present |= 1 << uint(i)
		}
		ev.NParams = len(info.Params)
		byIndex, okIndex := openFlags(&ev)
		other := *info // the same row at another address: the name path
		ev.Info = &other
		byName, okName := openFlags(&ev)
		if byIndex != byName || okIndex != okName {
			t.Errorf("%s %c: index gives %#x %v, names give %#x %v", info.Name, info.Dir, byIndex, okIndex, byName, okName)
		}
		if okIndex {
			opens++
		}
	}
	if opens < 5 { // open, openat, openat2, open_by_handle_at, creat exits (several layouts)
		t.Errorf("only %d rows have open flags", opens)
	}
}

// The flag cache (a direct-mapped table in front of a map) hands back what FormatFlags
// renders, whatever the order and collisions of tables and values.
func TestFlagCacheRendersLikeFormatFlags(t *testing.T) {
	var r renderer
	tables := []string{"file_flags", "prot_flags", "mmap_flags", "clone_flags"}
	for round := 0; round < 3; round++ {
		for v := uint32(0); v < 300; v++ {
			for _, tab := range tables {
				val := v*0x101 ^ uint32(round)<<12
				if got, want := r.formatFlags(tab, event.PTFlags32, val), event.FormatFlags(tab, event.PTFlags32, val); got != want {
					t.Fatalf("%s %#x: %q, FormatFlags gives %q", tab, val, got, want)
				}
			}
		}
	}
}

// Remember keeps a filter's result for the rest of an event: once per event number, again for
// the next event, every time for an unnumbered one (number 0). The memory holds the result
// under the serial EventSerial gives the event (what the rule engine reads without a call).
func TestRememberOncePerEvent(t *testing.T) {
	st := testEngine()
	src := NewSource(st).(*Source)
	calls := 0
	var m fields.Memo
	f, ok := src.Remember(func(fields.Event) bool { calls++; return calls%2 == 1 }, &m)
	if !ok {
		t.Fatal("the syscall source does not remember")
	}
	ev := func(num uint64) *state.Context {
		return st.Process(decode(t, encode(t, "close", 'X', curlPID, tsBase+num, map[string]any{"res": 0}), num))
	}
	c := ev(7)
	if !f(c) || !f(c) || !f(c) || calls != 1 {
		t.Errorf("event 7: %d calls, want 1 (and the first result each time)", calls)
	}
	if s, ok := src.EventSerial(c); !ok || s != 7 || m != (fields.Memo{Serial: 7, Val: true}) {
		t.Errorf("event 7: serial %d %v, memory %+v; want 7 and {7 true}", s, ok, m)
	}
	if c = ev(8); f(c) || f(c) || calls != 2 {
		t.Errorf("event 8: %d calls in all, want 2", calls)
	}
	if m != (fields.Memo{Serial: 8, Val: false}) {
		t.Errorf("event 8: memory %+v, want {8 false}", m)
	}
	c = ev(0)
	f(c)
	f(c)
	if calls != 4 {
		t.Errorf("unnumbered event: %d calls in all, want 4", calls)
	}
	if _, ok := src.EventSerial(c); ok || m.Serial != 8 {
		t.Errorf("unnumbered event: a serial, or the memory moved (%+v)", m)
	}
	if f(fields.MapEvent{}); calls != 5 {
		t.Errorf("another kind of event: %d calls in all, want 5", calls)
	}
}

// TestScalarExtractorsAgree binds every string and number field of the catalogue both ways
// (fields.ScalarBinder, as comparisons bind them, and Extractor, as outputs do) and requires
// the same value and presence on events of several shapes: an open, a failed open and a
// failed connect (names with no fd), an
// event of a thread with no parent known and one of a thread the engine never saw.
func TestScalarExtractorsAgree(t *testing.T) {
	st := testEngine()
	src := NewSource(st).(*Source)
	st.AddThread(event.ThreadInfo{TID: 300, PID: 300, PTID: 9999, Comm: "orphan", Exe: "./orphan", ExePath: "/opt/orphan", Cwd: "/"})
	var infos []fields.Info
	fast := map[string]bool{}
	for _, info := range src.cat.Fields() {
		if info.Arg == fields.ArgRequired || info.Name == "util.cnt" {
			continue // (fields with arguments keep the generic path; util.cnt counts its own calls)
		}
		infos = append(infos, info)
		fast[info.Name] = src.strField(info.Name, "") != nil
	}
	for _, e := range []struct {
		name string
		raw  []byte
	}{
		{"open", encode(t, "openat", 'X', curlPID, tsBase, map[string]any{"fd": 5, "dirfd": -100, "name": "/etc/passwd", "flags": 1, "mode": 0})},
		{"failed open", encode(t, "openat", 'X', curlPID, tsBase+1, map[string]any{"fd": -2, "dirfd": -100, "name": "/nope", "flags": 1, "mode": 0})},
		{"failed connect", encode(t, "connect", 'X', curlPID, tsBase+2, map[string]any{"res": -111, "tuple": []byte{}, "fd": 4})},
		{"orphan", encode(t, "getuid", 'X', 300, tsBase+3, map[string]any{"uid": 0})},
		{"unknown", encode(t, "getuid", 'X', 777, tsBase+4, map[string]any{"uid": 0})},
	} {
		ctx := st.Process(decode(t, e.raw, 1)) // (the engine's one context: checked before the next event)
		for _, info := range infos {
			ex, err := src.Extractor(info, "")
			if err != nil {
				t.Fatal(err)
			}
			want, wok := ex(ctx)
			switch info.Type {
			case fields.String, fields.Bytes:
				sx, err := src.StringExtractor(info, "")
				if err != nil {
					t.Fatal(err)
				}
				if v, ok, multi := sx(ctx); v != want.S || ok != wok || multi != (want.L != nil) {
					t.Errorf("%s on the %s event: scalar (%q, %v, %v), value (%q, %v, %v)", info.Name, e.name, v, ok, multi, want.S, wok, want.L != nil)
				}
			case fields.Uint64, fields.Int64, fields.Port, fields.Bool, fields.AbsTime, fields.RelTime:
				nx, err := src.NumberExtractor(info, "")
				if err != nil {
					t.Fatal(err)
				}
				if v, ok, multi := nx(ctx); v != want.N || ok != wok || multi != (want.L != nil) {
					t.Errorf("%s on the %s event: scalar (%d, %v, %v), value (%d, %v, %v)", info.Name, e.name, v, ok, multi, want.N, wok, want.L != nil)
				}
			}
		}
	}
	for _, f := range []string{"proc.name", "proc.pname", "proc.exe", "proc.exepath", "proc.pexe", "proc.pexepath", "fd.name", "container.id"} {
		if !fast[f] {
			t.Errorf("%s is not extracted by strField", f)
		}
	}
}
