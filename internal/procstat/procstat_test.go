package procstat

import (
	"os"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	m, err := Parse(strings.NewReader("# HELP x y\n# TYPE x counter\nx 3\nsaker_events_dropped_total{where=\"kernel\"} 1.5e+06\nbroken\n\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m["x"] != 3 || m[`saker_events_dropped_total{where="kernel"}`] != 1.5e6 || len(m) != 2 {
		t.Errorf("Parse = %v", m)
	}
}

func TestStatusSelf(t *testing.T) {
	st, err := Status(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st["VmRSS"] <= 0 || st["RssAnon"] <= 0 {
		t.Errorf("Status = %v", st)
	}
	if _, err := BPFMapRSS(os.Getpid()); err != nil {
		t.Error(err)
	}
}

// FuzzParse: any text parses without a panic.
func FuzzParse(f *testing.F) {
	f.Add("a 1\nb{c=\"d\"} 2\n# x\n")
	f.Fuzz(func(t *testing.T, s string) { Parse(strings.NewReader(s)) })
}
