package admission

import (
	"testing"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/k8saudit"
	"github.com/saker-sec/saker/pkg/rules/engine"
)

// Sources are the rule sources the tests compile with.
func Sources() map[string]fields.Source {
	return map[string]fields.Source{SourceName: NewFieldSource(), k8saudit.SourceName: k8saudit.NewFieldSource()}
}

func loadRules(t testing.TB, paths ...string) *engine.Ruleset {
	t.Helper()
	if len(paths) == 0 {
		paths = []string{"testdata/rules.yaml"}
	}
	rs, errs, warns := engine.LoadFiles(paths, engine.Options{Sources: Sources()})
	if len(errs) > 0 || len(warns) > 0 {
		t.Fatalf("rules: errors %v warnings %v", errs, warns)
	}
	return rs
}
