package engine

import (
	"bufio"
	"bytes"
	"github.com/saker-sec/saker/internal/testshared"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"go.yaml.in/yaml/v3"
)

// sharedDir finds ../shared beside the repository root: skipped where absent, fatal under CI.
func sharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t)
}

func testSources() map[string]fields.Source {
	return map[string]fields.Source{
		"syscall": &fields.CatalogSource{SourceName: "syscall", Catalog: fields.SyscallCatalog(),
			Codes: func(n string) ([]uint16, bool) { c := event.ByName(n); return c, len(c) > 0 }, NumCodes: event.NumEvents},
		"k8s_audit": &fields.CatalogSource{SourceName: "k8s_audit", Catalog: fields.K8sAuditCatalog(), NumCodes: 1},
	}
}

// enabledRules counts, independently of the loader, the rules a file defines and leaves
// enabled: the YAML sequence's `rule` items whose `enabled` is not false.
func enabledRules(t *testing.T, paths ...string) map[string]bool {
	out := map[string]bool{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var items []map[string]any
		if err := yaml.Unmarshal(data, &items); err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			name, ok := it["rule"].(string)
			if !ok {
				continue
			}
			if en, has := it["enabled"]; has {
				out[name] = en != false
			} else if _, seen := out[name]; !seen || it["condition"] != nil {
				out[name] = true
			}
		}
	}
	for n, en := range out {
		if !en {
			delete(out, n)
		}
	}
	return out
}

func TestUpstreamRulesCompile(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "falco-rules")
	syscall := []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}
	sets := [][]string{{"falco_rules.yaml"}, {"falco-incubating_rules.yaml"}, {"falco-sandbox_rules.yaml"}, {"k8s_audit_rules.yaml"}, syscall}
	for _, set := range sets {
		var paths []string
		for _, f := range set {
			paths = append(paths, filepath.Join(dir, f))
		}
		rs, errs, _ := LoadFiles(paths, Options{Sources: testSources()})
		for _, e := range errs {
			t.Errorf("%v: %s", set, e)
		}
		if rs == nil {
			continue
		}
		want := enabledRules(t, paths...)
		got := map[string]bool{}
		for _, r := range rs.Enabled() {
			got[r.Name] = true
			if !want[r.Name] {
				t.Errorf("%v: rule %q enabled, but the file disables or lacks it", set, r.Name)
			}
		}
		for n := range want {
			if !got[n] {
				t.Errorf("%v: rule %q missing from the enabled rules", set, n)
			}
		}
		if len(got) == 0 {
			t.Errorf("%v: no enabled rules", set)
		}
		t.Logf("%v: %d enabled rules", set, len(got))
	}
}

var expectRe = regexp.MustCompile(`^# expect: (.*)$`)

// TestBrokenRules loads every broken rules file of the corpora (the loader's and the
// compiler's) and checks the first error against the file's `# expect:` line.
func TestBrokenRules(t *testing.T) {
	var files []string
	for _, dir := range []string{"testdata/broken", "../loader/testdata/broken"} {
		m, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
		files = append(files, m...)
	}
	if len(files) < 30 {
		t.Errorf("only %d broken rules files, want at least 30", len(files))
	}
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var want string
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			if m := expectRe.FindStringSubmatch(sc.Text()); m != nil {
				want = m[1]
				break
			}
		}
		if want == "" {
			t.Errorf("%s: no '# expect:' line", path)
			continue
		}
		name := filepath.Base(path)
		rs, errs, _ := Load([]loader.File{{Name: name, Data: data}}, Options{Sources: testSources()})
		if rs != nil || len(errs) == 0 {
			t.Errorf("%s: loaded without error, want %s", name, want)
			continue
		}
		if got := errs[0].String(); got != want {
			t.Errorf("%s:\n got %s\nwant %s", name, got, want)
		}
	}
}

func TestWarnings(t *testing.T) {
	src := `
- list: unused_list
  items: [a]
- macro: unused_macro
  condition: proc.name = a
- rule: all types
  desc: d
  condition: proc.name = sh
  output: "%proc.name"
  priority: NOTICE
- rule: all types, quiet
  desc: d
  condition: proc.name = sh
  output: "%proc.name"
  priority: NOTICE
  warn_evttypes: false
- rule: unknown source
  desc: d
  condition: x.y = 1
  output: "x"
  priority: NOTICE
  source: nosuchsource
- rule: skipped
  desc: d
  condition: evt.type = open and proc.futurefield = 1
  output: "x"
  priority: NOTICE
  skip-if-unknown-filter: true
`
	rs, errs, warns := Load([]loader.File{{Name: "w.yaml", Data: []byte(src)}}, Options{Sources: testSources()})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	for _, want := range []string{
		`w.yaml:2:3: list not referred to by any rule, macro or list (list "unused_list")`,
		`w.yaml:4:3: macro not referred to by any rule or macro (macro "unused_macro")`,
		`w.yaml:6:3: rule matches too many evt.type values; this has a significant performance penalty (rule "all types")`,
		`w.yaml:17:3: unknown source 'nosuchsource', rule skipped (rule "unknown source")`,
		`w.yaml:23:3: unknown field 'proc.futurefield'; rule skipped (skip-if-unknown-filter) (rule "skipped")`,
	} {
		found := false
		for _, g := range got {
			found = found || g == want
		}
		if !found {
			t.Errorf("missing warning %s\nhave:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if len(got) != 5 {
		t.Errorf("got %d warnings, want 5:\n%s", len(got), strings.Join(got, "\n"))
	}
	if n := len(rs.Enabled()); n != 2 {
		t.Errorf("%d enabled rules, want 2", n)
	}
}
