package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRulesTestDefaults(t *testing.T) {
	out, errOut, code := saker(t, "rules", "test", "--defaults")
	if code != 0 || !strings.HasPrefix(lastLine(out), "ok: ") {
		t.Fatalf("rules test --defaults: exit %d\n%s\n%s", code, out, errOut)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestRulesTestFailureAndJUnit(t *testing.T) {
	dir := t.TempDir()
	tests := filepath.Join(dir, "t.yaml")
	// the first case passes; the second expects a rule that cannot fire for a benign `ls`
	data := `tests:
  - {rule: Network scanner executed, match: true, exec: {name: nmap, args: [-sn, 10.0.0.0/24]}}
  - {name: ls is not a scanner, exec: {name: ls}, expect: [Network scanner executed]}
`
	if err := os.WriteFile(tests, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	junit := filepath.Join(dir, "junit.xml")
	out, _, code := saker(t, "rules", "test", "--junit", junit, tests)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "FAIL") || !strings.Contains(out, "ls is not a scanner") || !strings.Contains(lastLine(out), "2 cases, 1 passed, 1 failed") {
		t.Errorf("report:\n%s", out)
	}
	x, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(x), `<testsuites tests="2" failures="1"`) || !strings.Contains(string(x), "<failure message=") {
		t.Errorf("junit:\n%s", x)
	}
}

func TestRulesInstallAndListDefaults(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := saker(t, "rules", "install", dir)
	if code != 0 {
		t.Fatalf("install: exit %d: %s", code, errOut)
	}
	files := strings.Fields(out)
	if len(files) < 4 {
		t.Fatalf("installed %v", files)
	}
	args := []string{"rules", "validate"}
	for _, f := range files {
		args = append(args, "-r", f)
	}
	if _, errOut, code := saker(t, args...); code != 0 || strings.Contains(errOut, "evt.type") {
		t.Fatalf("validate installed rules: exit %d\n%s", code, errOut)
	}
	args[1] = "list"
	out, _, code = saker(t, args...)
	if n := len(strings.Split(strings.TrimSpace(out), "\n")); code != 0 || n < 200 {
		t.Errorf("rules list shows %d enabled rules (exit %d), want >= 200", n, code)
	}
	if _, _, code := saker(t, "rules", "install", dir); code == 0 {
		t.Error("install over existing files without --force succeeded")
	}
}
