package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestActionsListAndValidate(t *testing.T) {
	out, _, code := saker(t, "actions", "list", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var specs []struct {
		Name    string `json:"name"`
		Example string `json:"example"`
		Checks  []string
	}
	if err := json.Unmarshal([]byte(out), &specs); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range specs {
		names[s.Name] = true
		if s.Example == "" || len(s.Checks) == 0 {
			t.Errorf("%s: no example or checks", s.Name)
		}
	}
	for _, n := range []string{"kill_process", "container_stop", "container_pause", "container_kill", "run_program", "webhook", "snapshot", "network_isolate", "k8s_label_pod", "k8s_annotate_pod", "k8s_delete_pod", "k8s_networkpolicy"} {
		if !names[n] {
			t.Errorf("%s not listed", n)
		}
	}
	text, _, _ := saker(t, "actions", "list")
	if !strings.Contains(text, "kill_process\n  Send a signal") || !strings.Contains(text, "    tree (bool, default false)") {
		t.Errorf("text listing:\n%s", text)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("rules:\n  - name: a\n    match: {rules: ['Terminal shell*']}\n    actions: [{action: container_pause}, {action: kill_process}]\n"), 0o644)
	if out, _, code := saker(t, "actions", "validate", good); code != 0 || !strings.Contains(out, "ok (1 rules, 2 actions)") {
		t.Errorf("validate good: %d %q", code, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - name: a\n    match: {}\n    actions: [{action: kill_process, with: {tree: maybe}}]\n"), 0o644)
	if _, errOut, code := saker(t, "actions", "validate", bad); code != 1 || !strings.Contains(errOut, bad+":4:51: with.tree: expected true or false") {
		t.Errorf("validate bad: %d %q", code, errOut)
	}
}
