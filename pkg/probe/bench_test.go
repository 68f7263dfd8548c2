package probe

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/saker-sec/saker/internal/probefloor"
	"github.com/saker-sec/saker/internal/testshared"
	"golang.org/x/sys/unix"
)

// Benchmarks (root): syscall cost without and with the probe attached, and the event rate the
// reader sustains. Run: go test -run '^$' -bench . -benchtime 2s ./pkg/probe

func closeShared() {
	if shared != nil {
		shared.p.Close()
		<-shared.done
		shared, sharedOnce, sharedErr = nil, sync.Once{}, nil
	}
}

// drained is a loaded probe with a goroutine reading (and counting) every record.
type drained struct {
	p    *Probe
	n    atomic.Uint64
	done chan struct{}
}

func loadDrained(b *testing.B, opts Options) *drained {
	b.Helper()
	needProbe(b)
	closeShared()
	p, err := Load(opts)
	if err != nil {
		b.Fatal(err)
	}
	d := &drained{p: p, done: make(chan struct{})}
	go func() {
		defer close(d.done)
		buf := make([]byte, 0, 1<<16)
		for {
			if err := p.Read(&buf); err != nil {
				if !errors.Is(err, ErrClosed) {
					b.Error(err)
				}
				return
			}
			d.n.Add(1)
		}
	}()
	return d
}

// bpfCost enables kernel BPF run-time statistics and returns a function reporting the mean
// run time of the sys_exit dispatcher (including the encoders it tail-calls) per invocation
// since the call: the probe's own cost, independent of the machine's load.
func (d *drained) bpfCost(b *testing.B) func() {
	st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Logf("no BPF run-time stats: %v", err)
		return func() {}
	}
	prog := d.p.coll.Programs["sys_exit"]
	s0, _ := prog.Stats()
	return func() {
		defer st.Close()
		s1, err := prog.Stats()
		if err != nil || s0 == nil || s1.RunCount == s0.RunCount {
			return
		}
		b.ReportMetric(float64((s1.Runtime-s0.Runtime).Nanoseconds())/float64(s1.RunCount-s0.RunCount), "bpf-ns/sys_exit")
	}
}

func (d *drained) close() {
	d.p.Close()
	<-d.done
}

func benchGetppid(b *testing.B) {
	for i := 0; i < b.N; i++ {
		unix.Getppid()
	}
}

func benchOpenClose(b *testing.B) {
	path := "/etc/hostname"
	for i := 0; i < b.N; i++ {
		fd, err := unix.Open(path, unix.O_RDONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		unix.Close(fd)
	}
}

// attachEmpty attaches the floor (internal/probefloor) for the "emptyprog" benchmarks.
func attachEmpty(b *testing.B) func() {
	b.Helper()
	needProbe(b)
	closeShared()
	detach, err := probefloor.Attach()
	if err != nil {
		b.Fatal(err)
	}
	return detach
}

func BenchmarkGetppid(b *testing.B) {
	b.Run("noprobe", func(b *testing.B) {
		closeShared()
		benchGetppid(b)
	})
	b.Run("emptyprog", func(b *testing.B) {
		defer attachEmpty(b)()
		b.ResetTimer()
		benchGetppid(b)
	})
	b.Run("probe", func(b *testing.B) {
		d := loadDrained(b, Options{RingBytes: 64 << 20})
		defer d.close()
		report := d.bpfCost(b)
		b.ResetTimer()
		benchGetppid(b)
		b.StopTimer()
		report()
	})
}

// open+close of this process, captured (the process is not excluded, so each iteration
// produces an open and a close record that the reader drains).
func BenchmarkOpenClose(b *testing.B) {
	b.Run("noprobe", func(b *testing.B) {
		closeShared()
		benchOpenClose(b)
	})
	b.Run("emptyprog", func(b *testing.B) {
		defer attachEmpty(b)()
		b.ResetTimer()
		benchOpenClose(b)
	})
	b.Run("probe", func(b *testing.B) {
		d := loadDrained(b, Options{RingBytes: 64 << 20})
		defer d.close()
		report := d.bpfCost(b)
		b.ResetTimer()
		benchOpenClose(b)
		b.StopTimer()
		report()
		st := d.p.Stats()
		b.ReportMetric(float64(st.KernelDrops), "drops")
	})
	b.Run("probe-norealpath", func(b *testing.B) {
		// the same without the resolved-path walk at the open's exit (fd.realpath)
		d := loadDrained(b, Options{RingBytes: 64 << 20, NoRealPath: true})
		defer d.close()
		report := d.bpfCost(b)
		b.ResetTimer()
		benchOpenClose(b)
		b.StopTimer()
		report()
		st := d.p.Stats()
		b.ReportMetric(float64(st.KernelDrops), "drops")
	})
	b.Run("probe-unselected", func(b *testing.B) {
		d := loadDrained(b, Options{RingBytes: 64 << 20, Syscalls: []string{"execve"}})
		defer d.close()
		report := d.bpfCost(b)
		b.ResetTimer()
		benchOpenClose(b)
		b.StopTimer()
		report()
	})
}

// BenchmarkEventRate drives openat+close from one goroutine per CPU and reports the rate the
// reader sustains (events/s) and the kernel drops over the run.
func BenchmarkEventRate(b *testing.B) {
	d := loadDrained(b, Options{RingBytes: 64 << 20, Syscalls: []string{"open", "openat", "close"}})
	defer d.close()
	workers := 2
	before := d.p.Stats()
	start := time.Now()
	b.ReportAllocs() // the reader's too: Read does not allocate once its buffer has grown
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/workers + 1
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < per; i++ {
				fd, err := unix.Open("/etc/hostname", unix.O_RDONLY, 0)
				if err == nil {
					unix.Close(fd)
				}
			}
		}()
	}
	wg.Wait()
	// let the reader finish what is in the ring
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		st := d.p.Stats()
		if st.Read >= st.Events {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.StopTimer()
	el := time.Since(start)
	st := d.p.Stats()
	events := st.Events - before.Events
	b.ReportMetric(float64(events)/el.Seconds(), "events/s")
	b.ReportMetric(float64(st.KernelDrops-before.KernelDrops), "drops")
	if os.Getenv("SAKER_BENCH_VERBOSE") != "" {
		b.Logf("%+v in %v", st, el)
	}
}

// BenchmarkGates runs testdata/loop.c's getppid and open+close loops through each syscall
// gate (x86_64 syscall, int $0x80 from a 64-bit program, a 32-bit program through the vDSO)
// without and with the probe: the cost of the 32-bit path. One op is one loop iteration; the
// program's start (about a millisecond) is included and amortized over b.N.
func BenchmarkGates(b *testing.B) {
	needProbe(b)
	dir := b.TempDir()
	bins := map[string]string{}
	for _, g := range []struct{ name, flags string }{
		{"syscall64", "-static -DGATE_SYSCALL64"},
		{"int80", "-static -no-pie -DGATE_INT80"},
		{"ia32", "-m32 -static -DGATE_IA32"},
	} {
		bin := filepath.Join(dir, "loop-"+g.name)
		args := append([]string{"-O2", "-Wall", "-Werror", "-o", bin}, strings.Fields(g.flags)...)
		if out, err := exec.Command("gcc", append(args, "testdata/loop.c")...).CombinedOutput(); err != nil {
			testshared.Need(b, fmt.Sprintf("gcc %s: %v: %s", g.name, err, out))
		}
		bins[g.name] = bin
	}
	run := func(b *testing.B, bin, op string) {
		args := []string{op, strconv.Itoa(b.N)}
		if op == "openclose" {
			args = append(args, "/etc/hostname")
		}
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v: %s", bin, args, err, out)
		}
	}
	for _, gate := range []string{"syscall64", "int80", "ia32"} {
		for _, op := range []string{"getppid", "openclose"} {
			b.Run(gate+"/"+op+"/noprobe", func(b *testing.B) {
				closeShared()
				run(b, bins[gate], op)
			})
			b.Run(gate+"/"+op+"/probe", func(b *testing.B) {
				d := loadDrained(b, Options{RingBytes: 64 << 20})
				defer d.close()
				report := d.bpfCost(b)
				before := d.p.Stats()
				b.ResetTimer()
				run(b, bins[gate], op)
				b.StopTimer()
				report()
				st := d.p.Stats()
				b.ReportMetric(float64(st.Events-before.Events)/float64(b.N), "events/op")
				b.ReportMetric(float64(st.KernelDrops-before.KernelDrops), "drops")
			})
		}
	}
}
