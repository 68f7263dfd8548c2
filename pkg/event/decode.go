package event

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"unsafe"
)

// Header sizes of an event record.
const (
	HeaderLen   = 26 // ts, tid, len, type, nparams
	HeaderLenV1 = 22 // v1 event blocks: no nparams
)

// ErrUnknownType is wrapped by Decode's error for an event code beyond the table (written by a
// newer producer); readers skip such events as libscap does.
var ErrUnknownType = errors.New("unknown event type")

// DecodeError is a malformed event record. Offset is the byte offset within the record.
type DecodeError struct {
	Type   uint16
	Offset int
	Msg    string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("event type %d: byte %d: %s", e.Type, e.Offset, e.Msg)
}

const (
	codeNotification = 280
	codeInfra        = 286
)

// Decode parses one event record (header, param lengths, values) without copying: ev.Params
// and ev.Raw are slices into raw, valid as long as raw is. hasNParams is false for v1 event
// blocks (0x204, 0x208, 0x8010ABCD), whose 22-byte header lacks nparams: it is then inferred as
// libscap does, trying the table's param count downward until the lengths add up to the
// record's length. Decode sets TS, TID, Type, RawType, Info, Params, NParams, Present and Raw;
// Num, CPU and Flags are the caller's.
func Decode(raw []byte, ev *Event, hasNParams bool) error {
	hdr := HeaderLen
	if !hasNParams {
		hdr = HeaderLenV1
	}
	if len(raw) < hdr {
		return &DecodeError{Offset: 0, Msg: fmt.Sprintf("record of %d bytes is shorter than the %d-byte header", len(raw), hdr)}
	}
	ts := binary.LittleEndian.Uint64(raw[0:])
	tid := binary.LittleEndian.Uint64(raw[8:])
	evlen := int(binary.LittleEndian.Uint32(raw[16:]))
	typ := binary.LittleEndian.Uint16(raw[20:])
	if evlen < hdr {
		return &DecodeError{Type: typ, Offset: 16, Msg: fmt.Sprintf("length %d is shorter than the %d-byte header", evlen, hdr)}
	}
	if evlen > len(raw) {
		return &DecodeError{Type: typ, Offset: 16, Msg: fmt.Sprintf("length %d exceeds the %d bytes available", evlen, len(raw))}
	}
	if int(typ) >= NumEvents {
		return fmt.Errorf("%w %d", ErrUnknownType, typ)
	}
	if !hasNParams && (typ == codeNotification || typ == codeInfra) && evlen >= hdr+3 {
		evlen -= 3 // old captures stored a wrong length for these two (libscap adjusts the same way)
	}
	raw = raw[:evlen]
	info := &Table[typ]
	lsize := 2
	if info.Flags&EFLargePayload != 0 {
		lsize = 4
	}
	var n int
	if hasNParams {
		n = int(binary.LittleEndian.Uint32(raw[22:]))
		if n > MaxParams {
			return &DecodeError{Type: typ, Offset: 22, Msg: fmt.Sprintf("nparams %d exceeds the maximum %d", n, MaxParams)}
		}
		if hdr+n*lsize > evlen {
			return &DecodeError{Type: typ, Offset: 22, Msg: fmt.Sprintf("%d param lengths do not fit in the %d-byte record", n, evlen)}
		}
		if lsize == 2 && decodeParams16(raw, ev, n) {
			finish(raw, ev, n, typ, ts, tid, info)
			return nil
		}
		sum := 0
		for i := 0; i < n; i++ {
			sum += plen(raw, hdr, i, lsize)
		}
		if want := evlen - hdr - n*lsize; sum != want {
			return &DecodeError{Type: typ, Offset: hdr, Msg: fmt.Sprintf("param lengths add up to %d bytes but the record holds %d", sum, want)}
		}
	} else {
		// Counts are tried from the table's downward; a count whose lengths do not fit in
		// the record is passed over. The lengths of count t are the first t of those of the
		// largest count that fits, so their sums are taken once, then peeled off one by one.
		n = -1
		top := min(len(info.Params), (evlen-hdr)/lsize)
		sum := 0
		for i := 0; i < top; i++ {
			sum += plen(raw, hdr, i, lsize)
		}
		for try := top; try >= 0; try-- {
			if try < top {
				sum -= plen(raw, hdr, try, lsize)
			}
			end := hdr + try*lsize + sum
			if end < evlen {
				break // libscap gives up here too: more data than the params can describe
			}
			if end == evlen {
				n = try
				break
			}
		}
		if n < 0 {
			return &DecodeError{Type: typ, Offset: hdr, Msg: fmt.Sprintf("cannot infer nparams: no count up to %d makes the lengths add up to %d bytes", len(info.Params), evlen)}
		}
	}
	off := hdr + n*lsize
	for i := 0; i < n; i++ {
		l := plen(raw, hdr, i, lsize)
		ev.Params[i] = raw[off : off+l : off+l]
		off += l
	}
	finish(raw, ev, n, typ, ts, tid, info)
	return nil
}

// decodeParams16 sets the n params of a record with a 26-byte header and 2-byte lengths
// (their count already checked to fit) in one pass, and reports whether the lengths add up to
// the record's length. When they do not, it leaves ev.Params beyond ev.NParams clear, for the
// caller's slow path to name the fault.
func decodeParams16(raw []byte, ev *Event, n int) bool {
	if n > MaxParams {
		return false
	}
	lens := raw[HeaderLen : HeaderLen+2*n]
	off := HeaderLen + 2*n
	for i := range n {
		end := off + int(binary.LittleEndian.Uint16(lens[2*i:]))
		if end > len(raw) {
			if prev := ev.NParams; prev >= 0 && prev < i {
				clear(ev.Params[prev:i])
			}
			return false
		}
		ev.Params[i] = raw[off:end:end]
		off = end
	}
	if off != len(raw) {
		if prev := ev.NParams; prev >= 0 && prev < n {
			clear(ev.Params[prev:n])
		}
		return false
	}
	return true
}

// finish completes a decoded event: what the previous event left beyond its n params is
// cleared, and the header fields set.
func finish(raw []byte, ev *Event, n int, typ uint16, ts, tid uint64, info *Info) {
	// Clear what the previous event left beyond n (its NParams, normalization included),
	// not the whole array: a decode must not cost a 1 KiB memclr.
	if prev := ev.NParams; prev > n && prev <= MaxParams {
		clear(ev.Params[n:prev])
	} else if prev > MaxParams || prev < 0 {
		clear(ev.Params[n:])
	}
	ev.TS = ts
	ev.TID = int64(tid)
	ev.Type = typ
	ev.RawType = typ
	ev.Info = info
	ev.NParams = n
	ev.Present = 1<<uint(n) - 1
	ev.Raw = raw
}

func plen(raw []byte, hdr, i, lsize int) int {
	if lsize == 4 {
		return int(binary.LittleEndian.Uint32(raw[hdr+4*i:]))
	}
	return int(binary.LittleEndian.Uint16(raw[hdr+2*i:]))
}

// Has reports whether param i (current layout) is present.
func (ev *Event) Has(i int) bool {
	return i >= 0 && i < MaxParams && ev.Present&(1<<uint(i)) != 0
}

// Bytes returns param i's raw value (nil when absent).
func (ev *Event) Bytes(i int) []byte {
	if !ev.Has(i) {
		return nil
	}
	return ev.Params[i]
}

// Index returns the index of the param called name in the event's layout, or -1.
func (ev *Event) Index(name string) int {
	if ev.Info == nil {
		return -1
	}
	return ev.Info.ParamIndex(name)
}

// Param returns the raw value of the param called name, and whether it is present.
func (ev *Event) Param(name string) ([]byte, bool) {
	i := ev.Index(name)
	if !ev.Has(i) {
		return nil, false
	}
	return ev.Params[i], true
}

// Int returns param i as a signed integer, sign-extended from its wire width (1, 2, 4 or 8
// bytes); 0 when absent or of another width.
func (ev *Event) Int(i int) int64 {
	b := ev.Bytes(i)
	switch len(b) {
	case 1:
		return int64(int8(b[0]))
	case 2:
		return int64(int16(binary.LittleEndian.Uint16(b)))
	case 4:
		return int64(int32(binary.LittleEndian.Uint32(b)))
	case 8:
		return int64(binary.LittleEndian.Uint64(b))
	}
	return 0
}

// Uint returns param i as an unsigned integer of its wire width; 0 when absent.
func (ev *Event) Uint(i int) uint64 {
	b := ev.Bytes(i)
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	case 4:
		return uint64(binary.LittleEndian.Uint32(b))
	case 8:
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

// Str returns param i as a string, cut at the first NUL. It does not copy: the string shares
// the event's memory and is valid only until the next event is read from the same source
// (strings.Clone it to keep it).
func (ev *Event) Str(i int) string {
	return bytesToString(ev.Bytes(i))
}

func bytesToString(b []byte) string {
	for j, c := range b {
		if c == 0 {
			b = b[:j]
			break
		}
	}
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// ParamInt returns the named param as a signed integer and whether it is present.
func (ev *Event) ParamInt(name string) (int64, bool) {
	i := ev.Index(name)
	return ev.Int(i), ev.Has(i)
}

// ParamUint returns the named param as an unsigned integer and whether it is present.
func (ev *Event) ParamUint(name string) (uint64, bool) {
	i := ev.Index(name)
	return ev.Uint(i), ev.Has(i)
}

// ParamStr returns the named param as a zero-copy string (see Str) and whether it is present.
func (ev *Event) ParamStr(name string) (string, bool) {
	i := ev.Index(name)
	return ev.Str(i), ev.Has(i)
}

// Strings splits param i (a BYTEBUF of NUL-separated strings, such as execve args, env or
// cgroups) and appends the parts to dst. The strings are zero-copy like Str.
func (ev *Event) Strings(i int, dst []string) []string {
	b := ev.Bytes(i)
	for len(b) > 0 {
		j := 0
		for j < len(b) && b[j] != 0 {
			j++
		}
		dst = append(dst, bytesToString(b[:j]))
		if j == len(b) {
			break
		}
		b = b[j+1:]
	}
	return dst
}

// FlagsString renders param i with its flag table as libsinsp does (see FormatFlags).
func (ev *Event) FlagsString(i int) string {
	if ev.Info == nil || i < 0 || i >= len(ev.Info.Params) || !ev.Has(i) {
		return ""
	}
	p := ev.Info.Params[i]
	return FormatFlags(p.FlagTable, p.Type, uint32(ev.Uint(i)))
}

// Socket families as scap encodes them (PPM_AF_*).
const (
	AFUnspec = 0
	AFUnix   = 1
	AFInet   = 2
	AFInet6  = 10
)

// SockAddr is a decoded SOCKADDR param.
type SockAddr struct {
	Family uint8
	Addr   netip.Addr // AF_INET, AF_INET6
	Port   uint16
	Path   string // AF_UNIX (zero-copy, like Str)
}

// SockAddr decodes param i as a SOCKADDR; ok is false when absent or malformed.
func (ev *Event) SockAddr(i int) (sa SockAddr, ok bool) {
	b := ev.Bytes(i)
	if len(b) < 1 {
		return sa, false
	}
	sa.Family = b[0]
	switch sa.Family {
	case AFInet:
		if len(b) < 7 {
			return sa, false
		}
		sa.Addr = netip.AddrFrom4([4]byte(b[1:5]))
		sa.Port = binary.LittleEndian.Uint16(b[5:])
	case AFInet6:
		if len(b) < 19 {
			return sa, false
		}
		sa.Addr = netip.AddrFrom16([16]byte(b[1:17]))
		sa.Port = binary.LittleEndian.Uint16(b[17:])
	case AFUnix:
		sa.Path = bytesToString(b[1:])
	}
	return sa, true
}

// SockTuple is a decoded SOCKTUPLE param.
type SockTuple struct {
	Family           uint8
	SrcAddr, DstAddr netip.Addr
	SrcPort, DstPort uint16
	UnixSrc, UnixDst uint64 // AF_UNIX: kernel socket addresses
	Path             string // AF_UNIX (zero-copy, like Str)
}

// SockTuple decodes param i as a SOCKTUPLE; ok is false when absent or malformed.
func (ev *Event) SockTuple(i int) (st SockTuple, ok bool) {
	b := ev.Bytes(i)
	if len(b) < 1 {
		return st, false
	}
	st.Family = b[0]
	switch st.Family {
	case AFInet:
		if len(b) < 13 {
			return st, false
		}
		st.SrcAddr = netip.AddrFrom4([4]byte(b[1:5]))
		st.SrcPort = binary.LittleEndian.Uint16(b[5:])
		st.DstAddr = netip.AddrFrom4([4]byte(b[7:11]))
		st.DstPort = binary.LittleEndian.Uint16(b[11:])
	case AFInet6:
		if len(b) < 37 {
			return st, false
		}
		st.SrcAddr = netip.AddrFrom16([16]byte(b[1:17]))
		st.SrcPort = binary.LittleEndian.Uint16(b[17:])
		st.DstAddr = netip.AddrFrom16([16]byte(b[19:35]))
		st.DstPort = binary.LittleEndian.Uint16(b[35:])
	case AFUnix:
		if len(b) < 17 {
			return st, false
		}
		st.UnixSrc = binary.LittleEndian.Uint64(b[1:])
		st.UnixDst = binary.LittleEndian.Uint64(b[9:])
		st.Path = bytesToString(b[17:])
	}
	return st, true
}

// FDListEntry is one entry of an FDLIST param (poll and friends).
type FDListEntry struct {
	FD    int64
	Flags uint16
}

// FDList decodes param i as an FDLIST and appends its entries to dst; ok is false when absent
// or malformed.
func (ev *Event) FDList(i int, dst []FDListEntry) ([]FDListEntry, bool) {
	b := ev.Bytes(i)
	if len(b) < 2 {
		return dst, false
	}
	n := int(binary.LittleEndian.Uint16(b))
	if len(b) < 2+n*10 {
		return dst, false
	}
	for j := 0; j < n; j++ {
		o := 2 + j*10
		dst = append(dst, FDListEntry{FD: int64(binary.LittleEndian.Uint64(b[o:])), Flags: binary.LittleEndian.Uint16(b[o+8:])})
	}
	return dst, true
}

// Addr decodes param i as an IP address (IPV4ADDR, IPV6ADDR, or IPADDR by length).
func (ev *Event) Addr(i int) (netip.Addr, bool) {
	b := ev.Bytes(i)
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b)), true
	case 16:
		return netip.AddrFrom16([16]byte(b)), true
	}
	return netip.Addr{}, false
}
