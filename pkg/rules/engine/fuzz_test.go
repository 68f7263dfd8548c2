package engine

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/rules/loader"
)

// FuzzCompile loads and compiles arbitrary rules files (every pass: YAML, collection,
// conditions, exceptions read as condition text, outputs): it must never panic, and every
// error must name the file.
func FuzzCompile(f *testing.F) {
	for _, pattern := range []string{"testdata/broken/*.yaml", "../loader/testdata/*.yaml", "../loader/testdata/*/*.yaml"} {
		paths, _ := filepath.Glob(pattern)
		for _, p := range paths {
			if data, err := os.ReadFile(p); err == nil {
				f.Add(data, "")
			}
		}
	}
	ex := "- list: l\n  items: [a, 'b c']\n- rule: r\n  desc: d\n  condition: evt.type = execve and proc.name = l\n  output: \"%container.info %proc.aname[2]\"\n  priority: info\n  exceptions:\n    - name: e\n      fields: [proc.name, fd.name]\n      comps: [=, in]\n      values:\n        - [X, Y]\n"
	for _, v := range []string{`'"cat /dev/null"'`, "(l)", "l", `"(a, b"`, "'", "a b", `"\"`, "((", "val(proc.name)"} {
		f.Add([]byte(ex), v)
	}
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		src := string(data)
		if value != "" {
			src = strings.ReplaceAll(src, "X", value)
			src = strings.ReplaceAll(src, "Y", value)
		}
		rs, errs, _ := Load([]loader.File{{Name: "f.yaml", Data: []byte(src)}}, Options{Sources: testSources()})
		if rs != nil && len(errs) > 0 {
			t.Fatalf("a ruleset with errors: %v", errs)
		}
		for _, e := range errs {
			if !strings.HasPrefix(e.String(), "f.yaml") {
				t.Fatalf("error without the file: %s", e)
			}
		}
	})
}
