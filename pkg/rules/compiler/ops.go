package compiler

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/fields"
)

// The operators of the condition language and the field types each applies to, as libsinsp's
// flt_is_comparable defines them.
var knownOps = map[string]bool{
	"=": true, "==": true, "!=": true, "<": true, "<=": true, ">": true, ">=": true,
	"contains": true, "icontains": true, "bcontains": true, "startswith": true, "bstartswith": true,
	"endswith": true, "glob": true, "iglob": true, "pmatch": true, "in": true, "intersects": true,
	"exists": true, "regex": true,
}

// listOps take a list of values on their right.
func listOp(op string) bool { return op == "in" || op == "intersects" || op == "pmatch" }

func opAllowed(op string, t fields.Type, list bool) error {
	if op == "exists" {
		return nil
	}
	if list {
		switch t {
		case fields.String, fields.Uint64, fields.RelTime, fields.AbsTime, fields.Bool, fields.IPAddr, fields.IPNet:
			if op == "in" || op == "intersects" {
				return nil
			}
			// `contains` on a string list holds when any element contains the text, as the
			// k8s audit rules written for Falco's older JSON engine expect.
			if op == "contains" && t == fields.String {
				return nil
			}
			return fmt.Errorf("'%s' operator not supported for list fields", op)
		}
		return fmt.Errorf("list fields are not supported for type '%s'", t)
	}
	var ok bool
	var kind string
	switch t {
	case fields.Int64, fields.Uint64, fields.Port, fields.AbsTime, fields.RelTime, fields.Double:
		kind = "numeric"
		switch op {
		case "=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects":
			ok = true
		}
	case fields.Bool:
		kind = "boolean"
		switch op {
		case "=", "==", "!=", "in", "intersects":
			ok = true
		}
	case fields.IPAddr, fields.IPNet:
		kind = "ip address and network"
		switch op {
		case "=", "==", "!=", "in", "intersects":
			ok = true
		}
	case fields.String:
		kind = "string"
		switch op {
		case "bcontains", "bstartswith":
		default:
			ok = true
		}
	case fields.Bytes:
		kind = "buffer"
		switch op {
		case "=", "==", "!=", "contains", "in", "startswith", "endswith", "intersects", "bcontains", "bstartswith":
			ok = true
		}
	case fields.Dyn:
		kind = "dynamic"
		switch op {
		case "=", "==", "!=", "<", "<=", ">", ">=", "in", "intersects", "contains", "startswith", "endswith":
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("'%s' operator not supported for %s fields", op, kind)
	}
	return nil
}

// operand is a right-hand side value parsed for the type of the field it is compared with.
type operand struct {
	s  string
	n  uint64
	f  float64
	ip netip.Prefix
}

func parseOperand(t fields.Type, field, v string) (operand, error) {
	bad := func(what string) (operand, error) {
		return operand{}, fmt.Errorf("invalid value %q for field '%s': expected %s", v, field, what)
	}
	switch t {
	case fields.String, fields.Bytes:
		return operand{s: v}, nil
	case fields.Int64:
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			if n2, err2 := strconv.ParseInt(v, 0, 64); err2 == nil {
				return operand{n: uint64(n2)}, nil
			}
			return bad("an integer")
		}
		return operand{n: uint64(n)}, nil
	case fields.Uint64, fields.AbsTime, fields.RelTime:
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			if n2, err2 := strconv.ParseUint(v, 0, 64); err2 == nil {
				return operand{n: n2}, nil
			}
			return bad("an unsigned integer")
		}
		return operand{n: n}, nil
	case fields.Port:
		n, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return bad("a port number (0-65535)")
		}
		return operand{n: n}, nil
	case fields.Bool:
		switch strings.ToLower(v) {
		case "true", "1":
			return operand{n: 1}, nil
		case "false", "0":
			return operand{n: 0}, nil
		}
		return bad("true or false")
	case fields.Double:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return bad("a number")
		}
		return operand{f: f}, nil
	case fields.IPAddr:
		a, err := netip.ParseAddr(v)
		if err != nil {
			return bad("an IP address")
		}
		return operand{ip: netip.PrefixFrom(a, a.BitLen())}, nil
	case fields.IPNet:
		if p, err := netip.ParsePrefix(v); err == nil {
			return operand{ip: p.Masked()}, nil
		}
		if a, err := netip.ParseAddr(v); err == nil {
			return operand{ip: netip.PrefixFrom(a, a.BitLen())}, nil
		}
		return bad("an IP network (CIDR) or address")
	case fields.Dyn:
		o := operand{s: v}
		if n, err := strconv.ParseInt(v, 0, 64); err == nil {
			o.n = uint64(n)
		}
		return o, nil
	}
	return operand{}, fmt.Errorf("field '%s' cannot be compared", field)
}

// cmpScalar compares one extracted value with one operand.
func cmpScalar(t fields.Type, op string, v fields.Value, o *operand) bool {
	switch t {
	case fields.String, fields.Bytes:
		return cmpString(op, v.S, o.s)
	case fields.Int64:
		a, b := int64(v.N), int64(o.n)
		return cmpOrdered(op, a, b)
	case fields.Uint64, fields.AbsTime, fields.RelTime, fields.Port, fields.Bool:
		return cmpOrdered(op, v.N, o.n)
	case fields.Double:
		return cmpOrdered(op, v.Float(), o.f)
	case fields.IPAddr, fields.IPNet:
		var eq bool
		if a := v.IP().Addr(); o.ip.Bits() == o.ip.Addr().BitLen() {
			eq = a == o.ip.Addr()
		} else {
			eq = o.ip.Contains(a)
		}
		if op == "!=" {
			return !eq
		}
		return eq
	case fields.Dyn:
		if v.S == "" && o.s != "" {
			if _, err := strconv.ParseInt(o.s, 0, 64); err == nil {
				return cmpOrdered(op, int64(v.N), int64(o.n))
			}
		}
		return cmpString(op, v.S, o.s)
	}
	return false
}

func cmpOrdered[T int64 | uint64 | float64](op string, a, b T) bool {
	switch op {
	case "=", "==", "in", "intersects":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

func cmpString(op, a, b string) bool {
	switch op {
	case "=", "==", "in", "intersects":
		return a == b
	case "!=":
		return a != b
	case "contains", "bcontains":
		return strings.Contains(a, b)
	case "icontains":
		return containsFold(a, b)
	case "startswith", "bstartswith":
		return strings.HasPrefix(a, b)
	case "endswith":
		return strings.HasSuffix(a, b)
	case "glob":
		return Glob(b, a, false)
	case "iglob":
		return Glob(b, a, true)
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// containsFold reports whether b is within a, ASCII case-insensitively (strcasestr).
func containsFold(a, b string) bool {
	if len(b) == 0 {
		return true
	}
	for i := 0; i+len(b) <= len(a); i++ {
		if strings.EqualFold(a[i:i+len(b)], b) {
			return true
		}
	}
	return false
}

// containsFoldASCII is containsFold for a non-empty ASCII b given in lower case: a window of
// len(b) bytes of a can fold to b only when it is ASCII too (a multi-byte rune makes it fewer
// runes than b), so the comparison is byte by byte, without strings.EqualFold per position.
func containsFoldASCII(a, low string) bool {
	n := len(low)
	if n > len(a) {
		return false
	}
	c0 := low[0]
	u0 := c0
	if 'a' <= c0 && c0 <= 'z' {
		u0 = c0 - 'a' + 'A'
	}
	last := len(a) - n // the last position a match can start at
	// next positions of the first byte in either case, found with IndexByte and kept until
	// passed (-1: none left)
	nl, nu := -2, -2
	if u0 == c0 {
		nu = -1
	}
	for i := 0; i <= last; {
		if nl != -1 && nl < i {
			if k := strings.IndexByte(a[i:last+1], c0); k >= 0 {
				nl = i + k
			} else {
				nl = -1
			}
		}
		if nu != -1 && nu < i {
			if k := strings.IndexByte(a[i:last+1], u0); k >= 0 {
				nu = i + k
			} else {
				nu = -1
			}
		}
		switch {
		case nl < 0 && nu < 0:
			return false
		case nu < 0 || (nl >= 0 && nl < nu):
			i = nl
		default:
			i = nu
		}
		j := 1
		for ; j < n; j++ {
			c := a[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != low[j] {
				break
			}
		}
		if j == n {
			return true
		}
		i++
	}
	return false
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Glob matches name against an fnmatch(3) pattern without FNM_PATHNAME, as libsinsp's glob
// operator does: `*` matches any run of characters including `/`, `?` any one character,
// `[...]` a class (with `!` or `^` negation and ranges), `\` escapes.
func Glob(pattern, name string, fold bool) bool {
	if fold {
		pattern, name = strings.ToLower(pattern), strings.ToLower(name)
	}
	px, nx := 0, 0
	nextPx, nextNx := -1, -1
	for px < len(pattern) || nx < len(name) {
		if px < len(pattern) {
			c := pattern[px]
			switch c {
			case '*':
				nextPx, nextNx = px, nx+1
				px++
				continue
			case '?':
				if nx < len(name) {
					px++
					nx++
					continue
				}
			case '[':
				if nx < len(name) {
					if ok, width, valid := matchClass(pattern[px:], name[nx]); valid {
						if ok {
							px += width
							nx++
							continue
						}
					} else if name[nx] == '[' { // an unterminated class is a literal '['
						px++
						nx++
						continue
					}
				}
			case '\\':
				if px+1 < len(pattern) && nx < len(name) && pattern[px+1] == name[nx] {
					px += 2
					nx++
					continue
				}
			default:
				if nx < len(name) && name[nx] == c {
					px++
					nx++
					continue
				}
			}
		}
		if nextNx > 0 && nextNx <= len(name) {
			px, nx = nextPx, nextNx
			continue
		}
		return false
	}
	return true
}

// matchClass matches c against the bracket expression at the start of p.
func matchClass(p string, c byte) (match bool, width int, valid bool) {
	i := 1
	neg := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return match != neg, i + 1, true
		}
		first = false
		lo := p[i]
		if lo == '\\' && i+1 < len(p) {
			i++
			lo = p[i]
		}
		hi := lo
		if i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']' {
			hi = p[i+2]
			i += 2
		}
		if lo <= c && c <= hi {
			match = true
		}
		i++
	}
	return false, 0, false
}

// pathPrefix reports whether path is prefix or lies below it, by whole path components
// (libsinsp's pmatch): /usr/bin matches /usr/bin and /usr/bin/ls, not /usr/binx.
func pathPrefix(prefix, path string) bool {
	if len(prefix) > 1 {
		prefix = strings.TrimRight(prefix, "/")
	}
	if prefix == "/" {
		return strings.HasPrefix(path, "/")
	}
	if !strings.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

// transformer applies one of the condition language's transformers to a value.
type transformer func(fields.Value) (fields.Value, bool)

func makeTransformer(name string, in fields.Type, list bool) (transformer, fields.Type, error) {
	stringy := in == fields.String || in == fields.Bytes
	switch name {
	case "tolower", "toupper", "b64", "basename":
		if !stringy {
			return nil, 0, fmt.Errorf("transformer '%s' requires a string field, not %s", name, in)
		}
	case "len":
	default:
		return nil, 0, fmt.Errorf("unknown transformer '%s'", name)
	}
	var f func(string) (string, bool)
	switch name {
	case "tolower":
		f = func(s string) (string, bool) { return strings.ToLower(s), true }
	case "toupper":
		f = func(s string) (string, bool) { return strings.ToUpper(s), true }
	case "b64":
		f = func(s string) (string, bool) {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				b, err = base64.RawStdEncoding.DecodeString(s)
				if err != nil {
					return "", false
				}
			}
			return string(b), true
		}
	case "basename":
		f = func(s string) (string, bool) {
			if i := strings.LastIndexByte(s, '/'); i >= 0 {
				return s[i+1:], true
			}
			return s, true
		}
	case "len":
		return func(v fields.Value) (fields.Value, bool) {
			if list {
				return fields.Value{N: uint64(len(v.List()))}, true
			}
			return fields.Value{N: uint64(len(v.S))}, true
		}, fields.Uint64, nil
	}
	if list {
		return func(v fields.Value) (fields.Value, bool) {
			l := make([]fields.Value, 0, len(v.List()))
			for _, e := range v.List() {
				if s, ok := f(e.S); ok {
					l = append(l, fields.Value{S: s})
				}
			}
			return fields.Value{L: &l}, true
		}, in, nil
	}
	return func(v fields.Value) (fields.Value, bool) {
		s, ok := f(v.S)
		return fields.Value{S: s}, ok
	}, in, nil
}

// compileRegex compiles a regex operand; libsinsp matches the whole value (RE2 FullMatch).
func compileRegex(v string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + v + `)$`)
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %v", v, err)
	}
	return re, nil
}
