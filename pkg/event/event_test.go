package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/saker-sec/saker/internal/testshared"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sharedDir(t testing.TB) string {
	t.Helper()
	return filepath.Join(testshared.Dir(t), "scap")
}

// TestGeneratedTableUpToDate regenerates the table from shared/scap and compares.
func TestGeneratedTableUpToDate(t *testing.T) {
	in := sharedDir(t)
	out := filepath.Join(t.TempDir(), "table_gen.go")
	cmd := exec.Command("go", "run", "./gen", "-in", in, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, b)
	}
	want, _ := os.ReadFile(out)
	have, _ := os.ReadFile("table_gen.go")
	if !bytes.Equal(want, have) {
		t.Fatal("table_gen.go is stale: run go generate ./pkg/event")
	}
}

// TestTableMatchesTSV checks every row against event-table.tsv, parsed independently here.
func TestTableMatchesTSV(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(sharedDir(t), "event-table.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(b), "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		cols := strings.Split(line, "\t")
		info := &Table[rows]
		if info.Name != cols[2] || string(info.Dir) != cols[1] {
			t.Fatalf("row %d: %s %c, tsv %s %s", rows, info.Name, info.Dir, cols[2], cols[1])
		}
		var ps []string
		for _, p := range info.Params {
			s := p.Name + ":" + p.Type.String()
			if p.FlagTable != "" {
				s += ":" + p.FlagTable
			}
			ps = append(ps, s)
		}
		if strings.Join(ps, ",") != cols[5] {
			t.Fatalf("row %d params %q, tsv %q", rows, strings.Join(ps, ","), cols[5])
		}
		rows++
	}
	if rows != NumEvents {
		t.Fatalf("tsv has %d rows, table %d", rows, NumEvents)
	}
}

func TestLookups(t *testing.T) {
	// Values from event-table.tsv: openat is 102/103 (old) and 306/307 (current).
	if SyscallOpenatX != 307 || SyscallOpenatE != 306 || Current("openat", 'X') != 307 || Current("openat", 'E') != 306 {
		t.Fatalf("openat codes %d %d", SyscallOpenatE, SyscallOpenatX)
	}
	if got := ByName("openat"); len(got) != 4 || got[0] != 102 || got[3] != 307 {
		t.Fatalf("ByName(openat) = %v", got)
	}
	if SyscallExecveX != 293 || ProcExitE != 186 || SchedSwitchE != 152 || SocketConnectX != 23 {
		t.Fatalf("execve X %d procexit E %d switch E %d connect X %d", SyscallExecveX, ProcExitE, SchedSwitchE, SocketConnectX)
	}
	if CurrentOf(103) != 307 || CurrentOf(231) != 293 || CurrentOf(307) != 307 {
		t.Fatalf("CurrentOf: %d %d %d", CurrentOf(103), CurrentOf(231), CurrentOf(307))
	}
	if Current("no_such_event", 'E') != 0xFFFF || ByName("no_such_event") != nil {
		t.Fatal("unknown name found")
	}
	for c := range Table {
		cur := CurrentOf(uint16(c))
		if Table[cur].Name != Table[c].Name || Table[cur].Dir != Table[c].Dir {
			t.Fatalf("code %d maps to %d of another name/direction", c, cur)
		}
		if Table[c].Name != "NA" && !Table[c].IsOld() && cur < uint16(c) {
			t.Fatalf("current code %d of %s is older than non-old code %d", cur, Table[c].Name, c)
		}
	}
	if Table[322].Flags&EFLargePayload == 0 || Table[324].Flags&EFLargePayload == 0 || Table[402].Flags&EFLargePayload == 0 {
		t.Fatal("large payload flags missing")
	}
}

func TestFormatFlags(t *testing.T) {
	cases := []struct {
		table string
		typ   ParamType
		v     uint32
		want  string
	}{
		{"file_flags", PTFlags32, 0x1001, "O_RDONLY|O_CLOEXEC"},
		{"file_flags", PTFlags32, 3, "O_RDWR"}, // not O_WRONLY|O_RDONLY
		{"file_flags", PTFlags32, 0, "O_NONE"},
		{"file_flags", PTFlags32, 0x2 | 0x4 | 0x100, "O_TRUNC|O_CREAT|O_WRONLY"},
		{"socket_families", PTEnumflags32, 2, "AF_INET"},
		{"socket_families", PTEnumflags32, 10, "AF_INET6"}, // enum: exact value, not the bits of AF_INET
		{"socket_families", PTEnumflags32, 0x7777, ""},
		{"no_such_table", PTFlags32, 1, ""},
	}
	for _, c := range cases {
		if got := FormatFlags(c.table, c.typ, c.v); got != c.want {
			t.Errorf("FormatFlags(%s, %v, %#x) = %q, want %q", c.table, c.typ, c.v, got, c.want)
		}
	}
	if got := FormatParamFlags("file_flags", PTFlags32, 0x1001); got != "4097(O_RDONLY|O_CLOEXEC)" {
		t.Errorf("FormatParamFlags = %q", got)
	}
	// Order of the table is kept.
	if ff := FlagTables["file_flags"]; ff[0].Name != "O_LARGEFILE" || ff[len(ff)-1].Name != "FD_LOWER_LAYER" {
		t.Errorf("file_flags order: first %s last %s", ff[0].Name, ff[len(ff)-1].Name)
	}
}

// record builds an event record; lsize 2 or 4; v1 omits nparams.
func record(typ uint16, tid int64, params [][]byte, lsize int, v1 bool) []byte {
	hdr := HeaderLen
	if v1 {
		hdr = HeaderLenV1
	}
	total := hdr + lsize*len(params)
	for _, p := range params {
		total += len(p)
	}
	b := binary.LittleEndian.AppendUint64(nil, 1_700_000_000_123_456_789)
	b = binary.LittleEndian.AppendUint64(b, uint64(tid))
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = binary.LittleEndian.AppendUint16(b, typ)
	if !v1 {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(params)))
	}
	for _, p := range params {
		if lsize == 4 {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(p)))
		} else {
			b = binary.LittleEndian.AppendUint16(b, uint16(len(p)))
		}
	}
	for _, p := range params {
		b = append(b, p...)
	}
	return b
}

func u64(v int64) []byte  { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
func u32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func TestDecodeAndAccessors(t *testing.T) {
	// connect exit (23): res, tuple, fd, addr.
	tuple := []byte{AFInet, 10, 0, 0, 1}
	tuple = binary.LittleEndian.AppendUint16(tuple, 40000)
	tuple = append(tuple, 93, 184, 216, 34)
	tuple = binary.LittleEndian.AppendUint16(tuple, 443)
	addr := append([]byte{AFInet, 93, 184, 216, 34}, 0xbb, 0x01)
	raw := record(SocketConnectX, 77, [][]byte{u64(-115), tuple, u64(5), addr}, 2, false)
	raw = append(raw, 0xAA, 0xBB) // block padding after the record
	var ev Event
	if err := Decode(raw, &ev, true); err != nil {
		t.Fatal(err)
	}
	if ev.TID != 77 || ev.TS != 1_700_000_000_123_456_789 || ev.Type != 23 || ev.NParams != 4 || len(ev.Raw) != len(raw)-2 {
		t.Fatalf("header: %+v", ev)
	}
	if ev.Int(0) != -115 {
		t.Fatalf("res %d", ev.Int(0))
	}
	st, ok := ev.SockTuple(1)
	if !ok || st.SrcAddr != netip.MustParseAddr("10.0.0.1") || st.SrcPort != 40000 || st.DstAddr != netip.MustParseAddr("93.184.216.34") || st.DstPort != 443 {
		t.Fatalf("tuple %+v", st)
	}
	if fd, ok := ev.ParamInt("fd"); !ok || fd != 5 {
		t.Fatalf("fd %d %v", fd, ok)
	}
	sa, ok := ev.SockAddr(3)
	if !ok || sa.Port != 443 || sa.Addr.String() != "93.184.216.34" {
		t.Fatalf("sockaddr %+v", sa)
	}
	if _, ok := ev.Param("nope"); ok {
		t.Fatal("unknown param found")
	}

	// A v1 record of open exit (3) written with 5 of today's 6 params: nparams inferred.
	name := []byte("/etc/hosts\x00")
	raw = record(SyscallOpenX, 9, [][]byte{u64(3), name, u32(1), u32(0), u32(2049)}, 2, true)
	if err := Decode(raw, &ev, false); err != nil {
		t.Fatal(err)
	}
	if ev.NParams != 5 || ev.Str(1) != "/etc/hosts" || ev.Has(5) || ev.FlagsString(2) != "O_RDONLY" {
		t.Fatalf("v1 open: n %d name %q has ino %v flags %q", ev.NParams, ev.Str(1), ev.Has(5), ev.FlagsString(2))
	}
	var args []string
	args = ev.Strings(1, args)
	if len(args) != 1 || args[0] != "/etc/hosts" {
		t.Fatalf("strings %q", args)
	}

	// Large payload (container 324: u32 lengths).
	big := bytes.Repeat([]byte("x"), 70000)
	raw = record(324, 1, [][]byte{append(big, 0)}, 4, false)
	if err := Decode(raw, &ev, true); err != nil {
		t.Fatal(err)
	}
	if len(ev.Str(0)) != 70000 {
		t.Fatalf("large param %d bytes", len(ev.Str(0)))
	}

	// FDLIST (poll exit 51? use the table to find a FDLIST param).
	var fdlCode uint16
	for c := range Table {
		if len(Table[c].Params) > 1 && Table[c].Params[1].Type == PTFdlist {
			fdlCode = uint16(c)
			break
		}
	}
	fdl := binary.LittleEndian.AppendUint16(nil, 2)
	fdl = append(fdl, u64(3)...)
	fdl = binary.LittleEndian.AppendUint16(fdl, 1)
	fdl = append(fdl, u64(4)...)
	fdl = binary.LittleEndian.AppendUint16(fdl, 4)
	ps := make([][]byte, len(Table[fdlCode].Params))
	ps[0] = u64(1)
	ps[1] = fdl
	for i := 2; i < len(ps); i++ {
		ps[i] = u64(0)
	}
	if err := Decode(record(fdlCode, 1, ps, 2, false), &ev, true); err != nil {
		t.Fatal(err)
	}
	l, ok := ev.FDList(1, nil)
	if !ok || len(l) != 2 || l[0] != (FDListEntry{3, 1}) || l[1] != (FDListEntry{4, 4}) {
		t.Fatalf("fdlist %v %v", l, ok)
	}
}

func TestDecodeErrors(t *testing.T) {
	var ev Event
	good := record(SyscallOpenX, 9, [][]byte{u64(3), []byte("/x\x00")}, 2, false)
	cases := map[string][]byte{
		"short header":     good[:10],
		"length too large": append(append([]byte{}, good[:16]...), append(u32(1000), good[20:]...)...),
		"lengths mismatch": func() []byte { b := append([]byte{}, good...); b[HeaderLen] = 9; return b }(),
		"too many params":  func() []byte { b := append([]byte{}, good...); binary.LittleEndian.PutUint32(b[22:], 1000); return b }(),
	}
	for name, raw := range cases {
		err := Decode(raw, &ev, true)
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: got %v, want a DecodeError", name, err)
		}
	}
	unknown := record(5000, 1, nil, 2, false)
	if err := Decode(unknown, &ev, true); !errors.Is(err, ErrUnknownType) {
		t.Errorf("unknown type: %v", err)
	}
	// v1 record whose lengths cannot add up.
	bad := record(SyscallOpenX, 9, [][]byte{u64(3), []byte("/x\x00")}, 2, true)
	bad = append(bad[:HeaderLenV1], append([]byte{0xff, 0xff}, bad[HeaderLenV1+2:]...)...)
	if err := Decode(bad, &ev, false); err == nil {
		t.Error("v1 with impossible lengths accepted")
	}
}

// TestNormalizeOpenat: old openat enter 102 {dirfd, name, flags, mode} and exit 103 {fd}
// become 306 and 307, the exit carrying the enter's params.
func TestNormalizeOpenat(t *testing.T) {
	var n Normalizer
	var ev Event
	enter := record(102, 42, [][]byte{u64(-100), []byte("/etc/shadow\x00"), u32(1), u32(0)}, 2, false)
	if err := Decode(enter, &ev, true); err != nil {
		t.Fatal(err)
	}
	if !n.Next(&ev) || ev.Type != SyscallOpenatE || ev.RawType != 102 || ev.Str(1) != "/etc/shadow" {
		t.Fatalf("enter: type %d name %q", ev.Type, ev.Str(1))
	}
	// Another thread's exit in between must not take this thread's enter.
	other := record(103, 43, [][]byte{u64(7)}, 2, false)
	Decode(other, &ev, true)
	n.Next(&ev)
	if ev.Has(ev.Index("name")) {
		t.Fatal("exit of another thread got the enter's name")
	}
	exit := record(103, 42, [][]byte{u64(4)}, 2, false)
	enter[30] = 'X' // the enter's record is gone: merged bytes must not point into it
	if err := Decode(exit, &ev, true); err != nil {
		t.Fatal(err)
	}
	n.Next(&ev)
	if ev.Type != SyscallOpenatX {
		t.Fatalf("exit type %d", ev.Type)
	}
	name, ok := ev.ParamStr("name")
	fd, _ := ev.ParamInt("fd")
	dirfd, _ := ev.ParamInt("dirfd")
	if !ok || name != "/etc/shadow" || fd != 4 || dirfd != -100 || ev.FlagsString(ev.Index("flags")) != "O_RDONLY" {
		t.Fatalf("merged exit: name %q fd %d dirfd %d", name, fd, dirfd)
	}
	if _, ok := ev.Param("dev"); ok {
		t.Fatal("dev present though neither event had it")
	}
	// The enter was consumed: a second exit gets nothing.
	Decode(exit, &ev, true)
	n.Next(&ev)
	if _, ok := ev.Param("name"); ok {
		t.Fatal("enter merged twice")
	}
}

func TestRemapByName(t *testing.T) {
	// dup: old 124/125 {fd}/{res}, current 366/367 {fd}/{res, oldfd}.
	var ev Event
	Decode(record(125, 1, [][]byte{u64(9)}, 2, false), &ev, true)
	if !Remap(&ev) || ev.Type != 367 || ev.Int(0) != 9 || ev.Has(1) || ev.NParams != 1 {
		t.Fatalf("dup exit: type %d res %d has oldfd %v", ev.Type, ev.Int(0), ev.Has(1))
	}
	if Remap(&ev) {
		t.Fatal("current code remapped again")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(record(SyscallOpenX, 9, [][]byte{u64(3), []byte("/x\x00")}, 2, false), true)
	f.Add(record(SyscallOpenX, 9, [][]byte{u64(3), []byte("/x\x00")}, 2, true), false)
	f.Add(record(103, 9, [][]byte{u64(3)}, 2, false), true)
	// an openat exit with the probe's extension params (flags, resolved path)
	f.Add(record(307, 9, [][]byte{u64(3), u64(-100), []byte("x\x00"), u32(1), u32(0), u32(0), u64(7), u32(1), []byte("/etc/shadow\x00")}, 2, false), true)
	f.Fuzz(func(t *testing.T, raw []byte, v2 bool) {
		var ev Event
		var n Normalizer
		if Decode(raw, &ev, v2) != nil {
			return
		}
		n.Next(&ev)
		for i := range ev.Info.Params {
			ev.Str(i)
			ev.SockAddr(i)
			ev.SockTuple(i)
			ev.FDList(i, nil)
			ev.Addr(i)
			ev.FlagsString(i)
		}
		ev.IsIOUring()
		ev.ExtString(ExtRealPath)
		if b, ok := ev.Ext(ExtFlags); ok && ev.NParams <= len(ev.Info.Params) {
			t.Fatalf("Ext(ExtFlags) = %q with %d params of %d", b, ev.NParams, len(ev.Info.Params))
		}
	})
}

// The probe's extension params follow the table's: Ext reads them, and an event without them
// has none.
func TestExt(t *testing.T) {
	var ev Event
	plain := record(307, 9, [][]byte{u64(3), u64(-100), []byte("x\x00"), u32(1), u32(0), u32(0), u64(7)}, 2, false)
	if err := Decode(plain, &ev, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := ev.Ext(ExtFlags); ok || ev.IsIOUring() || ev.ExtString(ExtRealPath) != "" {
		t.Error("extension params on an event without them")
	}
	ext := record(307, 9, [][]byte{u64(3), u64(-100), []byte("x\x00"), u32(1), u32(0), u32(0), u64(7), u32(ExtIOUring), []byte("/etc/shadow\x00")}, 2, false)
	if err := Decode(ext, &ev, true); err != nil {
		t.Fatal(err)
	}
	if !ev.IsIOUring() || ev.ExtString(ExtRealPath) != "/etc/shadow" || ev.Str(2) != "x" {
		t.Errorf("io_uring %v realpath %q name %q", ev.IsIOUring(), ev.ExtString(ExtRealPath), ev.Str(2))
	}
	if _, ok := ev.Ext(2); ok {
		t.Error("Ext(2) present")
	}
}
