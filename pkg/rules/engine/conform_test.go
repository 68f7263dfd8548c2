package engine

import (
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// Falco rule-language corner cases (issue #12): each rules file is compiled against a
// MapSource and its rules are matched on events with known values.

func loadConform(t *testing.T, src string) (*Ruleset, []string, []string) {
	t.Helper()
	rs, errs, warns := Load([]loader.File{{Name: "c.yaml", Data: []byte(src)}}, Options{Sources: map[string]fields.Source{"syscall": mapSource()}})
	return rs, msgs(errs), msgs(warns)
}

func msgs(ms []loader.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.String())
	}
	return out
}

func execEvent(kv ...string) fields.MapEvent {
	ev := fields.MapEvent{"evt.type": {S: "execve"}, "evt.dir": {S: "<"}}
	for i := 0; i+1 < len(kv); i += 2 {
		ev[kv[i]] = fields.Value{S: kv[i+1]}
	}
	return ev
}

// matched returns the names of the rules that match ev.
func matched(rs *Ruleset, ev fields.MapEvent) []string {
	var out []string
	for _, r := range rs.Match("syscall", event.Current("execve", 'X'), ev, false, nil) {
		out = append(out, r.Name)
	}
	return out
}

func TestBareListNameAsValue(t *testing.T) {
	rs, errs, _ := loadConform(t, `
- list: my_list
  items: [cat]
- list: two
  items: [cat, dog]
- rule: eq
  desc: d
  condition: evt.type = execve and proc.name = my_list
  output: o
  priority: info
- rule: eq spaced
  desc: d
  condition: evt.type = execve and proc.name=  my_list
  output: o
  priority: info
- rule: quoted stays a string
  desc: d
  condition: evt.type = execve and proc.name = "my_list"
  output: o
  priority: info
- rule: in
  desc: d
  condition: evt.type = execve and proc.name in (two)
  output: o
  priority: info
`)
	if rs == nil {
		t.Fatal(errs)
	}
	if got := strings.Join(matched(rs, execEvent("proc.name", "cat")), ","); got != "eq,eq spaced,in" {
		t.Errorf("cat matched %q", got)
	}
	if got := strings.Join(matched(rs, execEvent("proc.name", "my_list")), ","); got != "quoted stays a string" {
		t.Errorf("my_list matched %q", got)
	}
	// a list of two items where one value is taken is an error at the value
	_, errs, _ = loadConform(t, `
- list: two
  items: [cat, dog]
- rule: r
  desc: d
  condition: evt.type = execve and proc.name = two
  output: o
  priority: info
`)
	want := `c.yaml:6:48: list 'two' stands for 2 values but operator '=' takes a single value (rule "r")`
	if len(errs) != 1 || errs[0] != want {
		t.Errorf("errors %q, want %q", errs, want)
	}
}

func TestExceptionValueForms(t *testing.T) {
	rs, errs, _ := loadConform(t, `
- list: my_list
  items: [/tmp/a, /tmp/b]
- list: names
  items: [sshd, cron]
- rule: r
  desc: d
  condition: evt.type = execve
  output: o
  priority: info
  exceptions:
    - name: quoted
      fields: [proc.cmdline]
      values:
        - ['"cat /dev/null"']
    - name: bare_list
      fields: [proc.name, fd.name]
      comps: [=, in]
      values:
        - [touch, my_list]
    - name: paren_list
      fields: [proc.name, fd.name]
      comps: [=, in]
      values:
        - [rm, (my_list)]
    - name: inline
      fields: [proc.name, fd.name]
      comps: [=, in]
      values:
        - [mv, [/x, "/y z"]]
    - name: single_field_list
      fields: proc.pname
      values: [names, init]
    - name: spaced
      fields: [proc.cmdline]
      values:
        - [ls -l]
`)
	if rs == nil {
		t.Fatal(errs)
	}
	for _, c := range []struct {
		ev   fields.MapEvent
		want bool // the rule matches (no exception applies)
	}{
		{execEvent("proc.cmdline", "cat /dev/null"), false},
		{execEvent("proc.cmdline", `"cat /dev/null"`), true},
		{execEvent("proc.name", "touch", "fd.name", "/tmp/b"), false},
		{execEvent("proc.name", "touch", "fd.name", "my_list"), true},
		{execEvent("proc.name", "rm", "fd.name", "/tmp/a"), false},
		{execEvent("proc.name", "rm", "fd.name", "/tmp/c"), true},
		{execEvent("proc.name", "mv", "fd.name", "/y z"), false},
		{execEvent("proc.pname", "cron"), false},
		{execEvent("proc.pname", "init"), false},
		{execEvent("proc.pname", "names"), true},
		{execEvent("proc.cmdline", "ls -l"), false},
	} {
		if got := len(matched(rs, c.ev)) == 1; got != c.want {
			t.Errorf("%v: rule matched %v, want %v", c.ev, got, c.want)
		}
	}
}

func TestExceptionErrorsNameTheException(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`
- rule: My Rule
  desc: d
  condition: evt.type = execve
  output: o
  priority: info
  exceptions:
    - name: ex1
      fields: [proc.name, fd.name]
      comps: [=]
      values: []
`, `c.yaml:8:7: exception "ex1": Fields and comps lists must have equal length (rule "My Rule")`},
		// an appended exception whose values have the wrong length
		{`
- rule: My Rule
  desc: d
  condition: evt.type = execve
  output: o
  priority: info
  exceptions:
    - name: ex1
      fields: [proc.name, fd.name]
      values: []
- rule: My Rule
  exceptions:
    - name: ex1
      values:
        - [a]
  override:
    exceptions: append
`, `c.yaml:15:11: exception "ex1": Fields and values lists must have equal length (rule "My Rule")`},
		// a value the field cannot take is reported at the exception, by name
		{`
- rule: My Rule
  desc: d
  condition: evt.type = execve
  output: o
  priority: info
  exceptions:
    - name: ok
      fields: proc.name
      values: [a]
    - name: pids
      fields: [proc.pid]
      values:
        - [abc]
`, `c.yaml:11:7: exception "pids": invalid value "abc" for field 'proc.pid': expected an integer (rule "My Rule")`},
		// the same in an exception added by an append
		{`
- rule: My Rule
  desc: d
  condition: evt.type = execve
  output: o
  priority: info
- rule: My Rule
  exceptions:
    - name: late
      fields: [proc.pid]
      values:
        - [abc]
  override:
    exceptions: append
`, `c.yaml:9:7: exception "late": invalid value "abc" for field 'proc.pid': expected an integer (rule "My Rule")`},
	} {
		_, errs, _ := loadConform(t, c.src)
		if len(errs) == 0 || errs[0] != c.want {
			t.Errorf("errors %q\nwant %q", errs, c.want)
		}
	}
}

func TestSkipIfUnknownFilterEventTypeAndOutput(t *testing.T) {
	rs, errs, warns := loadConform(t, `
- rule: future type
  desc: d
  condition: evt.type = future_syscall
  output: o
  priority: info
  skip-if-unknown-filter: true
- rule: future output
  desc: d
  condition: evt.type = execve
  output: "%proc.name %future.field"
  priority: info
  skip-if-unknown-filter: true
- rule: kept
  desc: d
  condition: evt.type = execve
  output: "%proc.name"
  priority: info
`)
	if rs == nil {
		t.Fatal(errs)
	}
	for _, want := range []string{
		`c.yaml:2:3: unknown event type 'future_syscall'; rule skipped (skip-if-unknown-filter) (rule "future type")`,
		`c.yaml:8:3: invalid output: unknown field 'future.field'; rule skipped (skip-if-unknown-filter) (rule "future output")`,
	} {
		if !contains(warns, want) {
			t.Errorf("missing warning %s in %q", want, warns)
		}
	}
	if got := strings.Join(matched(rs, execEvent("proc.name", "x")), ","); got != "kept" {
		t.Errorf("matched %q", got)
	}
	// without the flag both are errors
	_, errs, _ = loadConform(t, `
- rule: future output
  desc: d
  condition: evt.type = execve
  output: "%proc.name %future.field"
  priority: info
`)
	if len(errs) != 1 || !strings.Contains(errs[0], "unknown field 'future.field'") {
		t.Errorf("errors %q", errs)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestUnusedMacrosAreResolved(t *testing.T) {
	_, errs, _ := loadConform(t, `
- macro: unused
  condition: evt.type = open
- macro: unused
  condition: and undefined_macro
  override:
    condition: append
- rule: r
  desc: d
  condition: evt.type = execve
  output: o
  priority: info
`)
	want := `c.yaml:5:18: undefined macro 'undefined_macro' (macro "unused")`
	if len(errs) != 1 || errs[0] != want {
		t.Errorf("errors %q, want %q", errs, want)
	}
	// an unused macro naming a defined macro and a list: they count as used
	_, errs, warns := loadConform(t, `
- list: names
  items: [x]
- macro: base
  condition: evt.type = open
- macro: unused
  condition: base and proc.name in (names)
- rule: r
  desc: d
  condition: evt.type = execve
  output: o
  priority: info
`)
	if len(errs) != 0 {
		t.Fatal(errs)
	}
	if all := strings.Join(warns, "\n"); strings.Contains(all, `(macro "base")`) || strings.Contains(all, `(list "names")`) || !strings.Contains(all, `(macro "unused")`) {
		t.Errorf("warnings %q", warns)
	}
}

func TestContainerInfoOutput(t *testing.T) {
	rs, errs, warns := loadConform(t, `
- rule: r
  desc: d
  condition: evt.type = execve
  output: "shell %proc.name %container.info cmd=%proc.cmdline"
  priority: info
`)
	if rs == nil {
		t.Fatal(errs)
	}
	if !contains(warns, `c.yaml:5:12: %container.info is deprecated: it is rendered as %container.name (id=%container.id) (rule "r")`) {
		t.Errorf("warnings %q", warns)
	}
	ev := execEvent("proc.name", "bash", "proc.cmdline", "bash -i", "container.name", "web", "container.id", "0123456789ab")
	vals := map[string]any{}
	if got := rs.Rules[0].Output.Render(ev, vals); got != "shell bash web (id=0123456789ab) cmd=bash -i" {
		t.Errorf("rendered %q", got)
	}
	if vals["container.name"] != "web" || vals["container.id"] != "0123456789ab" {
		t.Errorf("output fields %v", vals)
	}
}

func TestTooManyEventTypesWarning(t *testing.T) {
	_, errs, warns := loadConform(t, `
- rule: ne
  desc: d
  condition: evt.type != open
  output: o
  priority: info
- rule: not eq
  desc: d
  condition: not evt.type = open and proc.name = x
  output: o
  priority: info
- rule: no type
  desc: d
  condition: proc.name = x
  output: o
  priority: info
- rule: not in
  desc: d
  condition: not evt.type in (open, openat, execve)
  output: o
  priority: info
- rule: restricted
  desc: d
  condition: evt.type in (open, openat) and proc.name = x
  output: o
  priority: info
- rule: restricted negation
  desc: d
  condition: not (evt.type != execve)
  output: o
  priority: info
- rule: quiet
  desc: d
  condition: evt.type != open
  output: o
  priority: info
  warn_evttypes: false
`)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, w := range warns {
		if strings.Contains(w, "too many evt.type values") {
			got = append(got, w[strings.LastIndex(w, "(rule"):])
		}
	}
	want := `(rule "ne") (rule "not eq") (rule "no type") (rule "not in")`
	if strings.Join(got, " ") != want {
		t.Errorf("warned for %v, want %s", got, want)
	}
}
