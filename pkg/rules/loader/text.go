package loader

import (
	"fmt"
	"sort"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Pos is a position in a rules file. Line and Col are 1-based; Col counts characters (runes),
// as YAML does. A zero Line means "unknown"; a zero Col means "somewhere on Line".
type Pos struct {
	File      string
	Line, Col int
}

// String formats the position as FILE:LINE:COL (FILE:LINE when the column is unknown, FILE
// alone when nothing else is known).
func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Text is a scalar string from a rules file with the position of its first character. A Text
// produced by appends (e.g. a macro condition with `override: {condition: append}`) is the
// concatenation of several scalars, possibly from several files; Locate maps an offset in any
// of them back to its own file.
type Text struct {
	Value string
	Pos   Pos
	segs  []textSeg
}

// textSeg is one source scalar (or a sub-range of it) inside a Text's Value.
type textSeg struct {
	off  int // where the segment starts in Text.Value
	n    int // its length in bytes
	src  *scalarSrc
	base int // where the segment starts in src.value
}

// Locate maps a byte offset inside Value to the position in the file of the character at that
// offset. Offsets at or beyond len(Value) give the position just after the last character;
// negative offsets are clamped to 0. Positions are exact for plain, single- and double-quoted
// scalars (single- and multi-line) and for literal (|) and folded (>) block scalars as long as
// the decoded value can be matched against the source; otherwise the remaining offsets are
// mapped to the last position that could be matched. In a concatenation the separator added
// between two pieces maps to the end of the first piece.
func (t Text) Locate(offset int) Pos {
	if offset < 0 {
		offset = 0
	}
	if offset > len(t.Value) {
		offset = len(t.Value)
	}
	if len(t.segs) == 0 {
		p := t.Pos
		if p.Line > 0 && p.Col > 0 {
			p.Col += utf8.RuneCountInString(t.Value[:offset])
		}
		return p
	}
	// last segment starting at or before offset
	k := sort.Search(len(t.segs), func(i int) bool { return t.segs[i].off > offset }) - 1
	if k < 0 {
		k = 0
	}
	s := t.segs[k]
	rel := offset - s.off
	if rel > s.n {
		rel = s.n // in a separator: end of this piece
	}
	if rel < 0 {
		rel = 0
	}
	return s.src.locate(s.base + rel)
}

// Pieces returns how many source scalars make up the Text (1 for a plain scalar, more after
// appends, 0 for a Text built in memory).
func (t Text) Pieces() int { return len(t.segs) }

// concatText returns a + sep + b, keeping the source mapping of both.
func concatText(a Text, sep string, b Text) Text {
	if len(a.Value) == 0 && len(a.segs) == 0 {
		return b
	}
	out := Text{Value: a.Value + sep + b.Value, Pos: a.Pos}
	out.segs = append(out.segs, a.segs...)
	shift := len(a.Value) + len(sep)
	for _, s := range b.segs {
		s.off += shift
		out.segs = append(out.segs, s)
	}
	return out
}

// trimText removes leading and trailing ASCII whitespace as Falco's trim() does, keeping the
// mapping of what is left.
func trimText(t Text) Text {
	lo, hi := 0, len(t.Value)
	for lo < hi && isTrimSpace(t.Value[lo]) {
		lo++
	}
	for hi > lo && isTrimSpace(t.Value[hi-1]) {
		hi--
	}
	if lo == 0 && hi == len(t.Value) {
		return t
	}
	out := Text{Value: t.Value[lo:hi]}
	for _, s := range t.segs {
		st, en := s.off, s.off+s.n
		if en < lo || st > hi || (st == hi && hi > lo) {
			continue
		}
		if st < lo {
			s.base += lo - st
			st = lo
		}
		if en > hi {
			en = hi
		}
		s.off, s.n = st-lo, en-st
		out.segs = append(out.segs, s)
	}
	out.Pos = out.Locate(0)
	return out
}

func isTrimSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}

// fileSrc is one loaded file: its bytes and the byte offset of each line start.
type fileSrc struct {
	name       string
	data       []byte
	lineStarts []int
}

func newFileSrc(name string, data []byte) *fileSrc {
	f := &fileSrc{name: name, data: data, lineStarts: []int{0}}
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '\n':
			f.lineStarts = append(f.lineStarts, i+1)
		case '\r':
			if i+1 < len(data) && data[i+1] == '\n' {
				continue
			}
			f.lineStarts = append(f.lineStarts, i+1)
		}
	}
	return f
}

// offsetOf converts a YAML line/column (1-based, column in characters) to a byte offset.
func (f *fileSrc) offsetOf(line, col int) int {
	if line < 1 || line > len(f.lineStarts) {
		return len(f.data)
	}
	j := f.lineStarts[line-1]
	for c := 1; c < col && j < len(f.data) && !isBreak(f.data[j]); c++ {
		_, w := utf8.DecodeRune(f.data[j:])
		j += w
	}
	return j
}

// posOf converts a byte offset to a Pos.
func (f *fileSrc) posOf(off int) Pos {
	if off > len(f.data) {
		off = len(f.data)
	}
	if off < 0 {
		off = 0
	}
	l := sort.SearchInts(f.lineStarts, off+1) - 1
	if l < 0 {
		l = 0
	}
	return Pos{File: f.name, Line: l + 1, Col: utf8.RuneCount(f.data[f.lineStarts[l]:off]) + 1}
}

// scalarSrc locates one YAML scalar's decoded value in its file. The byte-by-byte mapping is
// built on first use.
type scalarSrc struct {
	file      *fileSrc
	line, col int // of the node, as yaml.v3 reports it
	style     yaml.Style
	value     string
	once      sync.Once
	idx       []int32 // source byte offset of each value byte; len(value)+1 entries
}

func (s *scalarSrc) locate(off int) Pos {
	s.once.Do(s.build)
	if off >= len(s.idx) {
		off = len(s.idx) - 1
	}
	return s.file.posOf(int(s.idx[off]))
}

// newText makes a Text for a scalar node.
func newText(f *fileSrc, n *yaml.Node) Text {
	src := &scalarSrc{file: f, line: n.Line, col: n.Column, style: n.Style, value: n.Value}
	t := Text{Value: n.Value, segs: []textSeg{{off: 0, n: len(n.Value), src: src}}}
	t.Pos = f.posOf(src.firstOffset())
	return t
}

// start returns the byte offset where the scalar proper starts, skipping any tag and anchor
// that yaml.v3 includes in the node's position.
func (s *scalarSrc) start() int {
	d := s.file.data
	j := s.file.offsetOf(s.line, s.col)
	for j < len(d) && (d[j] == '!' || d[j] == '&') {
		for j < len(d) && d[j] != ' ' && d[j] != '\t' && !isBreak(d[j]) {
			j++
		}
		for j < len(d) && (d[j] == ' ' || d[j] == '\t') {
			j++
		}
	}
	return j
}

// firstOffset is the byte offset of the value's first character, computed cheaply (without
// building the whole mapping).
func (s *scalarSrc) firstOffset() int {
	j := s.start()
	switch {
	case s.style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		return j + 1
	case s.style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		if len(s.value) > 0 && s.value[0] == '\n' {
			s.once.Do(s.build)
			return int(s.idx[0])
		}
		c, n := blockContent(s.file.data, j, s.value)
		return c + n
	}
	return j
}

func isBreak(c byte) bool { return c == '\n' || c == '\r' }

func skipBreak(d []byte, j int) int {
	if j < len(d) && d[j] == '\r' {
		j++
		if j < len(d) && d[j] == '\n' {
			j++
		}
		return j
	}
	if j < len(d) && d[j] == '\n' {
		j++
	}
	return j
}

func (s *scalarSrc) build() {
	d := s.file.data
	v := s.value
	s.idx = make([]int32, len(v)+1)
	j := s.start()
	var i int
	switch {
	case s.style&yaml.DoubleQuotedStyle != 0:
		i, j = walkFlow(d, j+1, v, s.idx, '"')
	case s.style&yaml.SingleQuotedStyle != 0:
		i, j = walkFlow(d, j+1, v, s.idx, '\'')
	case s.style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		i, j = walkBlock(d, j, v, s.idx)
	default:
		i, j = walkFlow(d, j, v, s.idx, 0)
	}
	end := j
	if i == len(v) && i > 0 {
		// just after the last character
		last := int(s.idx[i-1])
		if last < len(d) {
			_, w := utf8.DecodeRune(d[last:])
			if isBreak(d[last]) {
				end = skipBreak(d, last)
			} else {
				end = last + w
			}
		}
	}
	if end > len(d) {
		end = len(d)
	}
	for ; i <= len(v); i++ {
		s.idx[i] = int32(end)
	}
}

// walkFlow maps a plain (quote == 0), single- or double-quoted scalar. It returns how many
// value bytes were mapped and the source offset reached.
func walkFlow(d []byte, j int, v string, idx []int32, quote byte) (int, int) {
	i := 0
	for i < len(v) && j < len(d) {
		c := d[j]
		if quote == '"' && c == '\\' && j+1 < len(d) {
			e := d[j+1]
			if isBreak(e) { // escaped line break: joins lines, produces nothing
				j = skipBreak(d, j+1)
				for j < len(d) && (d[j] == ' ' || d[j] == '\t') {
					j++
				}
				continue
			}
			srcLen, outLen := escapeLen(d[j+1:])
			for k := 0; k < outLen && i < len(v); k++ {
				idx[i] = int32(j)
				i++
			}
			j += srcLen
			continue
		}
		if quote == '\'' && c == '\'' && j+1 < len(d) && d[j+1] == '\'' {
			idx[i] = int32(j)
			i++
			j += 2
			continue
		}
		if c == ' ' || c == '\t' || isBreak(c) {
			k := j
			for k < len(d) && (d[k] == ' ' || d[k] == '\t') {
				k++
			}
			if k < len(d) && isBreak(d[k]) { // line folding
				brk := k
				breaks := 0
				for k < len(d) {
					if isBreak(d[k]) {
						k = skipBreak(d, k)
						breaks++
					} else if d[k] == ' ' || d[k] == '\t' {
						k++
					} else {
						break
					}
				}
				if breaks == 1 {
					if v[i] == ' ' {
						idx[i] = int32(brk)
						i++
					}
				} else {
					for m := 0; m < breaks-1 && i < len(v) && v[i] == '\n'; m++ {
						idx[i] = int32(brk)
						i++
					}
				}
				j = k
				continue
			}
		}
		if c != v[i] {
			return i, j
		}
		idx[i] = int32(j)
		i++
		j++
	}
	return i, j
}

// escapeLen returns, for the text after a backslash in a double-quoted scalar, how many source
// bytes the escape takes (backslash included) and how many value bytes it produces.
func escapeLen(e []byte) (int, int) {
	hex := 0
	switch e[0] {
	case 'x':
		hex = 2
	case 'u':
		hex = 4
	case 'U':
		hex = 8
	case 'N', '_':
		return 2, 2 // U+0085, U+00A0
	case 'L', 'P':
		return 2, 3 // U+2028, U+2029
	default:
		_, w := utf8.DecodeRune(e)
		if e[0] < utf8.RuneSelf {
			return 2, 1
		}
		return 1 + w, w
	}
	if len(e) < 1+hex {
		return 1 + len(e), 1
	}
	r := rune(0)
	for _, h := range e[1 : 1+hex] {
		r <<= 4
		switch {
		case h >= '0' && h <= '9':
			r |= rune(h - '0')
		case h >= 'a' && h <= 'f':
			r |= rune(h-'a') + 10
		case h >= 'A' && h <= 'F':
			r |= rune(h-'A') + 10
		}
	}
	n := utf8.RuneLen(r)
	if n < 0 {
		n = 3 // replacement character
	}
	return 2 + hex, n
}

// blockContent finds, for a block scalar whose indicator (| or >) is at j, the offset of the
// first content line and the indentation n of its content.
func blockContent(d []byte, j int, v string) (int, int) {
	for j < len(d) && !isBreak(d[j]) { // header and its comment
		j++
	}
	j = skipBreak(d, j)
	first := j
	// first non-empty line, to detect the indentation
	k := j
	for k < len(d) {
		ls := k
		for k < len(d) && d[k] == ' ' {
			k++
		}
		if k < len(d) && !isBreak(d[k]) {
			lead := k - ls
			vl := 0
			t := 0
			for t < len(v) && v[t] == '\n' {
				t++
			}
			for t < len(v) && v[t] == ' ' {
				t++
				vl++
			}
			n := lead - vl
			if n < 0 {
				n = 0
			}
			return first, n
		}
		if k >= len(d) {
			break
		}
		k = skipBreak(d, k)
	}
	return first, 0
}

// walkBlock maps a literal or folded block scalar whose indicator is at j.
func walkBlock(d []byte, j int, v string, idx []int32) (int, int) {
	j, n := blockContent(d, j, v)
	i := 0
	for i < len(v) && j < len(d) {
		for k := 0; k < n && j < len(d) && d[j] == ' '; k++ {
			j++
		}
		for i < len(v) && j < len(d) && !isBreak(d[j]) {
			if d[j] != v[i] {
				return i, j
			}
			idx[i] = int32(j)
			i++
			j++
		}
		if i >= len(v) || j >= len(d) {
			break
		}
		brk := j
		j = skipBreak(d, j)
		if v[i] == '\n' || v[i] == ' ' {
			idx[i] = int32(brk)
			i++
		}
	}
	return i, j
}
