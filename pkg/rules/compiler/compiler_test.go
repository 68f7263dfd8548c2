package compiler

import (
	"net/netip"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

type testEvent = fields.MapEvent

// testSource is the syscall catalogue and event table with values read from a MapEvent, so
// the compiler's semantics are tested on exactly the values given.
var testSrc = &fields.MapSource{
	CatalogSource: fields.CatalogSource{SourceName: "syscall", Catalog: fields.SyscallCatalog(),
		Codes: func(t string) ([]uint16, bool) { c := event.ByName(t); return c, len(c) > 0 }, NumCodes: event.NumEvents},
	Extra: map[string]fields.Info{
		"test.list":  {Name: "test.list", Type: fields.String, List: true},
		"test.ports": {Name: "test.ports", Type: fields.Uint64, List: true},
		"test.ends":  {Name: "test.ends", Type: fields.IPAddr, BothEnds: true},
	},
}

func str(s string) fields.Value { return fields.Value{S: s} }
func num(n int64) fields.Value  { return fields.Value{N: uint64(n)} }
func ip(s string) fields.Value {
	a := netip.MustParseAddr(s)
	return fields.IPValue(netip.PrefixFrom(a, a.BitLen()))
}
func list(items ...string) fields.Value {
	v := fields.Value{}
	for _, s := range items {
		l := v.List()
		l = append(l, str(s))
		v.L = &l
	}
	return v
}

func compile(t *testing.T, env *Env, cond string) *Result {
	t.Helper()
	e, err := parser.ParseCondition(cond)
	if err != nil {
		t.Fatalf("parse %q: %v", cond, err)
	}
	r, err := env.Compile(e)
	if err != nil {
		t.Fatalf("compile %q: %v", cond, err)
	}
	return r
}

func TestOperatorSemantics(t *testing.T) {
	env := &Env{
		Source: testSrc,
		Lists: map[string][]string{
			"shells":      {"sh", "bash"},
			"more_shells": {"shells", "zsh"}, // a list of lists
			"bin_dirs":    {"/bin", "/usr/bin/"},
			"ports":       {"22", "443"},
			"nets":        {"10.0.0.0/8", "192.168.0.0/16"},
		},
	}
	ev := testEvent{
		"proc.name":            str("bash"),
		"proc.exe":             str("/usr/bin/Bash"),
		"proc.cmdline":         str("bash -c 'echo hi'"),
		"fd.name":              str("/etc/shadow"),
		"fd.directory":         str("/usr/bin"),
		"proc.pid":             num(-5),
		"proc.vpid":            num(1),
		"fd.sport":             num(443),
		"fd.sip":               ip("10.1.2.3"),
		"fd.cip":               ip("::1"),
		"fd.net":               ip("192.168.3.4"),
		"container.privileged": num(1),
		"evt.buffer":           str("\x00GET / HTTP"),
		"proc.aname[2]":        str("sshd"),
		"proc.env[HOME]":       str("/root"),
		"evt.arg[flags]":       str("O_RDONLY|O_CLOEXEC"),
		"proc.pname":           str("bash"),
		"proc.args":            str("LWJhc2g="), // base64 of "-bash"
		"test.list":            list("a", "b"),
		"test.ports":           {L: fields.ListOf([]fields.Value{num(22), num(80)})},
		"evt.rawtime":          num(1700000000000000000),
		"proc.aname":           list("bash", "sshd", "systemd"), // every ancestor: any may match
		"fd.ip":                {L: fields.ListOf([]fields.Value{ip("10.1.2.3"), ip("192.168.3.4")})},
		"test.ends":            {L: fields.ListOf([]fields.Value{ip("10.1.2.3"), ip("192.168.3.4")})},
	}
	cases := []struct {
		cond string
		want bool
	}{
		// equality and ordering on strings, signed and unsigned numbers, ports
		{"proc.name = bash", true},
		{"proc.name == bash", true},
		{"proc.name != bash", false},
		{"proc.name = sh", false},
		{"proc.pid < 0", true},
		{"proc.pid = -5", true},
		{"proc.pid >= -4", false},
		{"proc.vpid <= 1", true},
		{"fd.sport > 400", true},
		{"fd.sport != 443", false},
		{"evt.rawtime > 1600000000000000000", true},
		// substring operators
		{"proc.cmdline contains echo", true},
		{"proc.cmdline contains ECHO", false},
		{"proc.cmdline icontains ECHO", true},
		{"proc.exe startswith /usr/", true},
		{"proc.exe endswith Bash", true},
		{"proc.exe endswith bash", false},
		{"evt.buffer bcontains HTTP", true},
		{"evt.buffer bstartswith GET", false},
		{`evt.buffer contains "GET /"`, true},
		// glob and iglob (fnmatch without FNM_PATHNAME: * crosses /)
		{"fd.name glob /etc/*", true},
		{"fd.name glob '/e?c/sha[a-z]ow'", true},
		{"fd.name glob '/etc/[!s]*'", false},
		{"fd.name glob /etc", false},
		{"fd.name glob '*shadow'", true},
		{"proc.exe glob /usr/bin/bash", false},
		{"proc.exe iglob /usr/bin/bash", true},
		// pmatch: path prefixes by whole components
		{"fd.directory pmatch (/usr/bin)", true},
		{"fd.directory pmatch (/usr/bi)", false},
		{"fd.name pmatch (/etc)", true},
		{"fd.name pmatch (/etc/sha)", false},
		{"fd.directory pmatch (bin_dirs)", true},
		{"fd.name pmatch (bin_dirs)", false},
		{"fd.name pmatch (/)", true},
		// in with literal lists, list names and lists of lists
		{"proc.name in (sh, bash)", true},
		{"proc.name in (sh, zsh)", false},
		{"proc.name in (shells)", true},
		{"proc.name in (more_shells)", true},
		{"proc.name in (zsh, more_shells)", true},
		{`proc.name in ("shells")`, false}, // quoted: not a list name
		{"proc.name in ()", false},
		{"fd.sport in (ports)", true},
		{"fd.sport in (80, 8080)", false},
		{"proc.name intersects (bash)", true},
		// list fields: in = all values in the set, intersects = any
		{"test.list in (a, b, c)", true},
		{"test.list in (a, c)", false},
		{"test.list intersects (c, b)", true},
		{"test.list intersects (c, d)", false},
		{"test.ports intersects (22)", true},
		{"test.ports in (22, 443)", false},
		// IP addresses and networks
		{"fd.sip = 10.1.2.3", true},
		{"fd.sip != 10.1.2.3", false},
		{"fd.sip in (10.1.2.3, 10.1.2.4)", true},
		{"fd.cip = ::1", true},
		{"fd.cip = 127.0.0.1", false},
		{"fd.net = 192.168.0.0/16", true},
		{"fd.net = 10.0.0.0/8", false},
		{"fd.net in (nets)", true},
		{"fd.net != 192.168.0.0/16", false},
		// booleans
		{"container.privileged = true", true},
		{"container.privileged = false", false},
		// exists, and absent values make every comparison false
		{"proc.name exists", true},
		{"fd.lport exists", false},
		{"fd.lport != 80", false},
		{"not fd.lport = 80", true},
		// regex: whole value (RE2 full match)
		{"proc.name regex 'ba.h'", true},
		{"proc.name regex 'as'", false},
		{"proc.cmdline regex '.*echo.*'", true},
		// arguments
		{"proc.aname[2] = sshd", true},
		{"proc.env[HOME] = /root", true},
		{"evt.arg.flags contains O_CLOEXEC", true},
		{"evt.arg[flags] contains O_CLOEXEC", true},
		// scalar fields with several candidate values match when any does
		{"proc.aname = sshd", true},
		{"proc.aname = nginx", false},
		{"proc.aname in (nginx, systemd)", true},
		{"proc.aname startswith ssh", true},
		{"fd.ip = 192.168.3.4", true},
		{"fd.ip = 10.9.9.9", false},
		{"proc.aname != sshd", true}, // an ancestor differs
		// a connection's two ends (BothEnds): != only when both differ
		{"test.ends != 10.1.2.3", false},
		{"test.ends != 10.9.9.9", true},
		{"test.ends = 192.168.3.4", true},
		{"not test.ends = 10.1.2.3", false},
		// transformers
		{"tolower(proc.exe) = /usr/bin/bash", true},
		{"toupper(proc.name) = BASH", true},
		{"basename(proc.exe) = Bash", true},
		{"tolower(basename(proc.exe)) = bash", true},
		{"len(proc.name) = 4", true},
		{"len(proc.name) > 4", false},
		{"len(test.list) = 2", true},
		{"b64(proc.args) = -bash", true},
		{"tolower(proc.exe) endswith val(proc.pname)", true},
		// field to field
		{"proc.name = val(proc.pname)", true},
		{"proc.name != val(proc.pname)", false},
		{"proc.exe = val(proc.pname)", false},
		{"proc.name = val(proc.cwd)", false}, // absent right side
		// boolean structure
		{"proc.name = bash and fd.sport = 443", true},
		{"proc.name = sh or fd.sport = 443", true},
		{"not proc.name = bash or fd.sport = 1", false},
		{"not (proc.name = bash and fd.sport = 1)", true},
		{"proc.name = sh or proc.name = bash and fd.sport = 1", false}, // and binds tighter
	}
	for _, tc := range cases {
		r := compile(t, env, tc.cond)
		if got := r.Filter(ev); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.cond, got, tc.want)
		}
	}
}

func TestMacros(t *testing.T) {
	mk := func(name, cond string) *Macro {
		e, err := parser.ParseCondition(cond)
		if err != nil {
			t.Fatal(err)
		}
		return &Macro{Name: name, Expr: e}
	}
	env := &Env{Source: testSrc, Macros: map[string]*Macro{
		"is_bash":    mk("is_bash", "proc.name = bash"),
		"bash_https": mk("bash_https", "is_bash and fd.sport = 443"),
		"loop_a":     mk("loop_a", "loop_b"),
		"loop_b":     mk("loop_b", "proc.name = x or loop_a"),
		"bad_field":  mk("bad_field", "proc.nope = 1"),
	}}
	ev := testEvent{"proc.name": str("bash"), "fd.sport": num(443)}
	if !compile(t, env, "bash_https").Filter(ev) {
		t.Error("nested macros should match")
	}
	if compile(t, env, "not bash_https").Filter(ev) {
		t.Error("negated macro should not match")
	}
	for cond, want := range map[string]string{
		"undefined_macro":  "offset 0: undefined macro 'undefined_macro'",
		"is_bash and nope": "offset 12: undefined macro 'nope'",
		"loop_a":           "in macro 'loop_b', offset 17: macro cycle: loop_a -> loop_b -> loop_a",
		"bad_field":        "in macro 'bad_field', offset 0: unknown field 'proc.nope'",
	} {
		e, _ := parser.ParseCondition(cond)
		_, err := env.Compile(e)
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", cond, err, want)
		}
	}
	if !env.UsedMacros()["is_bash"] {
		t.Error("is_bash should be recorded as used")
	}
}

func TestCompileErrors(t *testing.T) {
	env := &Env{Source: testSrc}
	for _, tc := range []struct{ cond, want string }{
		{"proc.nope = 1", "offset 0: unknown field 'proc.nope'"},
		{"fd.sport contains 4", "offset 9: 'contains' operator not supported for numeric fields"},
		{"fd.sport = abc", "offset 11: invalid value \"abc\" for field 'fd.sport': expected a port number (0-65535)"},
		{"fd.sport = 70000", "offset 11: invalid value \"70000\" for field 'fd.sport': expected a port number (0-65535)"},
		{"proc.pid = 1.5", "offset 11: invalid value \"1.5\" for field 'proc.pid': expected an integer"},
		{"fd.sip = 10.0.0.300", "offset 9: invalid value \"10.0.0.300\" for field 'fd.sip': expected an IP address"},
		{"fd.sip startswith 10.", "offset 7: 'startswith' operator not supported for ip address and network fields"},
		{"container.privileged = maybe", "offset 23: invalid value \"maybe\" for field 'container.privileged': expected true or false"},
		{"container.privileged > 1", "offset 21: '>' operator not supported for boolean fields"},
		{"proc.name[1] = x", "offset 0: field 'proc.name' does not take an argument"},
		{"evt.arg = x", "offset 0: field 'evt.arg' requires an argument"},
		{"tolower(fd.sport) = 1", "offset 0: transformer 'tolower' requires a string field, not port"},
		{"tolower(proc.aname) = x", "offset 0: field 'proc.aname' does not support transformers"},
		{"proc.name = val(proc.aname)", "offset 16: field 'proc.aname' cannot be used in val()"},
		{"proc.name = val(fd.sport)", "offset 12: cannot compare field 'proc.name' (string) with field 'fd.sport' (port)"},
		{"proc.name regex '('", "offset 16: invalid regular expression \"(\": error parsing regexp: missing closing ): `^(?:()$`"},
		{"evt.type = notasyscall", "offset 11: unknown event type 'notasyscall'"},
		{"test.list = a", "offset 10: '=' operator not supported for list fields"},
		{"fd.sport in (22, x)", "offset 12: invalid value \"x\" for field 'fd.sport': expected a port number (0-65535)"},
	} {
		e, err := parser.ParseCondition(tc.cond)
		if err != nil {
			t.Fatalf("parse %q: %v", tc.cond, err)
		}
		_, err = env.Compile(e)
		if err == nil {
			t.Errorf("%s: compiled, want error %q", tc.cond, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.cond, err.Error(), tc.want)
		}
	}
}

func TestEventTypeAnalysis(t *testing.T) {
	env := &Env{Source: testSrc}
	names := func(r *Result) map[string]bool {
		if r.All {
			return nil
		}
		out := map[string]bool{}
		for code, in := range r.EventTypes {
			if in {
				out[event.Table[code].Name] = true
			}
		}
		return out
	}
	for _, tc := range []struct {
		cond string
		want []string // nil: every type
	}{
		{"evt.type = open", []string{"open"}},
		{"evt.type in (open, openat) and proc.name = x", []string{"open", "openat"}},
		{"evt.type = open or evt.type = connect", []string{"open", "connect"}},
		{"evt.type = open or proc.name = x", nil},
		{"proc.name = x", nil},
		{"evt.type = open and evt.type = connect", []string{}},
		{"not (evt.type = open and proc.name = x)", nil},
		{"(evt.type = execve or evt.type = execveat) and not proc.name = x", []string{"execve", "execveat"}},
	} {
		got := names(compile(t, env, tc.cond))
		if tc.want == nil {
			if got != nil {
				t.Errorf("%s: restricted to %v, want every type", tc.cond, got)
			}
			continue
		}
		if got == nil || len(got) != len(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.cond, got, tc.want)
			continue
		}
		for _, n := range tc.want {
			if !got[n] {
				t.Errorf("%s: got %v, want %v", tc.cond, got, tc.want)
			}
		}
	}
	// evt.type != X matches every type but X.
	r := compile(t, env, "evt.type != open")
	if r.All || r.EventTypes[event.ByName("open")[0]] || !r.EventTypes[event.ByName("connect")[0]] {
		t.Error("evt.type != open: wrong set")
	}
	r = compile(t, env, "not evt.type in (open, close)")
	if r.All || r.EventTypes[event.ByName("close")[0]] || !r.EventTypes[event.ByName("read")[0]] {
		t.Error("not evt.type in (open, close): wrong set")
	}
}

func TestGlob(t *testing.T) {
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "/a/b", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false},
		{"?", "a", true}, {"?", "", false}, {"[abc]x", "bx", true}, {"[!abc]x", "bx", false},
		{"[a-c]", "d", false}, {`\*`, "*", true}, {`\*`, "a", false}, {"[", "[", true},
		{"/proc/*/environ", "/proc/12/environ", true}, {"*.txt", "a/b.txt", true},
	} {
		if got := Glob(tc.p, tc.s, false); got != tc.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tc.p, tc.s, got, tc.want)
		}
	}
}

// serialSource numbers its events (the "n" key) and counts reads of proc.name.
type serialSource struct {
	*fields.MapSource
	reads int
}

func (s *serialSource) EventSerial(ev fields.Event) (uint64, bool) {
	v, ok := ev.(fields.MapEvent)["n"]
	return v.N, ok
}

func (s *serialSource) Extractor(info fields.Info, arg string) (fields.Extractor, error) {
	ext, err := s.MapSource.Extractor(info, arg)
	if info.Name != "proc.name" {
		return ext, err
	}
	return func(ev fields.Event) (fields.Value, bool) { s.reads++; return ext(ev) }, err
}

// TestMacroEvaluatedOncePerEvent: a macro shared by several conditions of one Env is evaluated
// once per event when the source numbers its events.
func TestMacroEvaluatedOncePerEvent(t *testing.T) {
	src := &serialSource{MapSource: testSrc}
	e, _ := parser.ParseCondition("proc.name = bash")
	env := &Env{Source: src, Macros: map[string]*Macro{"is_bash": {Name: "is_bash", Expr: e}}}
	a := compile(t, env, "is_bash and fd.sport = 1")
	b := compile(t, env, "is_bash or fd.sport = 2")
	c := compile(t, env, "not is_bash")
	ev := func(n uint64, name string) fields.MapEvent {
		return fields.MapEvent{"n": {N: n}, "proc.name": str(name), "fd.sport": num(1)}
	}
	e1 := ev(1, "bash")
	if !a.Filter(e1) || !b.Filter(e1) || c.Filter(e1) || src.reads != 1 {
		t.Errorf("event 1: reads %d, want 1", src.reads)
	}
	e2 := ev(2, "sh")
	if a.Filter(e2) || b.Filter(e2) || !c.Filter(e2) || src.reads != 2 {
		t.Errorf("event 2: reads %d, want 2", src.reads)
	}
}

// scalarSource is testSrc with fields.ScalarBinder: its comparisons of strings and numbers go
// through the member-first paths instead of the whole-Value one.
type scalarSource struct{ *fields.MapSource }

func (s scalarSource) StringExtractor(info fields.Info, arg string) (func(ev fields.Event) (string, bool, bool), error) {
	ext, err := s.Extractor(info, arg)
	if err != nil {
		return nil, err
	}
	return func(ev fields.Event) (string, bool, bool) {
		v, ok := ext(ev)
		return v.S, ok, v.L != nil
	}, nil
}

func (s scalarSource) NumberExtractor(info fields.Info, arg string) (func(ev fields.Event) (uint64, bool, bool), error) {
	ext, err := s.Extractor(info, arg)
	if err != nil {
		return nil, err
	}
	return func(ev fields.Event) (uint64, bool, bool) {
		v, ok := ext(ev)
		return v.N, ok, v.L != nil
	}, nil
}

// The scalar paths (a string test written into the comparison, or a predicate on the member)
// decide exactly as the whole-Value path: present, absent and several-candidate values.
func TestScalarComparisonsMatchWholeValue(t *testing.T) {
	whole := &Env{Source: testSrc}
	scalar := &Env{Source: scalarSource{testSrc}}
	cands := func(ss ...string) fields.Value {
		l := make([]fields.Value, len(ss))
		for i, s := range ss {
			l[i] = fields.Value{S: s}
		}
		return fields.Value{S: ss[0], L: &l}
	}
	var evs []fields.MapEvent
	for _, v := range []fields.Value{str("/etc/shadow"), str("/etc"), str(""), str("/tmp/x/etc/shadow"),
		cands("/bin/sh", "/etc/shadow"), cands("/etc/passwd", "/usr/bin/x")} {
		evs = append(evs, fields.MapEvent{"fd.name": v, "proc.aname": v, "fd.num": num(int64(len(v.S)) - 4),
			"user.uid": {N: uint64(len(v.S))}})
	}
	evs = append(evs, fields.MapEvent{}) // no value at all
	conds := []string{"fd.num = 7", "fd.num != 0", "fd.num in (0, 7)"}
	for _, test := range []string{"> 0", ">= 0", "< 0", "<= 0", "> -4", ">= -4", "< -3", "<= -4", "= -4", "!= -4"} {
		conds = append(conds, "fd.num "+test)
	}
	for _, test := range []string{"= 11", "!= 11", "> 4", ">= 4", "< 4", "<= 4", "in (0, 11)"} {
		conds = append(conds, "user.uid "+test)
	}
	for _, field := range []string{"fd.name", "proc.aname"} {
		for _, test := range []string{"= /etc/shadow", "!= /etc/shadow", "startswith /etc", "endswith shadow",
			"contains etc/", "in (/etc, /etc/shadow)", "in (/a, /b, /c, /etc, /etc/shadow)", "in (/a, /b, /c, /d, /etc)",
			"pmatch (/etc)", "icontains ETC", "glob /etc/*"} {
			conds = append(conds, field+" "+test)
		}
	}
	for _, cond := range conds {
		w, s := compile(t, whole, cond), compile(t, scalar, cond)
		held := 0
		for i, ev := range evs {
			if w.Filter(ev) != s.Filter(ev) {
				t.Errorf("%s, event %d: whole %v, scalar %v", cond, i, w.Filter(ev), s.Filter(ev))
			}
			if w.Filter(ev) {
				held++
			}
		}
		if held == 0 || held == len(evs) {
			t.Errorf("%s holds on %d of the %d events: the comparison is not tested both ways", cond, held, len(evs))
		}
	}
}
