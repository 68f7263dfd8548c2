// Package selfmem gives back the pages of the running executable that only start-up used.
//
// A Go binary of Saker's size (about 100 MB with the Kubernetes, containerd and SQLite
// clients linked in) has about 50 MiB of its text, rodata and pclntab resident once start-up
// is over: package initialisation, configuration, rules compilation and the host scan touch
// code and tables all over the file, and every fault on a file mapping maps the 64 KiB
// around it (the kernel's fault-around). Most of it is never used again. PageOut asks the
// kernel (MADV_PAGEOUT) to reclaim the executable's file pages mapped by this process alone;
// the pages the steady state needs fault back in, and VmRSS settles at the working set.
// Nothing is lost: clean file pages are re-read from the file, and pages this process wrote
// (the data segment's copies) are anonymous and only go to swap, if any.
package selfmem

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Mapping is one of the executable's mappings.
type Mapping struct {
	Start, End uintptr
	Perms      string
}

// Executable lists the mappings of the running executable (from /proc/self/maps, matched by
// device and inode of /proc/self/exe).
func Executable() ([]Mapping, error) {
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/self/exe", &st); err != nil {
		return nil, fmt.Errorf("selfmem: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("selfmem: %w", err)
	}
	defer f.Close()
	var out []Mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// start-end perms offset major:minor inode path
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 {
			continue
		}
		ino, err := strconv.ParseUint(fs[4], 10, 64)
		if err != nil || ino != st.Ino {
			continue
		}
		maj, min, ok := strings.Cut(fs[3], ":")
		if !ok {
			continue
		}
		ma, err1 := strconv.ParseUint(maj, 16, 32)
		mi, err2 := strconv.ParseUint(min, 16, 32)
		if err1 != nil || err2 != nil || unix.Mkdev(uint32(ma), uint32(mi)) != uint64(st.Dev) {
			continue
		}
		lo, hi, ok := strings.Cut(fs[0], "-")
		if !ok {
			continue
		}
		s, err1 := strconv.ParseUint(lo, 16, 64)
		e, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, Mapping{Start: uintptr(s), End: uintptr(e), Perms: fs[1]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("selfmem: reading /proc/self/maps: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("selfmem: no mapping of the executable in /proc/self/maps")
	}
	return out, nil
}

// PageOut asks the kernel to reclaim the executable's pages that this process alone maps.
// It returns the number of bytes advised. Kernels before 5.4 lack MADV_PAGEOUT (EINVAL).
func PageOut() (int, error) {
	ms, err := Executable()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, m := range ms {
		if err := madvise(m.Start, m.End-m.Start, unix.MADV_PAGEOUT); err != nil {
			return n, fmt.Errorf("selfmem: madvise(MADV_PAGEOUT) %#x-%#x: %w", m.Start, m.End, err)
		}
		n += int(m.End - m.Start)
	}
	return n, nil
}

func madvise(addr, length uintptr, advice int) error {
	_, _, e := unix.Syscall(unix.SYS_MADVISE, addr, length, uintptr(advice))
	if e != 0 {
		return e
	}
	return nil
}
