// Package compiler turns parsed Falco conditions into evaluators. It expands macros and lists,
// type-checks every comparison against the event source's field catalogue (operators, values,
// arguments, transformers), binds fields to the source's extractors, and builds a tree of Go
// closures, so an event is evaluated without walking the syntax tree. Alongside each filter it
// computes the set of event types the condition can match (Falco's event-type analysis), which
// lets a ruleset evaluate only the rules relevant to an event, and keeps the compiled tree, so
// that the ruleset can specialize each condition for each event code (Result.Steps: the tests
// the code decides folded away, the top-level conjunction as a list of steps).
package compiler

import (
	"fmt"
	"strings"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

// Filter evaluates a compiled condition on one event.
type Filter func(ev fields.Event) bool

// Error is a compile error at a byte offset of a condition. Macro names the macro whose
// condition holds the offset ("" when it is the compiled condition itself).
type Error struct {
	Macro  string
	Offset int
	Msg    string
}

func (e *Error) Error() string {
	if e.Macro != "" {
		return fmt.Sprintf("in macro '%s', offset %d: %s", e.Macro, e.Offset, e.Msg)
	}
	return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg)
}

// Macro is a named condition fragment.
type Macro struct {
	Name string
	Expr ast.Expr
}

// Env is what conditions are compiled against: an event source and the macros and lists
// in scope. Lists hold raw items; items naming other lists are expanded at use.
type Env struct {
	Source fields.Source
	Macros map[string]*Macro
	Lists  map[string][]string

	usedMacros map[string]bool
	usedLists  map[string]bool
	// compiled macros, shared by every condition compiled in this Env
	macroCache map[string]*compiledMacro
}

// compiledMacro is a macro compiled once: its filter (remembering its result for the event
// last evaluated, when the source numbers events) and its event types, plain and negated.
type compiledMacro struct {
	filter Filter
	memo   *fields.Memo // filter's memory (nil when the source does not number events)
	ts     [2]typeSet
	done   [2]bool

	ref      *node                               // the node every reference to the macro shares
	remember func(Filter) (Filter, *fields.Memo) // how a specialized body is memoized (see Steps)
	spec     map[uint16]specResult               // the body specialized per event code
}

// UsedMacros and UsedLists report which macros and lists compilations referenced.
func (e *Env) UsedMacros() map[string]bool { return e.usedMacros }
func (e *Env) UsedLists() map[string]bool  { return e.usedLists }

// UnknownFieldError is returned when a condition names a field the source does not have.
type UnknownFieldError struct{ Field string }

func (e UnknownFieldError) Error() string { return fmt.Sprintf("unknown field '%s'", e.Field) }

// Result is a compiled condition.
type Result struct {
	Filter Filter
	// EventTypes holds the event codes the condition can match; All is true when it is not
	// restricted (every code).
	EventTypes []bool
	All        bool

	root *node // the compiled tree, for Steps
}

// CompileFilter parses and compiles a standalone filter expression (e.g. `saker events`'s
// FILTER) against a source, with no macros or lists.
func CompileFilter(expr string, src fields.Source) (Filter, error) {
	e, err := parser.ParseCondition(expr)
	if err != nil {
		return nil, err
	}
	env := &Env{Source: src}
	r, err := env.Compile(e)
	if err != nil {
		return nil, err
	}
	return r.Filter, nil
}

// Compile compiles a parsed condition.
func (env *Env) Compile(e ast.Expr) (*Result, error) {
	if env.usedMacros == nil {
		env.usedMacros = map[string]bool{}
		env.usedLists = map[string]bool{}
	}
	c := &compiler{env: env, n: env.Source.NumEventCodes()}
	nd, ts, err := c.expr(e, false)
	if err != nil {
		return nil, err
	}
	r := &Result{Filter: nd.f, root: nd}
	if ts == nil {
		r.All = true
	} else {
		r.EventTypes = ts
	}
	return r, nil
}

type compiler struct {
	env   *Env
	n     int
	macro string   // macro being compiled, for error positions
	stack []string // macro expansion stack, for cycle detection
}

func (c *compiler) errf(offset int, format string, args ...any) error {
	return &Error{Macro: c.macro, Offset: offset, Msg: fmt.Sprintf(format, args...)}
}

// typeSet is a set of event codes; nil means every code.
type typeSet = []bool

// expr compiles e and returns the set of event types it can match. neg says e sits under
// an odd number of `not`s (De Morgan), for the event-type analysis only.
func (c *compiler) expr(e ast.Expr, neg bool) (*node, typeSet, error) {
	switch n := e.(type) {
	case *ast.ParenExpr:
		return c.expr(n.X, neg)
	case *ast.NotExpr:
		x, ts, err := c.expr(n.X, !neg)
		if err != nil {
			return nil, nil, err
		}
		return notNode(x), ts, nil
	case *ast.BinaryExpr:
		return c.chain(n, neg)
	case *ast.MacroRef:
		return c.macroRef(n, neg)
	case *ast.UnaryCheck:
		ext, _, _, err := c.field(n.Field, false)
		if err != nil {
			return nil, nil, err
		}
		if n.Op != "exists" {
			return nil, nil, c.errf(n.OpPos, "unknown unary operator '%s'", n.Op)
		}
		f := func(ev fields.Event) bool { _, ok := ext(ev); return ok }
		return c.leaf(f, n.Field, func(static fields.Extractor) Filter {
			return func(ev fields.Event) bool { _, ok := static(ev); return ok }
		}), nil, nil
	case *ast.Compare:
		return c.compare(n, neg)
	}
	return nil, nil, c.errf(e.Pos(), "unexpected expression %T", e)
}

// chain compiles a run of the same boolean operator (`a and b and c ...`, parentheses
// included, which the parser nests left-deep) into one n-ary filter that evaluates its
// operands in order and stops at the first that decides, as the nested form does; an
// operand that fails in the nested form still walks down and back up the whole chain, one
// closure call per operator.
func (c *compiler) chain(n *ast.BinaryExpr, neg bool) (*node, typeSet, error) {
	and := n.Op == ast.And
	var ops []ast.Expr
	var walk func(e ast.Expr)
	walk = func(e ast.Expr) {
		for {
			p, ok := e.(*ast.ParenExpr)
			if !ok {
				break
			}
			e = p.X
		}
		if b, ok := e.(*ast.BinaryExpr); ok && b.Op == n.Op {
			walk(b.X)
			walk(b.Y)
			return
		}
		ops = append(ops, e)
	}
	walk(n)
	kids := make([]*node, len(ops))
	fs := make([]Filter, len(ops))
	var ts typeSet
	for i, e := range ops {
		k, t, err := c.expr(e, neg)
		if err != nil {
			return nil, nil, err
		}
		kids[i], fs[i] = k, k.f
		// Under negation, and/or swap for the type analysis (not(a and b) = not a or not b).
		switch {
		case i == 0:
			ts = t
		case and != neg:
			ts = intersect(ts, t)
		default:
			ts = union(ts, t)
		}
	}
	op := opOr
	if and {
		op = opAnd
	}
	nd := &node{f: chainFilter(and, fs), op: op, kids: kids}
	for _, k := range kids {
		nd.mayFold = nd.mayFold || k.mayFold
	}
	return nd, ts, nil
}

// chainFilter evaluates fs in order: all must hold (and) or one (or).
func chainFilter(and bool, fs []Filter) Filter {
	if len(fs) == 2 {
		fx, fy := fs[0], fs[1]
		if and {
			return func(ev fields.Event) bool { return fx(ev) && fy(ev) }
		}
		return func(ev fields.Event) bool { return fx(ev) || fy(ev) }
	}
	if and {
		return func(ev fields.Event) bool {
			for _, f := range fs {
				if !f(ev) {
					return false
				}
			}
			return true
		}
	}
	return func(ev fields.Event) bool {
		for _, f := range fs {
			if f(ev) {
				return true
			}
		}
		return false
	}
}

func (c *compiler) macroRef(n *ast.MacroRef, neg bool) (*node, typeSet, error) {
	m, ok := c.env.Macros[n.Name]
	if !ok {
		return nil, nil, c.errf(n.NamePos, "undefined macro '%s'", n.Name)
	}
	for _, s := range c.stack {
		if s == n.Name {
			return nil, nil, c.errf(n.NamePos, "macro cycle: %s -> %s", strings.Join(c.stack, " -> "), n.Name)
		}
	}
	c.env.usedMacros[n.Name] = true
	ni := 0
	if neg {
		ni = 1
	}
	cm := c.env.macroCache[n.Name]
	if cm != nil && cm.done[ni] {
		return cm.ref, cm.ts[ni], nil
	}
	saved := c.macro
	c.macro = n.Name
	c.stack = append(c.stack, n.Name)
	body, ts, err := c.expr(m.Expr, neg)
	c.stack = c.stack[:len(c.stack)-1]
	c.macro = saved
	if err != nil {
		return nil, nil, err
	}
	if cm == nil {
		cm = &compiledMacro{remember: c.remember}
		cm.filter, cm.memo = c.remember(body.f)
		cm.ref = &node{f: cm.filter, op: opMacro, kids: []*node{body}, macro: cm, mayFold: body.mayFold}
		if c.env.macroCache == nil {
			c.env.macroCache = map[string]*compiledMacro{}
		}
		c.env.macroCache[n.Name] = cm
	}
	cm.ts[ni], cm.done[ni] = ts, true
	return cm.ref, ts, nil
}

// remember makes a macro's filter compute once per event when the source numbers its events
// (fields.EventSerialer): a macro used by many rules (open_read, spawned_process...) is
// evaluated once for an event, not once per rule. It returns the memory too (nil when the
// source numbers no events), which a caller holding the event's serial reads without a call
// (Step). A ruleset is evaluated by one goroutine at a time (a detector's); concurrent
// evaluation of one ruleset would race on the memory.
func (c *compiler) remember(f Filter) (Filter, *fields.Memo) {
	m := new(fields.Memo)
	if mz, ok := c.env.Source.(fields.Memoizer); ok {
		if g, ok := mz.Remember(f, m); ok {
			return g, m
		}
	}
	ser, ok := c.env.Source.(fields.EventSerialer)
	if !ok {
		return f, nil
	}
	return func(ev fields.Event) bool {
		s, ok := ser.EventSerial(ev)
		if !ok {
			return f(ev)
		}
		if s == m.Serial {
			return m.Val
		}
		v := f(ev)
		m.Serial, m.Val = s, v
		return v
	}, m
}

// field binds a field reference with its transformers; rhs says it stands in val().
func (c *compiler) field(r *ast.FieldRef, rhs bool) (fields.Extractor, fields.Type, bool, error) {
	src := c.env.Source
	info, dotArg, ok := fields.Resolve(src.Field, r.Name)
	if !ok {
		return nil, 0, false, &Error{Macro: c.macro, Offset: r.Pos(), Msg: UnknownFieldError{r.Name}.Error()}
	}
	if info.Hidden {
		return nil, 0, false, c.errf(r.Pos(), "field '%s' cannot be used in conditions", info.Name)
	}
	arg, hasArg := r.Arg, r.HasArg
	if dotArg != "" {
		if hasArg {
			return nil, 0, false, c.errf(r.Pos(), "field '%s' has two arguments", r.Name)
		}
		arg, hasArg = dotArg, true
	}
	switch {
	case info.Arg == fields.ArgNone && hasArg:
		return nil, 0, false, c.errf(r.Pos(), "field '%s' does not take an argument", info.Name)
	case info.Arg == fields.ArgRequired && !hasArg:
		return nil, 0, false, c.errf(r.Pos(), "field '%s' requires an argument", info.Name)
	case hasArg && info.ArgIndex && !info.ArgKey && !isIndex(arg):
		return nil, 0, false, c.errf(r.Pos(), "field '%s' takes a numeric index argument, not %q", info.Name, arg)
	}
	if rhs && info.NoRHS {
		return nil, 0, false, c.errf(r.Pos(), "field '%s' cannot be used in val()", info.Name)
	}
	ext, err := src.Extractor(info, arg)
	if err != nil {
		return nil, 0, false, c.errf(r.Pos(), "field '%s': %v", r.Name, err)
	}
	if ext == nil { // catalogue-only source (validation): never a value
		ext = func(fields.Event) (fields.Value, bool) { return fields.Value{}, false }
	}
	typ, list := info.Type, info.List
	if list && hasArg && info.ArgIndex { // an indexed list field yields one value
		list = false
	}
	if len(r.Transformers) > 0 && info.NoTransformer {
		return nil, 0, false, c.errf(r.Pos(), "field '%s' does not support transformers", info.Name)
	}
	// Transformers are written outermost first: apply them innermost first.
	for i := len(r.Transformers) - 1; i >= 0; i-- {
		tf, out, err := makeTransformer(r.Transformers[i], typ, list)
		if err != nil {
			return nil, 0, false, c.errf(r.Pos(), "%v", err)
		}
		inner := ext
		ext = func(ev fields.Event) (fields.Value, bool) {
			v, ok := inner(ev)
			if !ok {
				return v, false
			}
			return tf(v)
		}
		if out != typ {
			list = false
		}
		typ = out
	}
	return ext, typ, list, nil
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// values expands an operand into the list of raw values it stands for.
func (c *compiler) values(op string, o ast.Operand) ([]string, error) {
	switch v := o.(type) {
	case *ast.ListLit:
		var out []string
		for _, it := range v.Items {
			if !it.Quoted {
				if items, ok := c.env.Lists[it.Value]; ok {
					out = c.expandList(it.Value, items, out, nil)
					continue
				}
			}
			out = append(out, it.Value)
		}
		return out, nil
	case *ast.Literal:
		if !v.Quoted {
			if items, ok := c.env.Lists[v.Value]; ok {
				// Falco splices a list's items wherever its name stands as a word, so a bare
				// list name is its items for any operator; one taking a single value needs a
				// list of exactly one item.
				vals := c.expandList(v.Value, items, nil, nil)
				if !listOp(op) && len(vals) != 1 {
					return nil, c.errf(v.Pos(), "list '%s' stands for %d values but operator '%s' takes a single value", v.Value, len(vals), op)
				}
				return vals, nil
			}
		}
		return []string{v.Value}, nil
	}
	return nil, c.errf(o.Pos(), "unexpected operand")
}

func (c *compiler) expandList(name string, items, out []string, seen []string) []string {
	c.env.usedLists[name] = true
	for _, s := range seen {
		if s == name {
			return out
		}
	}
	seen = append(seen, name)
	for _, it := range items {
		if v, quoted := unquoteItem(it); quoted {
			out = append(out, v)
			continue
		}
		if sub, ok := c.env.Lists[it]; ok {
			out = c.expandList(it, sub, out, seen)
			continue
		}
		out = append(out, it)
	}
	return out
}

// unquoteItem strips the quotes of a list item written with them (`'"10.0.0.0/8"'`): Falco
// splices list items into the condition text, where such an item is a quoted string.
func unquoteItem(s string) (string, bool) {
	if len(s) < 2 || (s[0] != '"' && s[0] != '\'') || s[len(s)-1] != s[0] {
		return s, false
	}
	e, err := parser.ParseCondition("x.x = " + s)
	if err != nil {
		return s[1 : len(s)-1], true
	}
	if c, ok := e.(*ast.Compare); ok {
		if l, ok := c.Value.(*ast.Literal); ok {
			return l.Value, true
		}
	}
	return s[1 : len(s)-1], true
}

func (c *compiler) compare(n *ast.Compare, neg bool) (*node, typeSet, error) {
	op := n.Op
	if !knownOps[op] {
		return nil, nil, c.errf(n.OpPos, "unknown operator '%s'", op)
	}
	ext, typ, list, err := c.field(n.Field, false)
	if err != nil {
		return nil, nil, err
	}
	if err := opAllowed(op, typ, list); err != nil {
		return nil, nil, c.errf(n.OpPos, "%v", err)
	}
	if fv, ok := n.Value.(*ast.FieldValue); ok {
		f, ts, err := c.compareFields(n, ext, typ, list, fv)
		if err != nil {
			return nil, nil, err
		}
		return &node{f: f}, ts, nil
	}
	if _, isList := n.Value.(*ast.ListLit); isList && !listOp(op) {
		return nil, nil, c.errf(n.Value.Pos(), "operator '%s' takes a single value, not a list", op)
	}
	raw, err := c.values(op, n.Value)
	if err != nil {
		return nil, nil, err
	}
	name := n.Field.Name
	var ts typeSet
	if name == "evt.type" && len(n.Field.Transformers) == 0 {
		ts, err = c.evtTypes(op, raw, neg, n)
		if err != nil {
			return nil, nil, err
		}
	}
	var sc scalar
	if !list {
		sc = c.scalarOf(n.Field, typ)
	}
	f, err := c.buildCompare(n, op, ext, typ, list, raw, sc)
	if err != nil {
		return nil, nil, err
	}
	// the same comparison on a value given by the event code alone, built when asked (Steps)
	onValue := func(static fields.Extractor) Filter {
		g, _ := c.buildCompare(n, op, static, typ, list, raw, scalar{})
		return g
	}
	if coder, ok := c.env.Source.(fields.EventCoder); ok && name == "evt.type" && len(n.Field.Transformers) == 0 && !n.Field.HasArg {
		if fast := c.evtTypeFilter(coder, op, raw, f); fast != nil {
			return c.leaf(fast, n.Field, onValue), ts, nil
		}
	}
	return c.leaf(f, n.Field, onValue), ts, nil
}

// evtTypeFilter compiles an `evt.type` equality or membership test to a lookup in a table of
// event codes (nil when the operator is not one of =, ==, !=, in, or a name has no codes of its
// own). Events whose code does not tell their type (EventCode false: a generic syscall event)
// are compared by name with slow.
func (c *compiler) evtTypeFilter(coder fields.EventCoder, op string, raw []string, slow Filter) Filter {
	switch op {
	case "=", "==", "!=", "in", "intersects":
	default:
		return nil
	}
	for _, name := range raw {
		if !coder.CodesExact(name) {
			return nil
		}
	}
	set := make([]bool, c.n)
	for _, name := range raw {
		codes, _ := c.env.Source.EventCodes(name)
		for _, code := range codes {
			if int(code) < len(set) {
				set[code] = true
			}
		}
	}
	want := op != "!="
	return func(ev fields.Event) bool {
		code, ok := coder.EventCode(ev)
		if !ok {
			return slow(ev)
		}
		return int(code) < len(set) && set[code] == want
	}
}

// evtTypes is the event-type analysis of an `evt.type` comparison.
func (c *compiler) evtTypes(op string, raw []string, neg bool, n *ast.Compare) (typeSet, error) {
	var set typeSet
	switch op {
	case "=", "==", "in", "!=":
		set = make(typeSet, c.n)
		for _, name := range raw {
			codes, ok := c.env.Source.EventCodes(name)
			if !ok {
				return nil, c.errf(n.Value.Pos(), "unknown event type '%s'", name)
			}
			for _, code := range codes {
				if int(code) < c.n {
					set[code] = true
				}
			}
		}
	default:
		return nil, nil
	}
	if (op == "!=") != neg {
		for i := range set {
			set[i] = !set[i]
		}
	}
	return set, nil
}

// scalar is a field bound through fields.ScalarBinder (either may be nil).
type scalar struct {
	str func(ev fields.Event) (string, bool, bool)
	num func(ev fields.Event) (uint64, bool, bool)
}

// plainRef resolves a field reference without transformers to the field and its argument
// (written `evt.arg.flags` or `evt.arg[flags]`), as a source binds it; false for one with
// transformers (they work on whole values) or an unknown field.
func (c *compiler) plainRef(r *ast.FieldRef) (fields.Info, string, bool) {
	if len(r.Transformers) > 0 {
		return fields.Info{}, "", false
	}
	info, dotArg, ok := fields.Resolve(c.env.Source.Field, r.Name)
	if !ok {
		return fields.Info{}, "", false
	}
	if dotArg != "" {
		return info, dotArg, true
	}
	return info, r.Arg, true
}

// scalarOf binds r through the source's ScalarBinder when it has one and r is plain.
func (c *compiler) scalarOf(r *ast.FieldRef, typ fields.Type) scalar {
	b, ok := c.env.Source.(fields.ScalarBinder)
	if !ok {
		return scalar{}
	}
	info, arg, ok := c.plainRef(r)
	if !ok {
		return scalar{}
	}
	var sc scalar
	switch typ {
	case fields.String, fields.Bytes:
		sc.str, _ = b.StringExtractor(info, arg)
	case fields.Uint64, fields.Port, fields.AbsTime, fields.RelTime, fields.Bool, fields.Int64:
		sc.num, _ = b.NumberExtractor(info, arg)
	}
	return sc
}

// buildCompare builds the comparison of the field ext extracts; sc, when bound, is the same
// field read member-wise, for the common case of a value without candidates.
func (c *compiler) buildCompare(n *ast.Compare, op string, ext fields.Extractor, typ fields.Type, list bool, raw []string, sc scalar) (Filter, error) {
	name := n.Field.Name
	ops := make([]operand, len(raw))
	if op != "regex" {
		for i, r := range raw {
			o, err := parseOperand(typ, name, r)
			if err != nil {
				return nil, c.errf(n.Value.Pos(), "%v", err)
			}
			ops[i] = o
		}
	}
	if list {
		if op == "contains" && len(ops) != 1 {
			return nil, c.errf(n.Value.Pos(), "operator 'contains' takes a single value")
		}
		return listCompare(op, ext, typ, ops), nil
	}
	pred, err := c.predicate(n, op, typ, raw, ops)
	if err != nil {
		return nil, err
	}
	// A scalar field may yield several candidate values in L (proc.aname without an index:
	// every ancestor; fd.ip: both ends): it matches when any of them does, as in libsinsp,
	// except `!=` on a connection's two ends, which holds only when both differ.
	info, _ := c.env.Source.Field(name)
	all := info.BothEnds && op == "!=" && len(n.Field.Transformers) == 0
	// String and integer comparisons read one member of the value: their predicates take
	// that member alone, not the whole fields.Value (about 90 bytes) by value.
	switch typ {
	case fields.String, fields.Bytes:
		sp := c.stringPredicate(op, raw, ops, pred)
		whole := func(ev fields.Event) bool {
			v, ok := ext(ev)
			if !ok {
				return false
			}
			if len(v.List()) == 0 {
				return sp(v.S)
			}
			for i := range v.List() {
				if sp((*v.L)[i].S) != all {
					return !all // any: one matches; all: one does not
				}
			}
			return all
		}
		if sc.str != nil {
			if f := fusedString(op, raw, ops, sc.str, whole); f != nil {
				return f, nil
			}
			return memberFirst(sc.str, sp, whole), nil
		}
		return whole, nil
	case fields.Uint64, fields.Port, fields.AbsTime, fields.RelTime, fields.Bool, fields.Int64:
		if np := intPredicate(typ, op, ops); np != nil {
			whole := func(ev fields.Event) bool {
				v, ok := ext(ev)
				if !ok {
					return false
				}
				if len(v.List()) == 0 {
					return np(v.N)
				}
				for i := range v.List() {
					if np((*v.L)[i].N) != all {
						return !all
					}
				}
				return all
			}
			if sc.num != nil {
				if f := fusedNumber(typ, op, ops, sc.num, whole); f != nil {
					return f, nil
				}
				return memberFirst(sc.num, np, whole), nil
			}
			return whole, nil
		}
	}
	return func(ev fields.Event) bool {
		v, ok := ext(ev)
		if !ok {
			return false
		}
		if len(v.List()) == 0 {
			return pred(v)
		}
		for i := range v.List() {
			if pred((*v.L)[i]) != all {
				return !all // any: one matches; all: one does not
			}
		}
		return all
	}, nil
}

// memberFirst is a comparison that reads its field's member through x and decides with p,
// and for a value holding candidates (multi) goes the whole way (whole).
func memberFirst[T any](x func(ev fields.Event) (T, bool, bool), p func(T) bool, whole Filter) Filter {
	return func(ev fields.Event) bool {
		v, ok, multi := x(ev)
		switch {
		case !ok:
			return false
		case !multi:
			return p(v)
		}
		return whole(ev)
	}
}

// fusedString is memberFirst for the string comparisons rules use most, with the test in
// the comparison's own closure (no call to a predicate: one indirect call less per
// comparison, the other being the extractor's); nil for the others. It decides as
// stringPredicate does.
func fusedString(op string, raw []string, ops []operand, x func(fields.Event) (string, bool, bool), whole Filter) Filter {
	switch op {
	case "in", "intersects":
		if len(raw) > 4 {
			set := make(map[string]struct{}, len(raw))
			for _, r := range raw {
				set[r] = struct{}{}
			}
			return func(ev fields.Event) bool {
				v, ok, multi := x(ev)
				if !ok || multi {
					return ok && whole(ev)
				}
				_, hit := set[v]
				return hit
			}
		}
		vals := make([]string, len(ops))
		for i := range ops {
			vals[i] = ops[i].s
		}
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			for _, k := range vals {
				if v == k {
					return true
				}
			}
			return false
		}
	}
	if len(ops) != 1 {
		return nil
	}
	k := ops[0].s
	switch op {
	case "=", "==":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return v == k
		}
	case "!=":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return v != k
		}
	case "startswith", "bstartswith":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return strings.HasPrefix(v, k)
		}
	case "endswith":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return strings.HasSuffix(v, k)
		}
	case "contains", "bcontains":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return strings.Contains(v, k)
		}
	}
	return nil
}

// fusedNumber is fusedString for the integer comparisons: equality and the orders (signed on
// an Int64 field, as intPredicate); nil for the others.
func fusedNumber(typ fields.Type, op string, ops []operand, x func(fields.Event) (uint64, bool, bool), whole Filter) Filter {
	if len(ops) != 1 {
		return nil
	}
	k := ops[0].n
	flip := signFlip(typ)
	fk := k ^ flip
	switch op {
	case "=", "==":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return v == k
		}
	case "!=":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return v != k
		}
	case ">=":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return v^flip >= fk
		}
	case ">":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return v^flip > fk
		}
	case "<":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return v^flip < fk
		}
	case "<=":
		return func(ev fields.Event) bool {
			v, ok, multi := x(ev)
			if !ok || multi {
				return ok && whole(ev)
			}
			return v^flip <= fk
		}
	}
	return nil
}

// signFlip is what makes the orders of a field's values unsigned comparisons: the sign bit
// for an Int64 field (two's complement values with it flipped order as unsigned numbers), 0
// for the others.
func signFlip(typ fields.Type) uint64 {
	if typ == fields.Int64 {
		return 1 << 63
	}
	return 0
}

// stringPredicate is pred for a string or buffer field (whose comparisons read Value.S only)
// as a function of the string: the common operators directly, the others through pred.
func (c *compiler) stringPredicate(op string, raw []string, ops []operand, pred func(fields.Value) bool) func(string) bool {
	switch op {
	case "in", "intersects":
		if len(raw) > 4 {
			set := make(map[string]struct{}, len(raw))
			for _, r := range raw {
				set[r] = struct{}{}
			}
			return func(s string) bool { _, hit := set[s]; return hit }
		}
		vals := make([]string, len(ops))
		for i := range ops {
			vals[i] = ops[i].s
		}
		return func(s string) bool {
			for _, v := range vals {
				if s == v {
					return true
				}
			}
			return false
		}
	case "pmatch":
		prefixes := raw
		return func(s string) bool {
			for _, p := range prefixes {
				if pathPrefix(p, s) {
					return true
				}
			}
			return false
		}
	}
	if len(ops) == 1 {
		k := ops[0].s
		switch op {
		case "=", "==":
			return func(s string) bool { return s == k }
		case "!=":
			return func(s string) bool { return s != k }
		case "startswith", "bstartswith":
			return func(s string) bool { return strings.HasPrefix(s, k) }
		case "endswith":
			return func(s string) bool { return strings.HasSuffix(s, k) }
		case "contains", "bcontains":
			return func(s string) bool { return strings.Contains(s, k) }
		case "icontains":
			if isASCII(k) && k != "" {
				low := strings.ToLower(k)
				return func(s string) bool { return containsFoldASCII(s, low) }
			}
		}
	}
	return func(s string) bool { return pred(fields.Value{S: s}) }
}

// intPredicate compares an integer field's Value.N with the operands (nil for an operator
// it does not specialize).
func intPredicate(typ fields.Type, op string, ops []operand) func(uint64) bool {
	switch op {
	case "in", "intersects":
		vals := make([]uint64, len(ops))
		for i := range ops {
			vals[i] = ops[i].n
		}
		return func(n uint64) bool {
			for _, v := range vals {
				if n == v {
					return true
				}
			}
			return false
		}
	}
	if len(ops) != 1 {
		return nil
	}
	k := ops[0].n
	flip := signFlip(typ)
	fk := k ^ flip
	switch op {
	case "=", "==":
		return func(n uint64) bool { return n == k }
	case "!=":
		return func(n uint64) bool { return n != k }
	case "<":
		return func(n uint64) bool { return n^flip < fk }
	case "<=":
		return func(n uint64) bool { return n^flip <= fk }
	case ">":
		return func(n uint64) bool { return n^flip > fk }
	case ">=":
		return func(n uint64) bool { return n^flip >= fk }
	}
	return nil
}

// predicate compiles a comparison of one value with the operands.
func (c *compiler) predicate(n *ast.Compare, op string, typ fields.Type, raw []string, ops []operand) (func(fields.Value) bool, error) {
	switch op {
	case "regex":
		if len(raw) != 1 {
			return nil, c.errf(n.Value.Pos(), "regex takes one pattern")
		}
		re, err := compileRegex(raw[0])
		if err != nil {
			return nil, c.errf(n.Value.Pos(), "%v", err)
		}
		return func(v fields.Value) bool { return re.MatchString(v.S) }, nil
	case "pmatch":
		prefixes := raw
		return func(v fields.Value) bool {
			for _, p := range prefixes {
				if pathPrefix(p, v.S) {
					return true
				}
			}
			return false
		}, nil
	case "in", "intersects":
		if (typ == fields.String || typ == fields.Bytes) && len(raw) > 4 {
			set := make(map[string]struct{}, len(raw))
			for _, r := range raw {
				set[r] = struct{}{}
			}
			return func(v fields.Value) bool { _, hit := set[v.S]; return hit }, nil
		}
		return func(v fields.Value) bool {
			for i := range ops {
				if cmpScalar(typ, "=", v, &ops[i]) {
					return true
				}
			}
			return false
		}, nil
	}
	if len(ops) != 1 {
		return nil, c.errf(n.Value.Pos(), "operator '%s' takes a single value", op)
	}
	o := ops[0]
	if typ == fields.String {
		s := o.s
		switch op { // the common string cases without the generic switch
		case "=", "==":
			return func(v fields.Value) bool { return v.S == s }, nil
		case "!=":
			return func(v fields.Value) bool { return v.S != s }, nil
		case "startswith":
			return func(v fields.Value) bool { return strings.HasPrefix(v.S, s) }, nil
		case "endswith":
			return func(v fields.Value) bool { return strings.HasSuffix(v.S, s) }, nil
		case "contains":
			return func(v fields.Value) bool { return strings.Contains(v.S, s) }, nil
		case "icontains":
			if isASCII(s) && s != "" {
				low := strings.ToLower(s)
				return func(v fields.Value) bool { return containsFoldASCII(v.S, low) }, nil
			}
		}
	}
	if f := numericPredicate(typ, op, o.n); f != nil {
		return f, nil
	}
	return func(v fields.Value) bool { return cmpScalar(typ, op, v, &o) }, nil
}

// numericPredicate specializes a comparison of an integer value with a constant (nil for
// other types), so the hot path has no switch on type or operator.
func numericPredicate(typ fields.Type, op string, n uint64) func(fields.Value) bool {
	switch typ {
	case fields.Uint64, fields.Port, fields.AbsTime, fields.RelTime, fields.Bool:
		return ordered(op, func(v fields.Value) uint64 { return v.N }, n)
	case fields.Int64:
		return ordered(op, func(v fields.Value) int64 { return int64(v.N) }, int64(n))
	}
	return nil
}

func ordered[T int64 | uint64](op string, get func(fields.Value) T, k T) func(fields.Value) bool {
	switch op {
	case "=", "==":
		return func(v fields.Value) bool { return get(v) == k }
	case "!=":
		return func(v fields.Value) bool { return get(v) != k }
	case "<":
		return func(v fields.Value) bool { return get(v) < k }
	case "<=":
		return func(v fields.Value) bool { return get(v) <= k }
	case ">":
		return func(v fields.Value) bool { return get(v) > k }
	case ">=":
		return func(v fields.Value) bool { return get(v) >= k }
	}
	return nil
}

// listCompare compares a list field: `in` holds when every value is in the set, `intersects`
// when any is.
func listCompare(op string, ext fields.Extractor, typ fields.Type, ops []operand) Filter {
	member := func(v fields.Value) bool {
		for i := range ops {
			if cmpScalar(typ, "=", v, &ops[i]) {
				return true
			}
		}
		return false
	}
	if op == "contains" {
		sub := ops[0].s
		return func(ev fields.Event) bool {
			v, ok := ext(ev)
			if !ok {
				return false
			}
			for _, e := range v.List() {
				if strings.Contains(e.S, sub) {
					return true
				}
			}
			return false
		}
	}
	if op == "intersects" {
		return func(ev fields.Event) bool {
			v, ok := ext(ev)
			if !ok {
				return false
			}
			for _, e := range v.List() {
				if member(e) {
					return true
				}
			}
			return false
		}
	}
	return func(ev fields.Event) bool {
		v, ok := ext(ev)
		if !ok || len(v.List()) == 0 {
			return false
		}
		for _, e := range v.List() {
			if !member(e) {
				return false
			}
		}
		return true
	}
}

func (c *compiler) compareFields(n *ast.Compare, ext fields.Extractor, typ fields.Type, list bool, fv *ast.FieldValue) (Filter, typeSet, error) {
	op := n.Op
	rext, rtyp, rlist, err := c.field(fv.Field, true)
	if err != nil {
		return nil, nil, err
	}
	if list || rlist {
		return nil, nil, c.errf(fv.Pos(), "list fields cannot be compared with val()")
	}
	if listOp(op) || op == "regex" {
		return nil, nil, c.errf(n.OpPos, "operator '%s' cannot compare two fields", op)
	}
	if !compatible(typ, rtyp) {
		return nil, nil, c.errf(fv.Pos(), "cannot compare field '%s' (%s) with field '%s' (%s)", n.Field.Name, typ, fv.Field.Name, rtyp)
	}
	return func(ev fields.Event) bool {
		a, ok := ext(ev)
		if !ok {
			return false
		}
		b, ok := rext(ev)
		if !ok {
			return false
		}
		o := operand{s: b.S, n: b.N, f: b.Float(), ip: b.IP()}
		return cmpScalar(typ, op, a, &o)
	}, nil, nil
}

func compatible(a, b fields.Type) bool {
	if a == b {
		return true
	}
	group := func(t fields.Type) int {
		switch t {
		case fields.String, fields.Bytes:
			return 1
		case fields.Int64, fields.Uint64, fields.Port, fields.AbsTime, fields.RelTime:
			return 2
		case fields.IPAddr, fields.IPNet:
			return 3
		}
		return int(t) + 10
	}
	return group(a) == group(b)
}

func intersect(a, b typeSet) typeSet {
	if a == nil {
		return b
	}
	if b == nil {
		return a
	}
	out := make(typeSet, len(a))
	for i := range a {
		out[i] = a[i] && b[i]
	}
	return out
}

func union(a, b typeSet) typeSet {
	if a == nil || b == nil {
		return nil
	}
	out := make(typeSet, len(a))
	for i := range a {
		out[i] = a[i] || b[i]
	}
	return out
}

// BindField resolves a field reference (with its argument and transformers) against a source
// and returns its extractor, value type and whether it yields a list; output templates bind
// their fields with it. A catalogue-only source yields an extractor that never has a value.
func BindField(src fields.Source, r *ast.FieldRef) (fields.Extractor, fields.Type, bool, error) {
	c := &compiler{env: &Env{Source: src}}
	return c.field(r, false)
}
