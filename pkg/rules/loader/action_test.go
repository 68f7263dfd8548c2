package loader

import "testing"

func TestAdmissionActionAndDryRun(t *testing.T) {
	base := "- rule: P\n  desc: d\n  condition: ka.verb=create\n  output: o\n  priority: warning\n  source: k8s_admission\n  action: deny\n  dryrun: true\n"
	c, errs, warns := Load([]File{{Name: "a.yaml", Data: []byte(base)}})
	if len(errs)+len(warns) > 0 {
		t.Fatalf("errors %v warnings %v", errs, warns)
	}
	if r := c.Rule("P"); r.Action != "deny" || !r.DryRun {
		t.Fatalf("action %q dryrun %v", r.Action, r.DryRun)
	}
	over := "- rule: P\n  action: warn\n  dryrun: false\n  override:\n    action: replace\n    dryrun: replace\n"
	c, errs, warns = Load([]File{{Name: "a.yaml", Data: []byte(base)}, {Name: "b.yaml", Data: []byte(over)}})
	if len(errs)+len(warns) > 0 {
		t.Fatalf("errors %v warnings %v", errs, warns)
	}
	if r := c.Rule("P"); r.Action != "warn" || r.DryRun {
		t.Fatalf("after override: action %q dryrun %v", r.Action, r.DryRun)
	}
	bad := "- rule: Q\n  desc: d\n  condition: ka.verb=create\n  output: o\n  priority: warning\n  source: k8s_admission\n  action: block\n"
	_, errs, _ = Load([]File{{Name: "c.yaml", Data: []byte(bad)}})
	if len(errs) != 1 || errs[0].String() != `c.yaml:7:11: Invalid action 'block' (deny, warn or alert) (rule "Q")` {
		t.Fatalf("errors %v", errs)
	}
}
