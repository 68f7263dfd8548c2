package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// saker config show prints the effective configuration: defaults overlaid with -c and -o;
// bad configurations exit 2 with file:line: key.path messages.
func TestConfigShow(t *testing.T) {
	out, errOut, code := saker(t, "config", "show")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var m map[string]any
	if err := yaml.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("output is not YAML: %v", err)
	}
	if m["json_output"] != false || m["priority"] != "debug" || m["rule_matching"] != "all" {
		t.Errorf("defaults: json_output %v priority %v rule_matching %v", m["json_output"], m["priority"], m["rule_matching"])
	}

	path := filepath.Join(t.TempDir(), "saker.yaml")
	os.WriteFile(path, []byte("json_output: true\nhttp_output:\n  enabled: true\n  url: http://127.0.0.1:2801/\n"), 0o600)
	out, errOut, code = saker(t, "config", "show", "-c", path, "-o", "priority=warning", "-o", "http_output.headers.X-Key=${HOME}")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	m = nil
	yaml.Unmarshal([]byte(out), &m)
	h := m["http_output"].(map[string]any)
	if m["json_output"] != true || m["priority"] != "warning" || h["url"] != "http://127.0.0.1:2801/" || h["enabled"] != true ||
		h["headers"].(map[string]any)["X-Key"] != os.Getenv("HOME") || h["max_retries"] != 3 {
		t.Errorf("effective configuration:\n%s", out)
	}

	os.WriteFile(path, []byte("json_output: true\nhttp_output:\n  urll: x\n"), 0o600)
	_, errOut, code = saker(t, "config", "show", "-c", path)
	if code != 2 || !strings.Contains(errOut, path+":3:3: http_output.urll: unknown key") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}

	out, _, code = saker(t, "config", "show", "--defaults")
	if code != 0 || !strings.HasPrefix(out, "# Saker configuration.") {
		t.Errorf("--defaults: exit %d, %.60q", code, out)
	}
}
