package agent

import (
	"fmt"
	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/config"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

// sharedDir returns ../shared beside the repository root, skipping (or failing under CI=true)
// when it is absent.
func sharedDir(t testing.TB) string {
	t.Helper()
	return testshared.Dir(t)
}

const testRules = `
- rule: Open by cat
  desc: x
  condition: evt.type in (open, openat) and evt.dir=<
  output: "open %fd.name by %proc.name"
  priority: WARNING
  tags: [filesystem]
- rule: Write by cat
  desc: x
  condition: evt.type = write and evt.dir=<
  output: "write %fd.name"
  priority: DEBUG
  tags: [filesystem, io]
- rule: Any close
  desc: x
  condition: evt.type = close and evt.dir=<
  output: "close %fd.num"
  priority: NOTICE
  enabled: false
  tags: [io]
- rule: Any open
  desc: x
  condition: evt.type in (open, openat) and evt.dir=<
  output: "any open %fd.name"
  priority: ERROR
  enabled: false
  tags: [dup]
`

// replay runs a capture through a detector with rules loaded under the configuration given as
// YAML, returning the alerts (with extra fields applied through an Emitter).
func replay(t *testing.T, capture, rulesFile, cfgYAML string) []*alert.Alert {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(cfgYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := detect.New(state.Options{})
	rules, errs, _ := LoadRules(c, []string{rulesFile}, d.Sources())
	if len(errs) > 0 {
		t.Fatalf("%v", errs)
	}
	var out []*alert.Alert
	em := &emitter{Extras: rules.Extras, Send: func(a *alert.Alert, _ *state.Context) { out = append(out, a) }}
	d.Rules, d.First, d.Emit = rules.Ruleset, rules.First, em.Collect
	runCapture(t, d, capture, func(ctx *state.Context) { em.Flush(ctx) })
	return out
}

func runCapture(t *testing.T, d *detect.Detector, capture string, after func(*state.Context)) {
	t.Helper()
	r, err := scap.Open(capture)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.OnMetadata = func(r *scap.Reader) { d.LoadCapture(r) }
	var ev event.Event
	for {
		err := r.Next(&ev)
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		ctx := d.Event(&ev)
		if after != nil {
			after(ctx)
		}
	}
}

func countByRule(as []*alert.Alert) map[string]int {
	m := map[string]int{}
	for _, a := range as {
		m[a.Rule]++
	}
	return m
}

// Rule selection from the configuration, checked against a baseline computed without the
// configuration code: every rule enabled, compiled by pkg/rules/engine directly.
func TestRuleSelection(t *testing.T) {
	capture := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte(testRules), 0o600)
	allFile := filepath.Join(dir, "all.yaml")
	os.WriteFile(allFile, []byte(strings.ReplaceAll(testRules, "  enabled: false\n", "")), 0o600)

	// baseline: per rule, how many events match it on its own
	base := map[string]int{}
	d := detect.New(state.Options{})
	rs, errs, _ := engine.LoadFiles([]string{allFile}, engine.Options{Sources: d.Sources()})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	d.Rules, d.First = rs, false
	d.Emit = func(a *alert.Alert) { base[a.Rule]++ }
	runCapture(t, d, capture, nil)
	for _, r := range []string{"Open by cat", "Write by cat", "Any close", "Any open"} {
		if base[r] == 0 {
			t.Fatalf("baseline: rule %q never matches in the capture (%v)", r, base)
		}
	}
	want := func(rules ...string) map[string]int {
		m := map[string]int{}
		for _, r := range rules {
			m[r] = base[r]
		}
		return m
	}
	for _, tc := range []struct {
		name, cfg string
		want      map[string]int
	}{
		{"defaults", "", want("Open by cat", "Write by cat")},
		{"min priority notice", "priority: notice", want("Open by cat")},
		{"enable by tag", "rules: [{enable: {tag: io}}]", want("Open by cat", "Write by cat", "Any close")},
		{"disable all, enable by name pattern", "rules: [{disable: {rule: '*'}}, {enable: {rule: 'Any c*'}}]", want("Any close")},
		{"priority applies after enabling", "priority: warning\nrules: [{enable: {tag: io}}]", want("Open by cat")},
		{"rule_matching all", "rule_matching: all\nrules: [{enable: {tag: dup}}]", want("Open by cat", "Write by cat", "Any open")},
		{"rule_matching first", "rule_matching: first\nrules: [{enable: {tag: dup}}]", want("Open by cat", "Write by cat")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := countByRule(replay(t, capture, rulesFile, tc.cfg))
			if len(got) != len(tc.want) {
				t.Fatalf("alerts by rule %v, want %v", got, tc.want)
			}
			for r, n := range tc.want {
				if got[r] != n {
					t.Errorf("%s: %d alerts, want %d (all: %v)", r, got[r], n, got)
				}
			}
		})
	}
}

// append_output: extra text on the matching rules' output line, extra fields in output_fields
// only; rules not matched get nothing.
func TestAppendOutput(t *testing.T) {
	capture := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesFile, []byte(testRules), 0o600)
	as := replay(t, capture, rulesFile, `
rules: [{enable: {tag: io}}]
append_output:
  - match: {tag: filesystem}
    extra_output: "pid=%proc.pid"
    extra_fields:
      - proc.name
      - bang: "%proc.name!"
  - match: {rule: Any close}
    extra_fields: [evt.type]
`)
	n := countByRule(as)
	if n["Open by cat"] == 0 || n["Any close"] == 0 || n["Write by cat"] == 0 {
		t.Fatalf("alerts %v", n)
	}
	for _, a := range as {
		of := a.OutputFields
		switch a.Rule {
		case "Open by cat", "Write by cat":
			pid, ok := of["proc.pid"].(int64)
			if !ok {
				t.Fatalf("%s: proc.pid %T %v in %v", a.Rule, of["proc.pid"], of["proc.pid"], of)
			}
			if !strings.HasSuffix(a.Output, " pid="+itoa(pid)) {
				t.Errorf("output %q lacks the extra output pid=%d", a.Output, pid)
			}
			name, ok := of["proc.name"].(string)
			if !ok || of["bang"] != name+"!" {
				t.Errorf("%s: proc.name %v bang %v", a.Rule, of["proc.name"], of["bang"])
			}
			if a.Rule == "Open by cat" && !strings.Contains(a.Output, " by "+name+" ") {
				t.Errorf("output %q does not name process %q", a.Output, name)
			}
			if strings.Contains(a.Output, "!") {
				t.Errorf("extra field leaked into the output line: %q", a.Output)
			}
		case "Any close":
			if of["evt.type"] != "close" || of["proc.name"] != nil || strings.Contains(a.Output, "pid=") {
				t.Errorf("close alert %q fields %v", a.Output, of)
			}
		}
	}
	// a bad extra field is reported at its configuration key
	c, _ := config.Parse("bad.yaml", []byte("append_output:\n  - extra_fields: [no.such_field]\n"), nil)
	d := detect.New(state.Options{})
	_, errs, _ := LoadRules(c, []string{rulesFile}, d.Sources())
	if len(errs) == 0 || !strings.Contains(errs[0].String(), "bad.yaml:2:") || errs[0].Item != "append_output[0].extra_fields[0]" {
		t.Errorf("errors %v", errs)
	}
	c, _ = config.Parse("bad.yaml", []byte("append_output:\n  - extra_output: '%no.such_field'\n"), nil)
	_, errs, _ = LoadRules(c, []string{rulesFile}, d.Sources())
	if len(errs) == 0 || errs[0].Item != "append_output[0].extra_output" {
		t.Errorf("errors %v", errs)
	}
}

func itoa(n int64) string {
	if n == 0 {
		return "0"
	}
	s := ""
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	if neg {
		s = "-" + s
	}
	return s
}

// suggested_output (on by default, as in Falco): every syscall alert carries the container
// and Kubernetes fields in its text, in Falco's form, and in output_fields; a field the rule
// already prints is not repeated.
func TestSuggestedOutputDefault(t *testing.T) {
	capture := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	os.WriteFile(rulesFile, []byte(`
- rule: Open by cat
  desc: x
  condition: evt.type in (open, openat) and evt.dir=<
  output: "open %fd.name by %proc.name in %container.name"
  priority: WARNING
`), 0o600)
	as := replay(t, capture, rulesFile, "json_output: true\n")
	if len(as) == 0 {
		t.Fatal("no alerts")
	}
	for _, a := range as {
		for _, f := range []string{"container.id", "container.name", "container.image.repository", "container.image.tag", "k8s.pod.name", "k8s.ns.name"} {
			if _, ok := a.OutputFields[f]; !ok {
				t.Fatalf("output_fields lack %s: %v", f, a.OutputFields)
			}
		}
		want := " container_id=" + str(a.OutputFields["container.id"]) +
			" container_image_repository=" + str(a.OutputFields["container.image.repository"]) +
			" container_image_tag=" + str(a.OutputFields["container.image.tag"]) +
			" k8s_pod_name=" + str(a.OutputFields["k8s.pod.name"]) +
			" k8s_ns_name=" + str(a.OutputFields["k8s.ns.name"])
		if !strings.HasSuffix(a.Output, want) {
			t.Fatalf("output %q does not end with %q", a.Output, want)
		}
		if strings.Contains(a.Output, "container_name=") {
			t.Fatalf("container.name repeated: %q", a.Output)
		}
	}
	// turned off: the rule's own output only
	as = replay(t, capture, rulesFile, "append_output: []\n")
	if len(as) == 0 || strings.Contains(as[0].Output, "container_id=") || as[0].OutputFields["k8s.ns.name"] != nil {
		t.Fatalf("without suggested_output: %q %v", as[0].Output, as[0].OutputFields)
	}
}

// str is a value of output_fields as the text line prints it (a missing value is null there).
func str(v any) string {
	if v == nil {
		return "<NA>"
	}
	return fmt.Sprint(v)
}

func TestSuggestOutput(t *testing.T) {
	for in, want := range map[string]string{
		"x": "x container_id=%container.id container_name=%container.name container_image_repository=%container.image.repository container_image_tag=%container.image.tag k8s_pod_name=%k8s.pod.name k8s_ns_name=%k8s.ns.name",
		"a %container.id b %k8s.ns.name %container.image.repository %container.image.tag %container.name %k8s.pod.name": "a %container.id b %k8s.ns.name %container.image.repository %container.image.tag %container.name %k8s.pod.name",
		"%container.ids %{k8s.pod.name} %(k8s.ns.name) %container.image.tag[0] %container.name":                         "%container.ids %{k8s.pod.name} %(k8s.ns.name) %container.image.tag[0] %container.name container_id=%container.id container_image_repository=%container.image.repository container_image_tag=%container.image.tag",
	} {
		if got := SuggestOutput(in); got != want {
			t.Errorf("SuggestOutput(%q)\n = %q\nwant %q", in, got, want)
		}
	}
}
