package compiler

import (
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

// foldSource is testSrc with evt.dir decided by the code (as the syscall source does), for
// Result.Steps.
type foldSource struct{ *fields.MapSource }

func (foldSource) MayFold(info fields.Info) bool { return info.Name == "evt.dir" }

func (foldSource) Outcomes(info fields.Info, arg string, code uint16) ([]fields.Outcome, bool) {
	if info.Name != "evt.dir" {
		return nil, false
	}
	d := "<"
	if event.Table[code].Dir == 'E' {
		d = ">"
	}
	return []fields.Outcome{{V: fields.Value{S: d}, OK: true}}, true
}

// allSteps is the conjunction of steps, as the rule engine evaluates it.
func allSteps(steps []Step, ev fields.Event) bool {
	for _, s := range steps {
		if !s.F(ev) {
			return false
		}
	}
	return true
}

func TestStepsFoldWhatTheCodeDecides(t *testing.T) {
	openE, openX := event.Current("open", 'E'), event.Current("open", 'X')
	env := &Env{Source: foldSource{testSrc}, Macros: map[string]*Macro{}}
	macro := func(name, cond string) {
		env.Macros[name] = &Macro{Name: name, Expr: parse(t, cond)}
	}
	macro("exit", "evt.dir = <")
	macro("named", "exit and proc.name = cat")
	exitEv := testEvent{"evt.dir": str("<"), "proc.name": str("cat")}
	other := testEvent{"evt.dir": str("<"), "proc.name": str("ls")}
	for _, c := range []struct {
		cond          string
		code          uint16
		always, never bool
		steps         int
	}{
		{"evt.dir = <", openX, true, false, 0},
		{"evt.dir = <", openE, false, true, 0},
		{"not evt.dir = <", openE, true, false, 0},
		{"evt.dir = < and proc.name = cat", openE, false, true, 0},
		{"evt.dir = < and proc.name = cat", openX, false, false, 1},
		{"evt.dir = > or proc.name = cat", openE, true, false, 0},
		{"evt.dir = > or proc.name = cat", openX, false, false, 1},
		{"named", openE, false, true, 0},
		{"named", openX, false, false, 1},
		{"not named", openE, true, false, 0},
		{"proc.name = cat and not exit", openX, false, true, 0},
		{"evt.dir exists", openE, true, false, 0},
		{"proc.name = cat and (exit and proc.name != ls) and named", openX, false, false, 3},
	} {
		r := compile(t, env, c.cond)
		steps, never := r.Steps(c.code)
		always := len(steps) == 0 && !never // (no step left: every event of the code matches)
		if always != c.always || never != c.never || len(steps) != c.steps {
			t.Errorf("%q for %s %c: always %v never %v %d steps, want %v %v %d", c.cond, event.Table[c.code].Name, event.Table[c.code].Dir, always, never, len(steps), c.always, c.never, c.steps)
			continue
		}
		if len(steps) > 0 {
			for _, ev := range []testEvent{exitEv, other} {
				if allSteps(steps, ev) != r.Filter(ev) {
					t.Errorf("%q for code %d on %v: steps %v, as written %v", c.cond, c.code, ev, allSteps(steps, ev), r.Filter(ev))
				}
			}
		}
	}
}

// The steps of a conjunction are its conjuncts, nested "and"s flattened; a macro's step has
// the macro's memory, which holds the macro's result under the event's serial once the step
// ran, and which every rule using the macro shares (the macro is read once per event).
func TestStepsCarryMacroMemories(t *testing.T) {
	src := &serialSource{MapSource: testSrc}
	env := &Env{Source: src, Macros: map[string]*Macro{"is_bash": {Name: "is_bash", Expr: parse(t, "proc.name = bash")}}}
	a := compile(t, env, "is_bash and (fd.sport = 1 and fd.sport != 2) and (fd.sport = 3 or is_bash)")
	b := compile(t, env, "fd.sport = 1 and is_bash")
	code := event.Current("open", 'X')
	sa, _ := a.Steps(code)
	sb, _ := b.Steps(code)
	if len(sa) != 4 || len(sb) != 2 {
		t.Fatalf("%d and %d steps, want 4 and 2", len(sa), len(sb))
	}
	for i, s := range sa {
		if (s.Memo != nil) != (i == 0) {
			t.Errorf("step %d of a: memory %v, want one only on the macro's step (0)", i, s.Memo != nil)
		}
	}
	if sb[1].Memo == nil || sb[1].Memo != sa[0].Memo {
		t.Fatalf("the two rules' is_bash steps do not share one memory")
	}
	for n, name := range map[uint64]string{1: "bash", 2: "sh"} {
		ev := fields.MapEvent{"n": {N: n}, "proc.name": str(name), "fd.sport": num(1)}
		reads := src.reads
		got := allSteps(sa, ev)
		if got != a.Filter(ev) || allSteps(sb, ev) != b.Filter(ev) {
			t.Errorf("event %d: steps and filters disagree", n)
		}
		if m := sa[0].Memo; m.Serial != n || m.Val != (name == "bash") {
			t.Errorf("event %d: memory %+v, want {%d %v}", n, *m, n, name == "bash")
		}
		if src.reads != reads+1 {
			t.Errorf("event %d: proc.name read %d times, want once", n, src.reads-reads)
		}
	}
}

func parse(t *testing.T, cond string) ast.Expr {
	t.Helper()
	e, err := parser.ParseCondition(cond)
	if err != nil {
		t.Fatalf("parse %q: %v", cond, err)
	}
	return e
}
