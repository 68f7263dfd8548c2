package agent

import (
	"runtime/debug"
	"testing"
)

// Overlapping compilations, resumed in either order, leave the collector as it was set.
func TestPauseGCOverlapping(t *testing.T) {
	orig := debug.SetGCPercent(150)
	defer debug.SetGCPercent(orig)
	a := pauseGC()
	b := pauseGC()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("during two compilations the GC percent is %d, want -1 (off)", p)
	}
	a() // the first one ends before the second
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Fatalf("with one compilation still running the GC percent is %d, want -1", p)
	}
	b()
	if p := debug.SetGCPercent(150); p != 150 {
		t.Fatalf("after both the GC percent is %d, want 150", p)
	}
}
