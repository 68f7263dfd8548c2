package sysfields

import (
	"encoding/binary"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/state"
)

// fdlistParam encodes an FDLIST param: u16 count, then per fd an int64 and u16 flags.
func fdlistParam(fds ...int64) []byte {
	b := binary.LittleEndian.AppendUint16(nil, uint16(len(fds)))
	for _, fd := range fds {
		b = binary.LittleEndian.AppendUint64(b, uint64(fd))
		b = binary.LittleEndian.AppendUint16(b, 1)
	}
	return b
}

// value extracts ref from ctx: its rendering, or "<none>".
func value(t *testing.T, src fields.Source, ref string, ctx *state.Context) string {
	t.Helper()
	info, ex := bind(t, src, ref)
	v, ok := ex(ctx)
	if !ok {
		return "<none>"
	}
	return Render(info, v)
}

// netEngine is testEngine plus curl's fd 5 (an IPv6 listening socket) and fd 6 (a connected
// IPv6 socket), and the host's interfaces when local is set.
func netEngine(local bool) *state.Engine {
	st := testEngine()
	st.AddFD(event.FDInfo{TID: curlPID, FD: 5, Type: event.FDIPv6Server, L4Proto: state.L4TCP,
		SrcIP: netip.MustParseAddr("2001:db8::1"), SrcPort: 8080})
	st.AddFD(event.FDInfo{TID: curlPID, FD: 6, Type: event.FDIPv6Sock, L4Proto: state.L4UDP,
		SrcIP: netip.MustParseAddr("2001:db8::2"), SrcPort: 5353, DstIP: netip.MustParseAddr("2001:4860::8888"), DstPort: 53})
	if local {
		st.SetInterfaces([]event.Interface{{Name: "eth0", Addr: netip.MustParseAddr("10.0.0.2")},
			{Name: "eth0", Addr: netip.MustParseAddr("2001:db8::9")}})
	}
	return st
}

func TestFDListFields(t *testing.T) {
	st := netEngine(false)
	src := NewSource(st)
	poll := st.Process(decode(t, encode(t, "poll", 'X', curlPID, tsBase, map[string]any{"res": 1, "fds": fdlistParam(3, 4, 9, 5, 6), "timeout": 5}), 1))
	for _, c := range []struct{ field, want string }{
		{"fdlist.nums", "3,4,9,5,6"},
		{"fdlist.names", "/etc/ssl/certs/ca.pem,10.0.0.2:40000->93.184.216.34:80,<NA>,2001:db8::1:8080,2001:db8::2:5353->2001:4860::8888:53"},
		// files, unknown fds and listening sockets have no client address: skipped
		{"fdlist.cips", "10.0.0.2,2001:db8::2"},
		// libsinsp prints an IPv6 listening address from its first 4 bytes, as IPv4
		{"fdlist.sips", "93.184.216.34,32.1.13.184,2001:4860::8888"},
		{"fdlist.cports", "40000,5353"},
		{"fdlist.sports", "80,53"},
	} {
		if got := value(t, src, c.field, poll); got != c.want {
			t.Errorf("%s = %q, want %q", c.field, got, c.want)
		}
	}
	// the enter event carries the list as its first param; ppoll too
	enter := st.Process(decode(t, encode(t, "ppoll", 'E', curlPID, tsBase, map[string]any{"fds": fdlistParam(4), "timeout": 5, "sigmask": 0}), 2))
	if got := value(t, src, "fdlist.sports", enter); got != "80" {
		t.Errorf("ppoll enter: fdlist.sports = %q", got)
	}
	// nothing left, an empty list, another event: no value
	for _, c := range []struct {
		name   string
		dir    byte
		params map[string]any
		field  string
		want   string
	}{
		{"poll", 'X', map[string]any{"res": 1, "fds": fdlistParam(3), "timeout": 5}, "fdlist.cips", "<none>"},
		{"poll", 'X', map[string]any{"res": 1, "fds": fdlistParam(3), "timeout": 5}, "fdlist.sports", "<none>"},
		{"poll", 'X', map[string]any{"res": 1, "fds": fdlistParam(3), "timeout": 5}, "fdlist.names", "/etc/ssl/certs/ca.pem"},
		{"poll", 'X', map[string]any{"res": 0, "fds": fdlistParam(), "timeout": 5}, "fdlist.nums", "<none>"},
		{"read", 'X', map[string]any{"res": 1, "data": []byte("x"), "fd": 3, "size": 1}, "fdlist.nums", "<none>"},
	} {
		ctx := st.Process(decode(t, encode(t, c.name, c.dir, curlPID, tsBase, c.params), 3))
		if got := value(t, src, c.field, ctx); got != c.want {
			t.Errorf("%s %v: %s = %q, want %q", c.name, c.params["fds"], c.field, got, c.want)
		}
	}
}

func TestProtoFields(t *testing.T) {
	for _, local := range []bool{false, true} {
		st := netEngine(local)
		src := NewSource(st)
		at := func(fd int) *state.Context {
			return st.Process(decode(t, encode(t, "sendto", 'X', curlPID, tsBase, map[string]any{"res": 1, "data": []byte("x"), "fd": fd, "size": 1}), 1))
		}
		// the local end is the client's when the client address is one of the host's
		l4, r4, l6, r6 := "80", "40000", "53", "5353"
		if local {
			l4, r4, l6, r6 = r4, l4, r6, l6
		}
		for _, c := range []struct {
			fd                 int
			cp, sp, lp, rp, ip string
		}{
			{4, "40000", "80", l4, r4, "40000"},
			{6, "5353", "53", l6, r6, "5353"},
			{5, "", "", "<none>", "<none>", "8080"}, // listening: a role, no client
			{3, "<none>", "<none>", "<none>", "<none>", "<none>"},
		} {
			ctx := at(c.fd)
			got := []string{value(t, src, "fd.cproto", ctx), value(t, src, "fd.sproto", ctx), value(t, src, "fd.lproto", ctx),
				value(t, src, "fd.rproto", ctx), value(t, src, "fd.proto", ctx)}
			want := []string{c.cp, c.sp, c.lp, c.rp, c.ip}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("local=%v fd %d: c/s/l/r proto, proto = %q, want %q", local, c.fd, got, want)
			}
		}
	}
	// fd.proto matches either port, as fd.port does
	st := netEngine(false)
	src := NewSource(st)
	ctx := st.Process(decode(t, encode(t, "sendto", 'X', curlPID, tsBase, map[string]any{"res": 1, "data": []byte("x"), "fd": 4, "size": 1}), 1))
	_, ex := bind(t, src, "fd.proto")
	v, ok := ex(ctx)
	var ports []uint64
	for _, e := range v.List() {
		ports = append(ports, e.N)
	}
	if !ok || len(ports) != 2 || ports[0] != 40000 || ports[1] != 80 {
		t.Errorf("fd.proto candidates %v, %v; want [40000 80]", ports, ok)
	}
}

func TestLoginShellID(t *testing.T) {
	st := state.New(state.Options{})
	st.AddThread(event.ThreadInfo{TID: 1, PID: 1, Comm: "systemd"})
	st.AddThread(event.ThreadInfo{TID: 50, PID: 50, PTID: 1, Comm: "zsh"})
	st.AddThread(event.ThreadInfo{TID: 60, PID: 60, PTID: 50, Comm: "sshd"})
	st.AddThread(event.ThreadInfo{TID: 100, PID: 100, PTID: 60, Comm: "bash"})
	st.AddThread(event.ThreadInfo{TID: 200, PID: 200, PTID: 100, Comm: "curl"})
	st.AddThread(event.ThreadInfo{TID: 201, PID: 200, PTID: 100, Comm: "curl", Flags: 0x2000})
	st.AddThread(event.ThreadInfo{TID: 300, PID: 300, PTID: 1, Comm: "cron"})
	st.AddThread(event.ThreadInfo{TID: 400, PID: 400, PTID: 1, Comm: "sh"})
	src := NewSource(st)
	for _, c := range []struct {
		tid  int64
		want string
	}{
		{200, "50"},     // the oldest shell among the ancestors, not the nearest
		{201, "50"},     // a thread: its process's
		{100, "50"},     // the process itself counts
		{400, "400"},    // a shell alone
		{300, "<none>"}, // no shell
	} {
		ctx := st.Process(decode(t, encode(t, "close", 'E', c.tid, tsBase, map[string]any{"fd": 3}), 1))
		if got := value(t, src, "proc.loginshellid", ctx); got != c.want {
			t.Errorf("tid %d: proc.loginshellid = %s, want %s", c.tid, got, c.want)
		}
	}
	// thread counts through the source
	ctx := st.Process(decode(t, encode(t, "close", 'E', 201, tsBase, map[string]any{"fd": 3}), 2))
	if n, c := value(t, src, "proc.nthreads", ctx), value(t, src, "proc.nchilds", ctx); n != "2" || c != "0" {
		t.Errorf("thread 201: nthreads %s nchilds %s, want 2, 0", n, c)
	}
	ctx = st.Process(decode(t, encode(t, "close", 'E', 200, tsBase, map[string]any{"fd": 3}), 3))
	if n, c := value(t, src, "proc.nthreads", ctx), value(t, src, "proc.nchilds", ctx); n != "2" || c != "1" {
		t.Errorf("main thread 200: nthreads %s nchilds %s, want 2, 1", n, c)
	}
}

// TestCounterAndSchedFields: util.cnt counts per extractor; thread.exectime is the time since
// the extractor's previous switch event on the same CPU; thread.totexectime sums it per thread.
func TestCounterAndSchedFields(t *testing.T) {
	st := testEngine()
	src := NewSource(st)
	_, cnt1 := bind(t, src, "util.cnt")
	_, cnt2 := bind(t, src, "util.cnt")
	_, exec := bind(t, src, "thread.exectime")
	_, tot := bind(t, src, "thread.totexectime")
	sw := func(tid int64, cpu uint16, ts uint64) *state.Context {
		ev := decode(t, encode(t, "switch", 'E', tid, ts, map[string]any{"next": 0, "pgft_maj": 0, "pgft_min": 0, "vm_size": 0, "vm_rss": 0, "vm_swap": 0}), 1)
		ev.CPU = cpu
		return st.Process(ev)
	}
	get := func(ex fields.Extractor, ctx *state.Context) string {
		v, ok := ex(ctx)
		if !ok {
			return "<none>"
		}
		return Render(fields.Info{Type: fields.Uint64}, v)
	}
	closeE := func(tid int64, ts uint64) *state.Context {
		return st.Process(decode(t, encode(t, "close", 'E', tid, ts, map[string]any{"fd": 3}), 2))
	}
	for i, s := range []struct {
		ctx       func() *state.Context
		exec, tot string
	}{
		{func() *state.Context { return sw(curlPID, 0, 1000) }, "0", "0"},       // first switch on CPU 0
		{func() *state.Context { return sw(bashPID, 1, 1500) }, "0", "0"},       // first on CPU 1
		{func() *state.Context { return sw(curlPID, 0, 1700) }, "700", "700"},   // CPU 0: 1700-1000
		{func() *state.Context { return sw(bashPID, 0, 2000) }, "300", "300"},   // CPU 0 again, another thread
		{func() *state.Context { return sw(curlPID, 1, 2500) }, "1000", "1700"}, // CPU 1: 2500-1500, curl's sum
		{func() *state.Context { return sw(999, 0, 2600) }, "600", "<none>"},    // unknown thread: no sum
		{func() *state.Context { return closeE(curlPID, 2700) }, "0", "1700"},   // not a switch
		{func() *state.Context { return sw(curlPID, 0, 3000) }, "400", "2100"},  // CPU 0: 3000-2600
	} {
		ctx := s.ctx()
		if e, tt := get(exec, ctx), get(tot, ctx); e != s.exec || tt != s.tot {
			t.Errorf("step %d: exectime %s totexectime %s, want %s, %s", i, e, tt, s.exec, s.tot)
		}
	}
	ctx := closeE(curlPID, 4000)
	for i := 1; i <= 3; i++ {
		if got := get(cnt1, ctx); got != string(rune('0'+i)) {
			t.Errorf("util.cnt read %d: %s", i, got)
		}
	}
	if got := get(cnt2, ctx); got != "1" {
		t.Errorf("second util.cnt extractor starts at %s, want 1 (its own counter)", got)
	}
}

// TestLatencyFields: latency is per thread, from its last enter to the exit; a switch between
// them changes nothing and shows the thread's current latency; evt.wait_latency only on exits
// of waiting events; evt.latency.quantized as sysdig computes it.
func TestLatencyFields(t *testing.T) {
	st := testEngine()
	src := NewSourceWith(st, Options{Sysdig029: true})
	num := uint64(0)
	step := func(name string, dir byte, tid int64, ts uint64, ps map[string]any) *state.Context {
		num++
		ctx := st.Process(decode(t, encode(t, name, dir, tid, ts, ps), num))
		src.Track(ctx)
		return ctx
	}
	sw := map[string]any{"next": 0, "pgft_maj": 0, "pgft_min": 0, "vm_size": 0, "vm_rss": 0, "vm_swap": 0}
	for _, c := range []struct {
		name                    string
		dir                     byte
		tid                     int64
		ts                      uint64
		ps                      map[string]any
		lat, wait, quant, human string
	}{
		{"nanosleep", 'E', curlPID, 100, map[string]any{"interval": 1}, "0", "<none>", "<none>", "0ns"},
		{"read", 'E', bashPID, 150, map[string]any{"fd": 0, "size": 1}, "0", "<none>", "<none>", "0ns"},
		{"switch", 'E', curlPID, 200, sw, "0", "<none>", "<none>", "0ns"},
		// the switch in between does not restart it
		{"nanosleep", 'X', curlPID, 350, map[string]any{"res": 0, "interval": 1}, "250", "250", "1", "250ns"},
		// a switch shows the thread's current latency
		{"switch", 'E', curlPID, 400, sw, "250", "<none>", "1", "250ns"},
		{"read", 'X', bashPID, 1150, map[string]any{"res": 1, "data": []byte("x"), "fd": 0, "size": 1}, "1000", "<none>", "1", "1.00us"},
		// no new enter: libsinsp measures from the last one again
		{"read", 'X', bashPID, 1250, map[string]any{"res": 1, "data": []byte("x"), "fd": 0, "size": 1}, "1100", "<none>", "1", "1.10us"},
		{"nanosleep", 'E', curlPID, 2000, map[string]any{"interval": 1}, "0", "<none>", "<none>", "0ns"},
		// log10 of the latency ≥ 11: sysdig's conversion wraps to 0
		{"nanosleep", 'X', curlPID, 2000 + 200_000_000_000, map[string]any{"res": 0, "interval": 1}, "200000000000", "200000000000", "0", "200s"},
	} {
		ctx := step(c.name, c.dir, c.tid, tsBase+c.ts, c.ps)
		got := []string{value(t, src, "evt.latency", ctx), value(t, src, "evt.wait_latency", ctx),
			value(t, src, "evt.latency.quantized", ctx), value(t, src, "evt.latency.human", ctx)}
		want := []string{c.lat, c.wait, c.quant, c.human}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("event %d (%s %c): latency, wait, quantized, human = %q, want %q", ctx.Ev.Num, c.name, c.dir, got, want)
		}
	}
}

// TestFormatterExtractsEveryField: an event not printed (a field without a value) still advances
// the fields with a state of their own, as sysdig's formatter does.
func TestFormatterExtractsEveryField(t *testing.T) {
	st := testEngine()
	src := NewSource(st)
	f, err := NewFormatter("%util.cnt %fd.sip %util.cnt", src)
	if err != nil {
		t.Fatal(err)
	}
	read := func(fd int) *state.Context {
		return st.Process(decode(t, encode(t, "read", 'X', curlPID, tsBase, map[string]any{"res": 1, "data": []byte("x"), "fd": fd, "size": 1}), 1))
	}
	if s, ok := f.Format(read(3)); ok {
		t.Fatalf("printed %q without fd.sip", s)
	}
	if s, ok := f.Format(read(4)); !ok || s != "2 93.184.216.34 2" {
		t.Errorf("Format = %q, %v; want \"2 93.184.216.34 2\"", s, ok)
	}
	if _, ok := f.JSON(read(3)); ok {
		t.Fatal("JSON printed without fd.sip")
	}
	if js, _ := f.JSON(read(4)); string(js) != `{"fd.sip":"93.184.216.34","util.cnt":4,"util.cnt":4}` {
		t.Errorf("JSON = %s", js)
	}
}

// unsupported are the catalogue fields without an extractor: each never yields a value. The set
// is exact, so a field that gains an extractor must leave it and one that loses its extractor
// fails here.
var unsupported = strings.Fields(`
	evt.around
	evt.infra.docker.name evt.infra.docker.container.id evt.infra.docker.container.name
	evt.infra.docker.container.image
	fd.cip.name fd.sip.name fd.lip.name fd.rip.name
	evt.pluginname evt.plugininfo evt.asynctype
	thread.cpu thread.cpu.user thread.cpu.system
`)

// nowSupported are the fields this source gained extractors for with sysdig 0.29's semantics
// (checked against sysdig in cmd/saker's differential tests); they must stay supported.
var nowSupported = strings.Fields(`fd.proto fd.cproto fd.sproto fd.lproto fd.rproto fdlist.nums fdlist.names
	fdlist.cips fdlist.sips fdlist.cports fdlist.sports proc.loginshellid proc.nthreads proc.nchilds
	evt.wait_latency thread.exectime thread.totexectime util.cnt evt.latency.quantized
	container.healthcheck container.liveness_probe container.readiness_probe
	k8s.rc.name k8s.rc.id k8s.rc.label k8s.rc.labels k8s.svc.name k8s.svc.id k8s.svc.label k8s.svc.labels
	k8s.ns.id k8s.ns.label k8s.ns.labels k8s.rs.name k8s.rs.id k8s.rs.label k8s.rs.labels
	k8s.deployment.name k8s.deployment.id k8s.deployment.label k8s.deployment.labels
	k8s.daemonset.name k8s.statefulset.id k8s.job.labels k8s.cronjob.label k8s.node.name k8s.node.labels`)

func TestSupportedFields(t *testing.T) {
	var got []string
	total := 0
	for _, f := range Catalog().Fields() {
		total++
		if !Supported(f.Name) {
			got = append(got, f.Name)
		}
	}
	want := append([]string(nil), unsupported...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("fields without an extractor:\n got  %v\n want %v", got, want)
	}
	for _, f := range nowSupported {
		if !Supported(f) {
			t.Errorf("%s lost its extractor", f)
		}
	}
	t.Logf("%d of %d catalogue fields have an extractor", total-len(got), total)
}

// fd.directory of opens whose names were clean absolute paths (the state marks the fd, the
// directory is the text before the last slash), were not, or were relative.
func TestDirectoryOfOpens(t *testing.T) {
	st := testEngine()
	src := NewSource(st)
	for i, c := range []struct {
		dirfd     int
		name, dir string
	}{
		{-100, "/usr/lib/libc.so.6", "/usr/lib"}, {-100, "/usr/lib/libc.so.6", "/usr/lib"}, {-100, "/x", "/"},
		{-100, "/usr//lib/./libm.so.6", "/usr/lib"}, {-100, "/usr/lib/x/../libz.so", "/usr/lib"},
		{-100, "lib/../rel.txt", "/home/alice"}, {-100, "/tmp/d/", "/tmp"}, {-100, "/usr/lib/libc.so.6", "/usr/lib"},
		// a directory fd the state does not know: the name is not resolved, nor cleaned
		{77, "../x/./y", "<UNKNOWN>../x"}, {77, "../x/./y", "<UNKNOWN>../x"},
	} {
		ctx := st.Process(decode(t, encode(t, "openat", 'X', curlPID, tsBase+uint64(i), map[string]any{
			"fd": 10 + i, "dirfd": c.dirfd, "name": c.name, "flags": 1, "mode": 0}), uint64(i+1)))
		if got := value(t, src, "fd.directory", ctx); got != c.dir {
			t.Errorf("open of %q: fd.directory %q, want %q", c.name, got, c.dir)
		}
	}
}
