package ast

// OpKind classifies a check operator by what it accepts on its right-hand side.
type OpKind int

const (
	OpUnknown OpKind = iota
	OpUnary          // exists: no value
	OpNumeric        // < <= > >=: a number (decimal or 0x hex), or a field value
	OpString         // = == != contains ... regex: a single value, or a field value
	OpList           // in intersects pmatch: a list, a list name, or a field value
)

// Operator sets, as Falco defines them (operators are case-sensitive).
var (
	UnaryOperators   = []string{"exists"}
	NumericOperators = []string{"<", "<=", ">", ">="}
	StringOperators  = []string{"=", "==", "!=", "contains", "icontains", "bcontains",
		"startswith", "bstartswith", "endswith", "glob", "iglob", "regex"}
	ListOperators = []string{"in", "intersects", "pmatch"}
)

// Transformers are the field transformers that wrap a single field: `tolower(proc.name)`.
// `val` is not among them: it only marks a field used as a value.
var Transformers = []string{"tolower", "toupper", "b64", "basename", "len"}

// OperatorKind returns the kind of op, or OpUnknown.
func OperatorKind(op string) OpKind {
	switch op {
	case "exists":
		return OpUnary
	case "<", "<=", ">", ">=":
		return OpNumeric
	case "=", "==", "!=", "contains", "icontains", "bcontains", "startswith", "bstartswith",
		"endswith", "glob", "iglob", "regex":
		return OpString
	case "in", "intersects", "pmatch":
		return OpList
	}
	return OpUnknown
}

// IsTransformer reports whether name is a field transformer (not counting val).
func IsTransformer(name string) bool {
	switch name {
	case "tolower", "toupper", "b64", "basename", "len":
		return true
	}
	return false
}

// IsBlank reports whether c separates tokens: space, \t, \n, \r, \v, \f or \b.
func IsBlank(c byte) bool {
	switch c {
	case ' ', '\t', '\n', '\r', '\v', '\f', '\b':
		return true
	}
	return false
}

// IsBareChar reports whether c may appear in an unquoted value: anything but blanks, quotes,
// parentheses, ',' and '='.
func IsBareChar(c byte) bool {
	switch c {
	case '(', ')', '"', '\'', ',', '=':
		return false
	}
	return !IsBlank(c)
}

// IsArgChar reports whether c may appear in an unquoted field argument: anything but blanks,
// quotes and brackets.
func IsArgChar(c byte) bool {
	switch c {
	case '[', ']', '"', '\'':
		return false
	}
	return !IsBlank(c)
}

// IsLetter reports whether c is an ASCII letter (the first character of names and keywords).
func IsLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// IsIdentChar reports whether c may continue a name: letter, digit or '_'.
func IsIdentChar(c byte) bool { return IsLetter(c) || c >= '0' && c <= '9' || c == '_' }
