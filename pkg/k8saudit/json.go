package k8saudit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// kind is the type of a JSON value.
type kind uint8

const (
	kNull kind = iota
	kFalse
	kTrue
	kNumber
	kString
	kArray
	kObject
)

// value is one parsed JSON value. raw is its exact text in the document (never copied);
// str is a string's decoded text; an object's members are keys[i] -> vals[i] in document
// order, an array's elements vals.
type value struct {
	kind kind
	raw  []byte
	str  string
	keys []string
	vals []*value
}

func (p *jsonParser) keepKeys(k []string) []string {
	if cap(p.karena)-len(p.karena) < len(k) {
		p.karena = make([]string, 0, max(256, 2*len(k)))
	}
	start := len(p.karena)
	p.karena = append(p.karena, k...)
	return p.karena[start:len(p.karena):len(p.karena)]
}

func (p *jsonParser) keepVals(v []*value) []*value {
	if cap(p.varena)-len(p.varena) < len(v) {
		p.varena = make([]*value, 0, max(256, 2*len(v)))
	}
	start := len(p.varena)
	p.varena = append(p.varena, v...)
	return p.varena[start:len(p.varena):len(p.varena)]
}

// maxDepth bounds nesting, so a hostile document cannot exhaust the stack.
const maxDepth = 512

// parseJSON parses one JSON document (surrounding white space allowed). The values refer to
// data, which must not change afterwards.
func parseJSON(data []byte) (*value, error) {
	p := jsonParser{data: data}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, p.errf("unexpected data after the JSON value")
	}
	return v, nil
}

type jsonParser struct {
	data []byte
	pos  int
	// values are allocated in chunks, so a document costs few allocations
	chunk []value
	// members being collected (a stack: nested containers push above their parents'), copied
	// into exactly sized slices when a container ends
	keys []string
	vals []*value
	// exactly sized member slices are cut from these blocks
	karena []string
	varena []*value
}

func (p *jsonParser) errf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) alloc() *value {
	if len(p.chunk) == 0 {
		p.chunk = make([]value, 128)
	}
	v := &p.chunk[0]
	p.chunk = p.chunk[1:]
	return v
}

func (p *jsonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (*value, error) {
	if depth > maxDepth {
		return nil, p.errf("nested too deeply")
	}
	if p.pos >= len(p.data) {
		return nil, p.errf("unexpected end of data")
	}
	start := p.pos
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		v := p.alloc()
		*v = value{kind: kString, raw: p.data[start:p.pos], str: s}
		return v, nil
	case c == 't':
		return p.literal("true", kTrue)
	case c == 'f':
		return p.literal("false", kFalse)
	case c == 'n':
		return p.literal("null", kNull)
	case c == '-' || (c >= '0' && c <= '9'):
		if err := p.number(); err != nil {
			return nil, err
		}
		v := p.alloc()
		*v = value{kind: kNumber, raw: p.data[start:p.pos]}
		return v, nil
	default:
		return nil, p.errf("unexpected character %q", c)
	}
}

func (p *jsonParser) literal(word string, k kind) (*value, error) {
	if !bytes.HasPrefix(p.data[p.pos:], []byte(word)) {
		return nil, p.errf("invalid literal")
	}
	v := p.alloc()
	*v = value{kind: k, raw: p.data[p.pos : p.pos+len(word)]}
	p.pos += len(word)
	return v, nil
}

func (p *jsonParser) number() error {
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if i < len(d) && d[i] == '0' {
		i++
	} else if digits() == 0 {
		p.pos = i
		return p.errf("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if digits() == 0 {
			p.pos = i
			return p.errf("invalid number")
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if digits() == 0 {
			p.pos = i
			return p.errf("invalid number")
		}
	}
	p.pos = i
	return nil
}

// string reads a string at p.pos (the opening quote) and returns its decoded text.
func (p *jsonParser) string() (string, error) {
	d := p.data
	i := p.pos + 1
	start := i
	// fast path: no escapes
	for i < len(d) {
		c := d[i]
		if c == '"' {
			p.pos = i + 1
			if i == start {
				return "", nil
			}
			// the document is never modified after parsing: its bytes can back the string
			return unsafe.String(&d[start], i-start), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			p.pos = i
			return "", p.errf("control character in string")
		}
		i++
	}
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, d[start:i]...)
	for i < len(d) {
		c := d[i]
		switch {
		case c == '"':
			p.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			p.pos = i
			return "", p.errf("control character in string")
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		i++
		if i >= len(d) {
			break
		}
		switch e := d[i]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, n, ok := hex4(d[i+1:])
			if !ok {
				p.pos = i
				return "", p.errf("invalid \\u escape")
			}
			i += n
			if utf16.IsSurrogate(r) {
				r2, n2, ok2 := rune(0), 0, false
				if i+2 < len(d) && d[i+1] == '\\' && d[i+2] == 'u' {
					r2, n2, ok2 = hex4(d[i+3:])
				}
				if ok2 {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						r = dec
						i += 2 + n2
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			p.pos = i
			return "", p.errf("invalid escape '\\%c'", e)
		}
		i++
	}
	p.pos = len(d)
	return "", p.errf("unterminated string")
}

func hex4(b []byte) (rune, int, bool) {
	if len(b) < 4 {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	if err != nil {
		return 0, 0, false
	}
	return rune(n), 4, true
}

func (p *jsonParser) object(depth int) (*value, error) {
	start := p.pos
	p.pos++ // {
	v := p.alloc()
	v.kind = kObject
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		v.raw = p.data[start:p.pos]
		return v, nil
	}
	kb, vb := len(p.keys), len(p.vals)
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errf("expected an object key")
		}
		k, err := p.string()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errf("expected ':' after an object key")
		}
		p.pos++
		p.space()
		m, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.keys = append(p.keys, k)
		p.vals = append(p.vals, m)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errf("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			v.raw = p.data[start:p.pos]
			v.keys = p.keepKeys(p.keys[kb:])
			v.vals = p.keepVals(p.vals[vb:])
			p.keys, p.vals = p.keys[:kb], p.vals[:vb]
			return v, nil
		default:
			return nil, p.errf("expected ',' or '}' in an object")
		}
	}
}

func (p *jsonParser) array(depth int) (*value, error) {
	start := p.pos
	p.pos++ // [
	v := p.alloc()
	v.kind = kArray
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		v.raw = p.data[start:p.pos]
		return v, nil
	}
	base := len(p.vals)
	for {
		p.space()
		e, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.vals = append(p.vals, e)
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errf("unterminated array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			v.raw = p.data[start:p.pos]
			v.vals = p.keepVals(p.vals[base:])
			p.vals = p.vals[:base]
			return v, nil
		default:
			return nil, p.errf("expected ',' or ']' in an array")
		}
	}
}

// get returns the member key of an object (the first one of that name, as the k8saudit
// plugin's parser finds), or the element of an array whose index key spells; nil when absent.
func (v *value) get(key string) *value {
	if v == nil {
		return nil
	}
	switch v.kind {
	case kObject:
		for i := range v.keys {
			if v.keys[i] == key {
				return v.vals[i]
			}
		}
	case kArray:
		n, err := strconv.Atoi(key)
		if err == nil && n >= 0 && n < len(v.vals) && (key == "0" || key[0] != '0') {
			return v.vals[n]
		}
	}
	return nil
}

// path follows object keys.
func (v *value) path(keys ...string) *value {
	for _, k := range keys {
		v = v.get(k)
		if v == nil {
			return nil
		}
	}
	return v
}

// text is a value as the k8saudit plugin renders one: a string's text, anything else its
// compact JSON.
func (v *value) text() string {
	if v.kind == kString {
		return v.str
	}
	return compactJSON(v.raw)
}

func compactJSON(raw []byte) string {
	if !hasSpace(raw) {
		return string(raw)
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}

// hasSpace reports whether raw JSON holds white space outside strings.
func hasSpace(raw []byte) bool {
	in := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if in {
			if c == '\\' {
				i++
			} else if c == '"' {
				in = false
			}
			continue
		}
		switch c {
		case '"':
			in = true
		case ' ', '\t', '\n', '\r':
			return true
		}
	}
	return false
}
