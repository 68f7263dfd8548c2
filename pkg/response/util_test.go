package response

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/response/ring"
	"github.com/saker-sec/saker/pkg/scap"
)

func fmtSscan(s string, v *int) (int, error) { return fmt.Sscan(s, v) }
func itoa(n int) string                      { return strconv.Itoa(n) }

// fillRing adds n copies of real capture events (shared sample.scap) under key for pid.
func fillRing(tb testing.TB, r *ring.Ring, key string, pid int64, n int) {
	tb.Helper()
	f, err := scap.Open(filepath.Join(testshared.Dir(tb), "captures", "sample.scap"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var ev event.Event
	ts := uint64(time.Now().UnixNano()) - uint64(n)*1000
	for i := 0; i < n; i++ {
		if err := f.Next(&ev); err != nil {
			break
		}
		ev.TS = ts + uint64(i)*1000 // within the snapshot's window
		ev.TID = pid
		r.Add(key, pid, &ev)
	}
}
