package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
)

// The probe walks opened files' resolved paths only when the rules read fd.realpath: in a
// condition, an output, a macro (used or not), an exception's fields, or append_output.
func TestNeedsRealPath(t *testing.T) {
	const open = `
- rule: Open
  desc: x
  condition: evt.type = openat and %s
  output: "open %s"
  priority: WARNING
`
	cases := []struct {
		name, rules, cfg string
		want             bool
	}{
		{"neither", "- macro: m\n  condition: fd.name = /x\n" + fmt.Sprintf(open, "m", "%fd.name"), "", false},
		{"condition", fmt.Sprintf(open, "fd.realpath = /etc/shadow", "%fd.name"), "", true},
		{"output", fmt.Sprintf(open, "fd.name = /x", "%fd.realpath"), "", true},
		{"macro", "- macro: m\n  condition: fd.realpath startswith /etc\n" + fmt.Sprintf(open, "m", "%fd.name"), "", true},
		{"unused macro", "- macro: u\n  condition: not fd.realpath exists\n" + fmt.Sprintf(open, "fd.name = /x", "%fd.name"), "", true},
		{"value", fmt.Sprintf(open, "fd.name = val(fd.realpath)", "%fd.name"), "", true},
		{"exception", fmt.Sprintf(open, "fd.name = /x", "%fd.name") + "  exceptions:\n    - name: e\n      fields: [fd.realpath]\n      values: [[/y]]\n", "", true},
		{"append_output", fmt.Sprintf(open, "fd.name = /x", "%fd.name"), "append_output:\n  - extra_fields: [fd.realpath]\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, rs, errs := selectionRules(t, tc.rules, tc.cfg)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := NeedsRealPath(rs); got != tc.want {
				t.Errorf("NeedsRealPath = %v, want %v", got, tc.want)
			}
		})
	}
	// the upstream rules do not; Saker's default rules do
	var files []string
	for _, f := range []string{"falco_rules.yaml", "falco-incubating_rules.yaml", "falco-sandbox_rules.yaml"} {
		files = append(files, filepath.Join(testshared.Dir(t), "falco-rules", f))
	}
	for _, tc := range []struct {
		files []string
		want  bool
	}{{files, false}, {nil, true}} {
		a, err := New(Options{RulesFiles: tc.files, Replay: true, Overrides: []string{"stdout_output.enabled=false"}, Stderr: os.Stderr})
		if err != nil {
			t.Fatal(err)
		}
		if got := NeedsRealPath(a.Rules()); got != tc.want {
			t.Errorf("rules %v: NeedsRealPath = %v, want %v", tc.files, got, tc.want)
		}
		a.Close()
	}
}
