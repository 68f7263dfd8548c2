package sysfields

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/fields"
)

// DefaultFormat is sysdig's default output line (`sysdig -r FILE`): every event is printed,
// absent values as <NA>.
const DefaultFormat = "*%evt.num %evt.outputtime %evt.cpu %proc.name (%thread.tid) %evt.dir %evt.type %evt.info"

// Formatter renders sysdig -p format strings: literal text with %field, %field[arg] and
// %field.dottedarg references. Unless the format starts with '*', an event for which any field
// has no value is not printed at all (Format returns false), as sysdig does; with '*' absent
// values print as <NA>.
type Formatter struct {
	all    bool
	parts  []part
	fields []boundField
	sorted []int // field indexes by name, for JSON
}

type part struct {
	lit   string
	field int // index into fields, -1 for a literal
}

type boundField struct {
	name string // as written, e.g. "proc.aname[2]" or "evt.arg.fd"
	info fields.Info
	ex   fields.Extractor
}

// NewFormatter parses format and binds its fields with src.
func NewFormatter(format string, src fields.Source) (*Formatter, error) {
	f := &Formatter{}
	if strings.HasPrefix(format, "*") {
		f.all = true
		format = format[1:]
	}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.parts = append(f.parts, part{lit: lit.String(), field: -1})
			lit.Reset()
		}
	}
	for i := 0; i < len(format); {
		c := format[i]
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		j := i + 1
		for j < len(format) && isFieldChar(format[j]) {
			j++
		}
		name := format[i+1 : j]
		if name == "" {
			lit.WriteByte('%')
			i++
			continue
		}
		// the longest prefix that names a field (sysdig stops where the field name ends)
		info, arg, used, ok := resolvePrefix(src, name)
		if !ok {
			return nil, fmt.Errorf("format: unknown field %%%s at offset %d", name, i)
		}
		end := i + 1 + used
		written := name[:used]
		if end < len(format) && format[end] == '[' {
			k := strings.IndexByte(format[end:], ']')
			if k < 0 {
				return nil, fmt.Errorf("format: unterminated [ after %%%s at offset %d", written, end)
			}
			if arg != "" || info.Arg == fields.ArgNone {
				return nil, fmt.Errorf("format: field %s takes no [argument] (offset %d)", written, end)
			}
			arg = format[end+1 : end+k]
			written = format[i+1 : end+k+1]
			end += k + 1
		}
		ex, err := src.Extractor(info, arg)
		if err != nil {
			return nil, fmt.Errorf("format: %%%s: %w", written, err)
		}
		flush()
		f.parts = append(f.parts, part{field: len(f.fields)})
		f.fields = append(f.fields, boundField{name: written, info: info, ex: ex})
		i = end
	}
	flush()
	return f, nil
}

func isFieldChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.'
}

// resolvePrefix finds the field a %reference names: the whole token, or its longest prefix
// ending before a '.' (sysdig reads "%evt.type." as evt.type followed by a literal dot).
func resolvePrefix(src fields.Source, tok string) (fields.Info, string, int, bool) {
	for n := len(tok); n > 0; n-- {
		if n < len(tok) && tok[n] != '.' {
			continue
		}
		if info, arg, ok := fields.Resolve(src.Field, tok[:n]); ok {
			return info, arg, n, true
		}
	}
	return fields.Info{}, "", 0, false
}

// Fields lists the bound field references, as written.
func (f *Formatter) Fields() []string {
	out := make([]string, len(f.fields))
	for i, b := range f.fields {
		out[i] = b.name
	}
	return out
}

// Format renders ev. It returns false when the event is not to be printed (a field without a
// value and no '*' prefix).
func (f *Formatter) Format(ev fields.Event) (string, bool) {
	var sb strings.Builder
	return f.AppendFormat(&sb, ev)
}

// AppendFormat is Format writing into sb; on false, sb may hold a partial line.
//
// Like sysdig, every field is extracted even after one without a value: fields with a state of
// their own (util.cnt, thread.exectime, evt.deltatime) advance on every event formatted.
func (f *Formatter) AppendFormat(sb *strings.Builder, ev fields.Event) (string, bool) {
	missing := false
	for _, p := range f.parts {
		if p.field < 0 {
			if !missing {
				sb.WriteString(p.lit)
			}
			continue
		}
		b := &f.fields[p.field]
		v, ok := b.ex(ev)
		if missing {
			continue
		}
		if !ok {
			if !f.all {
				missing = true
				continue
			}
			sb.WriteString("<NA>")
			continue
		}
		sb.WriteString(Render(b.info, v))
	}
	if missing {
		return "", false
	}
	return sb.String(), true
}

// JSON renders ev as one JSON object of the format's fields (name as written → typed value,
// keys sorted as sysdig -j prints them; absent values are null). It returns false like Format.
func (f *Formatter) JSON(ev fields.Event) ([]byte, bool) {
	if f.sorted == nil {
		f.sorted = make([]int, len(f.fields))
		for i := range f.sorted {
			f.sorted[i] = i
		}
		sort.SliceStable(f.sorted, func(a, b int) bool { return f.fields[f.sorted[a]].name < f.fields[f.sorted[b]].name })
	}
	var sb strings.Builder
	missing := false
	sb.WriteByte('{')
	for n, i := range f.sorted {
		b := &f.fields[i]
		if n > 0 {
			sb.WriteByte(',')
		}
		k, _ := json.Marshal(b.name)
		sb.Write(k)
		sb.WriteByte(':')
		v, ok := b.ex(ev)
		if missing {
			continue
		}
		if !ok {
			if !f.all {
				missing = true // the other fields are still extracted (see AppendFormat)
				continue
			}
			sb.WriteString("null")
			continue
		}
		sb.WriteString(jsonValue(b.info, v))
	}
	if missing {
		return nil, false
	}
	sb.WriteByte('}')
	return []byte(sb.String()), true
}

func jsonValue(info fields.Info, v fields.Value) string {
	switch info.Type {
	case fields.Int64:
		return strconv.FormatInt(int64(v.N), 10)
	case fields.Uint64, fields.Port, fields.AbsTime, fields.RelTime:
		return strconv.FormatUint(v.N, 10)
	case fields.Bool:
		if v.N != 0 {
			return "true"
		}
		return "false"
	case fields.Double:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	}
	b, _ := json.Marshal(Render(info, v))
	return string(b)
}

// Render prints a value of a field the way sysdig does in -p output.
func Render(info fields.Info, v fields.Value) string {
	switch info.Type {
	case fields.String:
		return v.S
	case fields.Bytes:
		return printableAll(v.S)
	case fields.Int64:
		return strconv.FormatInt(int64(v.N), 10)
	case fields.Uint64, fields.Port:
		return strconv.FormatUint(v.N, 10)
	case fields.RelTime, fields.AbsTime:
		if strings.HasSuffix(info.Name, ".ns") || info.Name == "evt.reltime" { // as sysdig: 9 digits at least
			s := strconv.FormatUint(v.N, 10)
			if len(s) < 9 {
				s = strings.Repeat("0", 9-len(s)) + s
			}
			return s
		}
		return strconv.FormatUint(v.N, 10)
	case fields.Bool:
		if v.N != 0 {
			return "true"
		}
		return "false"
	case fields.IPAddr, fields.IPNet:
		ip := v.IP()
		if !ip.IsValid() {
			return ""
		}
		if ip.Bits() == ip.Addr().BitLen() {
			return ip.Addr().String()
		}
		return ip.String()
	case fields.Double:
		return strconv.FormatFloat(v.Float(), 'f', 2, 64)
	case fields.Dyn:
		// evt.rawarg: a string param, or a number printed signed as libsinsp prints the
		// errno, fd and pid params (res=-2) and fields.Format prints Dyn values
		if v.S != "" {
			return v.S
		}
		return strconv.FormatInt(int64(v.N), 10)
	}
	return v.S
}

// printableAll renders a byte buffer with non-printable bytes as '.', like sysdig's evt.buffer.
func printableAll(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '.'
		}
	}
	return string(b)
}
