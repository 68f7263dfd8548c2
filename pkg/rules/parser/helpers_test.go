package parser_test

import (
	"github.com/saker-sec/saker/internal/testshared"
	"testing"

	"github.com/saker-sec/saker/pkg/rules/ast"
)

// sharedDir returns ../shared relative to the repository root, skipping the test when it is
// absent (failing instead when CI=true).
func sharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t)
}

// zeroPos clears every position in the tree (in place) and returns it, so that trees can be
// compared with reflect.DeepEqual independently of ast.Equal.
func zeroPos(e ast.Expr) ast.Expr {
	ast.Walk(e, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.BinaryExpr:
			x.OpPos = 0
		case *ast.NotExpr:
			x.NotPos = 0
		case *ast.ParenExpr:
			x.Lparen, x.Rparen = 0, 0
		case *ast.MacroRef:
			x.NamePos = 0
		case *ast.FieldRef:
			x.From, x.To, x.NamePos = 0, 0, 0
		case *ast.UnaryCheck:
			x.OpPos = 0
		case *ast.Compare:
			x.OpPos = 0
		case *ast.Literal:
			x.From, x.To = 0, 0
		case *ast.ListLit:
			x.Lparen, x.Rparen = 0, 0
		case *ast.FieldValue:
			x.From, x.To = 0, 0
		}
		return true
	})
	return e
}

// checkPositions verifies, against the source text, the spans the parser recorded.
func checkPositions(t testing.TB, src string, e ast.Expr) {
	t.Helper()
	ast.Walk(e, func(n ast.Node) bool {
		if n.Pos() < 0 || n.Pos() > n.End() || n.End() > len(src) {
			t.Errorf("%q: node %T has bad span [%d,%d)", src, n, n.Pos(), n.End())
			return false
		}
		text := src[n.Pos():n.End()]
		switch x := n.(type) {
		case *ast.MacroRef:
			if text != x.Name {
				t.Errorf("%q: macro span %q, want %q", src, text, x.Name)
			}
		case *ast.FieldRef:
			if got := src[x.NamePos:min(len(src), x.NamePos+len(x.Name))]; got != x.Name {
				t.Errorf("%q: field name at %d is %q, want %q", src, x.NamePos, got, x.Name)
			}
			if len(x.Transformers) > 0 {
				if text[len(text)-1] != ')' || text[:len(x.Transformers[0])] != x.Transformers[0] {
					t.Errorf("%q: transformed field span %q", src, text)
				}
			} else if x.HasArg && text[len(text)-1] != ']' {
				t.Errorf("%q: field with argument span %q", src, text)
			}
		case *ast.Literal:
			if !x.Quoted && text != x.Value {
				t.Errorf("%q: bare literal span %q, want %q", src, text, x.Value)
			}
			if x.Quoted && (text[0] != '"' && text[0] != '\'' || text[len(text)-1] != text[0]) {
				t.Errorf("%q: quoted literal span %q", src, text)
			}
		case *ast.ParenExpr:
			if text[0] != '(' || text[len(text)-1] != ')' {
				t.Errorf("%q: paren span %q", src, text)
			}
		case *ast.ListLit:
			if text[0] != '(' || text[len(text)-1] != ')' {
				t.Errorf("%q: list span %q", src, text)
			}
		case *ast.NotExpr:
			if text[:3] != "not" {
				t.Errorf("%q: not span %q", src, text)
			}
		case *ast.BinaryExpr:
			kw := x.Op.String()
			if src[x.OpPos:x.OpPos+len(kw)] != kw {
				t.Errorf("%q: %s keyword not at %d", src, kw, x.OpPos)
			}
		case *ast.Compare:
			if src[x.OpPos:x.OpPos+len(x.Op)] != x.Op {
				t.Errorf("%q: operator %s not at %d", src, x.Op, x.OpPos)
			}
		case *ast.UnaryCheck:
			if src[x.OpPos:x.OpPos+len(x.Op)] != x.Op {
				t.Errorf("%q: operator %s not at %d", src, x.Op, x.OpPos)
			}
		}
		return true
	})
}
