package rulestest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/event"
)

// encodeRecord builds a scap event record (26-byte header with nparams, u16 or u32 param
// lengths, values) of the current version of name/dir from params given by name. Params not
// given get their type's zero value (so every param of the layout is present, as the probe
// writes them). ext are extension params, appended after the table's (see event.Ext).
func encodeRecord(name string, dir byte, ts uint64, tid int64, params map[string]any, ext ...[]byte) ([]byte, error) {
	code := event.Current(name, dir)
	if code == 0xFFFF {
		return nil, fmt.Errorf("unknown event type %q", name)
	}
	info := &event.Table[code]
	used := 0
	vals := make([][]byte, len(info.Params))
	for i, p := range info.Params {
		v, ok := params[p.Name]
		if ok {
			used++
		}
		b, err := encodeParam(p, v, ok)
		if err != nil {
			return nil, fmt.Errorf("%s param %s: %v", name, p.Name, err)
		}
		vals[i] = b
	}
	if len(vals)+len(ext) > event.MaxParams {
		return nil, fmt.Errorf("%s: too many params with the extension params", name)
	}
	if used != len(params) {
		var unknown []string
		for k := range params {
			if info.ParamIndex(k) < 0 {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		var known []string
		for _, p := range info.Params {
			known = append(known, p.Name)
		}
		return nil, fmt.Errorf("%s: unknown param(s) %s (the event has: %s)", name, strings.Join(unknown, ", "), strings.Join(known, ", "))
	}
	vals = append(vals, ext...)
	lsize := 2
	if info.Flags&event.EFLargePayload != 0 {
		lsize = 4
	}
	n := event.HeaderLen + lsize*len(vals)
	for _, v := range vals {
		n += len(v)
	}
	b := make([]byte, 0, n)
	b = binary.LittleEndian.AppendUint64(b, ts)
	b = binary.LittleEndian.AppendUint64(b, uint64(tid))
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint16(b, code)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(vals)))
	for _, v := range vals {
		if lsize == 4 {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
		} else {
			if len(v) > 0xFFFF {
				return nil, fmt.Errorf("%s: param too long (%d bytes)", name, len(v))
			}
			b = binary.LittleEndian.AppendUint16(b, uint16(len(v)))
		}
	}
	for _, v := range vals {
		b = append(b, v...)
	}
	return b, nil
}

func encodeParam(p event.ParamInfo, v any, given bool) ([]byte, error) {
	switch p.Type {
	case event.PTCharbuf, event.PTFspath, event.PTFsrelpath:
		if !given {
			return []byte{0}, nil
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		return append([]byte(s), 0), nil
	case event.PTBytebuf, event.PTCharbufarray, event.PTCharbufPairArray:
		if !given {
			return nil, nil
		}
		switch x := v.(type) {
		case []byte:
			return x, nil
		case []string:
			return joinNUL(x), nil
		case []any:
			var ss []string
			for _, e := range x {
				ss = append(ss, fmt.Sprint(e))
			}
			return joinNUL(ss), nil
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		return []byte(s), nil
	case event.PTSockaddr:
		if !given {
			return []byte{event.AFUnspec}, nil
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		return sockaddr(s)
	case event.PTSocktuple:
		if !given {
			return nil, nil
		}
		s, err := asString(v)
		if err != nil {
			return nil, err
		}
		return socktuple(s)
	case event.PTDyn:
		// a DYN value: one index byte, then the value (index 0: a u64 here)
		n, err := asInt(v, given, p)
		if err != nil {
			return nil, err
		}
		return binary.LittleEndian.AppendUint64([]byte{0}, uint64(n)), nil
	case event.PTFdlist:
		return binary.LittleEndian.AppendUint16(nil, 0), nil
	case event.PTIpv4addr:
		if !given {
			return make([]byte, 4), nil
		}
		s, _ := asString(v)
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			return nil, fmt.Errorf("%q is not an IPv4 address", s)
		}
		b := a.As4()
		return b[:], nil
	case event.PTIpv6addr:
		if !given {
			return make([]byte, 16), nil
		}
		s, _ := asString(v)
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an IP address", s)
		}
		b := a.As16()
		return b[:], nil
	}
	n, err := asInt(v, given, p)
	if err != nil {
		return nil, err
	}
	switch p.Type {
	case event.PTUint8, event.PTFlags8, event.PTEnumflags8, event.PTSigtype:
		return []byte{byte(n)}, nil
	case event.PTInt16, event.PTUint16, event.PTFlags16, event.PTEnumflags16, event.PTPort, event.PTSyscallid:
		return binary.LittleEndian.AppendUint16(nil, uint16(n)), nil
	case event.PTInt32, event.PTUint32, event.PTFlags32, event.PTEnumflags32, event.PTMode, event.PTUid,
		event.PTGid, event.PTFd32, event.PTPid32, event.PTSigset:
		return binary.LittleEndian.AppendUint32(nil, uint32(n)), nil
	default:
		return binary.LittleEndian.AppendUint64(nil, uint64(n)), nil
	}
}

func joinNUL(ss []string) []byte {
	var b []byte
	for _, s := range ss {
		b = append(b, s...)
		b = append(b, 0)
	}
	return b
}

func asString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int, int64, uint64, uint32, float64, bool:
		return fmt.Sprint(x), nil
	}
	return "", fmt.Errorf("expected a string, got %T", v)
}

// asInt reads an integer param: a number, a numeric string, or (for flag and enum params)
// symbolic names joined with "|" (O_WRONLY|O_CREAT), looked up in the param's flag table.
func asInt(v any, given bool, p event.ParamInfo) (int64, error) {
	if !given || v == nil {
		return 0, nil
	}
	switch x := v.(type) {
	case int:
		return int64(x), nil
	case int64:
		return x, nil
	case uint64:
		return int64(x), nil
	case uint32:
		return int64(x), nil
	case float64:
		return int64(x), nil
	case bool:
		if x {
			return 1, nil
		}
		return 0, nil
	case string:
		return parseIntOrFlags(x, p.FlagTable)
	}
	return 0, fmt.Errorf("expected a number, got %T", v)
}

func parseIntOrFlags(s, table string) (int64, error) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 0, 64); err == nil {
		return n, nil
	}
	if n, err := strconv.ParseUint(s, 0, 64); err == nil {
		return int64(n), nil
	}
	if table == "" {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	var n int64
	for _, part := range strings.Split(s, "|") {
		part = strings.TrimSpace(part)
		found := false
		for _, f := range event.FlagTables[table] {
			if f.Name == part {
				n |= int64(f.Value)
				found = true
				break
			}
		}
		if !found {
			if x, err := strconv.ParseInt(part, 0, 64); err == nil {
				n |= x
				continue
			}
			return 0, fmt.Errorf("%q is not a name of flag table %s", part, table)
		}
	}
	return n, nil
}

// parseAddrPort parses "1.2.3.4:80", "[::1]:80" or a bare address (port 0).
func parseAddrPort(s string) (netip.AddrPort, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a, 0), nil
	}
	return netip.AddrPort{}, fmt.Errorf("%q is not ADDR:PORT", s)
}

// sockaddr encodes a SOCKADDR: "ADDR:PORT" or "unix:/path".
func sockaddr(s string) ([]byte, error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		return append(append([]byte{event.AFUnix}, p...), 0), nil
	}
	ap, err := parseAddrPort(s)
	if err != nil {
		return nil, err
	}
	if ap.Addr().Is4() {
		a := ap.Addr().As4()
		b := append([]byte{event.AFInet}, a[:]...)
		return binary.LittleEndian.AppendUint16(b, ap.Port()), nil
	}
	a := ap.Addr().As16()
	b := append([]byte{event.AFInet6}, a[:]...)
	return binary.LittleEndian.AppendUint16(b, ap.Port()), nil
}

// socktuple encodes a SOCKTUPLE: "SRC:PORT->DST:PORT" or "unix:/path".
func socktuple(s string) ([]byte, error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		b := []byte{event.AFUnix}
		b = binary.LittleEndian.AppendUint64(b, 0xffff0001)
		b = binary.LittleEndian.AppendUint64(b, 0xffff0002)
		return append(append(b, p...), 0), nil
	}
	src, dst, ok := strings.Cut(s, "->")
	if !ok {
		return nil, fmt.Errorf("%q is not SRC:PORT->DST:PORT", s)
	}
	sa, err := parseAddrPort(strings.TrimSpace(src))
	if err != nil {
		return nil, err
	}
	da, err := parseAddrPort(strings.TrimSpace(dst))
	if err != nil {
		return nil, err
	}
	if sa.Addr().Is4() && da.Addr().Is4() {
		s4, d4 := sa.Addr().As4(), da.Addr().As4()
		b := append([]byte{event.AFInet}, s4[:]...)
		b = binary.LittleEndian.AppendUint16(b, sa.Port())
		b = append(b, d4[:]...)
		return binary.LittleEndian.AppendUint16(b, da.Port()), nil
	}
	s16, d16 := sa.Addr().As16(), da.Addr().As16()
	b := append([]byte{event.AFInet6}, s16[:]...)
	b = binary.LittleEndian.AppendUint16(b, sa.Port())
	b = append(b, d16[:]...)
	return binary.LittleEndian.AppendUint16(b, da.Port()), nil
}
