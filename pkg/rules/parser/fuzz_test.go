package parser_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

var conditionSeeds = []string{
	"spawned_process and not shell_procs",
	"(evt.type in (open,openat,openat2) and evt.is_open_write=true and fd.typechar='f' and fd.num>=0)",
	"tolower(basename(proc.exe)) = sh or proc.aname[2]=yum and fd.name pmatch allowed",
	`proc.args contains "\ " or (proc.args endswith \)`,
	"proc.name = val(proc.pname) and not(a or b)",
	`proc.env["A B"] in ("x\ty", 'z', q, ()) or len(proc.args) >= 0x10`,
	"jevt.value[/user/username] startswith \"sys\\x3a\"",
	"not not not a", "proc.name in ()", "ka.req.pod.containers.image[0] exists",
	"fd.num > -1.5e+3 and fd.num < val(proc.pid)", "proc.name = toupper(proc.pname)",
	"proc.name regex '^[a-z]+$' or proc.name iglob *SH",
	"(((a)))", "proc.name", "proc.name =", `proc.name = "abc`,
}

// ruleSeeds returns the conditions and outputs of falco_rules.yaml when the reference data is
// present (seeds are optional, so this never skips).
func ruleSeeds() (conds, outs []string) {
	dir, _ := os.Getwd()
	for i := 0; i < 8; i++ {
		data, err := os.ReadFile(filepath.Join(dir, "..", "shared", "falco-rules", "falco_rules.yaml"))
		if err == nil {
			var items []map[string]any
			if yaml.Unmarshal(data, &items) == nil {
				for _, it := range items {
					if c, ok := it["condition"].(string); ok {
						conds = append(conds, c)
					}
					if o, ok := it["output"].(string); ok {
						outs = append(outs, o)
					}
				}
			}
			return
		}
		dir = filepath.Dir(dir)
	}
	return
}

func FuzzParseCondition(f *testing.F) {
	for _, s := range conditionSeeds {
		f.Add(s)
	}
	conds, _ := ruleSeeds()
	for _, s := range conds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		e, err := parser.ParseCondition(src)
		if err != nil {
			pe, ok := err.(*parser.Error)
			if !ok {
				t.Fatalf("error of type %T", err)
			}
			if pe.Offset < 0 || pe.Offset > len(src) {
				t.Fatalf("error offset %d outside [0,%d]: %v", pe.Offset, len(src), err)
			}
			if e != nil {
				t.Fatal("tree returned with an error")
			}
			return
		}
		checkPositions(t, src, e)
		printed := ast.Print(e)
		e2, err := parser.ParseCondition(printed)
		if err != nil {
			t.Fatalf("Print output does not parse: %v\nsrc:     %q\nprinted: %q", err, src, printed)
		}
		if !ast.Equal(e, e2) {
			t.Fatalf("round trip changed the tree\nsrc:     %q\nprinted: %q\nagain:   %q", src, printed, ast.Print(e2))
		}
		if p2 := ast.Print(e2); p2 != printed {
			t.Fatalf("Print not stable: %q vs %q", printed, p2)
		}
	})
}

func FuzzParseOutput(f *testing.F) {
	for _, s := range []string{
		"user=%user.name cmd=%proc.cmdline", "%proc.aname[2])", "%ka.target.name/%ka.target.resource",
		"%10tolower(basename(proc.exe)) 100%% %jevt.value[/a/b]", "%proc.name[x y", `%proc.env["A\"B"]`,
		"%", "%12", "% x", "*%evt.time %evt.arg.flags.",
	} {
		f.Add(s)
	}
	_, outs := ruleSeeds()
	for _, s := range outs {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		parts, err := parser.ParseOutput(src)
		if err != nil {
			pe, ok := err.(*parser.Error)
			if !ok {
				t.Fatalf("error of type %T", err)
			}
			if pe.Offset < 0 || pe.Offset > len(src) {
				t.Fatalf("error offset %d outside [0,%d]: %v", pe.Offset, len(src), err)
			}
			return
		}
		if got := reconstruct(src, parts); got != src {
			t.Fatalf("parts do not rebuild the template:\n%q\n%q", src, got)
		}
		for i, p := range parts {
			if p.Field == nil {
				if p.Text == "" || i > 0 && parts[i-1].Field == nil {
					t.Fatalf("empty or split literal part %d: %+v", i, parts)
				}
				continue
			}
			// The canonical field text parses back to the same field.
			e, err := parser.ParseCondition(p.Text + " exists")
			if err != nil {
				t.Fatalf("field text %q does not parse: %v", p.Text, err)
			}
			u, ok := e.(*ast.UnaryCheck)
			if !ok || !ast.Equal(u, &ast.UnaryCheck{Field: p.Field, Op: "exists"}) {
				t.Fatalf("field text %q parses to %s", p.Text, ast.Print(e))
			}
		}
	})
}

func BenchmarkParseFalcoRules(b *testing.B) {
	texts := loadRuleTexts(b, "falco_rules.yaml")
	var conds []string
	size := 0
	for _, rt := range texts {
		conds = append(conds, rt.condition)
		size += len(rt.condition)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range conds {
			if _, err := parser.ParseCondition(c); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkParseFalcoOutputs(b *testing.B) {
	texts := loadRuleTexts(b, "falco_rules.yaml")
	var outs []string
	for _, rt := range texts {
		if rt.output != "" {
			outs = append(outs, rt.output)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, o := range outs {
			if _, err := parser.ParseOutput(o); err != nil {
				b.Fatal(err)
			}
		}
	}
}
