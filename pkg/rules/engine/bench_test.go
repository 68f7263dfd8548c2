package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/rules/loader"
)

// BenchmarkLoadCompileSyscallRules loads and compiles the three upstream syscall rules files
// (read from memory: YAML parse, collect, condition parse, compile, index).
func BenchmarkLoadCompileSyscallRules(b *testing.B) {
	dir := filepath.Join(sharedDir(b), "falco-rules")
	var files []loader.File
	for _, f := range []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"} {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, loader.File{Name: f, Data: data})
	}
	src := testSources()
	b.ReportAllocs()
	for b.Loop() {
		rs, errs, _ := Load(files, Options{Sources: src})
		if rs == nil {
			b.Fatal(errs)
		}
	}
}
