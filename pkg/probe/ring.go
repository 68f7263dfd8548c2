package probe

import (
	"math/bits"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// The default ring size scales with the CPUs that write into the one ring: RingBytesPerCPU
// each, at least MinDefaultRingBytes and at most MaxDefaultRingBytes (4 MiB on 2 CPUs,
// 32 MiB on 16, 64 MiB from 32 on). The kernel maps the ring's pages twice into the reader,
// so the process's VmRSS includes twice the ring. On 2 CPUs a 4 MiB ring kept the same
// highest zero-drop rate as a 64 MiB one (BENCHMARKS.md, live pipeline): the ring absorbs
// bursts while the reader is descheduled, and what a burst fills grows with the writers.
const (
	RingBytesPerCPU     = 2 << 20
	MinDefaultRingBytes = 4 << 20
	MaxDefaultRingBytes = 64 << 20
)

// DefaultRingBytes is the ring size for ncpu writing CPUs, before rounding to a power of two.
func DefaultRingBytes(ncpu int) int {
	return min(max(ncpu*RingBytesPerCPU, MinDefaultRingBytes), MaxDefaultRingBytes)
}

// OnlineCPUs counts the online CPUs (/sys/devices/system/cpu/online; the CPUs this process
// may run on when that file cannot be read).
func OnlineCPUs() int {
	b, err := os.ReadFile("/sys/devices/system/cpu/online")
	if err != nil {
		return runtime.NumCPU()
	}
	n, ok := countCPUList(strings.TrimSpace(string(b)))
	if !ok || n == 0 {
		return runtime.NumCPU()
	}
	return n
}

// countCPUList counts the CPUs of a kernel CPU list ("0-3,8,10-11").
func countCPUList(s string) (int, bool) {
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, false
			}
		}
		n += b - a + 1
	}
	return n, true
}

// ringSize is the ring's size in bytes for Options.RingBytes n: a power of two, at least one
// page, at most 1 GiB; DefaultRingBytes(OnlineCPUs()) when n is 0 or less.
func ringSize(n int) uint32 {
	if n <= 0 {
		n = DefaultRingBytes(OnlineCPUs())
	}
	page := os.Getpagesize()
	if n < page {
		n = page
	}
	if n > 1<<30 {
		n = 1 << 30
	}
	return 1 << bits.Len(uint(n-1))
}

// RingBytes is the size of the loaded probe's ring buffer.
func (p *Probe) RingBytes() int { return int(p.coll.Maps["events"].MaxEntries()) }
