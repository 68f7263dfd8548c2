package sysfields

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/state"
)

// withExt appends extension params (pkg/event.Ext) to a raw record, as the live probe does.
func withExt(raw []byte, vals ...[]byte) []byte {
	n := int(binary.LittleEndian.Uint32(raw[22:]))
	lens := raw[event.HeaderLen : event.HeaderLen+2*n]
	out := append([]byte(nil), raw[:event.HeaderLen]...)
	out = append(out, lens...)
	for _, v := range vals {
		out = binary.LittleEndian.AppendUint16(out, uint16(len(v)))
	}
	out = append(out, raw[event.HeaderLen+2*n:]...)
	for _, v := range vals {
		out = append(out, v...)
	}
	binary.LittleEndian.PutUint32(out[16:], uint32(len(out)))
	binary.LittleEndian.PutUint32(out[22:], uint32(n+len(vals)))
	return out
}

// evt.is_io_uring and fd.realpath from the probe's extension params, and their values for
// events without them (captures, fds known before).
func TestExtFields(t *testing.T) {
	st := state.New(state.Options{})
	st.AddThread(event.ThreadInfo{TID: 3000, PID: 3000, Comm: "cat", Exe: "cat", Cwd: "/home/u"})
	st.AddFD(event.FDInfo{TID: 3000, FD: 20, Type: event.FDFileV2, Name: "/var/log/old.log"})
	src := NewSource(st)
	get := func(ctx *state.Context, field string) string {
		t.Helper()
		_, ex := bind(t, src, field)
		v, ok := ex(ctx)
		if !ok {
			return "<no value>"
		}
		if field == "evt.is_io_uring" {
			if v.N != 0 {
				return "true"
			}
			return "false"
		}
		return v.S
	}
	open := func(n uint64, name string, ext ...[]byte) *state.Context {
		raw := encode(t, "openat", 'X', 3000, tsBase+n*1000, map[string]any{"fd": 5 + int(n), "dirfd": -100, "name": name,
			"flags": 1, "mode": 0, "dev": 0xfe00, "ino": 42})
		if len(ext) > 0 {
			raw = withExt(raw, ext...)
		}
		return st.Process(decode(t, raw, n))
	}
	flags := func(f uint32) []byte { return binary.LittleEndian.AppendUint32(nil, f) }

	plain := open(1, "lnk") // a capture's openat: no extension params
	if g := get(plain, "fd.realpath"); g != "/home/u/lnk" {
		t.Errorf("without the kernel's path: fd.realpath %q, want fd.name", g)
	}
	if g := get(plain, "evt.args"); !strings.Contains(g, "dirfd=-100(AT_FDCWD) ") { // as sysdig prints it
		t.Errorf("evt.args %q", g)
	}
	if g := get(plain, "evt.is_io_uring"); g != "false" {
		t.Errorf("capture event: evt.is_io_uring %s", g)
	}
	sys := open(2, "lnk", flags(0), []byte("/etc/shadow\x00"))
	if g, n := get(sys, "fd.realpath"), get(sys, "fd.name"); g != "/etc/shadow" || n != "/home/u/lnk" {
		t.Errorf("syscall open: fd.realpath %q fd.name %q", g, n)
	}
	if g := get(sys, "evt.is_io_uring"); g != "false" {
		t.Errorf("syscall open: evt.is_io_uring %s", g)
	}
	ur := open(3, "../../etc/shadow", flags(event.ExtIOUring), []byte("/etc/shadow\x00"))
	if g := get(ur, "evt.is_io_uring"); g != "true" {
		t.Errorf("io_uring open: evt.is_io_uring %s", g)
	}
	if g := get(ur, "fd.realpath"); g != "/etc/shadow" {
		t.Errorf("io_uring open: fd.realpath %q", g)
	}
	// an empty kernel path (a fixed-file slot): fd.name
	empty := open(4, "x", flags(event.ExtIOUring), nil)
	if g := get(empty, "fd.realpath"); g != "/home/u/x" {
		t.Errorf("empty kernel path: fd.realpath %q", g)
	}
	// the fd keeps its resolved path for later events on it; an fd from the /proc scan has
	// only its name (which is the kernel's path)
	read := func(n uint64, fd int) *state.Context {
		return st.Process(decode(t, encode(t, "read", 'X', 3000, tsBase+n*1000, map[string]any{"res": 3, "data": []byte("abc"), "fd": fd, "size": 3}), n))
	}
	if g := get(read(10, 7), "fd.realpath"); g != "/etc/shadow" { // the syscall open's fd (5+2)
		t.Errorf("read after the open: fd.realpath %q", g)
	}
	if g := get(read(11, 20), "fd.realpath"); g != "/var/log/old.log" {
		t.Errorf("fd from the scan: fd.realpath %q", g)
	}
}
