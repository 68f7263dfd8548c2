// Package parser parses Falco rule conditions into pkg/rules/ast trees, and Falco output
// templates into parts, following the grammar of libsinsp's filter parser
// (userspace/libsinsp/filter/parser.h):
//
//	Expr        = AndExpr { "or" AndExpr } .
//	AndExpr     = NotExpr { "and" NotExpr } .
//	NotExpr     = "not" NotExpr | Primary .
//	Primary     = "(" Expr ")" | Check | MacroName .
//	Check       = FieldOrTransformer ( "exists" | NumOp NumValue | StrOp StrValue | ListOp ListValue ) .
//	FieldOrTransformer = Field | Transformer "(" FieldOrTransformer ")" .
//	Field       = FieldName [ "[" ( QuotedStr | ArgBareStr ) "]" ] .
//	NumValue    = Number | HexNumber | FieldValue .
//	StrValue    = QuotedStr | BareStr | FieldValue .
//	ListValue   = "(" [ Item { "," Item } ] ")" | ListName | FieldValue .
//	Item        = QuotedStr | BareStr .
//	FieldValue  = "val(" Field ")" | Transformer "(" FieldOrTransformer ")" .
//
// Tokens: a FieldName is identifier{.identifier}+ (at least one dot), a MacroName or ListName an
// identifier [A-Za-z][A-Za-z0-9_]*; a BareStr is a run of anything but blanks, quotes, '(', ')',
// ',' and '='; an ArgBareStr anything but blanks, quotes and brackets. Keywords and operators are
// case-sensitive. Word operators of the string class (contains, glob, ...) must be followed by a
// blank, as in Falco; transformer names and val must be followed directly by '('. `and`, `or` and
// `not` are reserved in boolean position.
//
// Errors are *Error values with the byte offset of the offending token.
package parser

import (
	"fmt"

	"github.com/saker-sec/saker/pkg/rules/ast"
)

// MaxDepth bounds the nesting of parentheses, `not`s and transformers.
const MaxDepth = 1000

const expectCheck = "a field check, a macro name, 'not' or '('"

type parser struct {
	scanner
	depth int
}

// bailout carries an *Error out of the recursive descent; only the entry points recover it.
type bailout struct{ err *Error }

func (p *parser) fail(off int, format string, args ...any) {
	panic(bailout{&Error{Offset: off, Msg: fmt.Sprintf(format, args...)}})
}

// unexpected fails at the token at off, saying what was expected there.
func (p *parser) unexpected(off int, expected string) {
	if off >= len(p.src) {
		what := "condition"
		if p.output {
			what = "output"
		}
		p.fail(len(p.src), "unexpected end of %s, expected %s", what, expected)
	}
	p.fail(off, "unexpected %s, expected %s", p.describe(off), expected)
}

func (p *parser) enter(off int) {
	p.depth++
	if p.depth > MaxDepth {
		p.fail(off, "expression nested too deeply (more than %d levels)", MaxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func catch(err *error) {
	if r := recover(); r != nil {
		b, ok := r.(bailout)
		if !ok {
			panic(r)
		}
		*err = b.err
	}
}

// ParseCondition parses a condition. The error, if any, is an *Error.
func ParseCondition(src string) (e ast.Expr, err error) {
	defer catch(&err)
	p := &parser{scanner: scanner{src: src}}
	p.skipBlank()
	if p.eof() {
		return nil, &Error{Offset: 0, Msg: "empty condition"}
	}
	x := p.parseOr()
	p.skipBlank()
	if !p.eof() {
		if p.peek() == ')' {
			p.fail(p.off, "unbalanced parenthesis: unexpected ')'")
		}
		p.unexpected(p.off, "'and', 'or' or end of condition")
	}
	return x, nil
}

// keyword consumes kw if the name at the cursor is exactly kw.
func (p *parser) keyword(kw string) bool {
	end, _ := p.nameEnd(p.off)
	if p.src[p.off:end] != kw {
		return false
	}
	p.off = end
	return true
}

func (p *parser) parseOr() ast.Expr {
	x := p.parseAnd()
	for {
		p.skipBlank()
		pos := p.off
		if !p.keyword("or") {
			return x
		}
		y := p.parseAnd()
		x = &ast.BinaryExpr{Op: ast.Or, X: x, Y: y, OpPos: pos}
	}
}

func (p *parser) parseAnd() ast.Expr {
	x := p.parseNot()
	for {
		p.skipBlank()
		pos := p.off
		if !p.keyword("and") {
			return x
		}
		y := p.parseNot()
		x = &ast.BinaryExpr{Op: ast.And, X: x, Y: y, OpPos: pos}
	}
}

func (p *parser) parseNot() ast.Expr {
	p.skipBlank()
	pos := p.off
	if !p.keyword("not") {
		return p.parsePrimary()
	}
	p.enter(pos)
	defer p.leave()
	return &ast.NotExpr{X: p.parseNot(), NotPos: pos}
}

func (p *parser) parsePrimary() ast.Expr {
	p.skipBlank()
	pos := p.off
	switch c := p.peek(); {
	case p.eof():
		p.unexpected(pos, expectCheck)
	case c == '(':
		p.enter(pos)
		defer p.leave()
		p.off++
		x := p.parseOr()
		p.skipBlank()
		if p.eof() {
			p.fail(pos, "unbalanced parenthesis: missing ')'")
		}
		if p.peek() != ')' {
			p.unexpected(p.off, "'and', 'or' or ')'")
		}
		p.off++
		return &ast.ParenExpr{X: x, Lparen: pos, Rparen: p.off - 1}
	case ast.IsLetter(c):
		end, dotted := p.nameEnd(pos)
		name := p.src[pos:end]
		if dotted {
			p.off = end
			return p.parseCheck(p.parseField(name, pos, false))
		}
		if at(p.src, end) == '(' {
			switch {
			case ast.IsTransformer(name):
				p.off = end
				return p.parseCheck(p.parseTransformer(name, pos))
			case name == "val":
				p.fail(pos, "val() can only be used on the right-hand side of a comparison")
			default:
				p.fail(pos, "unknown field transformer '%s'", name)
			}
		}
		if name == "and" || name == "or" {
			p.unexpected(pos, expectCheck)
		}
		p.off = end
		// A name followed by a comparison operator is a field name without its dot.
		p.skipBlank()
		if c := p.peek(); c == '=' || c == '<' || c == '>' || c == '!' && at(p.src, p.off+1) == '=' {
			p.fail(pos, "'%s' is not a field name (field names contain a dot, e.g. 'proc.name'), it cannot be compared", name)
		}
		p.off = end
		return &ast.MacroRef{Name: name, NamePos: pos}
	case c == ')':
		p.unexpected(pos, expectCheck)
	}
	p.unexpected(pos, expectCheck)
	return nil
}

// parseField finishes a field reference whose name spans [pos, p.off). With lenient set (output
// templates), a '[' that does not start a well-formed argument is left unconsumed.
func (p *parser) parseField(name string, pos int, lenient bool) *ast.FieldRef {
	f := &ast.FieldRef{Name: name, From: pos, NamePos: pos}
	if p.peek() == '[' {
		arg, end, err := p.scanFieldArg(name, p.off)
		switch {
		case err == nil:
			f.Arg, f.HasArg = arg, true
			p.off = end
		case !lenient:
			panic(bailout{err})
		}
	}
	f.To = p.off
	return f
}

// scanFieldArg lexes `[arg]` at off.
func (p *parser) scanFieldArg(field string, off int) (arg string, end int, err *Error) {
	lb := off
	off++
	switch c := at(p.src, off); {
	case off >= len(p.src):
		return "", 0, &Error{lb, fmt.Sprintf("unterminated argument of field '%s': missing ']'", field)}
	case c == '"' || c == '\'':
		arg, off, err = p.scanQuoted(off)
		if err != nil {
			return "", 0, err
		}
	case c == ']':
		return "", 0, &Error{off, fmt.Sprintf("empty argument of field '%s'", field)}
	default:
		start := off
		for off < len(p.src) && ast.IsArgChar(p.src[off]) {
			off++
		}
		if off == start {
			return "", 0, &Error{off, fmt.Sprintf("unexpected %s in argument of field '%s'", quoteTok(p.src[off:off+1]), field)}
		}
		arg = p.src[start:off]
	}
	if off >= len(p.src) {
		return "", 0, &Error{lb, fmt.Sprintf("unterminated argument of field '%s': missing ']'", field)}
	}
	if p.src[off] != ']' {
		return "", 0, &Error{off, fmt.Sprintf("expected ']' closing the argument of field '%s', found %s", field, p.describe(off))}
	}
	return arg, off + 1, nil
}

// parseTransformer parses `name(` FieldOrTransformer `)` with the cursor on '(' and the name at pos.
func (p *parser) parseTransformer(name string, pos int) *ast.FieldRef {
	p.enter(pos)
	defer p.leave()
	lp := p.off
	p.off++
	p.skipBlank()
	argPos := p.off
	end, dotted := p.nameEnd(argPos)
	inner := p.src[argPos:end]
	var f *ast.FieldRef
	switch {
	case dotted:
		p.off = end
		f = p.parseField(inner, argPos, false)
	case end > argPos && at(p.src, end) == '(' && ast.IsTransformer(inner):
		p.off = end
		f = p.parseTransformer(inner, argPos)
	case inner == "val" && at(p.src, end) == '(':
		p.fail(argPos, "val() cannot be used inside '%s()'", name)
	default:
		p.unexpected(argPos, fmt.Sprintf("a field or a transformer inside '%s('", name))
	}
	p.skipBlank()
	if p.eof() {
		p.fail(lp, "unbalanced parenthesis: missing ')' closing '%s('", name)
	}
	if p.peek() != ')' {
		p.unexpected(p.off, fmt.Sprintf("')' closing '%s('", name))
	}
	p.off++
	f.Transformers = append([]string{name}, f.Transformers...)
	f.From, f.To = pos, p.off
	return f
}

// parseCheck parses the operator and value after a field.
func (p *parser) parseCheck(f *ast.FieldRef) ast.Expr {
	p.skipBlank()
	opPos := p.off
	var op string
	switch c := p.peek(); {
	case c == '<' || c == '>':
		op = string(c)
		if at(p.src, p.off+1) == '=' {
			op += "="
		}
	case c == '=':
		op = "="
		if at(p.src, p.off+1) == '=' {
			op = "=="
		}
	case c == '!' && at(p.src, p.off+1) == '=':
		op = "!="
	case ast.IsLetter(c):
		end, _ := p.nameEnd(p.off)
		op = p.src[p.off:end]
		if ast.OperatorKind(op) == ast.OpUnknown {
			if op == "and" || op == "or" || op == "not" {
				p.fail(opPos, "expected an operator after field '%s', found '%s'", f.Name, op)
			}
			p.fail(opPos, "unknown operator '%s'", op)
		}
	default:
		p.unexpected(opPos, fmt.Sprintf("an operator after field '%s'", f.Name))
	}
	p.off += len(op)
	kind := ast.OperatorKind(op)
	if kind == ast.OpUnary {
		return &ast.UnaryCheck{Field: f, Op: op, OpPos: opPos}
	}
	if kind == ast.OpString && ast.IsLetter(op[0]) && !p.eof() && !ast.IsBlank(p.peek()) {
		p.fail(p.off, "expected a blank after operator '%s', found %s", op, p.describe(p.off))
	}
	return &ast.Compare{Field: f, Op: op, OpPos: opPos, Value: p.parseValue(op, kind)}
}

func (p *parser) parseValue(op string, kind ast.OpKind) ast.Operand {
	p.skipBlank()
	pos := p.off
	// A field value: val(field) or transformer(...).
	if end := p.identEnd(pos); end > pos && at(p.src, end) == '(' {
		name := p.src[pos:end]
		switch {
		case name == "val":
			p.off = end
			return p.parseVal(pos)
		case ast.IsTransformer(name):
			p.off = end
			f := p.parseTransformer(name, pos)
			return &ast.FieldValue{Field: f, From: f.From, To: f.To}
		case kind == ast.OpList:
			// `in foo(` : fall through to the list-name error below.
		default:
			p.fail(pos, "unknown field transformer '%s'", name)
		}
	}
	switch kind {
	case ast.OpNumeric:
		end := p.bareEnd(pos)
		if end == pos {
			p.unexpected(pos, fmt.Sprintf("a number after '%s'", op))
		}
		if !isNumber(p.src[pos:end]) {
			p.fail(pos, "expected a number after '%s', found %s", op, quoteTok(p.src[pos:end]))
		}
		p.off = end
		return &ast.Literal{Value: p.src[pos:end], From: pos, To: end}
	case ast.OpList:
		if p.peek() == '(' {
			return p.parseList()
		}
		end, dotted := p.nameEnd(pos)
		if end == pos || dotted {
			p.unexpected(pos, fmt.Sprintf("a list '(...)' or a list name after '%s'", op))
		}
		p.off = end
		return &ast.Literal{Value: p.src[pos:end], From: pos, To: end}
	}
	return p.parseSingle(fmt.Sprintf("a value after '%s'", op))
}

// parseSingle parses a quoted or bare string.
func (p *parser) parseSingle(expected string) *ast.Literal {
	pos := p.off
	if c := p.peek(); c == '"' || c == '\'' {
		v, end, err := p.scanQuoted(pos)
		if err != nil {
			panic(bailout{err})
		}
		p.off = end
		return &ast.Literal{Value: v, Quoted: true, From: pos, To: end}
	}
	end := p.bareEnd(pos)
	if end == pos {
		p.unexpected(pos, expected)
	}
	p.off = end
	return &ast.Literal{Value: p.src[pos:end], From: pos, To: end}
}

// parseVal parses `val(field)` with the cursor on '('.
func (p *parser) parseVal(pos int) *ast.FieldValue {
	lp := p.off
	p.off++
	p.skipBlank()
	fpos := p.off
	end, dotted := p.nameEnd(fpos)
	if !dotted {
		p.unexpected(fpos, "a field inside 'val('")
	}
	p.off = end
	f := p.parseField(p.src[fpos:end], fpos, false)
	p.skipBlank()
	if p.eof() {
		p.fail(lp, "unbalanced parenthesis: missing ')' closing 'val('")
	}
	if p.peek() != ')' {
		p.unexpected(p.off, "')' closing 'val('")
	}
	p.off++
	return &ast.FieldValue{Field: f, From: pos, To: p.off}
}

// parseList parses `( item, ... )` with the cursor on '('.
func (p *parser) parseList() *ast.ListLit {
	l := &ast.ListLit{Lparen: p.off, Items: []*ast.Literal{}}
	p.off++
	p.skipBlank()
	if p.peek() == ')' {
		l.Rparen = p.off
		p.off++
		return l
	}
	for {
		p.skipBlank()
		if p.eof() {
			p.fail(l.Lparen, "unbalanced parenthesis: missing ')' closing the list")
		}
		expected := "a list item"
		if len(l.Items) > 0 {
			expected = "a list item after ','"
		}
		l.Items = append(l.Items, p.parseSingle(expected))
		p.skipBlank()
		switch {
		case p.eof():
			p.fail(l.Lparen, "unbalanced parenthesis: missing ')' closing the list")
		case p.peek() == ',':
			p.off++
		case p.peek() == ')':
			l.Rparen = p.off
			p.off++
			return l
		default:
			p.unexpected(p.off, "',' or ')' in list")
		}
	}
}
