package main

import (
	"bytes"
	"encoding/json"
	"github.com/saker-sec/saker/internal/testshared"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	defaultrules "github.com/saker-sec/saker/rules"
)

var sakerBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "saker-cli")
	if err != nil {
		panic(err)
	}
	sakerBin = filepath.Join(dir, "saker")
	if out, err := exec.Command("go", "build", "-o", sakerBin, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// saker runs the built binary and returns stdout, stderr and the exit code.
func saker(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(sakerBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func sharedDir(t *testing.T) string {
	t.Helper()
	return testshared.Dir(t)
}

func TestHelpListsCommands(t *testing.T) {
	out, _, code := saker(t, "--help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, c := range []string{"rules", "run", "version"} {
		if !strings.Contains(out, "\n  "+c+" ") {
			t.Errorf("--help does not list %q:\n%s", c, out)
		}
	}
	out, _, _ = saker(t, "version")
	if !strings.HasPrefix(out, "saker ") {
		t.Errorf("version: %q", out)
	}
}

func TestRulesValidateUpstream(t *testing.T) {
	dir := filepath.Join(sharedDir(t), "falco-rules")
	for _, args := range [][]string{
		{"-r", "falco_rules.yaml"}, {"-r", "falco-incubating_rules.yaml"}, {"-r", "falco-sandbox_rules.yaml"},
		{"-r", "k8s_audit_rules.yaml"},
		{"-r", "falco_rules.yaml", "-r", "falco-incubating_rules.yaml", "-r", "falco-sandbox_rules.yaml"},
	} {
		for i := 1; i < len(args); i += 2 {
			args[i] = filepath.Join(dir, args[i])
		}
		out, errOut, code := saker(t, append([]string{"rules", "validate"}, args...)...)
		if code != 0 || strings.TrimSpace(out) != "ok" {
			t.Errorf("validate %v: exit %d\n%s%s", args, code, out, errOut)
		}
	}
}

func TestRulesValidateBroken(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(`- rule: r1
  desc: d
  condition: evt.type = open and proc.nmae = x
  output: "%proc.name"
  priority: WARNING
- rule: r2
  desc: d
  condition: evt.type = open and (proc.name = x
  output: "%proc.name"
  priority: LOUD
`), 0o644)
	out, errOut, code := saker(t, "rules", "validate", "-r", bad)
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		bad + `:3:34: unknown field 'proc.nmae' (rule "r1")`,
		bad + `:10:13: Invalid priority 'LOUD' (rule "r2")`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

// Without -r the rules commands work on the built-in rules, as `saker run` does.
func TestRulesCommandsDefaultToBuiltins(t *testing.T) {
	out, errOut, code := saker(t, "rules", "validate")
	if code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("rules validate of the built-in rules: exit %d, %q %q", code, out, errOut)
	}
	out, _, code = saker(t, "rules", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) < 200 {
		t.Fatalf("rules list of the built-in rules: exit %d, %d rules", code, len(lines))
	}
	if want := len(defaultrules.Names()); len(lines) != want {
		t.Errorf("rules list shows %d built-in rules, the embedded files define %d", len(lines), want)
	}
	// the syscall source's own fields beyond Falco's catalogue (health probe categories)
	hc := filepath.Join(t.TempDir(), "hc.yaml")
	os.WriteFile(hc, []byte("- rule: hc\n  desc: d\n  condition: evt.type = execve and proc.is_container_healthcheck = false\n  output: \"%container.healthcheck\"\n  priority: INFO\n"), 0o644)
	if out, errOut, code := saker(t, "rules", "validate", "-r", hc); code != 0 {
		t.Errorf("validate of a rule with proc.is_container_healthcheck: exit %d %s %s", code, out, errOut)
	}
	out, _, code = saker(t, "rules", "describe", "Device node created in container")
	if code != 0 || !strings.Contains(out, "mknod") {
		t.Errorf("rules describe of a built-in rule: exit %d\n%s", code, out)
	}
}

func TestRulesListAndDescribe(t *testing.T) {
	f := filepath.Join(sharedDir(t), "falco-rules", "falco_rules.yaml")
	out, _, code := saker(t, "rules", "list", "-r", f)
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	data, _ := os.ReadFile(f)
	if want := strings.Count(string(data), "\n- rule:") + boolToInt(strings.HasPrefix(string(data), "- rule:")); len(lines) != want {
		t.Errorf("list shows %d rules, the file defines %d", len(lines), want)
	}
	found := false
	for _, l := range lines {
		cols := strings.Split(l, "\t")
		if len(cols) != 4 {
			t.Fatalf("bad line %q", l)
		}
		if cols[0] == "Read sensitive file untrusted" {
			found = cols[1] == "Warning" && cols[2] == "syscall" && strings.Contains(cols[3], "mitre_credential_access")
		}
	}
	if !found {
		t.Error("list lacks 'Read sensitive file untrusted' with its priority, source and tags")
	}
	out, _, _ = saker(t, "rules", "list", "-r", f, "--json")
	var rules []struct {
		Name, Priority, Source string
		Tags                   []string
	}
	if err := json.Unmarshal([]byte(out), &rules); err != nil || len(rules) != len(lines) {
		t.Errorf("--json: %v, %d rules", err, len(rules))
	}
	out, _, code = saker(t, "rules", "describe", "-r", f, "Read sensitive file untrusted")
	if code != 0 {
		t.Fatalf("describe exit %d", code)
	}
	// The macro sensitive_files and the list sensitive_file_names are expanded.
	for _, want := range []string{"fd.name in (/etc/shadow,", "evt.type in (open, openat, openat2)", "event types: open openat openat2"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "sensitive_files") {
		t.Errorf("describe did not expand the macro sensitive_files:\n%s", out)
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
