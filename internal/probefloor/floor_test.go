package probefloor

import (
	"testing"

	"github.com/cilium/ebpf"
	"github.com/saker-sec/saker/internal/testshared"
	"golang.org/x/sys/unix"
)

// The floor runs at every syscall's exit while attached, and not once detached.
func TestEmptyProgramRunsOnEverySyscallExit(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		t.Fatalf("kernel BPF run-time statistics: %v", err)
	}
	defer st.Close()
	prog, detach, err := attach()
	if err != nil {
		t.Fatal(err)
	}
	runs := func() uint64 {
		s, err := prog.Stats()
		if err != nil {
			t.Fatal(err)
		}
		return s.RunCount
	}
	before := runs()
	const n = 1000
	for range n {
		unix.Getppid()
	}
	if got := runs() - before; got < n {
		t.Fatalf("the empty program ran %d times over %d getppid calls", got, n)
	}
	// detached: the program (kept open here) no longer runs
	prog, err = prog.Clone()
	if err != nil {
		t.Fatal(err)
	}
	defer prog.Close()
	detach()
	before = runs()
	for range n {
		unix.Getppid()
	}
	if got := runs() - before; got != 0 {
		t.Fatalf("detached, the program still ran %d times", got)
	}
}
