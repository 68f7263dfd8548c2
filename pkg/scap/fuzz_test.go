package scap

import (
	"bytes"
	"io"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/event"
)

// FuzzReader feeds arbitrary bytes to the reader: it must return events or an error, never
// panic or loop.
func FuzzReader(f *testing.F) {
	// Seeds: a small capture written by the writer, plus the head of each shared capture
	// (when present; fuzzing works without them).
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterOptions{})
	w.WriteMachine(event.MachineInfo{NumCPUs: 2, Hostname: "h"})
	w.WriteUsers([]event.User{{UID: 0, Name: "root"}}, []event.Group{{GID: 0, Name: "root"}})
	w.WriteThreads([]event.ThreadInfo{{TID: 1, PID: 1, Comm: "init", Args: []string{"a", "b"}}})
	w.WriteFDs([]event.FDInfo{{TID: 1, FD: 3, Type: event.FDFileV2, Name: "/etc/passwd"}})
	ev := event.Event{TS: 1, TID: 1, Type: event.SyscallReadX, RawType: event.SyscallReadX}
	ev.Info = &event.Table[ev.Type]
	ev.Params[0] = le64(nil, 5)
	ev.Params[1] = []byte("hello")
	ev.NParams, ev.Present = 2, 3
	w.WriteEvent(&ev)
	w.Close()
	f.Add(buf.Bytes())
	if matches, _ := filepath.Glob("../../../shared/captures/*.scap"); len(matches) > 0 {
		for _, m := range matches {
			data := loadPlain(f, m)
			if len(data) > 2048 {
				data = data[:2048] // small seeds keep minimization quick
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		// A hang shows up as a crash with every goroutine's stack.
		tm := time.AfterFunc(5*time.Second, func() {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			panic("FuzzReader: one input ran for more than 5s:\n" + string(buf[:n]))
		})
		defer tm.Stop()
		r, err := NewReader(bytes.NewReader(data))
		if err != nil {
			return
		}
		var n event.Normalizer
		var ev event.Event
		var fds []event.FDListEntry
		var strs []string
		for i := 0; i <= len(data); i++ {
			if err := r.Next(&ev); err != nil {
				if err != io.EOF && r.Next(&ev) != err {
					t.Fatal("error not sticky")
				}
				return
			}
			n.Next(&ev)
			for j := range ev.Info.Params {
				ev.Str(j)
				ev.Int(j)
				ev.SockAddr(j)
				ev.SockTuple(j)
				fds, _ = ev.FDList(j, fds[:0])
				strs = ev.Strings(j, strs[:0])
				ev.FlagsString(j)
			}
		}
		t.Fatal("more events than input bytes")
	})
}
