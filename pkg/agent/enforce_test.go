package agent

import (
	"strings"
	"testing"
)

// A kill rule the kernel cannot decide is a rules load error at its position; one it can is
// compiled into Rules.Enforce.
func TestEnforceRulesLoad(t *testing.T) {
	bad := "- rule: K\n  desc: d\n  condition: evt.type = execve and proc.cmdline contains x\n  output: o\n  priority: WARNING\n  enforce: kill\n"
	_, _, errs := selectionRules(t, bad, "")
	if len(errs) != 1 || errs[0].Pos.String() != "r.yaml:3:36" || !strings.Contains(errs[0].Msg, "`proc.cmdline contains x` cannot run in the kernel") {
		t.Fatalf("errors %v", errs)
	}
	good := strings.Replace(bad, "proc.cmdline contains x", "proc.name = x", 1)
	_, rs, errs := selectionRules(t, good, "")
	if len(errs) != 0 || rs.Enforce == nil || len(rs.Enforce.Rules) != 1 || rs.Enforce.Rules[0] != "K" {
		t.Fatalf("errors %v, rules %+v", errs, rs)
	}
}
