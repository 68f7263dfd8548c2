package ast

import (
	"strings"
)

// Print returns the canonical text of e: single blanks between tokens, operators spelt as
// written, bare values left bare and quoted values double-quoted. For a tree produced by the
// parser, parsing the result yields an equal tree (see Equal). For hand-built trees Print adds
// the parentheses needed to keep the tree's grouping.
func Print(e Expr) string {
	var b strings.Builder
	printExpr(&b, e)
	return b.String()
}

func printExpr(b *strings.Builder, e Expr) {
	switch x := e.(type) {
	case *BinaryExpr:
		// Left-associative: the left operand needs parentheses only when it binds looser
		// (an `or` under an `and`); the right one whenever it is itself a binary of equal or
		// looser binding.
		printMaybeParen(b, x.X, x.Op == And && isBinary(x.X, Or))
		b.WriteByte(' ')
		b.WriteString(x.Op.String())
		b.WriteByte(' ')
		printMaybeParen(b, x.Y, isBinary(x.Y, And) && x.Op == And || isBinary(x.Y, Or))
	case *NotExpr:
		b.WriteString("not ")
		_, bin := x.X.(*BinaryExpr)
		printMaybeParen(b, x.X, bin)
	case *ParenExpr:
		b.WriteByte('(')
		printExpr(b, x.X)
		b.WriteByte(')')
	case *MacroRef:
		b.WriteString(x.Name)
	case *UnaryCheck:
		b.WriteString(x.Field.String())
		b.WriteByte(' ')
		b.WriteString(x.Op)
	case *Compare:
		b.WriteString(x.Field.String())
		b.WriteByte(' ')
		b.WriteString(x.Op)
		b.WriteByte(' ')
		printOperand(b, x.Value)
	case nil:
		b.WriteString("<nil>")
	default:
		b.WriteString("<bad expr>")
	}
}

func isBinary(e Expr, op BoolOp) bool {
	x, ok := e.(*BinaryExpr)
	return ok && x.Op == op
}

func printMaybeParen(b *strings.Builder, e Expr, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	printExpr(b, e)
	if paren {
		b.WriteByte(')')
	}
}

func printOperand(b *strings.Builder, o Operand) {
	switch x := o.(type) {
	case *Literal:
		b.WriteString(x.String())
	case *ListLit:
		b.WriteByte('(')
		for i, it := range x.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(it.String())
		}
		b.WriteByte(')')
	case *FieldValue:
		b.WriteString(x.String())
	default:
		b.WriteString("<bad operand>")
	}
}

// String returns the literal as written canonically: bare if it was bare (and can be), otherwise
// double-quoted with escapes.
func (x *Literal) String() string {
	if !x.Quoted && isBare(x.Value, IsBareChar) {
		return x.Value
	}
	return Quote(x.Value)
}

// String returns `val(field)`, or the transformed field itself.
func (x *FieldValue) String() string {
	if len(x.Field.Transformers) > 0 {
		return x.Field.String()
	}
	return "val(" + x.Field.String() + ")"
}

// String returns the canonical text of the field reference, e.g. `tolower(proc.aname[2])`.
// It is also the key Falco uses for the field in an alert's output_fields.
func (x *FieldRef) String() string {
	var b strings.Builder
	for _, t := range x.Transformers {
		b.WriteString(t)
		b.WriteByte('(')
	}
	b.WriteString(x.Name)
	if x.HasArg {
		b.WriteByte('[')
		if isBare(x.Arg, IsArgChar) {
			b.WriteString(x.Arg)
		} else {
			b.WriteString(Quote(x.Arg))
		}
		b.WriteByte(']')
	}
	for range x.Transformers {
		b.WriteByte(')')
	}
	return b.String()
}

func isBare(s string, ok func(byte) bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return false
		}
	}
	return true
}

const hexDigits = "0123456789abcdef"

// Quote returns s as a double-quoted condition string: `"` and `\` are escaped, as are control
// characters (\b \f \n \r \t, others as \xHH). Other bytes, including UTF-8, are kept as is.
func Quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteString(`\x`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&15])
			} else {
				b.WriteByte(c)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

// Equal reports whether two expressions have the same structure and values, ignoring positions.
func Equal(a, b Expr) bool {
	switch x := a.(type) {
	case *BinaryExpr:
		y, ok := b.(*BinaryExpr)
		return ok && x.Op == y.Op && Equal(x.X, y.X) && Equal(x.Y, y.Y)
	case *NotExpr:
		y, ok := b.(*NotExpr)
		return ok && Equal(x.X, y.X)
	case *ParenExpr:
		y, ok := b.(*ParenExpr)
		return ok && Equal(x.X, y.X)
	case *MacroRef:
		y, ok := b.(*MacroRef)
		return ok && x.Name == y.Name
	case *UnaryCheck:
		y, ok := b.(*UnaryCheck)
		return ok && x.Op == y.Op && equalField(x.Field, y.Field)
	case *Compare:
		y, ok := b.(*Compare)
		return ok && x.Op == y.Op && equalField(x.Field, y.Field) && equalOperand(x.Value, y.Value)
	case nil:
		return b == nil
	}
	return false
}

func equalField(a, b *FieldRef) bool {
	if a == nil || b == nil {
		return a == b
	}
	if a.Name != b.Name || a.Arg != b.Arg || a.HasArg != b.HasArg || len(a.Transformers) != len(b.Transformers) {
		return false
	}
	for i := range a.Transformers {
		if a.Transformers[i] != b.Transformers[i] {
			return false
		}
	}
	return true
}

func equalLiteral(a, b *Literal) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Value == b.Value && a.Quoted == b.Quoted
}

func equalOperand(a, b Operand) bool {
	switch x := a.(type) {
	case *Literal:
		y, ok := b.(*Literal)
		return ok && equalLiteral(x, y)
	case *ListLit:
		y, ok := b.(*ListLit)
		if !ok || len(x.Items) != len(y.Items) {
			return false
		}
		for i := range x.Items {
			if !equalLiteral(x.Items[i], y.Items[i]) {
				return false
			}
		}
		return true
	case *FieldValue:
		y, ok := b.(*FieldValue)
		return ok && equalField(x.Field, y.Field)
	case nil:
		return b == nil
	}
	return false
}
