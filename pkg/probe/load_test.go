package probe

import (
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// Loading the programs in groups gives one collection: every program of the object, each
// using the collection's own maps (one ring, one set of tables), not copies of them a group
// would have made. The enforcement program is loaded by the first Enforcer call, over the
// same maps.
func TestLoadInGroups(t *testing.T) {
	needProbe(t)
	p, err := Load(Options{RingBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spec, err := loadSaker()
	if err != nil {
		t.Fatal(err)
	}
	if p.uringErr != nil {
		withoutUring(spec)
	}
	ids := map[ebpf.MapID]string{}
	for name, m := range p.coll.Maps {
		info, err := m.Info()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := info.ID()
		ids[id] = name
	}
	if p.coll.Programs["enforce_enter"] != nil || p.enfProg != nil {
		t.Fatal("the enforcement program is loaded before an Enforcer is asked for")
	}
	if _, err := p.Enforcer(); err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for name, ps := range spec.Programs {
		if ps.Type == ebpf.UnspecifiedProgram {
			continue
		}
		prog := p.coll.Programs[name]
		if name == "enforce_enter" {
			prog = p.enfProg
		}
		if prog == nil {
			t.Errorf("program %s not loaded", name)
			continue
		}
		info, err := prog.Info()
		if err != nil {
			t.Fatal(err)
		}
		mids, ok := info.MapIDs()
		if !ok {
			t.Fatalf("%s: the kernel reports no map ids", name)
		}
		for _, id := range mids {
			m, ok := ids[id]
			if !ok {
				t.Errorf("program %s uses map %d, which is none of the collection's", name, id)
			}
			used[m] = true
		}
	}
	if len(p.coll.Programs) < 100 || !used["events"] || !used["enf_events"] {
		t.Errorf("%d programs loaded; the ring used: %v, the enforcement ring: %v", len(p.coll.Programs), used["events"], used["enf_events"])
	}
}

// With direct reads off (the path kernels before 6.2 take: no bpf_rdonly_cast) the programs
// read the same file and socket fields through bpf_probe_read_kernel: an openat's dev, ino
// and created flag, a connect's tuple.
func TestProbeReadsWithoutDirectLoads(t *testing.T) {
	needProbe(t)
	p, err := Load(Options{RingBytes: 8 << 20, ExcludeTGID: uint32(os.Getpid()), NoDirectReads: true})
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{p: p, done: make(chan struct{})}
	go c.run()
	defer func() {
		p.Close()
		<-c.done
	}()
	if err := p.SetSyscalls(nil); err != nil {
		t.Fatal(err)
	}
	t.Run("openat", func(t *testing.T) { testOpenat(t, c) })
	t.Run("connect", func(t *testing.T) { testConnect(t, c) })
}
