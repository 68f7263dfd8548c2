package sysfields

import (
	"math"
	"net/netip"
	"strconv"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// This file holds the fields whose value depends on more than the event and the state at it:
// per-extractor counters and clocks (util.cnt, thread.exectime, thread.totexectime, as
// libsinsp keeps them per filter check instance), the latency-derived fields, the service
// ("proto") fields of sockets and the fdlist.* fields of poll events.

// utilField is util.cnt: a counter of its own extractor, incremented each time it is read
// (libsinsp's sinsp_filter_check_utils: two uses of the field count separately, and a filter
// counts the events it is evaluated on).
func (s *Source) utilField(name string) func(c *state.Context) (fields.Value, bool) {
	if name != "util.cnt" {
		return nil
	}
	var n uint64
	return func(c *state.Context) (fields.Value, bool) {
		n++
		return num(n)
	}
}

// latencyOf is the thread's latency for the current event (libsinsp m_latency: exit ts minus
// its enter's ts, 0 without one), false when the stream is not tracked.
func (s *Source) latencyOf(c *state.Context) (uint64, bool) {
	if !s.tracked || s.latencyN != c.Ev.Num {
		return 0, false
	}
	return s.latency, true
}

// waitLatency is evt.wait_latency: the latency of the exit of an event that waits (EF_WAITS),
// 0 when the thread is unknown.
func (s *Source) waitLatency(c *state.Context) (fields.Value, bool) {
	ev := c.Ev
	if ev.Info == nil || ev.Info.Dir != 'X' || ev.Info.Flags&event.EFWaits == 0 {
		return fields.Value{}, false
	}
	lat, ok := s.latencyOf(c)
	if !ok {
		return fields.Value{}, false
	}
	if c.Thread == nil {
		lat = 0
	}
	return num(lat)
}

// csysdigScreenW is libsinsp's g_csysdig_screen_w outside csysdig: evt.latency.quantized
// scales log10(latency) by it.
const csysdigScreenW = -1

// latencyQuantized is evt.latency.quantized as sysdig 0.29 computes it:
// uint64(min(log10(latency), 11) * g_csysdig_screen_w / 11) + 1, no value for a zero
// latency, an unknown thread or an internal event. With the screen width of -1 that is 1
// below 100 s of latency and 0 (the C conversion of -1.0 wraps) from there.
func (s *Source) latencyQuantized(c *state.Context) (fields.Value, bool) {
	if c.Thread == nil || c.Ev.Info == nil || eventCategory[c.Ev.Info.Name] == ecInternal {
		return fields.Value{}, false
	}
	lat, ok := s.latencyOf(c)
	if !ok || lat == 0 {
		return fields.Value{}, false
	}
	l := math.Log10(float64(lat))
	if l > 11 {
		l = 11
	}
	q := l * csysdigScreenW / 11
	// C's double → uint64 conversion as x86-64 compilers emit it: truncation toward zero
	// through int64 for values below 2^63
	return num(uint64(int64(q)) + 1)
}

// loginShellID is proc.loginshellid: the pid of the oldest process among the process itself
// and its ancestors whose name ends in "sh".
func (s *Source) loginShellID(c *state.Context) (fields.Value, bool) {
	t := mainOf(c)
	if t == nil {
		return fields.Value{}, false
	}
	found := false
	var pid int64
	for i := 0; t != nil && i <= maxAncestors; i++ {
		if n := len(t.Comm); n >= 2 && t.Comm[n-2] == 's' && t.Comm[n-1] == 'h' {
			pid, found = t.PID, true
		}
		t = s.parent(t)
	}
	if !found {
		return fields.Value{}, false
	}
	return inum(pid)
}

// switchCodes flags the scheduler switch event codes (thread.exectime is taken on them).
var switchCodes = func() (m [event.NumEvents]bool) {
	for _, c := range event.ByName("switch") {
		m[c] = true
	}
	return m
}()

// execTime binds thread.exectime (tot false) and thread.totexectime (tot true) as libsinsp
// computes them, per extractor: on a switch event, the time since the previous switch event
// this extractor saw on the same CPU (0 for the first), else 0; totexectime adds it to a
// per-thread sum (libsinsp's thread private state) and has no value without a thread.
func (s *Source) execTime(tot bool) func(c *state.Context) (fields.Value, bool) {
	var last []uint64 // per CPU
	slot := -1
	if tot && s.st != nil {
		slot = s.st.ReserveSlot()
	}
	return func(c *state.Context) (fields.Value, bool) {
		ev := c.Ev
		var d uint64
		if int(ev.Type) < len(switchCodes) && switchCodes[ev.Type] {
			cpu := int(ev.CPU)
			if cpu >= len(last) {
				n := make([]uint64, cpu+1, max(cpu+1, 8))
				copy(n, last)
				last = n
			}
			if l := last[cpu]; l != 0 {
				d = ev.TS - l
			}
			last[cpu] = ev.TS
		}
		if !tot {
			return num(d)
		}
		if c.Thread == nil || slot < 0 {
			return fields.Value{}, false
		}
		p := c.Thread.Slot(slot)
		*p += d
		return num(*p)
	}
}

// protoOf binds fd.cproto, fd.sproto, fd.lproto and fd.rproto: libsinsp's port_to_string of
// the client, server, local or remote port. sysdig (like Falco) does not resolve port numbers
// to service names, so these are the ports as decimal strings. Following libsinsp: no value for
// a socket without a role; an empty string for the client/server protocol of other fds with a
// role (a listening socket, a connected unix socket); local and remote only for connected
// IPv4/IPv6 sockets, the local end being the client's when its address is one of this host's.
func (s *Source) protoOf(name string) func(c *state.Context, f *state.FD) (fields.Value, bool) {
	return func(c *state.Context, f *state.FD) (fields.Value, bool) {
		conn := f.Type == event.FDIPv4Sock || f.Type == event.FDIPv6Sock
		role := f.Client || f.Server
		switch name {
		case "fd.cproto":
			if !role {
				return fields.Value{}, false
			}
			if !conn {
				return str("")
			}
			return str(portString(f.SrcPort))
		case "fd.sproto":
			switch {
			case conn:
				if !role {
					return fields.Value{}, false
				}
				return str(portString(f.DstPort))
			case isServerSock(f.Type):
				return str("")
			}
			return fields.Value{}, false
		}
		if !conn || !role {
			return fields.Value{}, false
		}
		local := s.isLocal(c, f, f.SrcIP)
		if local == (name == "fd.lproto") {
			return str(portString(f.SrcPort))
		}
		return str(portString(f.DstPort))
	}
}

// portString renders a port as libsinsp's to_string does.
func portString(p uint16) string {
	if p < 10 {
		return smallPorts[p]
	}
	return strconv.FormatUint(uint64(p), 10)
}

var smallPorts = [10]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// isLocal is libsinsp's is_ipv4addr_in_local_machine / is_ipv6addr_in_local_machine for fd f
// of the event's thread: an IPv4 address equal to the address of the thread's container (its
// runtime's metadata) or of one of the interfaces, an IPv6 address in the /64 of an interface
// (never for a thread in a container, whose IPv6 addresses libsinsp does not know).
func (s *Source) isLocal(c *state.Context, f *state.FD, a netip.Addr) bool {
	if s.st == nil {
		return false
	}
	if f.Type == event.FDIPv6Sock {
		if containerID(c) != "host" {
			return false
		}
		b := a.As16()
		for _, ifc := range s.st.Interfaces() {
			if !ifc.Addr.Is6() {
				continue
			}
			ib := ifc.Addr.As16()
			if [8]byte(ib[:8]) == [8]byte(b[:8]) {
				return true
			}
		}
		return false
	}
	a = a.Unmap()
	if in, ok := containerInfo(c); ok && in.IP.IsValid() && in.IP.Unmap() == a {
		return true
	}
	for _, ifc := range s.st.Interfaces() {
		if ifc.Addr.Is4() && ifc.Addr == a {
			return true
		}
	}
	return false
}

// fdlistField binds the fdlist.* fields of poll and ppoll events: for each entry of the fds
// param, in order, the fd's number, name ("<NA>" when the fd is unknown or unnamed), client or
// server address, or client or server port, comma-separated (libsinsp's
// sinsp_filter_check_fdlist). Entries without an address or port are skipped; no value when
// nothing is left. As libsinsp does, the server address of an IPv6 listening socket is printed
// from its first four bytes as an IPv4 address.
func (s *Source) fdlistField(name string) func(c *state.Context) (fields.Value, bool) {
	which := -1
	for i, n := range []string{"fdlist.nums", "fdlist.names", "fdlist.cips", "fdlist.sips", "fdlist.cports", "fdlist.sports"} {
		if n == name {
			which = i
		}
	}
	if which < 0 {
		return nil
	}
	var (
		list []event.FDListEntry
		buf  []byte
	)
	return func(c *state.Context) (fields.Value, bool) {
		ev := s.view(c)
		if ev.Info == nil || c.Thread == nil || (ev.Info.Name != "poll" && ev.Info.Name != "ppoll") {
			return fields.Value{}, false
		}
		i := ev.Index("fds")
		if !ev.Has(i) {
			return fields.Value{}, false
		}
		var ok bool
		list, ok = ev.FDList(i, list[:0])
		if !ok {
			return fields.Value{}, false
		}
		buf = buf[:0]
		for _, e := range list {
			f := s.r.fdOf(c, e.FD)
			n := len(buf)
			switch which {
			case 0:
				buf = strconv.AppendInt(buf, e.FD, 10)
			case 1:
				if f != nil && f.Name != "" {
					buf = append(buf, f.Name...)
				} else {
					buf = append(buf, naString...)
				}
			case 2, 3:
				if f != nil {
					buf = appendListIP(buf, f, which == 3)
				}
			case 4, 5:
				if f != nil && (f.Type == event.FDIPv4Sock || f.Type == event.FDIPv6Sock) {
					p := f.SrcPort
					if which == 5 {
						p = f.DstPort
					}
					buf = strconv.AppendUint(buf, uint64(p), 10)
				}
			}
			if len(buf) > n || which < 2 {
				buf = append(buf, ',')
			}
		}
		if len(buf) == 0 {
			return fields.Value{}, false
		}
		if buf[len(buf)-1] == ',' {
			buf = buf[:len(buf)-1]
		}
		return str(string(buf))
	}
}

// appendListIP appends the client (server false) or server address of f as fdlist.cips and
// fdlist.sips print it, nothing for fds without one.
func appendListIP(buf []byte, f *state.FD, server bool) []byte {
	switch f.Type {
	case event.FDIPv4Sock:
		a := f.SrcIP
		if server {
			a = f.DstIP
		}
		return append(buf, ip4String(a)...)
	case event.FDIPv6Sock:
		a := f.SrcIP
		if server {
			a = f.DstIP
		}
		return append(buf, ip6String(a)...)
	case event.FDIPv4Server:
		if server {
			return append(buf, ip4String(f.SrcIP)...)
		}
	case event.FDIPv6Server:
		if server {
			b := f.SrcIP.As16()
			if !f.SrcIP.IsValid() {
				b = [16]byte{}
			}
			return append(buf, netip.AddrFrom4([4]byte(b[:4])).String()...)
		}
	}
	return buf
}

func ip4String(a netip.Addr) string {
	if !a.IsValid() {
		return "0.0.0.0"
	}
	return a.Unmap().String()
}

func ip6String(a netip.Addr) string {
	if !a.IsValid() {
		return "::"
	}
	if a.Is4() {
		a = netip.AddrFrom16(a.As16())
	}
	return a.String()
}
