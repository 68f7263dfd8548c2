package state

import (
	"encoding/binary"
	"errors"
	"io"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/scap"
)

// FuzzProcess feeds arbitrary event records (scap layout, back to back) through the decoder,
// the normalizer and the engine: whatever the params say, Process must not panic and the
// table invariants must hold.
func FuzzProcess(f *testing.F) {
	s := sharedDir(f)
	for _, name := range []string{"curl_google.scap", "test_ipv6_client.scap", "sample.scap", "cat_write.scap"} {
		r, err := scap.Open(filepath.Join(s, "captures", name))
		if err != nil {
			f.Fatal(err)
		}
		var ev event.Event
		var seed []byte
		for i := 0; ; i++ {
			if err := r.Next(&ev); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				f.Fatal(err)
			}
			if ev.RawType != ev.Type || len(ev.Raw) < event.HeaderLen {
				continue // seeds use the 26-byte header only
			}
			seed = append(seed, ev.Raw...)
			if len(seed) > 2<<10 {
				f.Add(seed)
				seed = nil
			}
		}
		if len(seed) > 0 {
			f.Add(seed)
		}
		r.Close()
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e := New(Options{MaxThreads: 16, MaxFDsPerProcess: 8, MaxUsers: 4})
		e.AddThread(event.ThreadInfo{TID: 1, PID: 1, Comm: "init", Cwd: "/"})
		e.AddThread(event.ThreadInfo{TID: 2, PID: 2, PTID: 1, Comm: "sh", Cwd: "/root"})
		e.AddFD(event.FDInfo{TID: 2, FD: 3, Type: event.FDFileV2, Name: "/etc/passwd"})
		var ev event.Event
		var norm event.Normalizer
		for len(data) >= event.HeaderLen {
			l := int(binary.LittleEndian.Uint32(data[16:]))
			if l < event.HeaderLen || l > len(data) {
				break
			}
			rec := data[:l]
			data = data[l:]
			if event.Decode(rec, &ev, true) != nil || !norm.Next(&ev) {
				continue
			}
			ctx := e.Process(&ev)
			if ctx.Ev != &ev {
				t.Fatal("context does not point to the event")
			}
		}
		st := e.Stats()
		if st.Threads > 16 {
			t.Fatalf("thread table over its bound: %d", st.Threads)
		}
		n := 0
		seen := map[*fdTable]bool{}
		for _, g := range e.groups {
			if g.fds != nil && !seen[g.fds] {
				seen[g.fds] = true
				if g.fds.n > 8 {
					t.Fatalf("fd table over its bound: %d", g.fds.n)
				}
				n += g.fds.n
			}
		}
		if n != st.FDs || len(seen) != st.FDTables {
			t.Fatalf("fd counters %d/%d, tables hold %d/%d", st.FDs, st.FDTables, n, len(seen))
		}
		for tid, th := range e.threads {
			if th.TID != tid || th.g == nil || th.g.threads[tid] != th {
				t.Fatalf("thread %d not in its group", tid)
			}
		}
	})
}
