// Package engine compiles a loaded rules collection (pkg/rules/loader) into a ruleset indexed
// by event type, and matches events against it. It is the third pass of Falco's loader (read →
// collect → compile): conditions and macros are parsed (pkg/rules/parser), exceptions are
// folded into conditions, everything is type-checked and compiled (pkg/rules/compiler), and
// output templates are bound to field extractors. Errors and warnings carry the file position
// of the text they are about.
package engine

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/compiler"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

// Rule is a compiled rule.
type Rule struct {
	Name     string
	Desc     string
	Priority loader.Priority
	Tags     []string
	Source   string
	Enabled  bool
	Filter   compiler.Filter
	Output   *Output
	// EventTypes lists the event codes the rule can match; AllTypes is set when it is not
	// restricted by event type.
	EventTypes []uint16
	AllTypes   bool
	Def        *loader.Rule
	Index      int // position in definition order

	cond *compiler.Result // the compiled condition, specialized per event code in the index
}

// Ruleset is a set of compiled rules, indexed per source by event code.
type Ruleset struct {
	Rules   []*Rule // every compiled rule (enabled or not), in definition order
	sources map[string]*SourceRules
	Macros  map[string]*compiler.Macro
	Lists   map[string][]string
}

// SourceRules are the enabled rules of one source, indexed by event code (Ruleset.Source).
type SourceRules struct {
	src    fields.Source
	ser    fields.EventSerialer // src's, when it numbers its events (nil otherwise)
	byCode [][]*Rule            // the rules whose event types hold the code
	// match holds, per code, the rules an event of that code can match, each with its
	// condition specialized for the code (compiler.Result.Steps): the tests the code
	// decides are gone, and so are the rules it rules out (an open's enter event for a rule
	// on the opened file).
	match []codeRules
}

// codeRules are the candidate rules of one event code, packed for Match: one array of ops,
// every candidate's steps (its condition's top-level conjunction for the code, in order)
// followed by an op that ends it, the candidates in definition order. Match runs the array
// in one loop: a true step goes on to the next op, a false one to the op after its
// candidate's end, and reaching an end op means the candidate matched.
type codeRules struct {
	ops []op
}

// op is a step of a candidate (f set) or the end of one (f nil, r the rule). Every step has
// a memory: its macro's, or noMemo, which holds no event.
type op struct {
	f    compiler.Filter
	memo *fields.Memo
	r    *Rule // end ops
	next int   // steps: the op after the candidate's end
}

// unpacked is a candidate with its own steps, as the index is built (sharedFirst orders them).
type unpacked struct {
	r     *Rule
	steps []compiler.Step
}

// pack lays out the candidates of one code for Match (codeRules).
func pack(us []unpacked) codeRules {
	var cr codeRules
	for _, u := range us {
		next := len(cr.ops) + len(u.steps) + 1
		for _, s := range u.steps {
			cr.ops = append(cr.ops, op{f: s.F, memo: s.Memo, next: next})
		}
		cr.ops = append(cr.ops, op{r: u.r})
	}
	return cr
}

// noMemo is the memory of the steps that have none: its serial is no event's (they count up
// from 1), and nothing writes it.
var noMemo = &fields.Memo{Serial: math.MaxUint64}

// unnumbered is the serial Match reads the memories under for an event without one: no
// memory holds it (a fresh one holds 0, noMemo MaxUint64, the others event numbers, which
// do not get that far), so every step is called.
const unnumbered = math.MaxUint64 - 1

// sharedFirst moves, in each candidate of one code, the steps whose memory other candidates
// of the code share (a macro several rules test: open_read, container) before the others,
// keeping their order otherwise. A conjunction's result does not depend on the order of its
// terms (they have no effects), only its cost: a shared macro an earlier rule evaluated is
// read from its memory with no call, and a false one spares the candidate its other steps.
func sharedFirst(cands []unpacked) {
	uses := map[*fields.Memo]int{}
	for _, c := range cands {
		for _, s := range c.steps {
			if s.Memo != noMemo {
				uses[s.Memo]++
			}
		}
	}
	for _, c := range cands {
		ordered := make([]compiler.Step, 0, len(c.steps))
		for _, shared := range []bool{true, false} {
			for _, s := range c.steps {
				if (uses[s.Memo] > 1) == shared {
					ordered = append(ordered, s)
				}
			}
		}
		copy(c.steps, ordered)
	}
}

// Options tune compilation.
type Options struct {
	// Sources are the event sources rules may name, by `source:` value.
	Sources map[string]fields.Source
}

// Compile compiles a collection. It returns the ruleset (nil when there were errors) with
// every error and warning found.
func Compile(coll *loader.Collection, opts Options) (*Ruleset, []loader.Message, []loader.Message) {
	c := &compileState{coll: coll, opts: opts, rs: &Ruleset{sources: map[string]*SourceRules{}}, macroErr: map[string]bool{}}
	c.run()
	if len(c.errs) > 0 {
		return nil, c.errs, c.warns
	}
	return c.rs, nil, c.warns
}

type compileState struct {
	coll        *loader.Collection
	opts        Options
	rs          *Ruleset
	errs, warns []loader.Message
	macroDef    map[string]*loader.Macro
	macroErr    map[string]bool // macros whose errors were reported already
	reported    map[string]bool
}

func (c *compileState) errorf(pos loader.Pos, item, format string, args ...any) {
	m := loader.Message{Pos: pos, Item: item, Msg: fmt.Sprintf(format, args...)}
	if c.reported == nil {
		c.reported = map[string]bool{}
	}
	if k := m.String(); !c.reported[k] {
		c.reported[k] = true
		c.errs = append(c.errs, m)
	}
}

func (c *compileState) warnf(pos loader.Pos, item, format string, args ...any) {
	c.warns = append(c.warns, loader.Message{Pos: pos, Item: item, Msg: fmt.Sprintf(format, args...)})
}

func itemName(kind, name string) string { return fmt.Sprintf("%s %q", kind, name) }

func (c *compileState) run() {
	lists := map[string][]string{}
	listDef := map[string]*loader.List{}
	for _, l := range c.coll.Lists {
		items := make([]string, len(l.Items))
		for i, it := range l.Items {
			items[i] = it.Value
		}
		lists[l.Name] = items
		listDef[l.Name] = l
	}
	macros := map[string]*compiler.Macro{}
	c.macroDef = map[string]*loader.Macro{}
	for _, m := range c.coll.Macros {
		c.macroDef[m.Name] = m
		e, err := parser.ParseCondition(m.Condition.Value)
		if err != nil {
			c.parseError(m.Condition, itemName("macro", m.Name), err)
			c.macroErr[m.Name] = true
			continue
		}
		macros[m.Name] = &compiler.Macro{Name: m.Name, Expr: e}
	}
	c.rs.Macros, c.rs.Lists = macros, lists

	usedMacros, usedLists := map[string]bool{}, map[string]bool{}
	// One Env per source: a macro is compiled once and shared by the rules that use it.
	envs := map[string]*compiler.Env{}
	for i, r := range c.coll.Rules {
		src, ok := c.opts.Sources[r.Source]
		if !ok {
			c.warnf(r.Pos, itemName("rule", r.Name), "unknown source '%s', rule skipped", r.Source)
			continue
		}
		env := envs[r.Source]
		if env == nil {
			env = &compiler.Env{Source: src, Macros: macros, Lists: lists}
			envs[r.Source] = env
		}
		cr := c.compileRule(i, r, env)
		for k := range env.UsedMacros() {
			usedMacros[k] = true
		}
		for k := range env.UsedLists() {
			usedLists[k] = true
		}
		if cr != nil {
			c.rs.Rules = append(c.rs.Rules, cr)
		}
	}
	// Lists named by other lists count as used.
	for _, l := range c.coll.Lists {
		for _, it := range l.Items {
			if _, ok := lists[it.Value]; ok && it.Value != l.Name {
				usedLists[it.Value] = true
			}
		}
	}
	// Every macro is resolved, used or not, as Falco does: one naming an undefined macro (or in
	// a cycle, or with a bad list value) is an error even when no rule uses it.
	resolver := &compiler.Env{Macros: macros, Lists: lists}
	for _, m := range c.coll.Macros {
		if usedMacros[m.Name] || c.macroErr[m.Name] {
			continue
		}
		if _, err := resolver.Expand(macros[m.Name].Expr); err != nil {
			c.macroError(m, err)
			continue
		}
		for k := range resolver.UsedMacros() {
			usedMacros[k] = true
		}
		for k := range resolver.UsedLists() {
			usedLists[k] = true
		}
	}
	for _, m := range c.coll.Macros {
		if !usedMacros[m.Name] && !c.macroErr[m.Name] {
			c.warnf(m.Pos, itemName("macro", m.Name), "macro not referred to by any rule or macro")
		}
	}
	for _, l := range c.coll.Lists {
		if !usedLists[l.Name] {
			c.warnf(l.Pos, itemName("list", l.Name), "list not referred to by any rule, macro or list")
		}
	}
	c.buildIndex()
}

func (c *compileState) parseError(t loader.Text, item string, err error) {
	if pe, ok := err.(*parser.Error); ok {
		c.errorf(t.Locate(pe.Offset), item, "%s", pe.Msg)
		return
	}
	c.errorf(t.Pos, item, "%v", err)
}

// macroError reports an error found resolving macro m: in m, or in the macro it names.
func (c *compileState) macroError(m *loader.Macro, err error) {
	ce, ok := err.(*compiler.Error)
	if !ok {
		c.errorf(m.Condition.Pos, itemName("macro", m.Name), "%v", err)
		return
	}
	at := m
	if d, ok := c.macroDef[ce.Macro]; ok && ce.Macro != "" {
		at = d
	}
	c.macroErr[at.Name] = true
	c.errorf(at.Condition.Locate(ce.Offset), itemName("macro", at.Name), "%s", ce.Msg)
}

// compileError reports a compiler error at its position: in the rule's condition, or in the
// macro it sits in (reported once per macro).
func (c *compileState) compileError(r *loader.Rule, cond loader.Text, err error) {
	ce, ok := err.(*compiler.Error)
	if !ok {
		c.errorf(cond.Pos, itemName("rule", r.Name), "%v", err)
		return
	}
	if ce.Macro != "" {
		if m, ok := c.macroDef[ce.Macro]; ok {
			c.errorf(m.Condition.Locate(ce.Offset), itemName("macro", ce.Macro), "%s", ce.Msg)
			return
		}
	}
	if k := ce.Offset - len(cond.Value); k >= 0 { // inside exception k, appended after the condition
		if k < len(r.Exceptions) {
			ex := r.Exceptions[k]
			c.errorf(ex.Pos, itemName("rule", r.Name), "exception %q: %s", ex.Name, ce.Msg)
			return
		}
		c.errorf(r.Pos, itemName("rule", r.Name), "%s", ce.Msg)
		return
	}
	c.errorf(cond.Locate(ce.Offset), itemName("rule", r.Name), "%s", ce.Msg)
}

func (c *compileState) compileRule(i int, r *loader.Rule, env *compiler.Env) *Rule {
	item := itemName("rule", r.Name)
	expr, err := parser.ParseCondition(r.Condition.Value)
	if err != nil {
		c.parseError(r.Condition, item, err)
		return nil
	}
	for _, ex := range r.Exceptions {
		for _, f := range ex.Fields {
			ref, err := parseFieldRef(f)
			if err != nil {
				c.errorf(ex.Pos, item, "exception %q: invalid field '%s'", ex.Name, f)
				return nil
			}
			if _, _, ok := fields.Resolve(env.Source.Field, ref.Name); !ok {
				c.errorf(ex.Pos, item, "exception %q: unknown field '%s'", ex.Name, ref.Name)
				return nil
			}
		}
	}
	expr, err = withExceptions(expr, r, len(r.Condition.Value))
	if err != nil {
		c.errorf(r.Pos, item, "%v", err)
		return nil
	}
	res, err := env.Compile(expr)
	if err != nil {
		// skip-if-unknown-filter: a field or an event type this source does not know skips
		// the rule with a warning, as in Falco
		if ce, ok := err.(*compiler.Error); ok && r.SkipIfUnknownFilter && unknownName(ce.Msg) {
			c.warnf(r.Pos, item, "%s; rule skipped (skip-if-unknown-filter)", ce.Msg)
			return nil
		}
		c.compileError(r, r.Condition, err)
		return nil
	}
	out, err := compileOutput(r.Output.Value, env.Source)
	if err != nil {
		oe, ok := err.(*outputError)
		switch {
		case ok && oe.unknown && r.SkipIfUnknownFilter:
			c.warnf(r.Pos, item, "%s; rule skipped (skip-if-unknown-filter)", oe.msg)
		case ok:
			c.errorf(r.Output.Locate(oe.offset), item, "%s", oe.msg)
		default:
			c.errorf(r.Output.Pos, item, "%v", err)
		}
		return nil
	}
	if strings.Contains(r.Output.Value, containerInfo) {
		c.warnf(r.Output.Pos, item, "%%container.info is deprecated: it is rendered as %s", containerInfoFormat)
	}
	cr := &Rule{
		Name: r.Name, Desc: r.Desc, Priority: r.Priority, Tags: r.Tags, Source: r.Source,
		Enabled: r.Enabled, Filter: res.Filter, Output: out, Def: r, Index: i, AllTypes: res.All,
		cond: res,
	}
	if !res.All {
		for code, in := range res.EventTypes {
			if in {
				cr.EventTypes = append(cr.EventTypes, uint16(code))
			}
		}
	}
	// Falco warns when a syscall rule's event-type set is unrestricted or holds more than 100
	// event codes (`evt.type != open`, `not evt.type = open`, ...).
	if r.WarnEvttypes && env.Source.NumEventCodes() > 1 && (res.All || len(cr.EventTypes) > maxEventTypes) {
		c.warnf(r.Pos, item, "rule matches too many evt.type values; this has a significant performance penalty")
	}
	return cr
}

// maxEventTypes is the size of a rule's event-code set above which Falco warns that it
// matches too many event types.
const maxEventTypes = 100

// unknownName reports the compile errors skip-if-unknown-filter skips a rule for: an unknown
// field or an unknown event type.
func unknownName(msg string) bool {
	return strings.HasPrefix(msg, "unknown field") || strings.HasPrefix(msg, "unknown event type")
}

// withExceptions folds a rule's exceptions into its condition, as Falco does:
// `(cond) and not ((f1 c1 v1 and f2 c2 v2) or ...)`. The nodes made for exception k sit at
// offset base+k (past the end of the condition), so an error in them names that exception.
//
// Values follow Falco's text semantics (it splices them into the condition text): a value is
// read as condition text, so one written with quotes (`'"cat /dev/null"'`) is that string
// without them, a bare list name stands for the list's items, and a scalar compared with a
// list operator (in, intersects, pmatch) is a list, with or without its parentheses
// (`my_list`, `(my_list)`, `(a, b)`); a value with a space that does not start with a quote
// is one string.
func withExceptions(cond ast.Expr, r *loader.Rule, base int) (ast.Expr, error) {
	var alts []ast.Expr
	for k, ex := range r.Exceptions {
		at := base + k
		refs := make([]*ast.FieldRef, len(ex.Fields))
		for i, f := range ex.Fields {
			ref, err := parseFieldRef(f)
			if err != nil {
				return nil, fmt.Errorf("exception %q: bad field '%s': %v", ex.Name, f, err)
			}
			refs[i] = ref
		}
		comps := ex.Comps
		if !ex.FieldsIsList {
			// A single field: values are one list, compared with comps[0] (default "in").
			comp := "in"
			if len(comps) > 0 && comps[0] != "" {
				comp = comps[0]
			}
			if len(ex.Values) == 0 || len(refs) == 0 {
				continue
			}
			lit := &ast.ListLit{Lparen: at, Rparen: at}
			for _, tuple := range ex.Values {
				for _, v := range tuple {
					if v.IsList {
						for _, it := range v.Items {
							l, err := exceptionItem(it.Value, at)
							if err != nil {
								return nil, fmt.Errorf("exception %q: %v", ex.Name, err)
							}
							lit.Items = append(lit.Items, l)
						}
						continue
					}
					l, err := exceptionItem(v.Value, at)
					if err != nil {
						return nil, fmt.Errorf("exception %q: %v", ex.Name, err)
					}
					lit.Items = append(lit.Items, l)
				}
			}
			alts = append(alts, &ast.Compare{Field: refs[0], Op: comp, OpPos: at, Value: lit})
			continue
		}
		for _, tuple := range ex.Values {
			if len(tuple) != len(refs) {
				return nil, fmt.Errorf("exception %q: value tuple has %d items for %d fields", ex.Name, len(tuple), len(refs))
			}
			var conj ast.Expr
			for i, v := range tuple {
				comp := "="
				if i < len(comps) && comps[i] != "" {
					comp = comps[i]
				}
				val, err := exceptionValue(v, comp, at)
				if err != nil {
					return nil, fmt.Errorf("exception %q: %v", ex.Name, err)
				}
				cmp := &ast.Compare{Field: refs[i], Op: comp, OpPos: at, Value: val}
				if conj == nil {
					conj = cmp
				} else {
					conj = &ast.BinaryExpr{Op: ast.And, X: conj, Y: cmp, OpPos: at}
				}
			}
			if conj != nil {
				alts = append(alts, &ast.ParenExpr{X: conj, Lparen: at, Rparen: at})
			}
		}
	}
	if len(alts) == 0 {
		return cond, nil
	}
	var any ast.Expr = alts[0]
	for _, a := range alts[1:] {
		any = &ast.BinaryExpr{Op: ast.Or, X: any, Y: a, OpPos: base}
	}
	return &ast.BinaryExpr{Op: ast.And, X: &ast.ParenExpr{X: cond}, Y: &ast.NotExpr{X: &ast.ParenExpr{X: any, Lparen: base, Rparen: base}, NotPos: base}, OpPos: base}, nil
}

// isListOp reports the operators whose value is a list.
func isListOp(op string) bool { return op == "in" || op == "intersects" || op == "pmatch" }

// exceptionValue is the operand of one element of an exception's values tuple (see
// withExceptions for the text semantics).
func exceptionValue(v loader.ExceptionValue, comp string, at int) (ast.Operand, error) {
	if v.IsList {
		ll := &ast.ListLit{Lparen: at, Rparen: at}
		for _, it := range v.Items {
			l, err := exceptionItem(it.Value, at)
			if err != nil {
				return nil, err
			}
			ll.Items = append(ll.Items, l)
		}
		return ll, nil
	}
	text := v.Value
	if isListOp(comp) {
		if !strings.HasPrefix(text, "(") {
			text = "(" + text + ")"
		}
		o, err := parseOperand(comp, text)
		if err != nil {
			return nil, fmt.Errorf("invalid value %q: %v", v.Value, err)
		}
		if ll, ok := o.(*ast.ListLit); ok {
			ll.Lparen, ll.Rparen = at, at
			for _, it := range ll.Items {
				it.From, it.To = at, at
			}
			return ll, nil
		}
		return nil, fmt.Errorf("invalid value %q: not a list", v.Value)
	}
	return exceptionItem(text, at)
}

// exceptionItem reads one scalar value as Falco does: a value with a space that does not start
// with a quote is that string; otherwise it is condition text for one value (quotes removed,
// a bare word kept bare, so that a list name is expanded by the compiler).
func exceptionItem(text string, at int) (*ast.Literal, error) {
	if strings.Contains(text, " ") && text[0] != '"' && text[0] != '\'' {
		return &ast.Literal{Value: text, Quoted: true, From: at, To: at}, nil
	}
	o, err := parseOperand("=", text)
	if err != nil {
		// not valid as condition text (e.g. an unbalanced quote): the string as written
		return &ast.Literal{Value: text, Quoted: true, From: at, To: at}, nil
	}
	l, ok := o.(*ast.Literal)
	if !ok {
		return &ast.Literal{Value: text, Quoted: true, From: at, To: at}, nil
	}
	l.From, l.To = at, at
	return l, nil
}

// parseOperand parses text as the value of a comparison with op.
func parseOperand(op, text string) (ast.Operand, error) {
	e, err := parser.ParseCondition("x.x " + op + " " + text)
	if err != nil {
		return nil, err
	}
	c, ok := e.(*ast.Compare)
	if !ok {
		return nil, fmt.Errorf("not a single value")
	}
	return c.Value, nil
}

func parseFieldRef(f string) (*ast.FieldRef, error) {
	e, err := parser.ParseCondition(f + " exists")
	if err != nil {
		return nil, err
	}
	u, ok := e.(*ast.UnaryCheck)
	if !ok {
		return nil, fmt.Errorf("not a field")
	}
	return u.Field, nil
}

func (c *compileState) buildIndex() {
	for name, src := range c.opts.Sources {
		ix := &SourceRules{src: src, byCode: make([][]*Rule, src.NumEventCodes()), match: make([]codeRules, src.NumEventCodes())}
		ix.ser, _ = src.(fields.EventSerialer)
		for _, r := range c.rs.Rules {
			if r.Source != name || !r.Enabled {
				continue
			}
			if r.AllTypes {
				for code := range ix.byCode {
					ix.byCode[code] = append(ix.byCode[code], r)
				}
				continue
			}
			for _, code := range r.EventTypes {
				ix.byCode[code] = append(ix.byCode[code], r)
			}
		}
		for code, rules := range ix.byCode {
			var us []unpacked
			for _, r := range rules {
				steps, never := []compiler.Step{{F: r.Filter}}, false
				if r.cond != nil {
					steps, never = r.cond.Steps(uint16(code))
				}
				if never {
					continue
				}
				for i := range steps {
					if steps[i].Memo == nil || ix.ser == nil {
						steps[i].Memo = noMemo
					}
				}
				us = append(us, unpacked{r: r, steps: steps})
			}
			sharedFirst(us)
			ix.match[code] = pack(us)
		}
		c.rs.sources[name] = ix
	}
}

// Enabled lists the enabled rules in definition order.
func (rs *Ruleset) Enabled() []*Rule {
	var out []*Rule
	for _, r := range rs.Rules {
		if r.Enabled {
			out = append(out, r)
		}
	}
	return out
}

// Candidates returns the enabled rules of a source that can match an event of a given code,
// in definition order.
func (rs *Ruleset) Candidates(source string, code uint16) []*Rule {
	return rs.sources[source].Candidates(code)
}

// Source returns the rules of one source (nil when the ruleset has no such source), for a
// caller that matches many events of it (no lookup of the source per event).
func (rs *Ruleset) Source(name string) *SourceRules { return rs.sources[name] }

// Candidates returns the enabled rules that can match an event of a given code, in
// definition order.
func (ix *SourceRules) Candidates(code uint16) []*Rule {
	if ix == nil || int(code) >= len(ix.byCode) {
		return nil
	}
	return ix.byCode[code]
}

// Match appends to dst the enabled rules of source that match ev (of event code code), in
// definition order; with first set it stops at the first match (rule_matching: first).
func (rs *Ruleset) Match(source string, code uint16, ev fields.Event, first bool, dst []*Rule) []*Rule {
	return rs.sources[source].Match(code, ev, first, dst)
}

// Any reports whether an event of that code has candidate rules: a test that inlines, so
// the callers spare the call to Match for the codes no rule names (most events).
func (ix *SourceRules) Any(code uint16) bool {
	return ix != nil && int(code) < len(ix.match) && len(ix.match[code].ops) > 0
}

// Match appends to dst the rules that match ev (of event code code), in definition order;
// with first set it stops at the first match (rule_matching: first).
func (ix *SourceRules) Match(code uint16, ev fields.Event, first bool, dst []*Rule) []*Rule {
	if ix == nil || int(code) >= len(ix.match) {
		return dst
	}
	serial := uint64(unnumbered)
	if ix.ser != nil {
		if n, ok := ix.ser.EventSerial(ev); ok && n != 0 {
			serial = n
		}
	}
	ops := ix.match[code].ops
	for j := 0; j < len(ops); {
		o := &ops[j]
		switch {
		case o.f == nil: // the end of a candidate whose steps all held
			dst = append(dst, o.r)
			if first {
				return dst
			}
			j++
		case o.memo.Serial == serial: // remembered for this event: no call
			if o.memo.Val {
				j++
			} else {
				j = o.next
			}
		case o.f(ev):
			j++
		default:
			j = o.next
		}
	}
	return dst
}

// EventTypeNames lists the event-type names the enabled rules of a source need, for
// in-kernel selection; all is true when some rule matches every type.
func (rs *Ruleset) EventCodes(source string) (codes []uint16, all bool) {
	ix := rs.sources[source]
	if ix == nil {
		return nil, false
	}
	for _, r := range rs.Rules {
		if r.Source == source && r.Enabled && r.AllTypes {
			all = true
		}
	}
	for code, rules := range ix.byCode {
		if len(rules) > 0 {
			codes = append(codes, uint16(code))
		}
	}
	sort.Slice(codes, func(i, j int) bool { return codes[i] < codes[j] })
	return codes, all
}
