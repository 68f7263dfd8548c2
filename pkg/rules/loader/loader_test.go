package loader

import (
	"github.com/saker-sec/saker/internal/testshared"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// sharedDir returns ../shared relative to the repository root, skipping the test when it is
// absent (failing under CI=true).
func sharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t)
}

func rulesPath(t testing.TB, name string) string {
	return filepath.Join(sharedDir(t), "falco-rules", name)
}

var syscallFiles = []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"}

// independentCount parses a rules file with regular expressions only: the names of its
// rules, macros and lists, and which rules say `enabled: false`.
type independentCount struct {
	rules, macros, lists map[string]bool
	disabled             map[string]bool
	ruleOrder            []string
}

var (
	reItemStart = regexp.MustCompile(`(?m)^- `)
	reRuleName  = regexp.MustCompile(`(?m)^(?:- |  )rule:[ \t]*(.+?)[ \t]*$`)
	reMacroName = regexp.MustCompile(`(?m)^(?:- |  )macro:[ \t]*(.+?)[ \t]*$`)
	reListName  = regexp.MustCompile(`(?m)^(?:- |  )list:[ \t]*(.+?)[ \t]*$`)
	reDisabled  = regexp.MustCompile(`(?m)^  enabled:[ \t]*false[ \t]*$`)
)

func countIndependently(data string, into *independentCount) {
	starts := reItemStart.FindAllStringIndex(data, -1)
	for i, s := range starts {
		end := len(data)
		if i+1 < len(starts) {
			end = starts[i+1][0]
		}
		item := data[s[0]:end]
		if m := reRuleName.FindStringSubmatch(item); m != nil {
			if !into.rules[m[1]] {
				into.ruleOrder = append(into.ruleOrder, m[1])
			}
			into.rules[m[1]] = true
			into.disabled[m[1]] = reDisabled.MatchString(item)
		} else if m := reMacroName.FindStringSubmatch(item); m != nil {
			into.macros[m[1]] = true
		} else if m := reListName.FindStringSubmatch(item); m != nil {
			into.lists[m[1]] = true
		}
	}
}

func TestUpstreamRulesFiles(t *testing.T) {
	cases := [][]string{
		{"falco_rules.yaml"}, {"falco-incubating_rules.yaml"}, {"falco-sandbox_rules.yaml"},
		{"k8s_audit_rules.yaml"}, syscallFiles,
	}
	for _, names := range cases {
		t.Run(strings.Join(names, "+"), func(t *testing.T) {
			var paths []string
			want := &independentCount{rules: map[string]bool{}, macros: map[string]bool{}, lists: map[string]bool{}, disabled: map[string]bool{}}
			for _, n := range names {
				p := rulesPath(t, n)
				paths = append(paths, p)
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				countIndependently(string(data), want)
			}
			c, errs, warns := LoadFiles(paths...)
			for _, e := range errs {
				t.Errorf("error: %s", e)
			}
			for _, w := range warns {
				t.Errorf("unexpected warning: %s", w)
			}
			if len(c.Rules) != len(want.rules) || len(c.Macros) != len(want.macros) || len(c.Lists) != len(want.lists) {
				t.Errorf("got %d rules, %d macros, %d lists; regexp count %d, %d, %d",
					len(c.Rules), len(c.Macros), len(c.Lists), len(want.rules), len(want.macros), len(want.lists))
			}
			if len(want.rules) < 20 {
				t.Errorf("suspiciously few rules counted: %d", len(want.rules))
			}
			var order []string
			ndisabled := 0
			for _, r := range c.Rules {
				order = append(order, r.Name)
				if !want.rules[r.Name] {
					t.Errorf("rule %q not found by the regexp count", r.Name)
				}
				if r.Enabled == want.disabled[r.Name] {
					t.Errorf("rule %q: Enabled=%v, file says disabled=%v", r.Name, r.Enabled, want.disabled[r.Name])
				}
				if !r.Enabled {
					ndisabled++
				}
				if r.Condition.Value == "" || r.Output.Value == "" || r.Desc == "" {
					t.Errorf("rule %q has an empty condition/output/desc", r.Name)
				}
				if r.Condition.Pos.Line == 0 || r.Pos.Line == 0 {
					t.Errorf("rule %q has no position", r.Name)
				}
			}
			if !reflect.DeepEqual(order, want.ruleOrder) {
				t.Errorf("rule order differs from the files")
			}
			for _, m := range c.Macros {
				if !want.macros[m.Name] {
					t.Errorf("macro %q not found by the regexp count", m.Name)
				}
			}
			for _, l := range c.Lists {
				if !want.lists[l.Name] {
					t.Errorf("list %q not found by the regexp count", l.Name)
				}
			}
			if names[0] == "k8s_audit_rules.yaml" {
				if c.RequiredEngineVersion != "0.15.0" {
					t.Errorf("required engine version %q", c.RequiredEngineVersion)
				}
				for _, r := range c.Rules {
					if r.Source != "k8s_audit" {
						t.Errorf("rule %q source %q", r.Name, r.Source)
					}
				}
			} else if c.RequiredEngineVersion != "0.57.0" {
				t.Errorf("required engine version %q", c.RequiredEngineVersion)
			}
			t.Logf("%d rules (%d disabled), %d macros, %d lists", len(c.Rules), ndisabled, len(c.Macros), len(c.Lists))
		})
	}
}

// Spot checks on falco_rules.yaml against values read off the file.
func TestUpstreamSpotChecks(t *testing.T) {
	p := rulesPath(t, "falco_rules.yaml")
	c, errs, _ := LoadFiles(p)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	data, _ := os.ReadFile(p)
	lines := strings.Split(string(data), "\n")
	r := c.Rule("Terminal shell in container")
	if r == nil {
		t.Fatal("rule missing")
	}
	if r.Priority != Notice || r.Source != "syscall" || !r.Enabled || !r.WarnEvttypes {
		t.Errorf("got priority %v source %q enabled %v warn %v", r.Priority, r.Source, r.Enabled, r.WarnEvttypes)
	}
	// the rule's position is its `- rule:` line, column 3
	if !strings.HasPrefix(lines[r.Pos.Line-1], "- rule: Terminal shell in container") || r.Pos.Col != 3 {
		t.Errorf("rule position %v: %q", r.Pos, lines[r.Pos.Line-1])
	}
	// Locate on the (folded) condition: each word of the condition is found at its place
	for _, w := range []string{"spawned_process", "container", "shell_procs", "proc.tty"} {
		off := strings.Index(r.Condition.Value, w)
		if off < 0 {
			t.Fatalf("%q not in condition", w)
		}
		pos := r.Condition.Locate(off)
		line := lines[pos.Line-1]
		if !strings.HasPrefix(string([]rune(line)[pos.Col-1:]), w) {
			t.Errorf("%q located at %v: %q", w, pos, line)
		}
	}
	if !reflect.DeepEqual(r.Tags, sortedCopy(r.Tags)) || len(r.Tags) == 0 {
		t.Errorf("tags not a sorted set: %v", r.Tags)
	}
	if l := c.List("shell_binaries"); l == nil || len(l.Items) == 0 || l.Items[0].Value != "ash" {
		t.Errorf("shell_binaries: %+v", l)
	}
}

func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

func texts(ts []Text) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Value)
	}
	return out
}

func exValues(ex Exception) [][]string {
	var out [][]string
	for _, tuple := range ex.Values {
		var row []string
		for _, v := range tuple {
			if v.IsList {
				row = append(row, "("+strings.Join(texts(v.Items), ",")+")")
			} else {
				row = append(row, v.Value)
			}
		}
		out = append(out, row)
	}
	return out
}

func loadTestdata(t *testing.T, names ...string) (*Collection, []Message, []Message) {
	t.Helper()
	var files []File
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join("testdata", n))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, File{Name: n, Data: data})
	}
	return Load(files)
}

func TestMultiFileSemantics(t *testing.T) {
	c, errs, warns := loadTestdata(t, "semantics/base.yaml", "semantics/local.yaml", "semantics/redefine.yaml")
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	wantWarns := []string{
		"semantics/local.yaml:10:3: " + warnAppend + ` (macro "spawned")`,
		"semantics/local.yaml:42:3: " + warnEnabled + ` (rule "R2")`,
		"semantics/local.yaml:50:3: " + warnAppend + ` (rule "R1")`,
	}
	var gotWarns []string
	for _, w := range warns {
		gotWarns = append(gotWarns, w.String())
	}
	if !reflect.DeepEqual(gotWarns, wantWarns) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(gotWarns, "\n"), strings.Join(wantWarns, "\n"))
	}
	if c.RequiredEngineVersion != "0.31.0" {
		t.Errorf("engine version %q", c.RequiredEngineVersion)
	}

	if got := texts(c.List("shells").Items); !reflect.DeepEqual(got, []string{"bash", "sh", "zsh"}) {
		t.Errorf("shells = %v", got)
	}
	if got := texts(c.List("editors").Items); !reflect.DeepEqual(got, []string{"nano"}) {
		t.Errorf("editors = %v", got)
	}
	if got := c.Macro("spawned").Condition.Value; got != "evt.type = execve and proc.name != init" {
		t.Errorf("spawned = %q", got)
	}
	if got := c.Macro("m2").Condition.Value; got != "proc.name = z" {
		t.Errorf("m2 = %q", got)
	}

	var order []string
	for _, r := range c.Rules {
		order = append(order, r.Name)
	}
	if !reflect.DeepEqual(order, []string{"R1", "R2", "R3", "R4"}) {
		t.Errorf("rule order %v", order)
	}

	r1 := c.Rule("R1")
	if r1.Condition.Value != "spawned and proc.name in (shells) and not user.name = root or evt.type = open" {
		t.Errorf("R1 condition %q", r1.Condition.Value)
	}
	if r1.Priority != Critical || r1.Output.Value != "replaced %proc.name" || !reflect.DeepEqual(r1.Tags, []string{"z"}) {
		t.Errorf("R1 priority %v output %q tags %v", r1.Priority, r1.Output.Value, r1.Tags)
	}
	if r1.Desc != "first rule" || r1.File != "semantics/base.yaml" {
		t.Errorf("R1 desc %q file %q", r1.Desc, r1.File)
	}
	type exSum struct {
		Name   string
		Fields []string
		IsList bool
		Comps  []string
		Values [][]string
	}
	var gotEx []exSum
	for _, ex := range r1.Exceptions {
		gotEx = append(gotEx, exSum{ex.Name, ex.Fields, ex.FieldsIsList, ex.Comps, exValues(ex)})
	}
	wantEx := []exSum{
		{"ex_pair", []string{"proc.name", "fd.name"}, true, []string{"=", "="}, [][]string{{"bash", "/tmp"}, {"zsh", "(/var,/opt)"}}},
		{"ex_single", []string{"proc.pname"}, false, []string{"pmatch"}, [][]string{{"sshd"}, {"(shells)"}}},
		{"ex_new", []string{"proc.name"}, true, []string{"startswith"}, [][]string{{"x"}}},
	}
	if !reflect.DeepEqual(gotEx, wantEx) {
		t.Errorf("R1 exceptions\n got %+v\nwant %+v", gotEx, wantEx)
	}
	// the appended exception value keeps its own file position
	if p := r1.Exceptions[0].Values[1][0].Pos; p != (Pos{"semantics/local.yaml", 24, 12}) {
		t.Errorf("appended exception value at %v", p)
	}

	r2 := c.Rule("R2")
	if r2.Desc != "second, redefined" || r2.Condition.Value != "evt.type = open" || r2.Priority != Error || !r2.Enabled || r2.File != "semantics/redefine.yaml" {
		t.Errorf("R2 = %+v", r2)
	}
	r3 := c.Rule("R3")
	if r3.Enabled || r3.Source != "k8s_audit" || r3.Priority != Debug {
		t.Errorf("R3 = %+v", r3)
	}
	r4 := c.Rule("R4")
	if r4.Desc != "fourth more" || r4.Output.Value != "r4 %user.name" || r4.Priority != Notice {
		t.Errorf("R4 desc %q output %q", r4.Desc, r4.Output.Value)
	}

	// Locate across an appended condition: the first piece maps into base.yaml, the appended
	// pieces into local.yaml, the separator to the end of the previous piece.
	cond := r1.Condition
	checks := []struct {
		word string
		want Pos
	}{
		{"spawned", Pos{"semantics/base.yaml", 18, 14}},
		{"(shells)", Pos{"semantics/base.yaml", 18, 39}},
		{"user.name", Pos{"semantics/local.yaml", 20, 22}},
		{"evt.type", Pos{"semantics/local.yaml", 52, 17}},
	}
	for _, ck := range checks {
		if got := cond.Locate(strings.Index(cond.Value, ck.word)); got != ck.want {
			t.Errorf("Locate(%q) = %v, want %v", ck.word, got, ck.want)
		}
	}
	if cond.Pieces() != 3 {
		t.Errorf("pieces %d", cond.Pieces())
	}
}

// A trimmed output keeps its mapping.
func TestTrimmedOutputPosition(t *testing.T) {
	c, errs, _ := loadTestdata(t, "semantics/base.yaml")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	out := c.Rule("R1").Output
	if out.Value != "shell %proc.name" {
		t.Fatalf("output %q", out.Value)
	}
	// line 19: `  output: "  shell %proc.name  "`: 's' of shell is column 14
	if out.Pos != (Pos{"semantics/base.yaml", 19, 14}) || out.Locate(6) != (Pos{"semantics/base.yaml", 19, 20}) {
		t.Errorf("output at %v, %%proc at %v", out.Pos, out.Locate(6))
	}
}

func TestRedefinitionWithOtherSourceFails(t *testing.T) {
	files := []File{
		{Name: "a.yaml", Data: []byte("- rule: X\n  desc: d\n  condition: ka.verb=get\n  output: o\n  priority: info\n  source: k8s_audit\n")},
		{Name: "b.yaml", Data: []byte("- rule: X\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: info\n")},
	}
	_, errs, _ := Load(files)
	if len(errs) != 1 || errs[0].String() != `b.yaml:1:3: Rule has been re-defined with a different source (rule "X")` {
		t.Errorf("errors %v", errs)
	}
}

func TestEmptyAndNullDocuments(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "---\n", "~\n", "---\n...\n---\n- list: a\n  items: []\n", "- ~\n- list: b\n  items: [x]\n"} {
		c, errs, warns := Load([]File{{Name: "f.yaml", Data: []byte(src)}})
		if len(errs)+len(warns) > 0 {
			t.Errorf("%q: errors %v warnings %v", src, errs, warns)
		}
		if c == nil {
			t.Errorf("%q: nil collection", src)
		}
	}
}

func TestUnknownTopLevelItemAndKeysWarn(t *testing.T) {
	src := "- foo: bar\n- macro: m\n  condition: a\n  bogus: 1\n"
	c, errs, warns := Load([]File{{Name: "f.yaml", Data: []byte(src)}})
	if len(errs) > 0 || c.Macro("m") == nil {
		t.Fatal(errs)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{"f.yaml:1:3: Unknown top level item", `f.yaml:4:3: Unknown key 'bogus' (macro "m")`}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings %q", got)
	}
}

func TestPriorities(t *testing.T) {
	for s, want := range map[string]Priority{
		"emergency": Emergency, "ALERT": Alert, "Critical": Critical, "error": Error, "WARNING": Warning,
		"notice": Notice, "informational": Informational, "INFO": Informational, "Debug": Debug,
	} {
		p, ok := ParsePriority(s)
		if !ok || p != want {
			t.Errorf("ParsePriority(%q) = %v, %v", s, p, ok)
		}
	}
	if _, ok := ParsePriority("urgent"); ok {
		t.Error("urgent accepted")
	}
	names := []string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}
	for i, n := range names {
		if Priority(i).String() != n {
			t.Errorf("%d: %s", i, Priority(i))
		}
	}
}

func TestEngineVersions(t *testing.T) {
	for v, ok := range map[string]bool{
		"9": true, "57": true, "58": false, "0.31.0": true, "0.57.0": true, "0.57.1": false,
		"0.58.0": false, "1.0.0": false, `"0.20.0"`: true,
	} {
		_, errs, _ := Load([]File{{Name: "f", Data: []byte("- required_engine_version: " + v + "\n")}})
		if (len(errs) == 0) != ok {
			t.Errorf("required_engine_version %s: errors %v", v, errs)
		}
	}
}

// Hostile YAML: aliases that expand exponentially, deep nesting, non-string keys.
func TestHostileYAML(t *testing.T) {
	var b strings.Builder
	b.WriteString("- list: a0\n  items: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	b.WriteString("- &l1 [*a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0, *a0]\n")
	b.WriteString("- &l2 [*l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1, *l1]\n")
	b.WriteString("- rule: r\n  desc: *l2\n  condition: a\n  output: b\n  priority: info\n")
	b.WriteString("- ? [a, b]\n  : c\n  list: k\n  items: [1, 2]\n")
	b.WriteString("- list: alias_items\n  items: *a0\n")
	_, errs, warns := Load([]File{{Name: "f", Data: []byte(b.String())}})
	t.Logf("errors %v warnings %v", errs, warns)
	if len(errs) == 0 {
		t.Error("expected errors")
	}
	deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
	_, errs, _ = Load([]File{{Name: "deep", Data: []byte("- rule: x\n  desc: " + deep + "\n")}})
	if len(errs) == 0 {
		t.Error("deep: expected errors")
	}
	// an alias loop through a document is impossible in YAML, but aliases to a mapping item work
	c, errs, _ := Load([]File{{Name: "f", Data: []byte("- &m\n  macro: mm\n  condition: x\n- *m\n")}})
	if len(errs) > 0 || c.Macro("mm") == nil {
		t.Errorf("alias item: %v", errs)
	}
}

func TestIgnoredKeysWarn(t *testing.T) {
	base := "- rule: R\n  desc: d\n  condition: a\n  output: o\n  priority: info\n"
	_, errs, warns := Load([]File{{Name: "f", Data: []byte(base +
		"- rule: R\n  condition: and b\n  output: more\n  append: true\n" +
		"- rule: R\n  source: syscall\n  priority: debug\n  override:\n    priority: replace\n")}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, w := range warns {
		got = append(got, w.String())
	}
	want := []string{
		`f:6:3: ` + warnAppend + ` (rule "R")`,
		`f:8:3: Key 'output' is ignored when 'append: true' is used (only condition and exceptions are appended) (rule "R")`,
		`f:11:3: Key 'source' cannot be overridden and is ignored (rule "R")`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings\n%s", strings.Join(got, "\n"))
	}
}

// The files are decoded together but read in order: items of a later file see the earlier
// files' (an append), a YAML error ends only its own file, after that file's earlier
// documents, and is reported at its line; the files after it are still read.
func TestLoadManyFilesInOrder(t *testing.T) {
	files := []File{
		{Name: "a.yaml", Data: []byte("- list: shells\n  items: [bash]\n")},
		{Name: "b.yaml", Data: []byte("- list: shells\n  items: [zsh]\n  append: true\n---\n- list: x\n  items: [\n")},
		{Name: "c.yaml", Data: []byte("- list: shells\n  items: [dash]\n  override:\n    items: append\n")},
		{Name: "d.yaml", Data: []byte("- list: late\n  items: [1]\n")},
	}
	col, errs, _ := Load(files)
	var items []string
	if l := col.List("shells"); l != nil {
		for _, it := range l.Items {
			items = append(items, it.Value)
		}
	}
	if strings.Join(items, ",") != "bash,zsh,dash" {
		t.Errorf("shells = %v, want bash,zsh,dash (the files in order)", items)
	}
	if col.List("x") != nil || col.List("late") == nil {
		t.Errorf("x %v (after the error: not read), late %v (next file: read)", col.List("x"), col.List("late"))
	}
	if len(errs) != 1 || errs[0].Pos.File != "b.yaml" || errs[0].Pos.Line < 5 {
		t.Fatalf("errors %v, want one in b.yaml at its second document", errs)
	}
}
