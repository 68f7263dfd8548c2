package agent

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/saker-sec/saker/"

// deps lists the packages pkg depends on (go list -deps; tests excluded).
func deps(t *testing.T, pkg string) map[string]bool {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", module+pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, out)
	}
	m := map[string]bool{}
	for _, l := range strings.Fields(string(out)) {
		m[strings.TrimPrefix(l, module)] = true
	}
	return m
}

// TestImportRules holds the layout the agent is built around: cmd/saker runs the agent;
// nothing under pkg/ imports cmd/; pkg/config only parses the configuration (no output or
// rules package); pkg/reload knows nothing of outputs and alerts.
func TestImportRules(t *testing.T) {
	if !deps(t, "cmd/saker")["pkg/agent"] {
		t.Error("cmd/saker does not depend on pkg/agent")
	}
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"pkg/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list pkg/...: %v\n%s", err, out)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		for _, imp := range f[1:] {
			if strings.HasPrefix(imp, module+"cmd/") {
				t.Errorf("%s imports %s", f[0], imp)
			}
		}
	}
	for p := range deps(t, "pkg/config") {
		if p == "pkg/output" || p == "pkg/alert" || strings.HasPrefix(p, "pkg/rules") || p == "pkg/agent" {
			t.Errorf("pkg/config depends on %s", p)
		}
	}
	for p := range deps(t, "pkg/reload") {
		if p == "pkg/output" || p == "pkg/alert" {
			t.Errorf("pkg/reload depends on %s", p)
		}
	}
}
