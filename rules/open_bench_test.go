package rules_test

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/rules"
)

// openLoop is what scripts/liveloop.c's open+close loop sends live: open exits (with the
// probe's extension params: no flags, the resolved path) and close exits of an ordinary
// file by an ordinary program.
func openLoop() [][]byte {
	const tid = 4242
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	var recs [][]byte
	ts := uint64(1_700_000_000_000_000_000)
	for i := 0; i < 64; i++ {
		ts += 1000
		recs = append(recs,
			event.AppendRecord(nil, event.SyscallOpenX, ts, tid, u64(3), []byte("/etc/hostname\x00"), u32(1), u32(0), u32(0xfe00), u64(611), u32(0), []byte("/etc/hostname\x00")),
			event.AppendRecord(nil, event.SyscallCloseX, ts+500, tid, u64(0), u64(3)),
		)
	}
	return recs
}

// builtinDetector is a detector with the built-in rules, or with the rules files of the
// directory $SAKER_RULES_DIR (to measure another revision's rules side by side: copy its
// rules/*.yaml there), and the loop's process.
func builtinDetector(b *testing.B) *detect.Detector {
	d := detect.New(state.Options{})
	files := rules.Files()
	if dir := os.Getenv("SAKER_RULES_DIR"); dir != "" {
		files = nil
		for _, f := range rules.Files() {
			data, err := os.ReadFile(filepath.Join(dir, filepath.Base(f.Name)))
			if err != nil {
				b.Fatal(err)
			}
			files = append(files, loader.File{Name: f.Name, Data: data})
		}
	}
	rs, errs, _ := engine.Load(files, engine.Options{Sources: d.Sources()})
	if rs == nil {
		b.Fatal(errs)
	}
	d.Rules = rs
	d.Metadata(nil, nil, nil, nil, []event.ThreadInfo{{TID: 4242, PID: 4242, PTID: 1, Comm: "liveloop", Exe: "./liveloop",
		ExePath: "/opt/bench/liveloop", Args: []string{"openclose", "1000000", "/etc/hostname"}, Cwd: "/opt/bench", UID: 0, GID: 0}}, nil)
	return d
}

// BenchmarkBuiltinRulesOpen is the built-in rules' whole per-event path (decode, normalize,
// state, event-type index, rules) on the open+close loop's events; ns/op is per event (half
// opens, half closes). Side by side with another revision's rules:
//
//	SAKER_RULES_DIR=/tmp/main-rules go test -run '^$' -bench BuiltinRulesOpen -count 6 ./rules
func BenchmarkBuiltinRulesOpen(b *testing.B) {
	d := builtinDetector(b)
	recs := openLoop()
	var ev event.Event
	var num uint64
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := event.Decode(recs[i], &ev, true); err != nil {
			b.Fatal(err)
		}
		num++
		ev.Num = num
		d.Event(&ev)
		i = (i + 1) % len(recs)
	}
	if d.Matched != 0 {
		b.Fatalf("the loop raised %d alerts", d.Matched)
	}
}

// BenchmarkBuiltinRulesOpenByRule is each built-in rule that open exits are evaluated
// against, alone, on the loop's open event (state update included: subtract "state"). It
// finds the rules that cost most per open:
//
//	go test -run '^$' -bench BuiltinRulesOpenByRule -benchtime 20000x ./rules
func BenchmarkBuiltinRulesOpenByRule(b *testing.B) {
	d := builtinDetector(b)
	rec := openLoop()[0]
	cands := d.Rules.Source("syscall").Candidates(event.SyscallOpenX)
	sorted := append([]*engine.Rule(nil), cands...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	var ev event.Event
	var num uint64
	run := func(b *testing.B, r *engine.Rule) {
		for b.Loop() {
			if err := event.Decode(rec, &ev, true); err != nil {
				b.Fatal(err)
			}
			num++
			ev.Num = num
			ctx := d.State.Process(&ev)
			if r != nil && r.Filter(ctx) {
				b.Fatalf("%s matched", r.Name)
			}
		}
	}
	b.Run("state", func(b *testing.B) { run(b, nil) })
	for _, r := range sorted {
		b.Run(r.Name, func(b *testing.B) { run(b, r) })
	}
}
