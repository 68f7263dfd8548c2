package fields

import (
	"strconv"
	"strings"
)

// NA is how an absent value prints, as in Falco and sysdig.
const NA = "<NA>"

// Format renders a value of type t as text, the way Falco prints it in outputs.
func Format(t Type, list bool, v Value) string {
	if !list && len(v.List()) > 0 {
		// a scalar field with several candidate values (proc.aname without an index: every
		// ancestor) prints them all, space-separated
		parts := make([]string, len(v.List()))
		for i, e := range v.List() {
			parts[i] = Format(t, false, e)
		}
		return strings.Join(parts, " ")
	}
	if list {
		parts := make([]string, len(v.List()))
		for i, e := range v.List() {
			parts[i] = Format(t, false, e)
		}
		return "(" + strings.Join(parts, ",") + ")"
	}
	switch t {
	case String, Bytes:
		return v.S
	case Int64:
		return strconv.FormatInt(int64(v.N), 10)
	case Uint64, Port, AbsTime, RelTime:
		return strconv.FormatUint(v.N, 10)
	case Bool:
		if v.N != 0 {
			return "true"
		}
		return "false"
	case Double:
		return strconv.FormatFloat(v.Float(), 'f', -1, 64)
	case IPAddr:
		ip := v.IP()
		if !ip.IsValid() {
			return NA
		}
		return ip.Addr().String()
	case IPNet:
		ip := v.IP()
		if !ip.IsValid() {
			return NA
		}
		return ip.String()
	case Dyn:
		if v.S != "" {
			return v.S
		}
		return strconv.FormatInt(int64(v.N), 10)
	}
	return v.S
}

// JSON returns a value as Falco puts it in an alert's output_fields: numbers for numeric
// types, booleans for Bool, lists as arrays, strings otherwise.
func JSON(t Type, list bool, v Value) any {
	if !list && len(v.List()) > 0 {
		return Format(t, false, v)
	}
	if list {
		out := make([]any, len(v.List()))
		for i, e := range v.List() {
			out[i] = JSON(t, false, e)
		}
		return out
	}
	switch t {
	case Int64:
		return int64(v.N)
	case Uint64, Port, AbsTime, RelTime:
		return v.N
	case Bool:
		return v.N != 0
	case Double:
		return v.Float()
	}
	return Format(t, false, v)
}
