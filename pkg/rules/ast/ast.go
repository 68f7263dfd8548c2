// Package ast declares the syntax tree of Falco rule conditions, in the style of go/ast.
//
// A condition such as
//
//	spawned_process and not proc.name in (sh, bash) and tolower(fd.name) startswith /etc/
//
// is represented by boolean nodes (BinaryExpr, NotExpr, ParenExpr, MacroRef) whose leaves are
// checks (UnaryCheck, Compare). A check has a FieldRef on its left and, for a Compare, an Operand
// on its right (Literal, ListLit or FieldValue).
//
// Every node records byte offsets into the condition text it was parsed from: Pos is the offset
// of its first byte and End the offset just past its last byte. Positions are never used for
// semantics; Equal compares trees ignoring them.
//
// Design choices:
//   - `and` / `or` are binary (BinaryExpr) and left-associative: `a and b and c` is
//     And(And(a, b), c). `not` binds tighter than `and`, which binds tighter than `or`.
//   - Parentheses are kept as ParenExpr so that positions and Print output follow the source.
//   - A bare (unquoted) word on the right of a comparison is a Literal with Quoted=false. After a
//     list operator (in, intersects, pmatch) such a word, inside or outside parentheses, may name
//     a list, which the compiler expands; a Quoted literal is never a list name.
//   - A field compared with another field is a FieldValue: `val(proc.pname)`, or a transformed
//     field written directly on the right, `tolower(proc.pname)`.
package ast

// Node is any node of the tree. Pos and End are byte offsets in the parsed text.
type Node interface {
	Pos() int // offset of the first byte of the node
	End() int // offset just past the last byte of the node
}

// Expr is a boolean expression: BinaryExpr, NotExpr, ParenExpr, MacroRef, UnaryCheck, Compare.
type Expr interface {
	Node
	exprNode()
}

// Operand is the right-hand side of a Compare: *Literal, *ListLit or *FieldValue.
type Operand interface {
	Node
	operandNode()
}

// BoolOp is the operator of a BinaryExpr.
type BoolOp int

const (
	And BoolOp = iota + 1
	Or
)

func (o BoolOp) String() string {
	switch o {
	case And:
		return "and"
	case Or:
		return "or"
	}
	return "BoolOp(?)"
}

// BinaryExpr is `X and Y` or `X or Y`. Chains are left-associative.
type BinaryExpr struct {
	Op    BoolOp
	X, Y  Expr
	OpPos int // offset of the `and` / `or` keyword
}

// NotExpr is `not X`. `not not x` is two nested NotExprs.
type NotExpr struct {
	X      Expr
	NotPos int // offset of the `not` keyword
}

// ParenExpr is a parenthesised expression `( X )`.
type ParenExpr struct {
	X              Expr
	Lparen, Rparen int // offsets of '(' and ')'
}

// MacroRef is a bare identifier in boolean position: a reference to a macro.
type MacroRef struct {
	Name    string
	NamePos int
}

// FieldRef is a field reference, optionally with an argument and transformers:
//
//	proc.name            Name="proc.name"
//	proc.aname[2]        Name="proc.aname", Arg="2", HasArg=true
//	evt.arg.flags        Name="evt.arg.flags" (the compiler splits a dotted argument off)
//	proc.env["A B"]      Arg="A B" (a quoted argument is unescaped)
//	tolower(basename(proc.exe))  Transformers=["tolower", "basename"] (outermost first)
//
// From/To span the whole reference including transformers; NamePos is the offset of Name.
type FieldRef struct {
	Name         string
	Arg          string
	HasArg       bool
	Transformers []string
	From, To     int
	NamePos      int
}

// UnaryCheck is a check without a value: `field exists`.
type UnaryCheck struct {
	Field *FieldRef
	Op    string // "exists"
	OpPos int
}

// Compare is a binary check `field op value`. Op is one of the operators of OperatorKind.
type Compare struct {
	Field *FieldRef
	Op    string
	OpPos int
	Value Operand
}

// Literal is a single value. Value is unescaped; Quoted tells whether it was written in quotes.
// From/To include the quotes of a quoted literal.
type Literal struct {
	Value    string
	Quoted   bool
	From, To int
}

// ListLit is a parenthesised list of values `(a, "b c", some_list)`; it may be empty.
type ListLit struct {
	Items          []*Literal
	Lparen, Rparen int
}

// FieldValue is a field used as a value: `val(proc.pname)` (Field has no transformers) or a
// transformed field on the right-hand side, `tolower(proc.pname)` (Field.Transformers non-empty).
// From/To span the whole operand including `val(` and `)`.
type FieldValue struct {
	Field    *FieldRef
	From, To int
}

func (x *BinaryExpr) Pos() int { return x.X.Pos() }
func (x *BinaryExpr) End() int { return x.Y.End() }
func (x *NotExpr) Pos() int    { return x.NotPos }
func (x *NotExpr) End() int    { return x.X.End() }
func (x *ParenExpr) Pos() int  { return x.Lparen }
func (x *ParenExpr) End() int  { return x.Rparen + 1 }
func (x *MacroRef) Pos() int   { return x.NamePos }
func (x *MacroRef) End() int   { return x.NamePos + len(x.Name) }
func (x *FieldRef) Pos() int   { return x.From }
func (x *FieldRef) End() int   { return x.To }
func (x *UnaryCheck) Pos() int { return x.Field.Pos() }
func (x *UnaryCheck) End() int { return x.OpPos + len(x.Op) }
func (x *Compare) Pos() int    { return x.Field.Pos() }
func (x *Compare) End() int    { return x.Value.End() }
func (x *Literal) Pos() int    { return x.From }
func (x *Literal) End() int    { return x.To }
func (x *ListLit) Pos() int    { return x.Lparen }
func (x *ListLit) End() int    { return x.Rparen + 1 }
func (x *FieldValue) Pos() int { return x.From }
func (x *FieldValue) End() int { return x.To }

func (*BinaryExpr) exprNode() {}
func (*NotExpr) exprNode()    {}
func (*ParenExpr) exprNode()  {}
func (*MacroRef) exprNode()   {}
func (*UnaryCheck) exprNode() {}
func (*Compare) exprNode()    {}

func (*Literal) operandNode()    {}
func (*ListLit) operandNode()    {}
func (*FieldValue) operandNode() {}

// Walk traverses the tree rooted at n depth-first, in source order, like go/ast.Inspect: it calls
// f(n); if that returns true it walks each child of n. FieldRefs are visited as children of
// checks and FieldValues; Literals as children of Compares and ListLits. Nil nodes are skipped.
func Walk(n Node, f func(Node) bool) {
	if isNil(n) || !f(n) {
		return
	}
	switch x := n.(type) {
	case *BinaryExpr:
		Walk(x.X, f)
		Walk(x.Y, f)
	case *NotExpr:
		Walk(x.X, f)
	case *ParenExpr:
		Walk(x.X, f)
	case *UnaryCheck:
		Walk(x.Field, f)
	case *Compare:
		Walk(x.Field, f)
		Walk(x.Value, f)
	case *ListLit:
		for _, it := range x.Items {
			Walk(it, f)
		}
	case *FieldValue:
		Walk(x.Field, f)
	}
}

// isNil reports whether n is nil or a typed nil pointer.
func isNil(n Node) bool {
	switch x := n.(type) {
	case nil:
		return true
	case *BinaryExpr:
		return x == nil
	case *NotExpr:
		return x == nil
	case *ParenExpr:
		return x == nil
	case *MacroRef:
		return x == nil
	case *FieldRef:
		return x == nil
	case *UnaryCheck:
		return x == nil
	case *Compare:
		return x == nil
	case *Literal:
		return x == nil
	case *ListLit:
		return x == nil
	case *FieldValue:
		return x == nil
	}
	return false
}
