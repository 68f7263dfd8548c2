package rules_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/rulestest"
	"github.com/saker-sec/saker/rules"
)

// TestOneBehaviourOneAlert runs every built-in test case with rule_matching all (the
// detector's default) and fails for each pair of built-in rules that fire on the same event:
// one behaviour must raise one alert, the most specific rule's. Every event of a case has its
// own timestamp, so alerts with the same time in one case come from the same event.
func TestOneBehaviourOneAlert(t *testing.T) {
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
	pairs := map[string][]string{} // "A | B" -> cases
	for _, r := range runner.Run(suites) {
		byEvent := map[int64][]string{}
		for _, a := range r.Alerts {
			ts := a.Time.UnixNano()
			byEvent[ts] = append(byEvent[ts], a.Rule)
		}
		for _, names := range byEvent {
			sort.Strings(names)
			for i := range names {
				for j := i + 1; j < len(names); j++ {
					if names[i] == names[j] {
						continue
					}
					k := names[i] + " | " + names[j]
					pairs[k] = append(pairs[k], fmt.Sprintf("%s:%d %s", r.Case.File, r.Case.Line, r.Case.Name))
				}
			}
		}
	}
	keys := make([]string, 0, len(pairs))
	for k := range pairs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Errorf("same event raised %s (%d case(s), e.g. %s)", k, len(pairs[k]), pairs[k][0])
	}
	if len(keys) > 0 {
		t.Logf("%d rule pairs fire together:\n%s", len(keys), strings.Join(keys, "\n"))
	}
}
