package compiler

import (
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

// foldSource is testSrc with evt.dir decided by the code (as the syscall source does), for
// Result.For.
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

func TestForFoldsWhatTheCodeDecides(t *testing.T) {
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
		cond               string
		code               uint16
		always, never, dyn bool
	}{
		{"evt.dir = <", openX, true, false, false},
		{"evt.dir = <", openE, false, true, false},
		{"not evt.dir = <", openE, true, false, false},
		{"evt.dir = < and proc.name = cat", openE, false, true, false},
		{"evt.dir = < and proc.name = cat", openX, false, false, true},
		{"evt.dir = > or proc.name = cat", openE, true, false, false},
		{"evt.dir = > or proc.name = cat", openX, false, false, true},
		{"named", openE, false, true, false},
		{"named", openX, false, false, true},
		{"not named", openE, true, false, false},
		{"proc.name = cat and not exit", openX, false, true, false},
		{"evt.dir exists", openE, true, false, false},
	} {
		r := compile(t, env, c.cond)
		f, always, never := r.For(c.code)
		if always != c.always || never != c.never || (f != nil) != c.dyn {
			t.Errorf("%q for %s %c: always %v never %v filter %v, want %v %v %v", c.cond, event.Table[c.code].Name, event.Table[c.code].Dir, always, never, f != nil, c.always, c.never, c.dyn)
			continue
		}
		if f != nil {
			for _, ev := range []testEvent{exitEv, other} {
				if f(ev) != r.Filter(ev) {
					t.Errorf("%q for code %d on %v: specialized %v, as written %v", c.cond, c.code, ev, f(ev), r.Filter(ev))
				}
			}
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
