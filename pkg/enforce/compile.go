// Package enforce is Saker's in-kernel enforcement: it compiles the conditions of rules with
// `enforce: kill` into the clause tables of the probe's sys_enter program (pkg/probe,
// bpf/enforce.h), which sends SIGKILL to a matching process before its syscall runs, keeps the
// set of never-killed processes (pid 1, Saker, the container runtime, the kubelet, the
// allowlist) up to date, and turns the probe's enforcement reports into alerts of source
// "response".
//
// Only what the probe can decide at syscall entry compiles: the event type (execve, execveat,
// open, openat, openat2, creat, connect), proc.name, proc.exe, proc.exepath (execve),
// proc.pname, proc.aname[N] / proc.aname (8 levels), container.id = host, user.uid, the path
// argument (fd.name, fs.path.name, evt.arg.* of the path) and connect's fd.rport / fd.rip,
// with =, !=, in, startswith (strings) and the numeric comparisons, under and/or/not. Any
// other field, operator or transformer is refused at load time with the rules file position
// of the sub-expression.
package enforce

import (
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/compiler"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

// MaxClausesPerRule bounds the alternatives (disjuncts) one rule may compile to.
const MaxClausesPerRule = 64

// Program is the compiled enforcement of a ruleset: the clauses for the probe, and the rule
// name of each clause's Rule index.
type Program struct {
	Rules   []string
	Clauses []probe.EnforceClause
}

// Error is a condition (or a part of it) that cannot run in the kernel.
type Error struct {
	Pos   loader.Pos
	Rule  string
	Macro string // the macro holding Expr, "" when it is in the rule's condition
	Expr  string
	Msg   string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: rule %q: %s", e.Pos, e.Rule, e.Detail()) }

// Detail is the message without the position and the rule.
func (e *Error) Detail() string {
	in := ""
	if e.Macro != "" {
		in = fmt.Sprintf(" (in macro '%s')", e.Macro)
	}
	return fmt.Sprintf("enforce: kill: `%s`%s cannot run in the kernel: %s", e.Expr, in, e.Msg)
}

// Compile compiles the enabled rules of rs with `enforce: kill`. The error joins one *Error
// per refused rule; the Program holds the rules that compiled.
func Compile(rs *engine.Ruleset) (*Program, error) {
	prog := &Program{}
	var errs []error
	if rs == nil {
		return prog, nil
	}
	for _, r := range rs.Rules {
		if r.Def == nil || r.Def.Enforce != "kill" || !r.Enabled {
			continue
		}
		cls, err := compileRule(r.Def, rs.Macros, rs.Lists)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		idx := uint32(len(prog.Rules))
		prog.Rules = append(prog.Rules, r.Name)
		for _, c := range cls {
			c.Rule = idx
			prog.Clauses = append(prog.Clauses, c)
		}
	}
	if len(prog.Clauses) > probe.EnfMaxClauses {
		errs = append(errs, fmt.Errorf("enforce: the rules compile to %d kernel clauses, at most %d", len(prog.Clauses), probe.EnfMaxClauses))
	}
	return prog, errors.Join(errs...)
}

type cstate struct {
	def    *loader.Rule
	macros func(string) (ast.Expr, bool)
	lists  map[string][]string
	macro  string // macro being expanded
	stack  []string
}

// atom is one leaf after negations are pushed down.
type atom struct {
	types []string // an evt.type check: the set of names (neg: not in the set)
	pred  *probe.EnforcePred
	field string // the field of pred (to check it against the clause's syscalls)
	node  ast.Node
	macro string
	neg   bool
	truth bool // a check that always holds at entry (evt.dir, a success result)
}

type conj []atom

func (s *cstate) errAt(n ast.Node, macro, format string, args ...any) *Error {
	e := &Error{Rule: s.def.Name, Macro: macro, Msg: fmt.Sprintf(format, args...), Pos: s.def.Condition.Pos}
	if ex, ok := n.(ast.Expr); ok {
		e.Expr = ast.Print(ex)
	} else if n != nil {
		e.Expr = fmt.Sprint(n)
	}
	if macro == "" && n != nil {
		e.Pos = s.def.Condition.Locate(n.Pos())
	}
	return e
}

func compileRule(def *loader.Rule, macros map[string]*compiler.Macro, lists map[string][]string) ([]probe.EnforceClause, error) {
	s := &cstate{def: def, lists: lists, macros: func(n string) (ast.Expr, bool) {
		m, ok := macros[n]
		if !ok || m == nil {
			return nil, false
		}
		return m.Expr, true
	}}
	if len(def.Exceptions) > 0 {
		return nil, &Error{Pos: def.Exceptions[0].Pos, Rule: def.Name, Expr: "exceptions", Msg: "a rule with exceptions cannot be enforced in the kernel (fold them into the condition)"}
	}
	e, err := parser.ParseCondition(def.Condition.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: rule %q: %v", def.Condition.Pos, def.Name, err)
	}
	dnf, err := s.dnf(e, false)
	if err != nil {
		return nil, err
	}
	var out []probe.EnforceClause
	for _, c := range dnf {
		cl, ok, err := s.clause(c, e)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, cl)
		}
	}
	if len(out) == 0 {
		return nil, s.errAt(e, "", "the condition matches no syscall enforcement can test")
	}
	return out, nil
}

// product is the conjunction of two DNFs.
func (s *cstate) product(a, b []conj, n ast.Node) ([]conj, error) {
	if len(a)*len(b) > MaxClausesPerRule {
		return nil, s.errAt(n, s.macro, "more than %d alternatives (or/in) once expanded", MaxClausesPerRule)
	}
	var out []conj
	for _, x := range a {
		for _, y := range b {
			c := append(append(conj{}, x...), y...)
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *cstate) dnf(e ast.Expr, neg bool) ([]conj, error) {
	switch n := e.(type) {
	case *ast.ParenExpr:
		return s.dnf(n.X, neg)
	case *ast.NotExpr:
		return s.dnf(n.X, !neg)
	case *ast.BinaryExpr:
		x, err := s.dnf(n.X, neg)
		if err != nil {
			return nil, err
		}
		y, err := s.dnf(n.Y, neg)
		if err != nil {
			return nil, err
		}
		if (n.Op == ast.And) != neg {
			return s.product(x, y, n)
		}
		if len(x)+len(y) > MaxClausesPerRule {
			return nil, s.errAt(n, s.macro, "more than %d alternatives (or/in) once expanded", MaxClausesPerRule)
		}
		return append(x, y...), nil
	case *ast.MacroRef:
		m, ok := s.macros(n.Name)
		if !ok {
			return nil, s.errAt(n, s.macro, "undefined macro '%s'", n.Name)
		}
		for _, st := range s.stack {
			if st == n.Name {
				return nil, s.errAt(n, s.macro, "macro cycle through '%s'", n.Name)
			}
		}
		saved := s.macro
		s.stack = append(s.stack, n.Name)
		s.macro = n.Name
		d, err := s.dnf(m, neg)
		s.macro = saved
		s.stack = s.stack[:len(s.stack)-1]
		if err != nil {
			var pe *Error
			if errors.As(err, &pe) && saved == "" && pe.Macro != "" {
				// locate the macro reference in the rule's condition
				pe.Pos = s.def.Condition.Locate(n.Pos())
			}
		}
		return d, err
	case *ast.UnaryCheck:
		return nil, s.errAt(n, s.macro, "'exists' is not tested in the kernel")
	case *ast.Compare:
		return s.leaf(n, neg)
	}
	return nil, s.errAt(e, s.macro, "unsupported expression")
}

// values of a compare's operand, lists expanded.
func (s *cstate) values(n *ast.Compare) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	var add func(v string, quoted bool, depth int)
	add = func(v string, quoted bool, depth int) {
		if items, ok := s.lists[v]; ok && !quoted && depth < 16 && !seen[v] {
			seen[v] = true
			for _, it := range items {
				add(it, false, depth+1)
			}
			return
		}
		out = append(out, v)
	}
	switch v := n.Value.(type) {
	case *ast.Literal:
		add(v.Value, v.Quoted, 0)
	case *ast.ListLit:
		for _, it := range v.Items {
			add(it.Value, it.Quoted, 0)
		}
	default:
		return nil, s.errAt(n, s.macro, "a field compared with another field")
	}
	return out, nil
}

// pathFields name the path argument: of an open only (fd-like), or of an open or an execve.
var pathFields = map[string]bool{
	"fd.name": true, "fs.path.name": true, "evt.arg.name": true, "evt.arg.path": false,
	"evt.arg.pathname": false, "evt.arg.filename": false,
}

// leaf compiles one check under neg into DNF.
func (s *cstate) leaf(n *ast.Compare, neg bool) ([]conj, error) {
	f := n.Field
	if len(f.Transformers) > 0 {
		return nil, s.errAt(n, s.macro, "transformers (%s) are not applied in the kernel", strings.Join(f.Transformers, ", "))
	}
	name := f.Name
	op := n.Op
	mk := func(a atom) atom { a.node, a.macro = n, s.macro; return a }
	vals, err := s.values(n)
	if err != nil {
		return nil, err
	}
	if op != "in" && len(vals) != 1 {
		return nil, s.errAt(n, s.macro, "operator '%s' takes one value", op)
	}
	switch name {
	case "evt.type":
		switch op {
		case "=", "in":
		case "!=":
			neg = !neg
		default:
			return nil, s.errAt(n, s.macro, "operator '%s' on evt.type", op)
		}
		return []conj{{mk(atom{types: vals, neg: neg})}}, nil
	case "evt.dir":
		return []conj{{mk(atom{truth: true})}}, nil
	case "evt.res", "evt.rawres", "evt.arg.res", "evt.failed":
		v := vals[0]
		ok := !neg && ((name == "evt.res" && op == "=" && v == "SUCCESS") ||
			(name == "evt.failed" && op == "=" && v == "false") ||
			((name == "evt.rawres" || name == "evt.arg.res") && ((op == "=" && v == "0") || (op == ">=" && v == "0"))))
		if !ok {
			return nil, s.errAt(n, s.macro, "the syscall's result is not known at entry (only a success check is accepted: the kill prevents the call)")
		}
		return []conj{{mk(atom{truth: true})}}, nil
	}

	// string or number predicates
	var field uint8
	var arg uint8
	isStr := true
	key := name
	switch {
	case name == "proc.name":
		field = probe.EnfName
	case name == "proc.pname":
		field, arg = probe.EnfName, 1
	case name == "proc.aname" && !f.HasArg:
		field = probe.EnfAncAny
	case name == "proc.aname":
		lv, err := strconv.Atoi(f.Arg)
		if err != nil || lv < 0 || lv > probe.EnfMaxAncestors {
			return nil, s.errAt(n, s.macro, "proc.aname[%s]: only levels 0..%d are walked in the kernel", f.Arg, probe.EnfMaxAncestors)
		}
		field, arg = probe.EnfName, uint8(lv)
		if lv == 0 {
			key = "proc.name"
		}
	case name == "proc.exe":
		field = probe.EnfExe
	case name == "proc.exepath":
		field = probe.EnfPath
	case hasKey(pathFields, name):
		field = probe.EnfPath
		key = "arg.path"
		if pathFields[name] {
			key = "path"
		}
	case name == "user.uid":
		field, isStr = probe.EnfUID, false
	case name == "container.id":
		if !(op == "=" || op == "!=") || vals[0] != "host" {
			return nil, s.errAt(n, s.macro, "only container.id = host and container.id != host are known in the kernel")
		}
		p := probe.EnforcePred{Field: probe.EnfContainer, Op: probe.EnfEq, Num: 0, Neg: neg != (op == "!=")}
		return []conj{{mk(atom{pred: &p, field: name})}}, nil
	case name == "fd.rport":
		field, isStr = probe.EnfRPort, false
	case name == "fd.rip":
		field, isStr = probe.EnfRIP4, false
	default:
		return nil, s.errAt(n, s.macro, "field %s is not known to the probe at syscall entry", fieldText(f))
	}
	if f.HasArg && name != "proc.aname" {
		return nil, s.errAt(n, s.macro, "field %s takes no argument in the kernel", fieldText(f))
	}
	var preds []probe.EnforcePred
	eqNeg := false
	pop := uint8(0)
	switch op {
	case "=", "in":
		pop = probe.EnfEq
	case "!=":
		pop, eqNeg = probe.EnfEq, true
	case "startswith":
		if !isStr {
			return nil, s.errAt(n, s.macro, "startswith on a number")
		}
		pop = probe.EnfPrefix
	case "<":
		pop = probe.EnfLess
	case ">":
		pop = probe.EnfMore
	case "<=":
		pop, eqNeg = probe.EnfMore, true
	case ">=":
		pop, eqNeg = probe.EnfLess, true
	default:
		return nil, s.errAt(n, s.macro, "operator '%s' is not evaluated in the kernel (=, !=, in, startswith, <, <=, >, >= are)", op)
	}
	if isStr && pop != probe.EnfEq && pop != probe.EnfPrefix {
		return nil, s.errAt(n, s.macro, "operator '%s' on a string", op)
	}
	for _, v := range vals {
		p := probe.EnforcePred{Field: field, Op: pop, Arg: arg, Neg: eqNeg}
		if isStr {
			max := probe.EnfMaxStr
			if field == probe.EnfName || field == probe.EnfAncAny {
				max = 15
			}
			if len(v) > max {
				return nil, s.errAt(n, s.macro, "value %q is longer than the %d bytes the kernel compares", v, max)
			}
			p.Str = v
		} else if field == probe.EnfRIP4 {
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return nil, s.errAt(n, s.macro, "only IPv4 addresses are compared in the kernel (%q)", v)
			}
			b := a.As4()
			p.Num = uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])
		} else {
			u, err := strconv.ParseUint(v, 0, 64)
			if err != nil {
				return nil, s.errAt(n, s.macro, "%q is not a number", v)
			}
			p.Num = u
		}
		preds = append(preds, p)
	}
	// `x in (a, b)` is x=a or x=b; negated, x!=a and x!=b.
	if !neg {
		var out []conj
		if len(preds) > MaxClausesPerRule {
			return nil, s.errAt(n, s.macro, "more than %d values", MaxClausesPerRule)
		}
		for i := range preds {
			out = append(out, conj{mk(atom{pred: &preds[i], field: key})})
		}
		return out, nil
	}
	var c conj
	for i := range preds {
		preds[i].Neg = !preds[i].Neg
		c = append(c, mk(atom{pred: &preds[i], field: key}))
	}
	return []conj{c}, nil
}

func fieldText(f *ast.FieldRef) string {
	if f.HasArg {
		return f.Name + "[" + f.Arg + "]"
	}
	return f.Name
}

// clause turns one conjunction into a probe clause; ok false when it can never match.
func (s *cstate) clause(c conj, root ast.Expr) (probe.EnforceClause, bool, error) {
	var set map[string]bool
	var typeNode *atom
	for i := range c {
		a := &c[i]
		if a.types == nil || a.neg {
			continue
		}
		typeNode = a
		cur := map[string]bool{}
		for _, t := range a.types {
			if ok, _, _, _ := probe.EnforceSyscall(t); !ok {
				return probe.EnforceClause{}, false, s.errAt(a.node, a.macro, "evt.type %s cannot be enforced (only execve, execveat, open, openat, openat2, creat, connect)", t)
			}
			if set == nil || set[t] {
				cur[t] = true
			}
		}
		set = cur
	}
	if set == nil {
		return probe.EnforceClause{}, false, s.errAt(root, "", "the condition must restrict evt.type to the syscalls enforcement tests (execve, execveat, open, openat, openat2, creat, connect)")
	}
	for _, a := range c {
		if a.types != nil && a.neg {
			for _, t := range a.types {
				delete(set, t)
			}
		}
	}
	if len(set) == 0 {
		return probe.EnforceClause{}, false, nil
	}
	var names []string
	for t := range set {
		names = append(names, t)
	}
	sort.Strings(names)
	_ = typeNode
	var preds []probe.EnforcePred
	for _, a := range c {
		if a.pred == nil {
			continue
		}
		for _, t := range names {
			_, path, exec, sock := probe.EnforceSyscall(t)
			var bad string
			switch a.field {
			case "proc.exepath":
				if !exec {
					bad = "proc.exepath is known in the kernel for execve only"
				}
			case "arg.path":
				if !path {
					bad = fmt.Sprintf("%s has no path argument", t)
				}
			case "path":
				if !path || exec {
					bad = fmt.Sprintf("the path of %s is not a file path argument the kernel reads", t)
				}
			case "fd.rport", "fd.rip":
				if !sock {
					bad = a.field + " is known in the kernel for connect only"
				}
			}
			if bad != "" {
				return probe.EnforceClause{}, false, s.errAt(a.node, a.macro, "%s (the clause applies to %s)", bad, t)
			}
		}
		preds = append(preds, *a.pred)
	}
	if len(preds) > probe.EnfMaxPreds {
		return probe.EnforceClause{}, false, s.errAt(root, "", "a conjunction of %d checks, at most %d in the kernel", len(preds), probe.EnfMaxPreds)
	}
	return probe.EnforceClause{Syscalls: names, Preds: preds}, true, nil
}

func hasKey(m map[string]bool, k string) bool { _, ok := m[k]; return ok }
