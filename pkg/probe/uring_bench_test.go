package probe

import (
	"bytes"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkIOUringOpenClose: the io_uring helper's loop of openat + close requests (each
// submitted and waited for with its own io_uring_enter), without and with the probe, and the
// same loop with syscalls for reference. ns/iter is the helper's own clock around its loop;
// bpf-ns/request is the probe's in-kernel time per request (submission and completion
// programs, the encoders they tail-call included).
func BenchmarkIOUringOpenClose(b *testing.B) {
	run := func(b *testing.B, sys bool) {
		args := []string{"bench", strconv.Itoa(b.N), "/etc/hostname"}
		if sys {
			args = append([]string{"-s"}, args...)
		}
		cmd := exec.Command(uringHelperB(b), args...)
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		f := strings.Fields(out.String())
		if len(f) != 2 {
			b.Fatalf("helper said %q", out.String())
		}
		ns, _ := strconv.ParseFloat(f[1], 64)
		b.ReportMetric(ns, "ns/iter")
	}
	for _, sys := range []bool{false, true} {
		name := "io_uring"
		if sys {
			name = "syscalls"
		}
		b.Run(name+"/noprobe", func(b *testing.B) {
			closeShared()
			run(b, sys)
		})
		for _, norp := range []bool{false, true} {
			if sys && norp {
				continue // BenchmarkOpenClose compares the syscall path with and without
			}
			sub := "/probe"
			if norp {
				sub = "/probe-norealpath"
			}
			b.Run(name+sub, func(b *testing.B) {
				d := loadDrained(b, Options{RingBytes: 64 << 20, NoRealPath: norp})
				defer d.close()
				if err := d.p.IOUringError(); err != nil {
					b.Skip(err)
				}
				report := func() {}
				if !sys {
					report = progCost(b, d.p, []string{"uring_submit", "uring_complete"}, "uring_submit", "bpf-ns/request")
				}
				b.ResetTimer()
				run(b, sys)
				b.StopTimer()
				report()
				b.ReportMetric(float64(d.p.Stats().KernelDrops), "drops")
			})
		}
	}
}

// progCost reports the mean run time of progs (summed) per run of the program per.
func progCost(b *testing.B, p *Probe, progs []string, per, unit string) func() {
	st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Logf("no BPF run-time stats: %v", err)
		return func() {}
	}
	snap := func() (rt time.Duration, runs uint64) {
		for _, n := range progs {
			s, err := p.coll.Programs[n].Stats()
			if err != nil {
				continue
			}
			rt += s.Runtime
			if n == per {
				runs = s.RunCount
			}
		}
		return
	}
	rt0, n0 := snap()
	return func() {
		defer st.Close()
		rt1, n1 := snap()
		if n1 > n0 {
			b.ReportMetric(float64((rt1-rt0).Nanoseconds())/float64(n1-n0), unit)
		}
	}
}

// uringHelperB builds the helper for a benchmark.
func uringHelperB(b *testing.B) string {
	b.Helper()
	uringOnce.Do(buildUring)
	if uringErr != nil {
		b.Skipf("building the io_uring helper: %v %s", uringErr, uringBin)
	}
	return uringBin
}

// BenchmarkRealPathPairs measures the resolved-path walk at open exits (ExtRealPath) on a
// shared, loaded machine: rounds of the probe with and without it, interleaved, on the
// io_uring open+close loop (whose programs run only for io_uring requests, so other processes'
// syscalls do not count in them) and on the syscall open+close loop (in-kernel time of the
// sys_exit dispatcher per iteration: other processes' syscall exits count in it too). Min and
// median over the rounds. Run with -benchtime 1x (one set of rounds).
func BenchmarkRealPathPairs(b *testing.B) {
	const rounds, iters = 6, 100000
	helper := uringHelperB(b)
	var ur, urNo, sc, scNo []float64
	for r := 0; r < rounds; r++ {
		for _, norp := range []bool{false, true} {
			d := loadDrained(b, Options{RingBytes: 64 << 20, NoRealPath: norp})
			if err := d.p.IOUringError(); err != nil {
				d.close()
				b.Skip(err)
			}
			st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
			if err != nil {
				d.close()
				b.Skip(err)
			}
			sum := func(names ...string) (time.Duration, uint64) {
				var rt time.Duration
				var n uint64
				for _, name := range names {
					if s, err := d.p.coll.Programs[name].Stats(); err == nil {
						rt += s.Runtime
						if name != "uring_complete" {
							n = s.RunCount
						}
					}
				}
				return rt, n
			}
			rt0, n0 := sum("uring_submit", "uring_complete")
			if err := exec.Command(helper, "bench", strconv.Itoa(iters), "/etc/hostname").Run(); err != nil {
				b.Fatal(err)
			}
			rt1, n1 := sum("uring_submit", "uring_complete")
			s0, _ := sum("sys_exit")
			for i := 0; i < iters; i++ {
				fd, err := unix.Open("/etc/hostname", unix.O_RDONLY, 0)
				if err != nil {
					b.Fatal(err)
				}
				unix.Close(fd)
			}
			s1, _ := sum("sys_exit")
			st.Close()
			d.close()
			perReq := float64((rt1 - rt0).Nanoseconds()) / float64(n1-n0)
			perIter := float64((s1 - s0).Nanoseconds()) / iters
			if norp {
				urNo, scNo = append(urNo, perReq), append(scNo, perIter)
			} else {
				ur, sc = append(ur, perReq), append(sc, perIter)
			}
		}
	}
	report := func(v []float64, unit string) {
		sort.Float64s(v)
		b.ReportMetric(v[0], unit+"-min")
		b.ReportMetric(v[len(v)/2], unit+"-median")
		b.Logf("%s: %v", unit, v)
	}
	report(ur, "uring-ns/req")
	report(urNo, "uring-norp-ns/req")
	report(sc, "sys-ns/iter")
	report(scNo, "sys-norp-ns/iter")
}
