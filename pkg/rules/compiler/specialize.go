package compiler

import (
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/ast"
)

// A condition is compiled once into a tree of nodes, each holding its ready filter. Steps
// rebuilds the tree for one event code: a comparison whose outcome the code decides (the
// source tells, through fields.Folder, every value the field can have for events of that
// code: `evt.type`, `evt.dir`, an enter event's `evt.res`...) becomes a constant, constants
// are folded through and/or/not and macros, and what is left is chained again, the top-level
// conjunction as a list of steps. A ruleset indexed by event code then evaluates, for an
// open's enter event, the few tests that can still tell, and drops the rules the code rules
// out (most upstream rules on enter events).

// Node operators.
const (
	opLeaf uint8 = iota
	opAnd
	opOr
	opNot
	opMacro
)

// node is one compiled sub-condition.
type node struct {
	f    Filter // the filter for any event code
	op   uint8
	kids []*node
	// fold, on a leaf, decides the leaf's outcome from the event code alone: known is false
	// when events of that code can differ. mayFold is set on every node with such a leaf
	// below it: Steps rebuilds only those.
	fold    func(code uint16) (val, known bool)
	mayFold bool
	macro   *compiledMacro // opMacro: the macro (kids[0] is its body)
}

// specResult is a node specialized for one code: constant (known, val) or a filter; same
// reports that nothing folded (the node's own filter serves).
type specResult struct {
	f     Filter
	val   bool
	known bool
	same  bool
	memo  *fields.Memo // f's memory when f is a macro's (Step)
}

func notNode(x *node) *node {
	f := x.f
	return &node{f: func(ev fields.Event) bool { return !f(ev) }, op: opNot, kids: []*node{x}, mayFold: x.mayFold}
}

// leaf makes the node of a test on field r. onValue builds the same test reading the field
// through another extractor: fold evaluates it on each value the source says the field can
// have for a code, and knows the outcome when they all agree.
func (c *compiler) leaf(f Filter, r *ast.FieldRef, onValue func(fields.Extractor) Filter) *node {
	nd := &node{f: f}
	folder, ok := c.env.Source.(fields.Folder)
	if !ok {
		return nd
	}
	info, arg, ok := c.plainRef(r)
	if !ok || !folder.MayFold(info) {
		return nd
	}
	nd.mayFold = true
	var cur fields.Outcome
	var onCur Filter
	nd.fold = func(code uint16) (bool, bool) {
		outs, known := folder.Outcomes(info, arg, code)
		if !known || len(outs) == 0 {
			return false, false
		}
		if onCur == nil {
			onCur = onValue(func(fields.Event) (fields.Value, bool) { return cur.V, cur.OK })
			if onCur == nil {
				return false, false
			}
		}
		var first bool
		for i, o := range outs {
			cur = o
			v := onCur(nil)
			if i == 0 {
				first = v
			} else if v != first {
				return false, false
			}
		}
		return first, true
	}
	return nd
}

// unchanged is n's result when nothing folds: its own filter (and memory, for a macro).
func (n *node) unchanged() specResult {
	r := specResult{f: n.f, same: true}
	if n.op == opMacro {
		r.memo = n.macro.memo
	}
	return r
}

// A Step is one test of a condition's top-level conjunction (Steps): F decides it; Memo, when
// set, is F's memory (a macro's), which a caller knowing the event's serial reads instead of
// calling F when it holds that event.
type Step struct {
	F    Filter
	Memo *fields.Memo
}

// Steps returns the condition specialized for events of one code, as the list of the tests
// its top-level "and" chain leaves for them, in their order (nested "and"s flattened): the
// condition holds when every step does (so with no step, every event of that code matches).
// never is true when no event of that code can match (no steps then). A caller evaluating many
// conditions on one event spares a call per condition, and one per remembered macro
// (open_read, open_write...) an earlier condition already evaluated. It must not run
// concurrently with a filter's evaluation or another Steps on a condition compiled in the
// same Env (they share macro memories).
func (r *Result) Steps(code uint16) (steps []Step, never bool) {
	if r.root == nil {
		return []Step{{F: r.Filter}}, false
	}
	var walk func(n *node) bool
	walk = func(n *node) bool {
		if n.op == opAnd {
			for _, k := range n.kids {
				if !walk(k) {
					return false
				}
			}
			return true
		}
		s := specialize(n, code)
		switch {
		case s.known && s.val:
			return true
		case s.known:
			return false
		}
		steps = append(steps, Step{F: s.f, Memo: s.memo})
		return true
	}
	if !walk(r.root) {
		return nil, true
	}
	return steps, false
}

func specialize(n *node, code uint16) specResult {
	if !n.mayFold {
		return n.unchanged()
	}
	switch n.op {
	case opLeaf:
		if n.fold != nil {
			if v, ok := n.fold(code); ok {
				return specResult{val: v, known: true}
			}
		}
		return specResult{f: n.f, same: true}
	case opNot:
		x := specialize(n.kids[0], code)
		switch {
		case x.known:
			return specResult{val: !x.val, known: true}
		case x.same:
			return specResult{f: n.f, same: true}
		}
		g := x.f
		return specResult{f: func(ev fields.Event) bool { return !g(ev) }}
	case opMacro:
		m := n.macro
		if s, ok := m.spec[code]; ok {
			return s
		}
		s := specialize(n.kids[0], code)
		switch {
		case s.known:
		case s.same:
			s = n.unchanged()
		default:
			// a macro specialized for a code is still evaluated once per event by every
			// rule that uses it: one memory per (macro, code), as events of one code only
			// ever reach that code's filters
			s.f, s.memo = m.remember(s.f)
		}
		if m.spec == nil {
			m.spec = map[uint16]specResult{}
		}
		m.spec[code] = s
		return s
	}
	and := n.op == opAnd
	same := true
	var keep []Filter
	for _, k := range n.kids {
		s := specialize(k, code)
		if s.known {
			same = false
			if s.val != and { // false in an and, true in an or: decides the chain
				return specResult{val: s.val, known: true}
			}
			continue // true in an and, false in an or: no say
		}
		if !s.same {
			same = false
		}
		keep = append(keep, s.f)
	}
	switch {
	case len(keep) == 0:
		return specResult{val: and, known: true}
	case same:
		return specResult{f: n.f, same: true}
	case len(keep) == 1:
		return specResult{f: keep[0]}
	}
	return specResult{f: chainFilter(and, keep)}
}
