package parser

import (
	"strings"

	"github.com/saker-sec/saker/pkg/rules/ast"
)

// OutputPart is one piece of a Falco output template: literal text, or a field to print.
type OutputPart struct {
	// Text is the literal text (Field == nil), or, for a field, its canonical name as
	// FieldRef.String gives it ("proc.aname[2]", "tolower(proc.name)"): the key Falco uses for
	// the field in an alert's output_fields.
	Text string
	// Field is the field to print, nil for literal text. Its positions are byte offsets in the
	// template and span the field expression without the '%' and width.
	Field *ast.FieldRef
	// Width is the column width of `%10proc.name` (the value is padded or cut to it); 0 if none.
	Width int
	// Offset is the byte offset of the part in the template (the '%' of a field).
	Offset int
}

// maxWidth bounds the width modifier of `%Nfield`.
const maxWidth = 1 << 16

// ParseOutput splits a Falco output template into literal text and fields, following libsinsp's
// formatter: '%' is followed by an optional decimal width and then a field (`%proc.name`,
// `%proc.aname[2]`, `%evt.arg.flags`, `%jevt.value[/user/name]`) or a transformer
// (`%tolower(proc.name)`). The field name is the longest identifier{.identifier}+ run, so
// `%ka.target.name/%ka.target.resource` and `(user=%ka.user.name)` split as expected; a '['
// that does not start a well-formed `[arg]` is literal text. Falco has no escape for '%'; as an
// extension `%%` stands for a literal '%'. Consecutive literal text is one part. A leading '*'
// (Falco's "print even if some values are missing" flag) is returned as literal text. An empty
// template yields no parts.
func ParseOutput(src string) (parts []OutputPart, err error) {
	defer catch(&err)
	p := &parser{scanner: scanner{src: src, output: true}}
	var lit strings.Builder
	litStart := 0
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, OutputPart{Text: lit.String(), Offset: litStart})
			lit.Reset()
		}
	}
	i := 0
	for i < len(src) {
		j := strings.IndexByte(src[i:], '%')
		if j < 0 {
			j = len(src) - i
		}
		if j > 0 {
			if lit.Len() == 0 {
				litStart = i
			}
			lit.WriteString(src[i : i+j])
			i += j
			continue
		}
		// src[i] == '%'
		pct := i
		if at(src, i+1) == '%' {
			if lit.Len() == 0 {
				litStart = i
			}
			lit.WriteByte('%')
			i += 2
			continue
		}
		i++
		if i >= len(src) {
			p.fail(pct, "output cannot end with '%%'")
		}
		width := 0
		for i < len(src) && isDigit(src[i]) {
			width = width*10 + int(src[i]-'0')
			if width > maxWidth {
				p.fail(pct+1, "field width too large (max %d)", maxWidth)
			}
			i++
		}
		fpos := i
		end, dotted := p.nameEnd(fpos)
		name := src[fpos:end]
		var f *ast.FieldRef
		switch {
		case dotted:
			p.off = end
			f = p.parseField(name, fpos, true)
		case end > fpos && at(src, end) == '(' && ast.IsTransformer(name):
			p.off = end
			f = p.parseTransformer(name, fpos)
		case end > fpos && at(src, end) == '(':
			p.fail(fpos, "unknown field transformer '%s'", name)
		case fpos >= len(src):
			p.fail(pct, "output cannot end with a field width")
		default:
			p.fail(pct, "expected a field name after '%%', found %s", p.describe(fpos))
		}
		flush()
		parts = append(parts, OutputPart{Text: f.String(), Field: f, Width: width, Offset: pct})
		i = p.off
		litStart = i
	}
	flush()
	return parts, nil
}
