package engine

import (
	"slices"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

func mapSource() *fields.MapSource {
	return &fields.MapSource{CatalogSource: fields.CatalogSource{SourceName: "syscall", Catalog: fields.SyscallCatalog(),
		Codes: func(t string) ([]uint16, bool) { c := event.ByName(t); return c, len(c) > 0 }, NumCodes: event.NumEvents}}
}

func TestMatchIndexExceptionsAndOutput(t *testing.T) {
	src := `
- list: shells
  items: [sh, bash]
- macro: spawned
  condition: evt.type = execve and evt.dir = <
- rule: shell
  desc: a shell ran
  condition: spawned and proc.name in (shells)
  output: "shell %proc.name parent=%proc.pname cmd=%proc.cmdline lport=%fd.lport"
  priority: warning
  tags: [process, shell]
  exceptions:
    - name: known_parents
      fields: [proc.pname, proc.cmdline]
      comps: [=, startswith]
      values:
        - [cron, "sh -c run-parts"]
    - name: known_names
      fields: proc.pname
      values: [sshd]
- rule: any exec
  desc: every exec
  condition: spawned
  output: "exec %proc.name"
  priority: debug
- rule: opens
  desc: shadow read
  condition: evt.type = openat and fd.name = /etc/shadow
  output: "open %fd.name"
  priority: error
`
	rs, errs, _ := Load([]loader.File{{Name: "m.yaml", Data: []byte(src)}}, Options{Sources: map[string]fields.Source{"syscall": mapSource()}})
	if rs == nil {
		t.Fatal(errs)
	}
	execX := event.Current("execve", 'X')
	openatX := event.Current("openat", 'X')
	names := func(rules []*Rule) []string {
		var out []string
		for _, r := range rules {
			out = append(out, r.Name)
		}
		return out
	}
	// The index: exec rules only for execve codes, the open rule only for openat codes.
	if got := names(rs.Candidates("syscall", execX)); len(got) != 2 || got[0] != "shell" || got[1] != "any exec" {
		t.Errorf("execve candidates %v", got)
	}
	if got := names(rs.Candidates("syscall", openatX)); len(got) != 1 || got[0] != "opens" {
		t.Errorf("openat candidates %v", got)
	}
	if got := rs.Candidates("syscall", event.Current("close", 'X')); len(got) != 0 {
		t.Errorf("close candidates %v", names(got))
	}
	// Any answers for Match: true exactly for the codes with candidates.
	sys := rs.Source("syscall")
	for code, want := range map[uint16]bool{execX: true, openatX: true, event.Current("close", 'X'): false, 65535: false} {
		if got := sys.Any(code); got != want {
			t.Errorf("Any(%d) = %v, want %v", code, got, want)
		}
	}
	if (*SourceRules)(nil).Any(execX) {
		t.Error("a source without rules has candidates")
	}
	ev := func(pname, cmdline string) fields.MapEvent {
		return fields.MapEvent{"evt.type": {S: "execve"}, "evt.dir": {S: "<"}, "proc.name": {S: "bash"},
			"proc.pname": {S: pname}, "proc.cmdline": {S: cmdline}}
	}
	for _, tc := range []struct {
		ev    fields.MapEvent
		first bool
		want  []string
	}{
		{ev("node", "bash -i"), false, []string{"shell", "any exec"}},
		{ev("node", "bash -i"), true, []string{"shell"}},
		{ev("cron", "sh -c run-parts /etc/cron.daily"), false, []string{"any exec"}}, // exception tuple
		{ev("cron", "bash -i"), false, []string{"shell", "any exec"}},                // half a tuple is no exception
		{ev("sshd", "bash"), false, []string{"any exec"}},                            // single-field exception
	} {
		got := names(rs.Match("syscall", execX, tc.ev, tc.first, nil))
		if len(got) != len(tc.want) {
			t.Errorf("%v first=%v: matched %v, want %v", tc.ev, tc.first, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%v: matched %v, want %v", tc.ev, got, tc.want)
			}
		}
	}
	r := rs.Match("syscall", execX, ev("node", "bash -i"), true, nil)[0]
	vals := map[string]any{}
	if out := r.Output.Render(ev("node", "bash -i"), vals); out != "shell bash parent=node cmd=bash -i lport=<NA>" {
		t.Errorf("output %q", out)
	}
	if vals["proc.name"] != "bash" || vals["fd.lport"] != nil || len(vals) != 4 {
		t.Errorf("output fields %v", vals)
	}
	if r.Priority.String() != "Warning" || len(r.Tags) != 2 {
		t.Errorf("rule meta %v %v", r.Priority, r.Tags)
	}
	codes, all := rs.EventCodes("syscall")
	if all || len(codes) != len(event.ByName("execve"))+len(event.ByName("openat")) {
		t.Errorf("EventCodes: %v all=%v", codes, all)
	}
}

// numberedSource is mapSource numbering its events by their "n" key (fields.EventSerialer;
// no key: unnumbered), counting its reads of proc.name.
type numberedSource struct {
	*fields.MapSource
	reads int
}

func (s *numberedSource) EventSerial(ev fields.Event) (uint64, bool) {
	v, ok := ev.(fields.MapEvent)["n"]
	return v.N, ok && v.N != 0
}

func (s *numberedSource) Extractor(info fields.Info, arg string) (fields.Extractor, error) {
	ext, err := s.MapSource.Extractor(info, arg)
	if info.Name != "proc.name" {
		return ext, err
	}
	return func(ev fields.Event) (fields.Value, bool) { s.reads++; return ext(ev) }, err
}

// loadNumbered loads rules over a numberedSource.
func loadNumbered(t *testing.T, src string) (*Ruleset, *numberedSource) {
	t.Helper()
	s := &numberedSource{MapSource: mapSource()}
	rs, errs, _ := Load([]loader.File{{Name: "m.yaml", Data: []byte(src)}}, Options{Sources: map[string]fields.Source{"syscall": s}})
	if rs == nil {
		t.Fatal(errs)
	}
	return rs, s
}

// openOf is an openat exit of /etc/passwd by a process named name, numbered n (0: none).
func openOf(n uint64, name string) fields.MapEvent {
	e := fields.MapEvent{"evt.type": {S: "openat"}, "proc.name": {S: name}, "fd.name": {S: "/etc/passwd"}}
	if n != 0 {
		e["n"] = fields.Value{N: n}
	}
	return e
}

// A macro two rules use is read once per numbered event, whichever rule reads it first. An
// unnumbered event has every step called, also when a memory was never written (its serial
// is still 0).
func TestMatchReadsMacroMemories(t *testing.T) {
	src := `
- macro: bashy
  condition: proc.name = bash
- rule: one
  desc: d
  condition: evt.type = openat and bashy and fd.name startswith /etc
  output: o
  priority: error
- rule: two
  desc: d
  condition: evt.type = openat and bashy
  output: o
  priority: error
`
	openatX := event.Current("openat", 'X')
	rs, s := loadNumbered(t, src)
	for _, tc := range []struct {
		ev    fields.MapEvent
		want  int
		reads int
	}{
		{openOf(0, "bash"), 2, 2}, // unnumbered first: the memory's serial is 0, both rules read
		{openOf(1, "bash"), 2, 1},
		{openOf(2, "sh"), 0, 1},
		{openOf(0, "sh"), 0, 2},
		{openOf(0, "bash"), 2, 2},
		{openOf(3, "bash"), 2, 1},
	} {
		before := s.reads
		got := rs.Match("syscall", openatX, tc.ev, false, nil)
		if len(got) != tc.want || s.reads-before != tc.reads {
			t.Errorf("%v: %d matches with %d reads of proc.name, want %d with %d", tc.ev, len(got), s.reads-before, tc.want, tc.reads)
		}
	}
}

// A rule tests the macros other rules of the event's code share before its own terms: once
// an earlier rule found the macro false for the event, the rule is done with no call (here
// rule two's own test of proc.name is not read on "sh").
func TestMatchTestsSharedMacrosFirst(t *testing.T) {
	src := `
- macro: bashy
  condition: proc.name startswith bash
- rule: one
  desc: d
  condition: evt.type = openat and bashy and fd.name startswith /etc
  output: o
  priority: error
- rule: two
  desc: d
  condition: evt.type = openat and proc.name endswith x and bashy
  output: o
  priority: error
`
	openatX := event.Current("openat", 'X')
	rs, s := loadNumbered(t, src)
	for _, tc := range []struct {
		n     uint64
		name  string
		want  []string
		reads int
	}{
		{1, "bashx", []string{"one", "two"}, 2},
		{2, "bash", []string{"one"}, 2},
		{3, "sh", nil, 1},
		{4, "shx", nil, 1},
		{0, "shx", nil, 2}, // unnumbered: every rule reads its own
		{0, "bashx", []string{"one", "two"}, 3},
	} {
		ev := openOf(tc.n, tc.name)
		before := s.reads
		var got []string
		for _, r := range rs.Match("syscall", openatX, ev, false, nil) {
			got = append(got, r.Name)
		}
		if !slices.Equal(got, tc.want) || s.reads-before != tc.reads {
			t.Errorf("event %d (%s): matches %v with %d reads of proc.name, want %v with %d", tc.n, tc.name, got, s.reads-before, tc.want, tc.reads)
		}
	}
}
