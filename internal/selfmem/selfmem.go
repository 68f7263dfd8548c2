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
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mapping is one of the executable's mappings.
type Mapping struct {
	Start, End uintptr
	Perms      string
}

// Executable lists the mappings of the running executable: in /proc/self/maps, those of the
// file (device and inode as the kernel shows them) that maps this function's code. (Not a
// stat of /proc/self/exe: on overlayfs the mapped file is the layer's, not the overlay's.)
func Executable() ([]Mapping, error) {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return nil, fmt.Errorf("selfmem: %w", err)
	}
	type line struct {
		Mapping
		file string // major:minor inode
	}
	var ls []line
	for _, l := range strings.Split(string(b), "\n") {
		// start-end perms offset major:minor inode path
		fs := strings.Fields(l)
		if len(fs) < 6 || fs[4] == "0" {
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
		ls = append(ls, line{Mapping{Start: uintptr(s), End: uintptr(e), Perms: fs[1]}, fs[3] + " " + fs[4]})
	}
	pc := reflect.ValueOf(Executable).Pointer()
	file := ""
	for _, l := range ls {
		if l.Start <= pc && pc < l.End {
			file = l.file
		}
	}
	if file == "" {
		return nil, fmt.Errorf("selfmem: no mapping of the executable's code (%#x) in /proc/self/maps", pc)
	}
	var out []Mapping
	for _, l := range ls {
		if l.file == file {
			out = append(out, l.Mapping)
		}
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
