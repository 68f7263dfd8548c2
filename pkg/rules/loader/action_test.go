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

func TestEnforceKey(t *testing.T) {
	base := "- rule: K\n  desc: d\n  condition: evt.type=execve\n  output: o\n  priority: critical\n  enforce: kill\n"
	c, errs, warns := Load([]File{{Name: "a.yaml", Data: []byte(base)}})
	if len(errs)+len(warns) > 0 {
		t.Fatalf("errors %v warnings %v", errs, warns)
	}
	if r := c.Rule("K"); r.Enforce != "kill" {
		t.Fatalf("enforce %q", r.Enforce)
	}
	over := "- rule: K\n  enforce: deny\n  override:\n    enforce: replace\n"
	c, errs, warns = Load([]File{{Name: "a.yaml", Data: []byte(base)}, {Name: "b.yaml", Data: []byte(over)}})
	if len(errs)+len(warns) > 0 {
		t.Fatalf("errors %v warnings %v", errs, warns)
	}
	if r := c.Rule("K"); r.Enforce != "deny" {
		t.Fatalf("after override: enforce %q", r.Enforce)
	}
	bad := "- rule: Q\n  desc: d\n  condition: evt.type=open\n  output: o\n  priority: warning\n  enforce: block\n"
	_, errs, _ = Load([]File{{Name: "c.yaml", Data: []byte(bad)}})
	if len(errs) != 1 || errs[0].String() != `c.yaml:6:12: Invalid enforce 'block' (kill or deny) (rule "Q")` {
		t.Fatalf("errors %v", errs)
	}
}
