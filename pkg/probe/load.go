package probe

import (
	"cmp"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
)

// loadCollection creates spec's maps, then loads its programs in up to n groups at once, one
// goroutine each: the kernel's verifier checks a privileged load without a global lock, and
// it is most of the probe's start-up (on a 2-core machine of 6.18 about 14 s for the 129
// programs one after the other; the io_uring and the enforcement programs take a second or
// more each). The programs reference maps only (the program arrays are filled at run time),
// so each group is a collection of its own over the same maps (MapReplacements), and the
// result is one collection: the groups' programs with the first collection's maps and
// variables.
func loadCollection(spec *ebpf.CollectionSpec, n int) (*ebpf.Collection, error) {
	n = min(n, len(spec.Programs))
	if n <= 1 {
		return ebpf.NewCollection(spec)
	}
	maps := spec.Copy()
	maps.Programs = nil
	coll, err := ebpf.NewCollection(maps)
	if err != nil {
		return nil, err
	}
	// the longest programs first, each to the group with the fewest instructions so far
	names := make([]string, 0, len(spec.Programs))
	for name, p := range spec.Programs {
		if p.Type != ebpf.UnspecifiedProgram {
			names = append(names, name)
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(len(spec.Programs[b].Instructions)-len(spec.Programs[a].Instructions), strings.Compare(a, b))
	})
	groups := make([]map[string]*ebpf.ProgramSpec, n)
	sizes := make([]int, n)
	for _, name := range names {
		g := 0
		for i := range sizes {
			if sizes[i] < sizes[g] {
				g = i
			}
		}
		if groups[g] == nil {
			groups[g] = map[string]*ebpf.ProgramSpec{}
		}
		groups[g][name] = spec.Programs[name]
		sizes[g] += len(spec.Programs[name].Instructions)
	}
	loaded := make([]map[string]*ebpf.Program, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, progs := range groups {
		if progs == nil {
			continue
		}
		wg.Go(func() { loaded[i], errs[i] = loadOver(coll, subSpec(spec, progs)) })
	}
	wg.Wait()
	coll.Programs = map[string]*ebpf.Program{}
	for _, progs := range loaded {
		for name, p := range progs {
			coll.Programs[name] = p
		}
	}
	if err := errors.Join(errs...); err != nil {
		coll.Close()
		return nil, err
	}
	return coll, nil
}

// later takes program name out of spec, to load when it is first needed (loadLater): it
// returns the spec that loads it alone over spec's maps, nil when spec has no such program.
func later(spec *ebpf.CollectionSpec, name string) *ebpf.CollectionSpec {
	ps := spec.Programs[name]
	if ps == nil {
		return nil
	}
	delete(spec.Programs, name)
	return subSpec(spec, map[string]*ebpf.ProgramSpec{name: ps})
}

// subSpec is the spec of some of spec's programs, over spec's maps.
func subSpec(spec *ebpf.CollectionSpec, progs map[string]*ebpf.ProgramSpec) *ebpf.CollectionSpec {
	return &ebpf.CollectionSpec{Maps: spec.Maps, Programs: progs, Types: spec.Types, ByteOrder: spec.ByteOrder}
}

// loadLater loads the one program of sub (from later) over coll's maps.
func loadLater(coll *ebpf.Collection, sub *ebpf.CollectionSpec) (*ebpf.Program, error) {
	progs, err := loadOver(coll, sub)
	if err != nil {
		return nil, err
	}
	for _, p := range progs {
		return p, nil
	}
	return nil, errors.New("probe: nothing loaded")
}

// loadOver loads sub's programs using coll's maps in place of sub's.
func loadOver(coll *ebpf.Collection, sub *ebpf.CollectionSpec) (map[string]*ebpf.Program, error) {
	c, err := ebpf.NewCollectionWithOptions(sub, ebpf.CollectionOptions{MapReplacements: coll.Maps})
	if err != nil {
		return nil, err
	}
	for _, m := range c.Maps { // clones of coll's: the programs hold the maps themselves
		m.Close()
	}
	return c.Programs, nil
}

// loadWorkers is how many program groups Load verifies at once.
func loadWorkers() int { return runtime.NumCPU() }
