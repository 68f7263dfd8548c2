package event

import (
	"strconv"
	"strings"
)

// FormatFlags renders v with the named flag table the way libsinsp does for the param's
// resolved string: for flag types (FLAGS8/16/32) the names of every table entry whose bits are
// all set in what is left of v, in table order, joined with "|" (each match clears its bits, so
// O_RDWR is not also shown as O_WRONLY|O_RDONLY; a zero entry matches only a zero value; the
// walk stops at an entry equal to the whole value); for enum types (ENUMFLAGS8/16/32) every
// entry equal to v (aliases such as AF_LOCAL|AF_UNIX are joined with "|"). It returns "" when
// nothing matches or the table is unknown.
func FormatFlags(table string, t ParamType, v uint32) string {
	entries := FlagTables[table]
	if len(entries) == 0 {
		return ""
	}
	var b strings.Builder
	add := func(name string) {
		if b.Len() > 0 {
			b.WriteByte('|')
		}
		b.WriteString(name)
	}
	switch t {
	case PTEnumflags8, PTEnumflags16, PTEnumflags32:
		for _, f := range entries {
			if f.Value == v {
				add(f.Name)
			}
		}
	case PTMode:
		// libsinsp's PT_MODE walk: stops before an entry equal to the whole value and appends it.
		left := v
		i := 0
		for ; i < len(entries) && entries[i].Value != v; i++ {
			f := entries[i]
			if (f.Value == 0 && v == 0) || (f.Value != 0 && left != 0 && left&f.Value == f.Value) {
				add(f.Name)
				left &^= f.Value
			}
		}
		if i < len(entries) {
			add(entries[i].Name)
		}
	default:
		left := v
		for _, f := range entries {
			if (f.Value == 0 && v == 0) || (f.Value != 0 && left != 0 && left&f.Value == f.Value) {
				add(f.Name)
				left &^= f.Value
				if f.Value == v {
					break
				}
			}
		}
	}
	return b.String()
}

// FormatParamFlags renders a flag/enum/mode value like sysdig's evt.args: "1(O_RDONLY)", or the
// bare number when no name matches.
func FormatParamFlags(table string, t ParamType, v uint32) string {
	s := strconv.FormatUint(uint64(v), 10)
	if t == PTMode && v != 0 {
		s = "0" + strconv.FormatUint(uint64(v), 8)
	}
	if n := FormatFlags(table, t, v); n != "" {
		return s + "(" + n + ")"
	}
	return s
}
