package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/output"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/metrics"
	"github.com/saker-sec/saker/pkg/reload"
	"github.com/saker-sec/saker/pkg/state"
)

// TestRunLoopWiring wires the pieces the way saker run does: configuration → outputs and
// metrics → rules in a reload.Holder → detector with an Emitter, the holder read between
// events, a reload in the middle, and the queues flushed at the end.
func TestRunLoopWiring(t *testing.T) {
	capture := filepath.Join(sharedDir(t), "captures", "curl_google.scap")
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte(testRules), 0o600)
	events := filepath.Join(dir, "events.json")
	cfgFile := filepath.Join(dir, "saker.yaml")
	os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
rules_files: [%s]
json_output: true
stdout_output: {enabled: false}
file_output: {enabled: true, keep_alive: true, filename: %s}
append_output:
  - match: {rule: Open by cat}
    extra_fields: [proc.name]
`, rulesFile, events)), 0o600)

	cfg, err := config.Load(cfgFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New("test")
	out, err := output.FromConfig(cfg, output.BuildOptions{Hostname: "h", Observe: m.ObserveAlert})
	if err != nil {
		t.Fatal(err)
	}
	m.WatchOutputs(out)
	out.Start()

	d := detect.New(state.Options{})
	build := func() (*Rules, error) {
		c, err := config.Load(cfgFile, nil)
		if err != nil {
			return nil, err
		}
		paths, _, err := c.RulesPaths()
		if err != nil {
			return nil, err
		}
		rs, errs, _ := LoadRules(c, paths, d.Sources())
		if len(errs) > 0 {
			return nil, fmt.Errorf("%s", errs[0])
		}
		return rs, nil
	}
	first, err := build()
	if err != nil {
		t.Fatal(err)
	}
	m.ObserveRulesLoad(first.LoadTime, len(first.Ruleset.Enabled()), nil, false)
	holder := reload.NewHolder(first)
	rl := reload.New(reload.Options[Rules]{Holder: holder, Build: build, Signals: []os.Signal{},
		OnResult: func(res reload.Result) {
			m.ObserveRulesLoad(res.Duration, 0, res.Err, true)
			if res.Err != nil {
				out.Send(ReloadFailureAlert(res, "h"))
			}
		}})

	em := &emitter{Send: func(a *alert.Alert, _ *state.Context) { out.Send(a) }}
	d.Emit = em.Collect
	// the loop body of saker run: read the holder between events (one atomic load)
	loop := func(ctx *state.Context) {
		em.Flush(ctx)
		if r := holder.Load(); r.Ruleset != d.Rules {
			d.Rules, d.First, em.Extras = r.Ruleset, r.First, r.Extras
		}
	}
	d.Rules, d.First, em.Extras = first.Ruleset, first.First, first.Extras
	runCapture(t, d, capture, loop)
	// second pass with rules reloaded between events: the config now enables io-tagged rules
	os.WriteFile(cfgFile, []byte(strings.Replace(mustRead(t, cfgFile), "json_output: true", "json_output: true\nrules: [{enable: {tag: io}}]", 1)), 0o600)
	if res := rl.Reload(reload.TriggerManual); res.Err != nil {
		t.Fatal(res.Err)
	}
	os.WriteFile(rulesFile, []byte("- rule: [broken\n"), 0o600)
	if res := rl.Reload(reload.TriggerManual); res.Err == nil {
		t.Fatal("broken rules accepted")
	}
	runCapture(t, d, capture, loop)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := out.Close(ctx); err != nil {
		t.Fatal(err)
	}
	byRule := map[string]int{}
	withName := 0
	for _, l := range strings.Split(strings.TrimSpace(mustRead(t, events)), "\n") {
		var a map[string]any
		if err := json.Unmarshal([]byte(l), &a); err != nil {
			t.Fatal(err)
		}
		byRule[a["rule"].(string)]++
		if a["rule"] == "Open by cat" {
			if _, ok := a["output_fields"].(map[string]any)["proc.name"]; ok {
				withName++
			}
		}
	}
	if byRule["Any close"] == 0 || byRule[ReloadFailureRule] != 1 || withName != byRule["Open by cat"] || withName == 0 {
		t.Errorf("alerts by rule %v, %d with the extra field", byRule, withName)
	}
	t.Logf("alerts by rule %v", byRule)
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
