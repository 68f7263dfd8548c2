package loader

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to Load (after the seeds: every testdata file and a slice of
// an upstream rules file) and checks that it never panics, that every message has the file
// name, and that Locate works on every text it returns.
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"testdata/*.yaml", "testdata/*/*.yaml"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data)
			}
		}
	}
	f.Add([]byte("- &a [*a]\n"))
	f.Add([]byte("- macro: m\n  condition: \"a\\\n  b\\x41\\u00e9\"\n"))
	f.Add([]byte("- rule: r\n  desc: d\n  condition: |+\n\n   x\n\n  output: >2\n     o\n  priority: info\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, errs, warns := Load([]File{{Name: "fuzz.yaml", Data: data}, {Name: "again.yaml", Data: data}})
		if c == nil {
			t.Fatal("nil collection")
		}
		for _, m := range append(errs, warns...) {
			if m.Pos.File == "" || m.Msg == "" {
				t.Fatalf("message without file or text: %#v", m)
			}
			_ = m.String()
		}
		check := func(txt Text) {
			for off := -1; off <= len(txt.Value)+1; off++ {
				p := txt.Locate(off)
				if p.Line < 0 || p.Col < 0 {
					t.Fatalf("Locate(%d) = %v", off, p)
				}
			}
		}
		for _, m := range c.Macros {
			check(m.Condition)
		}
		for _, l := range c.Lists {
			for _, it := range l.Items {
				check(it)
			}
		}
		for _, r := range c.Rules {
			check(r.Condition)
			check(r.Output)
			for _, ex := range r.Exceptions {
				if len(ex.Comps) != len(ex.Fields) {
					t.Fatalf("exception %s: %d fields, %d comps", ex.Name, len(ex.Fields), len(ex.Comps))
				}
				for _, tuple := range ex.Values {
					if len(tuple) != len(ex.Fields) {
						t.Fatalf("exception %s: tuple of %d for %d fields", ex.Name, len(tuple), len(ex.Fields))
					}
					for _, v := range tuple {
						check(v.Text)
					}
				}
			}
		}
	})
}

// BenchmarkLoadSyscallRules loads the three upstream syscall rules files together.
func BenchmarkLoadSyscallRules(b *testing.B) {
	var files []File
	size := 0
	for _, n := range syscallFiles {
		p := rulesPath(b, n)
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, File{Name: p, Data: data})
		size += len(data)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		c, errs, _ := Load(files)
		if len(errs) > 0 || len(c.Rules) == 0 {
			b.Fatal(errs)
		}
	}
}

// BenchmarkLocate measures building the position map of every rule condition of the three
// syscall files (fresh, as on first use) and locating its middle.
func BenchmarkLocate(b *testing.B) {
	var files []File
	for _, n := range syscallFiles {
		data, err := os.ReadFile(rulesPath(b, n))
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, File{Name: n, Data: data})
	}
	c, _, _ := Load(files)
	var conds []Text
	for _, r := range c.Rules {
		conds = append(conds, r.Condition)
	}
	for b.Loop() {
		for _, t := range conds {
			fresh := t
			fresh.segs = append([]textSeg(nil), t.segs...)
			for i, s := range fresh.segs {
				src := &scalarSrc{file: s.src.file, line: s.src.line, col: s.src.col, style: s.src.style, value: s.src.value}
				fresh.segs[i].src = src
			}
			fresh.Locate(len(fresh.Value) / 2)
		}
	}
}
