package ast_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/rules/ast"
)

func m(n string) ast.Expr { return &ast.MacroRef{Name: n} }
func and(x, y ast.Expr) ast.Expr {
	return &ast.BinaryExpr{Op: ast.And, X: x, Y: y}
}
func or(x, y ast.Expr) ast.Expr {
	return &ast.BinaryExpr{Op: ast.Or, X: x, Y: y}
}

func TestPrintGrouping(t *testing.T) {
	tests := []struct {
		e    ast.Expr
		want string
	}{
		{and(m("a"), m("b")), "a and b"},
		{and(and(m("a"), m("b")), m("c")), "a and b and c"},
		{and(m("a"), and(m("b"), m("c"))), "a and (b and c)"},
		{and(m("a"), or(m("b"), m("c"))), "a and (b or c)"},
		{and(or(m("a"), m("b")), m("c")), "(a or b) and c"},
		{or(m("a"), and(m("b"), m("c"))), "a or b and c"},
		{or(and(m("a"), m("b")), m("c")), "a and b or c"},
		{or(m("a"), or(m("b"), m("c"))), "a or (b or c)"},
		{&ast.NotExpr{X: and(m("a"), m("b"))}, "not (a and b)"},
		{&ast.NotExpr{X: &ast.NotExpr{X: m("a")}}, "not not a"},
		{&ast.NotExpr{X: &ast.ParenExpr{X: m("a")}}, "not (a)"},
		{&ast.ParenExpr{X: or(m("a"), m("b"))}, "(a or b)"},
	}
	for _, tt := range tests {
		if got := ast.Print(tt.e); got != tt.want {
			t.Errorf("Print = %q, want %q", got, tt.want)
		}
	}
}

func TestPrintChecks(t *testing.T) {
	f := &ast.FieldRef{Name: "proc.name"}
	tests := []struct {
		e    ast.Expr
		want string
	}{
		{&ast.UnaryCheck{Field: f, Op: "exists"}, "proc.name exists"},
		{&ast.Compare{Field: f, Op: "=", Value: &ast.Literal{Value: "sh"}}, "proc.name = sh"},
		{&ast.Compare{Field: f, Op: "=", Value: &ast.Literal{Value: "sh", Quoted: true}}, `proc.name = "sh"`},
		// A bare literal that cannot be written bare is quoted.
		{&ast.Compare{Field: f, Op: "=", Value: &ast.Literal{Value: "a b"}}, `proc.name = "a b"`},
		{&ast.Compare{Field: f, Op: "=", Value: &ast.Literal{Value: ""}}, `proc.name = ""`},
		{&ast.Compare{Field: f, Op: "contains", Value: &ast.Literal{Value: "x=y"}}, `proc.name contains "x=y"`},
		{&ast.Compare{Field: f, Op: "in", Value: &ast.ListLit{Items: []*ast.Literal{}}}, "proc.name in ()"},
		{&ast.Compare{Field: f, Op: "in", Value: &ast.ListLit{Items: []*ast.Literal{
			{Value: "a"}, {Value: "b c"}, {Value: "d", Quoted: true}}}}, `proc.name in (a, "b c", "d")`},
		{&ast.Compare{Field: f, Op: "in", Value: &ast.Literal{Value: "my_list"}}, "proc.name in my_list"},
		{&ast.Compare{Field: f, Op: "=", Value: &ast.FieldValue{Field: &ast.FieldRef{Name: "proc.pname"}}}, "proc.name = val(proc.pname)"},
		{&ast.Compare{Field: f, Op: "=", Value: &ast.FieldValue{Field: &ast.FieldRef{Name: "proc.pname", Transformers: []string{"tolower"}}}},
			"proc.name = tolower(proc.pname)"},
		{&ast.Compare{Field: &ast.FieldRef{Name: "proc.exe", Transformers: []string{"tolower", "basename"}}, Op: "=", Value: &ast.Literal{Value: "sh"}},
			"tolower(basename(proc.exe)) = sh"},
	}
	for _, tt := range tests {
		if got := ast.Print(tt.e); got != tt.want {
			t.Errorf("Print = %q, want %q", got, tt.want)
		}
	}
}

func TestFieldRefString(t *testing.T) {
	tests := []struct {
		f    ast.FieldRef
		want string
	}{
		{ast.FieldRef{Name: "proc.name"}, "proc.name"},
		{ast.FieldRef{Name: "proc.aname", Arg: "2", HasArg: true}, "proc.aname[2]"},
		{ast.FieldRef{Name: "jevt.value", Arg: "/a/b", HasArg: true}, "jevt.value[/a/b]"},
		{ast.FieldRef{Name: "proc.env", Arg: "A B", HasArg: true}, `proc.env["A B"]`},
		{ast.FieldRef{Name: "proc.env", Arg: "a]b", HasArg: true}, `proc.env["a]b"]`},
		{ast.FieldRef{Name: "proc.env", Arg: "", HasArg: true}, `proc.env[""]`},
		{ast.FieldRef{Name: "proc.env", Arg: "ignored"}, "proc.env"},
		{ast.FieldRef{Name: "fd.name", Transformers: []string{"toupper", "b64", "len"}}, "toupper(b64(len(fd.name)))"},
	}
	for _, tt := range tests {
		if got := tt.f.String(); got != tt.want {
			t.Errorf("String = %q, want %q", got, tt.want)
		}
	}
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", `""`},
		{"abc", `"abc"`},
		{`a"b`, `"a\"b"`},
		{`a'b`, `"a'b"`},
		{`a\b`, `"a\\b"`},
		{"\n\t\r\b\f", `"\n\t\r\b\f"`},
		{"\x00\x1f\x7f", `"\x00\x1f\x7f"`},
		{"é", `"é"`},
		{"\xff", "\"\xff\""},
	}
	for _, tt := range tests {
		if got := ast.Quote(tt.in); got != tt.want {
			t.Errorf("Quote(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestWalk(t *testing.T) {
	// not (proc.name in (a, b)) or tolower(fd.name) = val(proc.pname) and m
	e := or(
		&ast.NotExpr{X: &ast.ParenExpr{X: &ast.Compare{Field: &ast.FieldRef{Name: "proc.name"}, Op: "in",
			Value: &ast.ListLit{Items: []*ast.Literal{{Value: "a"}, {Value: "b"}}}}}},
		and(&ast.Compare{Field: &ast.FieldRef{Name: "fd.name", Transformers: []string{"tolower"}}, Op: "=",
			Value: &ast.FieldValue{Field: &ast.FieldRef{Name: "proc.pname"}}}, m("m")))
	var got []string
	ast.Walk(e, func(n ast.Node) bool {
		s := strings.TrimPrefix(fmt.Sprintf("%T", n), "*ast.")
		switch x := n.(type) {
		case *ast.FieldRef:
			s += ":" + x.Name
		case *ast.Literal:
			s += ":" + x.Value
		}
		got = append(got, s)
		return true
	})
	want := "BinaryExpr NotExpr ParenExpr Compare FieldRef:proc.name ListLit Literal:a Literal:b " +
		"BinaryExpr Compare FieldRef:fd.name FieldValue FieldRef:proc.pname MacroRef"
	if g := strings.Join(got, " "); g != want {
		t.Errorf("walk order:\n got %s\nwant %s", g, want)
	}
	// Returning false prunes the subtree.
	got = nil
	ast.Walk(e, func(n ast.Node) bool {
		got = append(got, strings.TrimPrefix(fmt.Sprintf("%T", n), "*ast."))
		_, isNot := n.(*ast.NotExpr)
		_, isAnd := n.(*ast.BinaryExpr)
		return !isNot && !(isAnd && len(got) > 1)
	})
	if g := strings.Join(got, " "); g != "BinaryExpr NotExpr BinaryExpr" {
		t.Errorf("pruned walk: %s", g)
	}
	ast.Walk(nil, func(ast.Node) bool { t.Error("called for nil"); return true })
	var nilCmp *ast.Compare
	ast.Walk(nilCmp, func(ast.Node) bool { t.Error("called for typed nil"); return true })
}

func TestEqual(t *testing.T) {
	cmp := func(name, arg string, hasArg bool, tr []string, op string, v ast.Operand) ast.Expr {
		return &ast.Compare{Field: &ast.FieldRef{Name: name, Arg: arg, HasArg: hasArg, Transformers: tr}, Op: op, Value: v}
	}
	lit := func(v string, q bool) *ast.Literal { return &ast.Literal{Value: v, Quoted: q} }
	base := cmp("proc.aname", "2", true, []string{"tolower"}, "=", lit("sh", false))
	same := &ast.Compare{Field: &ast.FieldRef{Name: "proc.aname", Arg: "2", HasArg: true, Transformers: []string{"tolower"}, From: 5, To: 9, NamePos: 7},
		Op: "=", OpPos: 40, Value: &ast.Literal{Value: "sh", From: 1, To: 3}}
	if !ast.Equal(base, same) {
		t.Error("positions should be ignored")
	}
	diffs := []ast.Expr{
		cmp("proc.name", "2", true, []string{"tolower"}, "=", lit("sh", false)),
		cmp("proc.aname", "3", true, []string{"tolower"}, "=", lit("sh", false)),
		cmp("proc.aname", "2", false, []string{"tolower"}, "=", lit("sh", false)),
		cmp("proc.aname", "2", true, nil, "=", lit("sh", false)),
		cmp("proc.aname", "2", true, []string{"toupper"}, "=", lit("sh", false)),
		cmp("proc.aname", "2", true, []string{"tolower"}, "!=", lit("sh", false)),
		cmp("proc.aname", "2", true, []string{"tolower"}, "=", lit("sh", true)),
		cmp("proc.aname", "2", true, []string{"tolower"}, "=", lit("bash", false)),
		cmp("proc.aname", "2", true, []string{"tolower"}, "=", &ast.ListLit{Items: []*ast.Literal{lit("sh", false)}}),
		&ast.UnaryCheck{Field: &ast.FieldRef{Name: "proc.aname", Arg: "2", HasArg: true, Transformers: []string{"tolower"}}, Op: "exists"},
		&ast.ParenExpr{X: base},
		m("sh"),
		nil,
	}
	for i, d := range diffs {
		if ast.Equal(base, d) || ast.Equal(d, base) {
			t.Errorf("case %d: %s reported equal to %s", i, ast.Print(d), ast.Print(base))
		}
	}
	l1 := &ast.ListLit{Items: []*ast.Literal{lit("a", false), lit("b", false)}}
	l2 := &ast.ListLit{Items: []*ast.Literal{lit("a", false)}}
	f := &ast.FieldRef{Name: "x.y"}
	if ast.Equal(&ast.Compare{Field: f, Op: "in", Value: l1}, &ast.Compare{Field: f, Op: "in", Value: l2}) {
		t.Error("lists of different length reported equal")
	}
	if !ast.Equal(and(m("a"), m("b")), and(m("a"), m("b"))) || ast.Equal(and(m("a"), m("b")), or(m("a"), m("b"))) {
		t.Error("binary equality wrong")
	}
	if ast.Equal(&ast.NotExpr{X: m("a")}, &ast.NotExpr{X: m("b")}) {
		t.Error("not equality wrong")
	}
}

func TestOperators(t *testing.T) {
	for _, set := range []struct {
		ops  []string
		kind ast.OpKind
	}{
		{ast.UnaryOperators, ast.OpUnary}, {ast.NumericOperators, ast.OpNumeric},
		{ast.StringOperators, ast.OpString}, {ast.ListOperators, ast.OpList},
	} {
		for _, op := range set.ops {
			if k := ast.OperatorKind(op); k != set.kind {
				t.Errorf("OperatorKind(%q) = %d, want %d", op, k, set.kind)
			}
		}
	}
	if n := len(ast.UnaryOperators) + len(ast.NumericOperators) + len(ast.StringOperators) + len(ast.ListOperators); n != 20 {
		t.Errorf("%d operators, want 20", n)
	}
	for _, op := range []string{"", "IN", "Contains", "equals", "=<", "!", "val"} {
		if ast.OperatorKind(op) != ast.OpUnknown {
			t.Errorf("OperatorKind(%q) should be unknown", op)
		}
	}
	for _, tr := range ast.Transformers {
		if !ast.IsTransformer(tr) {
			t.Errorf("IsTransformer(%q) = false", tr)
		}
	}
	if ast.IsTransformer("val") || ast.IsTransformer("join") {
		t.Error("val/join are not single-field transformers")
	}
}

func TestSpans(t *testing.T) {
	f := &ast.FieldRef{Name: "proc.name", From: 4, To: 13}
	c := &ast.Compare{Field: f, Op: "=", OpPos: 14, Value: &ast.Literal{Value: "sh", From: 16, To: 18}}
	n := &ast.NotExpr{X: c, NotPos: 0}
	if n.Pos() != 0 || n.End() != 18 || c.Pos() != 4 {
		t.Errorf("spans: not [%d,%d) compare at %d", n.Pos(), n.End(), c.Pos())
	}
	u := &ast.UnaryCheck{Field: f, Op: "exists", OpPos: 14}
	if u.End() != 20 {
		t.Errorf("unary end %d", u.End())
	}
	mr := &ast.MacroRef{Name: "abc", NamePos: 5}
	if mr.End() != 8 {
		t.Errorf("macro end %d", mr.End())
	}
	p := &ast.ParenExpr{X: mr, Lparen: 4, Rparen: 8}
	b := &ast.BinaryExpr{Op: ast.Or, X: p, Y: n}
	if p.End() != 9 || b.Pos() != 4 || b.End() != 18 {
		t.Errorf("paren/binary spans")
	}
	if ast.And.String() != "and" || ast.Or.String() != "or" {
		t.Error("BoolOp names")
	}
}
