package rules_test

import (
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rulestest"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/rules"
)

func load(t *testing.T) *engine.Ruleset {
	t.Helper()
	d := detect.New(state.Options{})
	rs, errs, warns := engine.Load(rules.Files(), engine.Options{Sources: d.Sources()})
	if rs == nil {
		t.Fatalf("default rules do not load: %v", errs)
	}
	for _, w := range warns {
		t.Errorf("warning: %s", w)
	}
	return rs
}

// TestDefaultRulesLoad checks the layers compile without warnings (in particular no rule
// without an evt.type restriction), that `saker rules list` would show at least 200 enabled
// rules, and that every rule carries a description with tuning advice, a MITRE tactic and a
// technique tag.
func TestDefaultRulesLoad(t *testing.T) {
	rs := load(t)
	enabled := rs.Enabled()
	if len(enabled) < 200 {
		t.Errorf("%d enabled default rules, want >= 200", len(enabled))
	}
	for _, r := range enabled {
		if r.AllTypes {
			t.Errorf("rule %q does not restrict evt.type", r.Name)
		}
		var tactic, technique bool
		for _, tag := range r.Tags {
			tactic = tactic || strings.HasPrefix(tag, "mitre_")
			technique = technique || (len(tag) >= 5 && tag[0] == 'T' && tag[1] >= '0' && tag[1] <= '9')
		}
		if !tactic || !technique {
			t.Errorf("rule %q: tags %v lack a MITRE tactic (mitre_*) or technique (Txxxx)", r.Name, r.Tags)
		}
		if d := strings.ToLower(r.Desc); len(d) < 80 || !(strings.Contains(d, "tune") || strings.Contains(d, "exception")) {
			t.Errorf("rule %q: description does not say how to tune it", r.Name)
		}
	}
}

// TestDefaultRulesSuite runs every default test case through the real pipeline and checks
// that each default rule has at least one positive and one negative case.
func TestDefaultRulesSuite(t *testing.T) {
	rs := load(t)
	runner, err := rulestest.NewRunner(rules.Files())
	if err != nil {
		t.Fatal(err)
	}
	var suites []*rulestest.Suite
	for _, f := range rules.TestFiles() {
		s, err := rulestest.Parse(f.Name, f.Data)
		if err != nil {
			t.Fatal(err)
		}
		suites = append(suites, s)
	}
	if len(suites) == 0 {
		t.Fatal("no embedded test files")
	}
	results := runner.Run(suites)
	for _, r := range results {
		if !r.Passed() {
			t.Errorf("%s:%d: %s: %s", r.Case.File, r.Case.Line, r.Case.Name, strings.Join(r.Failures, "; "))
		}
	}
	cov := rulestest.CoverageOf(suites)
	for _, r := range rs.Enabled() {
		c := cov[r.Name]
		if c == nil || c.Positive == 0 {
			t.Errorf("rule %q has no positive test case", r.Name)
		}
		if c == nil || c.Negative == 0 {
			t.Errorf("rule %q has no negative test case", r.Name)
		}
	}
	s := rulestest.Summarize(results)
	t.Logf("%d cases, %d passed, %d rules", s.Total, s.Passed, len(rs.Enabled()))
}
