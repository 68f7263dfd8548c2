package selfmem

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// exeRSS sums the Rss of the executable's mappings in /proc/self/smaps, in KiB.
func exeRSS(t *testing.T, ms []Mapping) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	starts := map[uint64]bool{}
	for _, m := range ms {
		starts[uint64(m.Start)] = true
	}
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if !strings.HasSuffix(fs[0], ":") { // a mapping's header: start-end perms ...
			lo, _, _ := strings.Cut(fs[0], "-")
			a, err := strconv.ParseUint(lo, 16, 64)
			in = err == nil && starts[a]
			continue
		}
		if in && fs[0] == "Rss:" && len(fs) > 1 {
			kb, _ := strconv.Atoi(fs[1])
			total += kb
		}
	}
	return total
}

func TestPageOutGivesBackExecutablePages(t *testing.T) {
	ms, err := Executable()
	if err != nil {
		t.Fatal(err)
	}
	var text bool
	for _, m := range ms {
		text = text || strings.Contains(m.Perms, "x")
		if m.End <= m.Start {
			t.Fatalf("bad mapping %+v", m)
		}
	}
	if !text {
		t.Fatalf("no executable mapping among %+v", ms)
	}
	before := exeRSS(t, ms)
	n, err := PageOut()
	if err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t, ms)
	t.Logf("executable's Rss %d KiB → %d KiB after paging out %d KiB of mappings", before, after, n>>10)
	if after >= before {
		t.Errorf("Rss of the executable's mappings %d KiB after PageOut, %d KiB before: nothing given back", after, before)
	}
	// the code still runs and the data is intact after its pages went
	if s := strconv.Itoa(12345); s != "12345" {
		t.Fatalf("strconv.Itoa after PageOut = %q", s)
	}
}
