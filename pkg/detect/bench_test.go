package detect

import (
	"encoding/binary"
	"github.com/saker-sec/saker/internal/testshared"
	"testing"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/event"
)

func sharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t)
}

// record encodes one event in the scap layout (26-byte header, u16 lengths, values).
func record(code uint16, tid int64, ts uint64, params ...[]byte) []byte {
	return event.AppendRecord(nil, code, ts, tid, params...)
}

func i64(v int64) []byte   { return binary.LittleEndian.AppendUint64(nil, uint64(v)) }
func u32(v uint32) []byte  { return binary.LittleEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte  { return binary.LittleEndian.AppendUint64(nil, v) }
func cstr(s string) []byte { return append([]byte(s), 0) }

// benignEvents is a workload that matches none of the upstream rules: a known process opening,
// reading and closing ordinary files.
func benignEvents() [][]byte {
	const tid = 4242
	var recs [][]byte
	ts := uint64(1_700_000_000_000_000_000)
	for i := 0; i < 64; i++ {
		ts += 1000
		recs = append(recs,
			record(event.SyscallOpenatX, tid, ts, i64(5), i64(-100), cstr("/home/user/project/file.go"), u32(1), u32(0), u32(0), u64(uint64(i))),
			record(event.SyscallReadX, tid, ts+10, i64(100), []byte("package main"), i64(5), u32(4096)),
			record(event.SyscallCloseX, tid, ts+20, i64(0), i64(5)),
		)
	}
	return recs
}

func newBenchDetector(b *testing.B) *Detector {
	d := upstreamDetector(b)
	d.Emit = func(a *alert.Alert) { b.Fatalf("benign workload raised %s: %s", a.Rule, a.Output) }
	d.Metadata(nil, nil, nil, nil, []event.ThreadInfo{{TID: 4242, PID: 4242, PTID: 1, Comm: "gopls", Exe: "/usr/bin/gopls",
		ExePath: "/usr/bin/gopls", Args: []string{"serve"}, Cwd: "/home/user/project", UID: 1000, GID: 1000}}, nil)
	return d
}

// BenchmarkEvaluateNoMatch measures the whole per-event path (decode, normalize, state,
// event-type index, rule evaluation) with the three upstream syscall rules files loaded, for
// events that match no rule. ns/op is per event.
func BenchmarkEvaluateNoMatch(b *testing.B) {
	d := newBenchDetector(b)
	recs := benignEvents()
	var ev event.Event
	var num uint64
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := event.Decode(recs[i], &ev, true); err != nil {
			b.Fatal(err)
		}
		num++
		ev.Num = num // numbered as every source numbers them (evt.num)
		d.Event(&ev)
		i++
		if i == len(recs) {
			i = 0
		}
	}
}
