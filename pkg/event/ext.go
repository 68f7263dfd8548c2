package event

import "encoding/binary"

// Saker's extension params. The live probe appends them to some events after the params of
// the event's row in the table (the record's nparams counts them), so the table layout, and
// everything that reads it, is unchanged: Decode keeps them as Params[len(Info.Params):], and
// Ext reads them. Captures in the sysdig format do not carry them (pkg/scap writes the table's
// params only). Keep in step with pkg/probe/bpf/ext.h.
const (
	// ExtFlags (u32): ExtIOUring, ExtIA32.
	ExtFlags = 0
	// ExtRealPath (string, open family): the kernel's path of the opened file, symlinks,
	// "..", "//" and a dirfd resolved; empty where the file has none.
	ExtRealPath = 1
)

// Bits of the ExtFlags param.
const (
	// ExtIOUring: the operation was an io_uring request, not a syscall.
	ExtIOUring = 0x1
	// ExtIA32: the syscall came through the 32-bit gate (a 32-bit program, or `int $0x80`
	// from a 64-bit one); the probe sets it on every event of such a call.
	ExtIA32 = 0x2
)

// Ext returns extension param i (ExtFlags, ExtRealPath) and whether the event carries it.
func (ev *Event) Ext(i int) ([]byte, bool) {
	if ev.Info == nil {
		return nil, false
	}
	j := len(ev.Info.Params) + i
	if i < 0 || j >= ev.NParams || j >= MaxParams {
		return nil, false
	}
	return ev.Params[j], true
}

// ExtFlagBits returns the ExtFlags param (0 when absent).
func (ev *Event) ExtFlagBits() uint32 {
	b, ok := ev.Ext(ExtFlags)
	if !ok || len(b) != 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(b)
}

// IsIOUring reports whether the event came from an io_uring request.
func (ev *Event) IsIOUring() bool { return ev.ExtFlagBits()&ExtIOUring != 0 }

// IsIA32 reports whether the event is of a syscall made through the 32-bit gate.
func (ev *Event) IsIA32() bool { return ev.ExtFlagBits()&ExtIA32 != 0 }

// ExtString returns extension param i as a string (up to its NUL), "" when absent. The
// string aliases the record, like Str.
func (ev *Event) ExtString(i int) string {
	b, ok := ev.Ext(i)
	if !ok {
		return ""
	}
	return bytesToString(b)
}
