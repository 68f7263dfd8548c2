package response

import (
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

const goodPolicy = `
dry_run: false
never_kill: [sshd, "/usr/sbin/*"]
rules:
  - name: contain shells
    match:
      rules: ["Terminal shell*", "Read sensitive file untrusted"]
      tags: [container, shell]
      priority: ">= warning"
      source: syscall
      output_fields:
        - container.id!=host
        - proc.name=ba*
    cooldown: 1m
    continue: false
    actions:
      - action: snapshot
        with: {window: 20s}
      - action: kill_process
        with: {tree: true, signal: TERM}
        rate_limit: {max: 10, per: 1m}
        workload_rate_limit: {max: 1, per: 10s}
        cooldown: 30s
        on_error: stop
      - action: container_pause
        dry_run: true
  - name: everything else
    match: {}
    actions:
      - action: webhook
        with:
          url: http://127.0.0.1:9/x
          headers: {X-Team: sec}
`

func TestParseGood(t *testing.T) {
	p, err := Parse("p.yaml", []byte(goodPolicy))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) != 2 || len(p.NeverKill) != 2 {
		t.Fatalf("rules %d never_kill %v", len(p.Rules), p.NeverKill)
	}
	r := p.Rules[0]
	if r.Continue || r.Cooldown != time.Minute || !r.Match.HasPriority || r.Match.MinPriority != loader.Warning || len(r.Match.Fields) != 2 || !r.Match.Fields[0].Neg {
		t.Errorf("rule 0: %+v", r)
	}
	if r.Pos.Line != 5 || r.Pos.Col != 5 {
		t.Errorf("rule 0 at %v", r.Pos)
	}
	k := r.Steps[1]
	if k.Action != "kill_process" || !k.Params.Bool("tree") || k.Params.String("signal") != "TERM" || k.RateLimit.Max != 10 || k.WorkloadRateLimit.Per != 10*time.Second || k.Cooldown != 30*time.Second || !k.StopOnError {
		t.Errorf("kill step: %+v params %v", k, k.Params)
	}
	if s := r.Steps[0]; s.Params.Duration("window") != 20*time.Second || s.Params.Int("max_processes") != 64 {
		t.Errorf("snapshot params (defaults): %v", s.Params)
	}
	if !r.Steps[2].DryRun {
		t.Error("container_pause: dry_run lost")
	}
	if w := p.Rules[1].Steps[0]; w.Params.Map("headers")["X-Team"] != "sec" || w.Params.Duration("timeout") != 10*time.Second {
		t.Errorf("webhook params: %v", w.Params)
	}
	if !p.Rules[1].Continue {
		t.Error("continue defaults to true")
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"rules:\n  - name: a\n    match: {}\n    actions:\n      - action: nuke\n", "p.yaml:5:17: action: unknown action \"nuke\""},
		{"rules:\n  - name: a\n    match: {}\n    actions:\n      - action: kill_process\n        with: {sig: KILL}\n", "p.yaml:6:16: with: action kill_process has no parameter \"sig\""},
		{"rules:\n  - name: a\n    match: {}\n    actions:\n      - action: kill_process\n        with: {signal: SIGNOPE}\n", "p.yaml:6:15: action kill_process: unknown signal \"SIGNOPE\""},
		{"rules:\n  - name: a\n    match: {priority: loud}\n    actions: [{action: container_pause}]\n", "p.yaml:3:23: match.priority: \"loud\" is not a priority"},
		{"rules:\n  - name: a\n    match: {}\n    actions: [{action: webhook}]\n", "action webhook needs parameter \"url\""},
		{"rules:\n  - name: a\n    match: {}\n    actions: [{action: webhook, with: {url: \"ftp://x\"}}]\n", "p.yaml:4:39: action webhook: url: \"ftp://x\" is not an http(s) URL"},
		{"rules:\n  - name: a\n    match: {}\n    actions: [{action: container_pause, rate_limit: {max: 0, per: 1m}}]\n", "p.yaml:4:59: rate_limit.max: expected a positive integer"},
		{"rules:\n  - name: a\n    match: {}\n    actions: [{action: container_pause, cooldown: soon}]\n", "p.yaml:4:51: cooldown: \"soon\" is not a duration"},
		{"rules:\n  - name: a\n    match: {}\n    actions: [{action: container_pause}]\n  - name: a\n    match: {}\n    actions: [{action: container_pause}]\n", "p.yaml:5:5: rule \"a\": already defined at p.yaml:2:5"},
		{"rule:\n  - x\n", "p.yaml:1:1: policy: unknown key \"rule\""},
		{"rules:\n  - name: a\n    actions: [{action: container_pause}]\n", "p.yaml:2:5: rule \"a\": missing match"},
		{"rules:\n  - name: a\n    match: {output_fields: [proc.name]}\n    actions: [{action: container_pause}]\n", "p.yaml:3:29: match.output_fields: \"proc.name\": expected FIELD=GLOB"},
		{"rules: [\n", "p.yaml:1:1: did not find expected node content"},
		{"rules:\n  - name: a\n    match: {}\n    actions: [{action: run_program, with: {command: [relative]}}]\n", "command: \"relative\" is not an absolute path"},
	}
	for _, c := range cases {
		_, err := Parse("p.yaml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.src, err, c.want)
		}
	}
}

func TestMatch(t *testing.T) {
	p, err := Parse("p.yaml", []byte(goodPolicy))
	if err != nil {
		t.Fatal(err)
	}
	m := &p.Rules[0].Match
	a := &alert.Alert{Rule: "Terminal shell in container", Priority: loader.Notice, Source: "syscall", Tags: []string{"shell"},
		OutputFields: map[string]any{"container.id": "0123456789ab", "proc.name": "bash"}}
	if m.Matches(a) {
		t.Error("Notice is below >= Warning")
	}
	a.Priority = loader.Critical
	if !m.Matches(a) {
		t.Error("should match")
	}
	for _, mod := range []func(*alert.Alert){
		func(a *alert.Alert) { a.Rule = "Other" },
		func(a *alert.Alert) { a.Tags = []string{"network"} },
		func(a *alert.Alert) { a.Source = "k8s_audit" },
		func(a *alert.Alert) { a.OutputFields["container.id"] = "host" },
		func(a *alert.Alert) { a.OutputFields["proc.name"] = "sh" },
		func(a *alert.Alert) { delete(a.OutputFields, "proc.name") },
	} {
		b := *a
		b.OutputFields = map[string]any{"container.id": "0123456789ab", "proc.name": "bash"}
		mod(&b)
		if m.Matches(&b) {
			t.Errorf("matched %+v", b)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(goodPolicy))
	f.Add([]byte("rules:\n  - name: a\n    match: {}\n    actions: [{action: container_pause, rate_limit: {max: 1, per: 1s}}]\n"))
	f.Add([]byte("rules: [{name: x, match: {output_fields: [\"a!=[\"]}, actions: [{action: webhook, with: {url: 'http://h', headers: {a: b}}}]}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Parse("fuzz.yaml", b)
		if err != nil {
			for _, l := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(l, "fuzz.yaml:") {
					t.Fatalf("error without position: %q", l)
				}
			}
			return
		}
		for _, r := range p.Rules {
			for _, s := range r.Steps {
				if s.act == nil {
					t.Fatal("step without action")
				}
			}
		}
	})
}

func TestStartFromConfig(t *testing.T) {
	dir := t.TempDir()
	good := dir + "/p.yaml"
	os.WriteFile(good, []byte("rules:\n  - name: a\n    match: {}\n    actions: [{action: kill_process, dry_run: true}]\n"), 0o644)
	var mu sync.Mutex
	var got []*alert.Alert
	st, err := Start(Config{PolicyFile: good, SnapshotDir: dir}, func(a *alert.Alert) { mu.Lock(); got = append(got, a); mu.Unlock() }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	st.Handle(&alert.Alert{Rule: "r", Source: "syscall"}, &actions.Target{PID: int64(os.Getpid())})
	st.Flush()
	if err := st.Stop(time.Second); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].OutputFields["outcome"] != "refused" {
		t.Fatalf("%v", got)
	}
	bad := dir + "/bad.yaml"
	os.WriteFile(bad, []byte("rules:\n  - name: a\n    match: {}\n    actions: [{action: nope}]\n"), 0o644)
	if _, err := Start(Config{PolicyFile: bad}, nil, nil, nil); err == nil || !strings.HasPrefix(err.Error(), bad+":4:24: action: unknown action \"nope\"") {
		t.Fatalf("bad policy: %v", err)
	}
	if _, err := Start(Config{}, nil, nil, nil); err == nil {
		t.Fatal("no policy file accepted")
	}
}
