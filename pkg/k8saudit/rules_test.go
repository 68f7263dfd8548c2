package k8saudit

import (
	"encoding/json"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/state"
	"github.com/saker-sec/saker/pkg/sysfields"
)

// upstreamRules compiles Falco's falco_rules.yaml and k8s_audit_rules.yaml together, with the
// real syscall source and this package's k8s_audit source.
func upstreamRules(t testing.TB) *engine.Ruleset {
	t.Helper()
	dir := filepath.Join(testshared.Dir(t), "falco-rules")
	srcs := map[string]fields.Source{
		"syscall":  sysfields.NewSource(state.New(state.Options{})),
		SourceName: NewFieldSource(),
	}
	rs, errs, _ := engine.LoadFiles([]string{filepath.Join(dir, "falco_rules.yaml"), filepath.Join(dir, "k8s_audit_rules.yaml")}, engine.Options{Sources: srcs})
	if len(errs) > 0 {
		t.Fatalf("upstream rules: %v", errs)
	}
	return rs
}

func ruleNames(alerts []*alert.Alert) string {
	var n []string
	for _, a := range alerts {
		n = append(n, a.Rule)
	}
	sort.Strings(n)
	return strings.Join(n, "|")
}

func TestUpstreamRulesOnEvents(t *testing.T) {
	rs := upstreamRules(t)
	var k8s int
	for _, r := range rs.Enabled() {
		if r.Source == SourceName {
			k8s++
		}
	}
	if k8s < 30 {
		t.Fatalf("only %d enabled k8s_audit rules compiled", k8s)
	}
	pod := loadEvent(t, "privileged-pod.json")
	got := Evaluate(rs, pod, "host1", false)
	want := "Create Privileged Pod|Create Sensitive Mount Pod|Create HostNetwork Pod|Disallowed K8s User" // not Create Disallowed Pod: allowed_k8s_containers is always true upstream
	wantSorted := strings.Split(want, "|")
	sort.Strings(wantSorted)
	if ruleNames(got) != strings.Join(wantSorted, "|") {
		t.Fatalf("alerts %s, want %s", ruleNames(got), strings.Join(wantSorted, "|"))
	}
	var priv *alert.Alert
	for _, a := range got {
		if a.Rule == "Create Privileged Pod" {
			priv = a
		}
	}
	b, err := json.Marshal(priv)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Hostname     string         `json:"hostname"`
		Output       string         `json:"output"`
		OutputFields map[string]any `json:"output_fields"`
		Priority     string         `json:"priority"`
		Rule         string         `json:"rule"`
		Source       string         `json:"source"`
		Tags         []string       `json:"tags"`
		Time         string         `json:"time"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if j.Source != "k8s_audit" || j.Priority != "Warning" || j.Time != "2026-12-02T06:00:00.123456789Z" || j.Hostname != "host1" ||
		len(j.Tags) != 1 || j.Tags[0] != "k8s" {
		t.Errorf("alert JSON %s", b)
	}
	if !strings.Contains(j.Output, "Pod started with privileged container (user=alice pod=nginx-priv resource=pods ns=default images=(docker.io/library/nginx:1.27@sha256:abcd,falcosecurity/falco:0.39) init_images=(busybox:1.36) ephemeral_images=<NA>)") {
		t.Errorf("output %q", j.Output)
	}
	if j.OutputFields["ka.user.name"] != "alice" || j.OutputFields["ka.req.pod.ephemeralContainers.image"] != nil {
		t.Errorf("output_fields %v", j.OutputFields)
	}
	if imgs, ok := j.OutputFields["ka.req.pod.containers.image"].([]any); !ok || len(imgs) != 2 || imgs[1] != "falcosecurity/falco:0.39" {
		t.Errorf("output_fields images %#v", j.OutputFields["ka.req.pod.containers.image"])
	}
}

// Older rules files use the deprecated fields, contains on list fields and intersects on
// scalar ones: they load and match.
func TestOlderRulesFile(t *testing.T) {
	rules := `
- rule: old image
  desc: d
  condition: ka.verb=create and ka.req.container.image startswith docker.io/ and ka.req.container.privileged=true
  output: "old %ka.req.container.image %ka.req.container.image.repository"
  priority: WARNING
  source: k8s_audit
- rule: old hostpath
  desc: d
  condition: ka.req.volume.hostpath[/var/run/docker.sock]=true and ka.req.binding.subject.has_name[alice]=true
  output: "hostpath %ka.req.volume.hostpath[/var/run/docker.sock]"
  priority: WARNING
  source: k8s_audit
- rule: list contains
  desc: d
  condition: ka.req.pod.containers.image contains "falco" and ka.req.container.host_network intersects (true)
  output: "contains %ka.req.pod.containers.image[1]"
  priority: NOTICE
  source: k8s_audit
- rule: list contains miss
  desc: d
  condition: ka.req.pod.containers.image contains "redis"
  output: "miss"
  priority: NOTICE
  source: k8s_audit
`
	srcs := map[string]fields.Source{SourceName: NewFieldSource()}
	rs, errs, _ := engine.Load([]loader.File{{Name: "old.yaml", Data: []byte(rules)}}, engine.Options{Sources: srcs})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := Evaluate(rs, loadEvent(t, "privileged-pod.json"), "h", false)
	if ruleNames(got) != "list contains|old hostpath|old image" {
		t.Fatalf("alerts %s", ruleNames(got))
	}
	for _, a := range got {
		switch a.Rule {
		case "old image":
			if a.Output != "old docker.io/library/nginx:1.27@sha256:abcd docker.io/library/nginx" {
				t.Errorf("%q", a.Output)
			}
		case "old hostpath":
			if a.Output != "hostpath true" {
				t.Errorf("%q", a.Output)
			}
		case "list contains":
			if a.Output != "contains falcosecurity/falco:0.39" {
				t.Errorf("%q", a.Output)
			}
		}
	}
}

// The log backend's file of a real API server run (TestAuditRulesAgainstAPIServer) replayed
// through the upstream rules.
func TestReplayAPIServerLog(t *testing.T) {
	rs := upstreamRules(t)
	evs, err := ReadFile(filepath.Join("testdata", "apiserver-audit.jsonl"), func(err error) { t.Errorf("warning: %v", err) })
	if err != nil || len(evs) != 10 {
		t.Fatalf("%v, %d events", err, len(evs))
	}
	got := map[string]int{}
	for _, ev := range evs {
		for _, a := range Evaluate(rs, ev, "h", false) {
			got[a.Rule]++
			if a.Rule == "Attach/Exec Pod" && a.OutputFields["ka.uri.param[command]"] != "cat" {
				t.Errorf("exec command %v", a.OutputFields["ka.uri.param[command]"])
			}
		}
	}
	for _, r := range []string{"Create Privileged Pod", "Create Sensitive Mount Pod", "Attach/Exec Pod", "Attach to cluster-admin Role",
		"K8s Secret Get Successfully", "Create/Modify Configmap With Private Credentials", "K8s Secret Created", "K8s ConfigMap Created"} {
		if got[r] != 1 {
			t.Errorf("%q raised %d times, want once (all: %v)", r, got[r], got)
		}
	}
}
