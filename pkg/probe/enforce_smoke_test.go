package probe

import "testing"

func TestEnforceLoads(t *testing.T) {
	needProbe(t)
	p, err := Load(Options{Syscalls: []string{"execve"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	e, err := p.Enforcer()
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SetClauses([]EnforceClause{{Rule: 0, Syscalls: []string{"execve"}, Preds: []EnforcePred{{Field: EnfPath, Op: EnfEq, Str: "/nonexistent/x"}}}}); err != nil {
		t.Fatal(err)
	}
	t.Log(e.Stats())
}
