package rulestest

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

const testRules = `
- required_engine_version: 0.50.0
- rule: Cat reads shadow
  desc: test rule
  condition: evt.type = openat and evt.dir=< and fd.name = /etc/shadow and proc.name = cat
  output: shadow read (proc=%proc.name file=%fd.name parent=%proc.pname uid=%user.uid)
  priority: WARNING
- rule: Bash execs in container
  desc: test rule
  condition: evt.type = execve and evt.dir=< and proc.name = bash and container.id != host
  output: bash (container=%container.id parent=%proc.pname args=%proc.args)
  priority: NOTICE
- rule: Connect to 4444
  desc: test rule
  condition: evt.type = connect and evt.dir=< and fd.sport = 4444
  output: c2 (conn=%fd.name proc=%proc.name)
  priority: WARNING
`

func newTestRunner(t *testing.T) *Runner {
	t.Helper()
	r, err := NewRunner([]loader.File{{Name: "test_rules.yaml", Data: []byte(testRules)}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runYAML(t *testing.T, r *Runner, y string) []*Result {
	t.Helper()
	s, err := Parse("cases.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return r.Run([]*Suite{s})
}

// TestOutcomes checks that passing and failing expectations are told apart: each case says
// in its name whether it must pass.
func TestOutcomes(t *testing.T) {
	r := newTestRunner(t)
	res := runYAML(t, r, `tests:
  - {name: pass fires, rule: Cat reads shadow, proc: {name: cat, parent: {name: bash}}, event: {type: openat, name: /etc/shadow}}
  - {name: fail fires, rule: Cat reads shadow, proc: {name: less}, event: {type: openat, name: /etc/shadow}}
  - {name: pass not, rule: Cat reads shadow, match: false, proc: {name: cat}, event: {type: openat, name: /etc/hosts}}
  - {name: fail not, rule: Cat reads shadow, match: false, proc: {name: cat}, event: {type: openat, name: /etc/shadow}}
  - {name: pass output, proc: {name: cat, uid: 1000, parent: {name: bash}}, event: {type: openat, name: /etc/shadow}, expect: [{rule: Cat reads shadow, output: {proc.pname: bash, fd.name: /etc/shadow, user.uid: 1000}}]}
  - {name: fail output, proc: {name: cat, parent: {name: bash}}, event: {type: openat, name: /etc/shadow}, expect: [{rule: Cat reads shadow, output: {proc.pname: zsh}}]}
  - {name: pass none, proc: {name: cat}, event: {type: openat, name: /etc/hosts}, expect: []}
  - {name: fail none, proc: {name: cat}, event: {type: openat, name: /etc/shadow}, expect: none}
  - {name: fail unknown rule, rule: No such rule, proc: {name: cat}, event: {type: openat, name: /etc/shadow}}
  - {name: pass container exec, exec: {name: bash, args: [-c, id], container: 0123456789ab, parent: {name: runc, container: 0123456789ab}}, expect: [{rule: Bash execs in container, output: {container.id: 0123456789ab, proc.pname: runc, proc.args: -c id}}]}
  - {name: pass host exec not in container, exec: {name: bash}, expect_not: [Bash execs in container]}
  - {name: pass connect, proc: {name: x}, event: {type: connect, tuple: "10.0.0.1:5000->203.0.113.9:4444"}, expect: [{rule: Connect to 4444, output: {fd.name: "10.0.0.1:5000->203.0.113.9:4444"}}]}
  - {name: fail bad event param, proc: {name: x}, event: {type: openat, nosuch: 1}, expect: none}
  - {name: fail bad flag, rule: Cat reads shadow, proc: {name: cat}, event: {type: openat, name: /etc/shadow, flags: O_BOGUS}}
`)
	for _, x := range res {
		want := strings.HasPrefix(x.Case.Name, "pass")
		if x.Passed() != want {
			t.Errorf("%s: passed=%v, want %v (failures: %v)", x.Case.Name, x.Passed(), want, x.Failures)
		}
	}
	s := Summarize(res)
	if s.Total != len(res) || s.Passed+s.Failed != s.Total {
		t.Errorf("summary %+v", s)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"tests:\n  - {rule: X, exec: {name: a, bogus: 1}}\n", `unknown key "bogus"`},
		{"tests:\n  - {rule: X, exce: {name: a}}\n", `unknown key "exce"`},
		{"tests:\n  - {rule: X}\n", "no `events` and no `capture`"},
		{"tests:\n  - {exec: {name: a}}\n", "expects nothing"},
		{"tests:\n  - {rule: X, match: true, exec: {name: a}, expect: []}\n", "contradicts"},
		{"tests:\n  - {rule: X, events: [{event: {type: openat}}]}\n", "first event needs a `proc`"},
		{"tests:\n  - {rule: X, proc: {name: a}, event: {name: x}}\n", "without a `type`"},
		{"foo: 1\n", "field foo not found"},
		{"tests: []\n", "no test cases"},
		{"tests:\n  - [1, 2]\n", "must be a mapping"},
	} {
		_, err := Parse("f.yaml", []byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Errorf("%q: error %v, want one starting with the file name and containing %q", tc.yaml, err, tc.want)
		}
	}
}

// TestEncodeRecord checks the encoder against the decoder field by field.
func TestEncodeRecord(t *testing.T) {
	rec, err := encodeRecord("openat", 'X', 42, 7, map[string]any{"fd": 5, "dirfd": -100, "name": "/etc/shadow", "flags": "O_RDONLY|O_CLOEXEC", "ino": 99})
	if err != nil {
		t.Fatal(err)
	}
	var ev event.Event
	if err := event.Decode(rec, &ev, true); err != nil {
		t.Fatal(err)
	}
	if ev.TS != 42 || ev.TID != 7 || ev.Type != event.SyscallOpenatX || ev.NParams != len(ev.Info.Params) {
		t.Fatalf("header: ts=%d tid=%d type=%d nparams=%d", ev.TS, ev.TID, ev.Type, ev.NParams)
	}
	if fd, _ := ev.ParamInt("fd"); fd != 5 {
		t.Errorf("fd = %d", fd)
	}
	if d, _ := ev.ParamInt("dirfd"); d != -100 {
		t.Errorf("dirfd = %d", d)
	}
	if ev.Str(ev.Index("name")) != "/etc/shadow" {
		t.Errorf("name = %q", ev.Str(ev.Index("name")))
	}
	if f, _ := ev.ParamUint("flags"); f != 0x1|0x1000 { // O_RDONLY and O_CLOEXEC in the scap encoding
		t.Errorf("flags = %#x", f)
	}
	if ino, _ := ev.ParamUint("ino"); ino != 99 {
		t.Errorf("ino = %d", ino)
	}
	rec, err = encodeRecord("connect", 'X', 1, 1, map[string]any{"fd": 3, "tuple": "10.0.0.1:5000->[2001:db8::1]:443"})
	if err != nil {
		t.Fatal(err)
	}
	if err := event.Decode(rec, &ev, true); err != nil {
		t.Fatal(err)
	}
	st, ok := ev.SockTuple(ev.Index("tuple"))
	if !ok || st.Family != event.AFInet6 || st.DstAddr != netip.MustParseAddr("2001:db8::1") || st.DstPort != 443 || st.SrcPort != 5000 {
		t.Errorf("tuple = %+v", st)
	}
	if _, err := encodeRecord("nosuchevent", 'X', 1, 1, nil); err == nil {
		t.Error("unknown event type accepted")
	}
	if _, err := encodeRecord("connect", 'X', 1, 1, map[string]any{"tuple": "nonsense"}); err == nil {
		t.Error("bad tuple accepted")
	}
}

func TestJUnit(t *testing.T) {
	r := newTestRunner(t)
	res := runYAML(t, r, `tests:
  - {name: ok, rule: Cat reads shadow, proc: {name: cat}, event: {type: openat, name: /etc/shadow}}
  - {name: "bad <&>", rule: Cat reads shadow, proc: {name: dd}, event: {type: openat, name: /etc/shadow}}
`)
	var b bytes.Buffer
	if err := WriteJUnit(&b, res); err != nil {
		t.Fatal(err)
	}
	var doc junitSuites
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("invalid XML: %v\n%s", err, b.String())
	}
	if doc.Tests != 2 || doc.Failures != 1 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 2 {
		t.Fatalf("junit %+v", doc)
	}
	c := doc.Suites[0].Cases[1]
	if c.Name != "bad <&>" || c.Failure == nil || !strings.Contains(c.Failure.Text, "did not fire") {
		t.Errorf("failed case %+v", c)
	}
	var txt bytes.Buffer
	WriteText(&txt, res, false)
	if !strings.Contains(txt.String(), "FAIL  cases.yaml:3: bad <&>") || !strings.Contains(txt.String(), "2 cases, 1 passed, 1 failed") {
		t.Errorf("text report:\n%s", txt.String())
	}
}

func TestCoverage(t *testing.T) {
	s, err := Parse("c.yaml", []byte(`tests:
  - {rule: A, exec: {name: a}}
  - {rule: A, match: false, exec: {name: a}}
  - {exec: {name: a}, expect: [B], expect_not: [C]}
`))
	if err != nil {
		t.Fatal(err)
	}
	cov := CoverageOf([]*Suite{s})
	if c := cov["A"]; c == nil || c.Positive != 1 || c.Negative != 1 {
		t.Errorf("A: %+v", c)
	}
	if c := cov["B"]; c == nil || c.Positive != 1 || c.Negative != 0 {
		t.Errorf("B: %+v", c)
	}
	if c := cov["C"]; c == nil || c.Positive != 0 || c.Negative != 1 {
		t.Errorf("C: %+v", c)
	}
}

// FuzzParse checks that no test file makes the parser or the runner panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte("tests:\n  - {rule: Cat reads shadow, proc: {name: cat}, event: {type: openat, name: /etc/shadow}}\n"))
	f.Add([]byte("tests:\n  - {exec: {name: bash, container: 0123456789ab, fds: {0: \"tcp:1.2.3.4:5->6.7.8.9:10\"}}, expect: []}\n"))
	f.Add([]byte("tests:\n  - {containers: [{id: 0123456789ab, image: \"nginx:1\", privileged: true, mounts: [{source: /, destination: /host}], pod: {name: p, namespace: n, labels: {a: b}}}], exec: {name: sh, container: 0123456789ab}, expect: []}\n"))
	f.Add([]byte("tests:\n  - {events: [{proc: {name: x}, event: {type: connect, tuple: \"unix:/x\"}}, {event: {type: dup2, oldfd: 3, newfd: 0}}], expect_not: [A]}\n"))
	r, err := NewRunner([]loader.File{{Name: "test_rules.yaml", Data: []byte(testRules)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, c := range s.Cases {
			c.Capture = "" // no file access from fuzz input
			if len(c.Events) == 0 {
				return
			}
		}
		r.Run([]*Suite{s})
	})
}

// TestExtParams checks that the compact form's `realpath` and `io_uring` keys reach
// fd.realpath and evt.is_io_uring as the live probe's extension params do, and that
// fd.realpath falls back to fd.name without them.
func TestExtParams(t *testing.T) {
	r, err := NewRunner([]loader.File{{Name: "ext.yaml", Data: []byte(`
- required_engine_version: 0.50.0
- rule: Resolved shadow
  desc: test rule
  condition: evt.type = openat and evt.dir=< and fd.realpath = /etc/shadow
  output: shadow (name=%fd.name real=%fd.realpath uring=%evt.is_io_uring)
  priority: WARNING
- rule: Uring connect
  desc: test rule
  condition: evt.type = connect and evt.dir=< and evt.is_io_uring = true
  output: uring connect (conn=%fd.name)
  priority: WARNING
`)}})
	if err != nil {
		t.Fatal(err)
	}
	res := runYAML(t, r, `tests:
  - {name: pass symlink, proc: {name: cat}, event: {type: openat, name: /tmp/l, realpath: /etc/shadow}, expect: [{rule: Resolved shadow, output: {fd.name: /tmp/l, fd.realpath: /etc/shadow, evt.is_io_uring: false}}]}
  - {name: pass uring symlink, proc: {name: cat}, event: {type: openat, name: /tmp/l, realpath: /etc/shadow, io_uring: true}, expect: [{rule: Resolved shadow, output: {fd.realpath: /etc/shadow, evt.is_io_uring: true}}]}
  - {name: pass fallback, proc: {name: cat}, event: {type: openat, name: /etc/shadow}, expect: [{rule: Resolved shadow, output: {fd.realpath: /etc/shadow, evt.is_io_uring: false}}]}
  - {name: pass no realpath, proc: {name: cat}, event: {type: openat, name: /tmp/l}, expect: []}
  - {name: pass uring connect, proc: {name: x}, event: {type: connect, tuple: "127.0.0.1:5000->127.0.0.1:80", io_uring: true}, expect: [Uring connect]}
  - {name: pass syscall connect, proc: {name: x}, event: {type: connect, tuple: "127.0.0.1:5000->127.0.0.1:80"}, expect: []}
  - {name: fail realpath on connect, proc: {name: x}, event: {type: connect, tuple: "127.0.0.1:5000->127.0.0.1:80", realpath: /x}, expect: []}
  - {name: fail io_uring not bool, proc: {name: x}, event: {type: connect, io_uring: 3}, expect: []}
`)
	for _, x := range res {
		want := strings.HasPrefix(x.Case.Name, "pass")
		if x.Passed() != want {
			t.Errorf("%s: passed=%v, want %v (failures: %v)", x.Case.Name, x.Passed(), want, x.Failures)
		}
		if !want && !strings.Contains(fmt.Sprint(x.Failures), "`") {
			t.Errorf("%s: failures %v do not name the bad key", x.Case.Name, x.Failures)
		}
	}
}
