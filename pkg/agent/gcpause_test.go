package agent

import (
	"io"
	"os"
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

// A replay collects less often (replayGCPercent) unless GOGC is set; a live agent keeps the
// setting it found.
func TestReplayGCPercent(t *testing.T) {
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	t.Setenv("GOGC", "")
	os.Unsetenv("GOGC")
	a, err := New(Options{Replay: true, Overrides: []string{"stdout_output.enabled=false"}, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if p := debug.SetGCPercent(100); p != replayGCPercent {
		t.Errorf("after a replay agent's start the GC percent is %d, want %d", p, replayGCPercent)
	}
	t.Setenv("GOGC", "100")
	a, err = New(Options{Replay: true, Overrides: []string{"stdout_output.enabled=false"}, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if p := debug.SetGCPercent(100); p != 100 {
		t.Errorf("with GOGC set, a replay agent changed the GC percent to %d", p)
	}
}
