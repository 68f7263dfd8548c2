package parser

import (
	"fmt"
	"strings"

	"github.com/saker-sec/saker/pkg/rules/ast"
)

// Error is a syntax error in a condition or output. Offset is a byte offset into the parsed text,
// pointing at the offending token (or at len(text) for an unexpected end).
type Error struct {
	Offset int
	Msg    string
}

func (e *Error) Error() string { return fmt.Sprintf("offset %d: %s", e.Offset, e.Msg) }

// scanner holds the text and the cursor. The condition grammar is context dependent (the same
// characters are a bare value after '=', a name in boolean position and a number after '<'), so
// like libsinsp's parser the scanner offers one lexing function per token class and the parser
// picks the one the grammar allows at each point.
type scanner struct {
	src    string
	off    int
	output bool // the text is an output template, not a condition (for messages)
}

func (s *scanner) eof() bool { return s.off >= len(s.src) }

// peek returns the byte at the cursor, or 0 at the end.
func (s *scanner) peek() byte {
	if s.off < len(s.src) {
		return s.src[s.off]
	}
	return 0
}

func (s *scanner) skipBlank() {
	for s.off < len(s.src) && ast.IsBlank(s.src[s.off]) {
		s.off++
	}
}

// identEnd returns the end of the identifier [A-Za-z][A-Za-z0-9_]* starting at off, or off.
func (s *scanner) identEnd(off int) int {
	if off >= len(s.src) || !ast.IsLetter(s.src[off]) {
		return off
	}
	off++
	for off < len(s.src) && ast.IsIdentChar(s.src[off]) {
		off++
	}
	return off
}

// nameEnd returns the end of a name starting at off: an identifier followed by any number of
// `.identifier` segments (a '.' not followed by a letter is not part of the name). dotted tells
// whether at least one segment was found, i.e. whether this is a field name.
func (s *scanner) nameEnd(off int) (end int, dotted bool) {
	end = s.identEnd(off)
	if end == off {
		return off, false
	}
	for end+1 < len(s.src) && s.src[end] == '.' && ast.IsLetter(s.src[end+1]) {
		end = s.identEnd(end + 1)
		dotted = true
	}
	return end, dotted
}

// bareEnd returns the end of the run of bare-value characters starting at off.
func (s *scanner) bareEnd(off int) int {
	for off < len(s.src) && ast.IsBareChar(s.src[off]) {
		off++
	}
	return off
}

// scanQuoted lexes the quoted string starting at off (which holds ' or ") and returns its
// unescaped value and end. Escapes follow libsinsp: \b \f \n \r \t \\ \/, the string's own quote
// (\" in "..." and \' in '...'), "\ " (kept by Falco as a lone backslash) and, as an extension,
// \xHH.
func (s *scanner) scanQuoted(off int) (val string, end int, err *Error) {
	src := s.src
	q := src[off]
	i := off + 1
	// Fast path: no escapes.
	for j := i; j < len(src); j++ {
		if src[j] == q {
			return src[i:j], j + 1, nil
		}
		if src[j] == '\\' {
			break
		}
	}
	var b strings.Builder
	for i < len(src) {
		c := src[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c != '\\':
			b.WriteByte(c)
			i++
			continue
		}
		if i+1 >= len(src) {
			break
		}
		e := src[i+1]
		switch e {
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case '\\', ' ':
			b.WriteByte('\\')
		case '/':
			b.WriteByte('/')
		case '"', '\'':
			if e != q {
				return "", 0, &Error{i, fmt.Sprintf("invalid \\%c escape in %c-quoted string", e, q)}
			}
			b.WriteByte(e)
		case 'x':
			if !isHex(at(src, i+2)) || !isHex(at(src, i+3)) {
				return "", 0, &Error{i, "invalid \\x escape: expected two hexadecimal digits"}
			}
			b.WriteByte(unhex(src[i+2])<<4 | unhex(src[i+3]))
			i += 2
		default:
			return "", 0, &Error{i, fmt.Sprintf("unsupported escape sequence %s in string", quoteTok(src[i:i+2]))}
		}
		i += 2
	}
	return "", 0, &Error{off, "unterminated string"}
}

func at(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// isNumber reports whether s is a number as libsinsp accepts it after a numeric operator:
// 0x-prefixed hexadecimal, or [+-]digits[.digits][(e|E)(+|-)digits].
func isNumber(s string) bool {
	if len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		for i := 2; i < len(s); i++ {
			if !isHex(s[i]) {
				return false
			}
		}
		return true
	}
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	start := i
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i == start {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i >= len(s) || s[i] != '+' && s[i] != '-' {
			return false
		}
		i++
		start = i
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		if i == start {
			return false
		}
	}
	return i == len(s)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// describe names the token at off for an error message: "end of condition", a quoted word or
// string, or a single punctuation character.
func (s *scanner) describe(off int) string {
	if off >= len(s.src) {
		if s.output {
			return "end of output"
		}
		return "end of condition"
	}
	c := s.src[off]
	end := off + 1
	switch {
	case c == '"' || c == '\'':
		end = off + 1
		for end < len(s.src) && s.src[end] != c {
			end++
		}
		if end < len(s.src) {
			end++
		}
	case ast.IsBareChar(c):
		end = s.bareEnd(off)
	}
	return quoteTok(s.src[off:end])
}

// quoteTok puts tok in single quotes for a message, shortened and with control bytes escaped.
func quoteTok(tok string) string {
	const max = 40
	short := false
	if len(tok) > max {
		tok, short = tok[:max], true
	}
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c < 0x20 || c == 0x7f {
			fmt.Fprintf(&b, "\\x%02x", c)
		} else {
			b.WriteByte(c)
		}
	}
	if short {
		b.WriteString("...")
	}
	b.WriteByte('\'')
	return b.String()
}
