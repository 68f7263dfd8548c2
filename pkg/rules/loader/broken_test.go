package loader

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every file in testdata/broken states the errors it must produce, in order, as leading
// `# expect: FILE:LINE:COL: message` comment lines (FILE:LINE: for YAML syntax errors, whose
// column yaml.v3 does not report). The first error must match exactly, and so must the whole
// list: loading goes on after an error so that all of them are reported.
func TestBrokenCorpus(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "broken", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) < 20 {
		t.Fatalf("only %d broken files", len(paths))
	}
	for _, p := range paths {
		name := filepath.Base(p)
		t.Run(strings.TrimSuffix(name, ".yaml"), func(t *testing.T) {
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, line := range strings.Split(string(data), "\n") {
				if e, ok := strings.CutPrefix(line, "# expect: "); ok {
					want = append(want, e)
				}
			}
			if len(want) == 0 {
				t.Fatal("no `# expect:` line")
			}
			_, errs, _ := Load([]File{{Name: name, Data: data}})
			if len(errs) == 0 {
				t.Fatalf("no error; want %s", want[0])
			}
			if got := errs[0].String(); got != want[0] {
				t.Errorf("first error\n got: %s\nwant: %s", got, want[0])
			}
			var got []string
			for _, e := range errs {
				got = append(got, e.String())
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("all errors\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// The good items of a file with errors are still loaded.
func TestErrorsDoNotStopLoading(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "broken", "many_errors.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, errs, _ := Load([]File{{Name: "many_errors.yaml", Data: data}})
	if len(errs) != 5 {
		t.Errorf("%d errors", len(errs))
	}
	if c.Macro("good") == nil || c.List("ok_list") == nil || c.Macro("no_cond") != nil || c.Rule("Bad priority") != nil {
		t.Errorf("collection: %d macros %d lists %d rules", len(c.Macros), len(c.Lists), len(c.Rules))
	}
}
