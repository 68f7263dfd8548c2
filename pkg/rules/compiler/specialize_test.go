package compiler

import (
	"testing"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/ast"
)

// The string and integer predicates buildCompare uses must decide as the generic predicate
// on a whole fields.Value does, for every operator and value.
func TestSpecializedPredicatesAgree(t *testing.T) {
	c := &compiler{}
	n := &ast.Compare{Value: &ast.Literal{}}
	strOps := []string{"=", "==", "!=", "contains", "icontains", "bcontains", "startswith", "bstartswith", "endswith", "glob", "iglob", "<", "<=", ">", ">=", "regex"}
	strVals := []string{"", "/etc", "/etc/passwd", "/ETC/Passwd", "passwd", "/etc/*", "/lib64/ld.so", "a", "z"}
	for _, typ := range []fields.Type{fields.String, fields.Bytes} {
		for _, op := range strOps {
			if opAllowed(op, typ, false) != nil {
				continue
			}
			for _, k := range strVals {
				raw := []string{k}
				if op == "regex" {
					raw = []string{"^/etc/p"}
				}
				ops := []operand{{s: k}}
				pred, err := c.predicate(n, op, typ, raw, ops)
				if err != nil {
					t.Fatal(err)
				}
				sp := c.stringPredicate(op, raw, ops, pred)
				for _, s := range strVals {
					if got, want := sp(s), pred(fields.Value{S: s}); got != want {
						t.Errorf("%s %q %s %q: specialized %v, generic %v", typ, s, op, k, got, want)
					}
				}
			}
		}
		for _, op := range []string{"in", "intersects", "pmatch"} {
			for _, raw := range [][]string{{"/etc"}, {"/etc", "/lib"}, {"a", "b", "c", "d", "/etc/passwd", "/lib"}} {
				ops := make([]operand, len(raw))
				for i, r := range raw {
					ops[i] = operand{s: r}
				}
				pred, err := c.predicate(n, op, typ, raw, ops)
				if err != nil {
					t.Fatal(err)
				}
				sp := c.stringPredicate(op, raw, ops, pred)
				for _, s := range append(strVals, "/lib/x", "/etcx") {
					if got, want := sp(s), pred(fields.Value{S: s}); got != want {
						t.Errorf("%s %q %s %v: specialized %v, generic %v", typ, s, op, raw, got, want)
					}
				}
			}
		}
	}
	nums := []uint64{0, 1, 2, 80, 1 << 40, ^uint64(0), ^uint64(1), 1 << 63}
	for _, typ := range []fields.Type{fields.Int64, fields.Uint64, fields.Port, fields.AbsTime, fields.RelTime, fields.Bool} {
		for _, op := range []string{"=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects"} {
			if opAllowed(op, typ, false) != nil {
				continue
			}
			for _, k := range nums {
				ops := []operand{{n: k}}
				if op == "in" || op == "intersects" {
					ops = append(ops, operand{n: k + 1})
				}
				pred, err := c.predicate(n, op, typ, nil, ops)
				if err != nil {
					t.Fatal(err)
				}
				np := intPredicate(typ, op, ops)
				if np == nil {
					t.Fatalf("%s %s: no integer predicate", typ, op)
				}
				for _, v := range nums {
					if got, want := np(v), pred(fields.Value{N: v}); got != want {
						t.Errorf("%s %d %s %d: specialized %v, generic %v", typ, v, op, k, got, want)
					}
				}
			}
		}
	}
}
