package probe

import (
	"fmt"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// enforceClauses are n clauses that never match this benchmark's calls: execve and openat of
// paths under a directory that does not exist, with a name and a uid check each.
func enforceClauses(n int) []EnforceClause {
	var cls []EnforceClause
	for i := 0; i < n; i++ {
		sys := []string{"execve", "execveat"}
		if i%2 == 1 {
			sys = []string{"open", "openat", "openat2"}
		}
		cls = append(cls, EnforceClause{Rule: uint32(i), Syscalls: sys, Preds: []EnforcePred{
			{Field: EnfPath, Op: EnfPrefix, Str: fmt.Sprintf("/nonexistent-saker-bench/%d/", i)},
			{Field: EnfName, Op: EnfEq, Str: fmt.Sprintf("bench%d", i)},
			{Field: EnfUID, Op: EnfLess, Num: 1000, Neg: true},
		}})
	}
	return cls
}

// BenchmarkEnforce: the getppid loop (a syscall without clauses) and the open+close loop
// (openat carries 50 of the clauses, all tested: none matches) with the probe alone and with
// the enforcement program attached and 100 rules loaded. bpf-ns/enter is the enforcement
// program's mean run time per sys_enter (kernel BPF statistics), independent of the load.
func BenchmarkEnforce(b *testing.B) {
	for _, loop := range []struct {
		name string
		f    func(*testing.B)
	}{{"getppid", benchGetppid}, {"openclose", benchOpenClose}} {
		for _, rules := range []int{-1, 0, 100} {
			name := fmt.Sprintf("%s/rules=%d", loop.name, rules)
			if rules < 0 {
				name = loop.name + "/no-enforcer"
			}
			b.Run(name, func(b *testing.B) {
				d := loadDrained(b, Options{RingBytes: 64 << 20, Syscalls: []string{"execve", "openat", "close"}})
				defer d.close()
				var prog *ebpf.Program
				if rules >= 0 {
					e, err := d.p.Enforcer()
					if err != nil {
						b.Fatal(err)
					}
					if err := e.SetClauses(enforceClauses(rules)); err != nil {
						b.Fatal(err)
					}
					prog = d.p.enfProg
				}
				st, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
				if err == nil {
					defer st.Close()
				}
				var s0 *ebpf.ProgramStats
				if prog != nil {
					s0, _ = prog.Stats()
				}
				b.ResetTimer()
				loop.f(b)
				b.StopTimer()
				if prog != nil && s0 != nil {
					if s1, err := prog.Stats(); err == nil && s1.RunCount > s0.RunCount {
						b.ReportMetric(float64((s1.Runtime-s0.Runtime).Nanoseconds())/float64(s1.RunCount-s0.RunCount), "bpf-ns/enter")
					}
				}
			})
		}
	}
}
