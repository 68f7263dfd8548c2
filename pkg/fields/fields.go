// Package fields is the vocabulary shared by the rule engine and the event sources: field
// descriptions (name, type, argument form), typed values, and the Source interface through which
// the rule compiler binds a condition's field references to extractors. It depends on nothing
// else in Saker, so the rule language never depends on capture or output code.
package fields

import (
	"math"
	"net/netip"
	"strconv"
)

// Type is the value type of a field, as the catalogues in shared/fields name them.
type Type uint8

const (
	String  Type = iota // CHARBUF, FSPATH, FSRELPATH, string
	Int64               // INT8..INT64, ERRNO, FD, PID
	Uint64              // UINT8..UINT64
	Bool                // BOOL
	IPAddr              // IPADDR / IPV4ADDR / IPV6ADDR
	IPNet               // IPNET
	Port                // PORT (uint16)
	AbsTime             // ABSTIME, nanoseconds since the epoch
	RelTime             // RELTIME, nanoseconds
	Bytes               // BYTEBUF
	Double              // DOUBLE
	Dyn                 // DYN: type decided per event (evt.rawarg)
)

var typeNames = [...]string{"string", "int64", "uint64", "bool", "ipaddr", "ipnet", "port", "abstime", "reltime", "bytebuf", "double", "dyn"}

func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Numeric reports whether values of t compare as numbers.
func (t Type) Numeric() bool {
	switch t {
	case Int64, Uint64, Port, AbsTime, RelTime, Double, Bool:
		return true
	}
	return false
}

// ArgMode says whether a field takes an argument (`proc.aname[2]`, `evt.arg.flags`).
type ArgMode uint8

const (
	ArgNone ArgMode = iota
	ArgAllowed
	ArgRequired
)

// Info describes one field of a source.
type Info struct {
	Name          string
	Type          Type
	List          bool    // the field yields a list of values (IS_LIST)
	Arg           ArgMode // whether an argument is taken
	ArgIndex      bool    // the argument is a number (proc.aname[2])
	ArgKey        bool    // the argument is a key (proc.env[HOME], evt.arg.flags)
	NoRHS         bool    // may not stand on the right of a comparison, in val()
	NoTransformer bool    // takes no transformer (tolower() ...)
	Hidden        bool    // TABLE_ONLY / PRINT_ONLY: not usable in conditions
	// BothEnds marks a scalar whose candidate values (Value.L) are the two ends of a
	// connection (fd.ip, fd.port): `!=` holds only when every end differs, as in libsinsp's
	// compare_ip/compare_port. Other candidates (proc.aname's ancestors) match when any does.
	BothEnds bool
	Desc     string
}

// Value is one extracted value. Which member is meaningful follows the field's Type: S for
// String and Bytes; N for integers, Bool (0/1), Port and times (Int64 stored as two's complement)
// and Double (its bits: Float); IPAddr (a full-length prefix) and IPNet are read with IP
// (IPValue makes them); L for list fields.
//
// Every extractor returns a Value, through several call levels, so it is kept to 32 bytes in
// at most four members: Go keeps such a struct in registers (SSA), and a larger one in memory,
// zeroed and copied at each level (~8 ns more per extraction, measured at three levels with
// the 64-byte Value that held a netip.Prefix).
type Value struct {
	S string
	N uint64
	L *[]Value // the elements (List)
}

// The IP of a Value: N holds ipTag, ipV6 for a 16-byte address, the prefix length in bits
// 32-39 and an IPv4 address in bits 0-31; an IPv6 address is S (its 16 bytes).
const (
	ipTag = 1 << 63
	ipV6  = 1 << 62
)

// IPValue is the Value of an address or network (the zero Prefix: no address).
func IPValue(p netip.Prefix) Value {
	if !p.IsValid() {
		return Value{}
	}
	a := p.Addr()
	n := uint64(ipTag) | uint64(p.Bits())<<32
	if a.Is4() {
		b := a.As4()
		return Value{N: n | uint64(b[0])<<24 | uint64(b[1])<<16 | uint64(b[2])<<8 | uint64(b[3])}
	}
	b := a.As16()
	return Value{S: string(b[:]), N: n | ipV6}
}

// IP returns an IPAddr or IPNet value (an invalid Prefix when it holds none).
func (v *Value) IP() netip.Prefix {
	if v.N&ipTag == 0 {
		return netip.Prefix{}
	}
	bits := int(v.N >> 32 & 0xff)
	if v.N&ipV6 != 0 {
		var b [16]byte
		if copy(b[:], v.S) != 16 {
			return netip.Prefix{}
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), bits)
	}
	n := uint32(v.N)
	return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}), bits)
}

// FloatValue is the Value of a Double.
func FloatValue(f float64) Value { return Value{N: math.Float64bits(f)} }

// Float returns a Double's value.
func (v *Value) Float() float64 { return math.Float64frombits(v.N) }

// List returns a list value's elements (nil for a scalar).
func (v *Value) List() []Value {
	if v.L == nil {
		return nil
	}
	return *v.L
}

// ListOf makes the L of a value holding l.
func ListOf(l []Value) *[]Value { return &l }

// Event is an opaque event handed from a source to the extractors it bound.
type Event = any

// Extractor returns the value of one bound field for an event, and false when the field has no
// value for it (rendered <NA> in outputs; comparisons other than `exists` are false).
type Extractor func(ev Event) (Value, bool)

// Source is one event source (syscall, k8s_audit, ...): its field catalogue, the extractors that
// read those fields from its events, and the event-type names the rule compiler indexes by.
type Source interface {
	// Name is the rule `source:` value, e.g. "syscall" or "k8s_audit".
	Name() string
	// Field looks a field up by name. Fields written with a dotted argument (evt.arg.flags)
	// are looked up by their base name (evt.arg); the caller splits the argument.
	Field(name string) (Info, bool)
	// Extractor binds a field with its argument (empty when none). A catalogue-only source
	// (used by `rules validate`) returns a nil Extractor and no error.
	Extractor(info Info, arg string) (Extractor, error)
	// EventCodes returns the event codes an `evt.type` name stands for, false when unknown.
	EventCodes(evtType string) ([]uint16, bool)
	// NumEventCodes is the number of event codes; codes run from 0 to NumEventCodes()-1.
	NumEventCodes() int
}

//go:generate go run ./gen -shared ../../../shared/fields -desc descriptions.tsv -o catalog_gen.go

// EventSerialer is implemented by sources that number their events (no two events of a stream
// share a serial; 0 is never one): the compiler then evaluates a macro once per event.
type EventSerialer interface {
	EventSerial(ev Event) (uint64, bool)
}

// Memo is a filter's result kept for one event: Val is the result for the event whose serial
// (EventSerialer) is Serial; 0 holds none.
type Memo struct {
	Serial uint64
	Val    bool
}

// Memoizer is implemented by sources that can keep a filter's result for the rest of an event
// themselves, cheaper than through EventSerialer (the wrapper reads the event's number from
// the source's own event type, with no call): Remember returns f so wrapped, keeping the
// result in m under the serial EventSerial gives the event (so a caller holding that serial
// may read m instead of calling), or false when it cannot (the compiler then uses
// EventSerial). A source implementing Memoizer implements EventSerialer.
type Memoizer interface {
	Remember(f func(ev Event) bool, m *Memo) (func(ev Event) bool, bool)
}

// ScalarBinder is implemented by sources that can bind a field to a function handing back one
// member of its value, S (String, Bytes) or N (the numeric types, Bool), in registers: the
// compiler's comparisons of such fields then copy no Value. multi reports a value holding
// candidates in L (proc.aname without an index), which the caller reads through the
// field's Extractor instead.
type ScalarBinder interface {
	StringExtractor(info Info, arg string) (func(ev Event) (s string, ok, multi bool), error)
	NumberExtractor(info Info, arg string) (func(ev Event) (n uint64, ok, multi bool), error)
}

// Folder is implemented by sources that can tell, for some fields, every value a field can
// have in the events of one event code (`evt.dir` is "<" for every exit event): the rule
// compiler then specializes each condition per code, and a ruleset skips the rules a code
// rules out.
type Folder interface {
	// MayFold reports whether Outcomes can know the field for some code.
	MayFold(info Info) bool
	// Outcomes lists the possible values of the field (bound with arg) for events of code,
	// known false when the events themselves decide.
	Outcomes(info Info, arg string, code uint16) (outs []Outcome, known bool)
}

// Outcome is one possible extraction result: the value, or OK false for no value.
type Outcome struct {
	V  Value
	OK bool
}

// EventCoder is implemented by sources whose events carry their event code: the compiler then
// compiles `evt.type` comparisons to a table lookup instead of a string comparison.
type EventCoder interface {
	// EventCode returns the event's code, false when the code does not tell its type (a
	// generic event carrying the syscall's id), which is then compared by name.
	EventCode(ev Event) (uint16, bool)
	// CodesExact reports whether the codes EventCodes gives for name belong to that name
	// alone; names served by shared codes (syscalls without events of their own, which share
	// the generic event) must be compared by name.
	CodesExact(name string) bool
}
