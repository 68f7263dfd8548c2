package parser_test

import (
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/saker-sec/saker/pkg/rules/ast"
	"github.com/saker-sec/saker/pkg/rules/parser"
)

type ruleText struct {
	file, kind, name  string // kind: macro or rule
	condition, output string
}

var ruleFiles = []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml", "k8s_audit_rules.yaml"}

// loadRuleTexts reads the condition and output of every macro and rule of one rules file.
func loadRuleTexts(t testing.TB, file string) []ruleText {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sharedDir(t), "falco-rules", file))
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := yaml.Unmarshal(data, &items); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var out []ruleText
	for _, it := range items {
		for _, kind := range []string{"macro", "rule"} {
			name, ok := it[kind].(string)
			if !ok {
				continue
			}
			rt := ruleText{file: file, kind: kind, name: name}
			rt.condition, _ = it["condition"].(string)
			rt.output, _ = it["output"].(string)
			out = append(out, rt)
		}
	}
	return out
}

func TestFalcoRulesConditions(t *testing.T) {
	total := 0
	for _, file := range ruleFiles {
		texts := loadRuleTexts(t, file)
		n := 0
		for _, rt := range texts {
			if rt.condition == "" {
				t.Errorf("%s: %s %q has no condition", file, rt.kind, rt.name)
				continue
			}
			n++
			e, err := parser.ParseCondition(rt.condition)
			if err != nil {
				t.Errorf("%s: %s %q: %v\n%s", file, rt.kind, rt.name, err, rt.condition)
				continue
			}
			checkPositions(t, rt.condition, e)
			// Round trip: Print, parse again, compare with positions zeroed.
			printed := ast.Print(e)
			e2, err := parser.ParseCondition(printed)
			if err != nil {
				t.Errorf("%s: %s %q: printed form does not parse: %v\n%s", file, rt.kind, rt.name, err, printed)
				continue
			}
			if !ast.Equal(e, e2) {
				t.Errorf("%s: %s %q: ast.Equal false after round trip\n%s", file, rt.kind, rt.name, printed)
			}
			if !reflect.DeepEqual(zeroPos(e), zeroPos(e2)) {
				t.Errorf("%s: %s %q: round trip changed the tree\n%s\n%s", file, rt.kind, rt.name, rt.condition, printed)
			}
			// Printing is canonical: a second round gives the same text.
			if p2 := ast.Print(e2); p2 != printed {
				t.Errorf("%s: %s %q: Print not stable:\n%s\n%s", file, rt.kind, rt.name, printed, p2)
			}
		}
		if n < 20 {
			t.Errorf("%s: only %d conditions found", file, n)
		}
		t.Logf("%s: %d conditions parsed and round-tripped", file, n)
		total += n
	}
	if total < 500 {
		t.Errorf("only %d conditions in all files", total)
	}
}

// reconstruct rebuilds an output template from its parts, independently of FieldRef.String.
func reconstruct(src string, parts []parser.OutputPart) string {
	var b strings.Builder
	for _, p := range parts {
		if p.Field == nil {
			b.WriteString(strings.ReplaceAll(p.Text, "%", "%%"))
			continue
		}
		// '%', then the width digits (which must denote Width), then the field.
		b.WriteByte('%')
		digits := src[p.Offset+1 : p.Field.From]
		if w, err := strconv.Atoi(digits); err == nil && w == p.Width || digits == "" && p.Width == 0 {
			b.WriteString(digits)
		} else {
			b.WriteString("<bad width " + digits + ">")
		}
		b.WriteString(src[p.Field.From:p.Field.To])
	}
	return b.String()
}

func TestFalcoRulesOutputs(t *testing.T) {
	total := 0
	for _, file := range ruleFiles {
		for _, rt := range loadRuleTexts(t, file) {
			if rt.kind != "rule" {
				continue
			}
			if rt.output == "" {
				t.Errorf("%s: rule %q has no output", file, rt.name)
				continue
			}
			total++
			parts, err := parser.ParseOutput(rt.output)
			if err != nil {
				t.Errorf("%s: rule %q: %v\n%s", file, rt.name, err, rt.output)
				continue
			}
			if got := reconstruct(rt.output, parts); got != rt.output {
				t.Errorf("%s: rule %q: parts do not rebuild the output:\n%s\n%s", file, rt.name, rt.output, got)
			}
			nf := 0
			for _, p := range parts {
				if p.Field == nil {
					continue
				}
				nf++
				if p.Text != p.Field.String() {
					t.Errorf("%s: rule %q: field part text %q != %q", file, rt.name, p.Text, p.Field.String())
				}
				if !strings.Contains(p.Field.Name, ".") {
					t.Errorf("%s: rule %q: field %q", file, rt.name, p.Field.Name)
				}
			}
			// Every '%' of these outputs introduces a field.
			if want := strings.Count(rt.output, "%"); nf != want {
				t.Errorf("%s: rule %q: %d fields, want %d", file, rt.name, nf, want)
			}
		}
	}
	if total < 100 {
		t.Errorf("only %d outputs", total)
	}
}

// TestFalcoRulesSpotChecks checks a few constructs of the real rules against trees written by hand.
func TestFalcoRulesSpotChecks(t *testing.T) {
	texts := loadRuleTexts(t, "falco_rules.yaml")
	find := func(name string) ruleText {
		for _, rt := range texts {
			if rt.name == name {
				return rt
			}
		}
		t.Fatalf("%q not found in falco_rules.yaml", name)
		return ruleText{}
	}
	// The open_write macro.
	e, err := parser.ParseCondition(find("open_write").condition)
	if err != nil {
		t.Fatal(err)
	}
	want := paren(and(and(and(
		cmp(fld("evt.type"), "in", list(bare("open"), bare("openat"), bare("openat2"))),
		cmp(fld("evt.is_open_write"), "=", bare("true"))),
		cmp(fld("fd.typechar"), "=", quo("f"))),
		cmp(fld("fd.num"), ">=", bare("0"))))
	if !reflect.DeepEqual(zeroPos(e), want) {
		t.Errorf("open_write:\n got %s\nwant %s", ast.Print(e), ast.Print(want))
	}
	// A rule output with proc.aname[N] fields.
	for _, rt := range texts {
		if !strings.Contains(rt.output, "%proc.aname[2]") {
			continue
		}
		parts, err := parser.ParseOutput(rt.output)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range parts {
			if p.Field != nil && p.Field.Name == "proc.aname" && p.Field.HasArg && p.Field.Arg == "2" {
				found = true
			}
		}
		if !found {
			t.Errorf("%q: no proc.aname[2] part in %+v", rt.name, parts)
		}
		return
	}
	t.Error("no output with a proc.aname[2] field")
}
