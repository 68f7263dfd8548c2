package agent

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/internal/testshared"

	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/state"
)

const connectRule = `
- rule: Connect
  desc: x
  condition: evt.type = connect and evt.dir = <
  output: "connect %fd.name"
  priority: WARNING
`

// selection loads rulesYAML with the configuration cfgYAML and returns the probe's selection.
func selection(t *testing.T, rulesYAML, cfgYAML string) ([]string, []loader.Message) {
	sel, _, errs := selectionRules(t, rulesYAML, cfgYAML)
	return sel, errs
}

func selectionRules(t *testing.T, rulesYAML, cfgYAML string) ([]string, *Rules, []loader.Message) {
	t.Helper()
	c, err := config.Parse("test.yaml", []byte(cfgYAML), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := detect.New(state.Options{})
	rs, errs, _ := LoadRuleFiles(c, []loader.File{{Name: "r.yaml", Data: []byte(rulesYAML)}}, d.Sources())
	if len(errs) > 0 {
		return nil, nil, errs
	}
	sel, err := SyscallSelection(rs.Ruleset, rs.Base)
	if err != nil {
		t.Fatal(err)
	}
	return sel, rs, nil
}

func sorted(names ...string) []string {
	slices.Sort(names)
	return names
}

// base_syscalls as in Falco: default = rules + state set; custom_set replaces the state set;
// !name removes; repair adds the state the selected syscalls need; all selects everything.
func TestBaseSyscallsSelection(t *testing.T) {
	has := func(sel []string, names ...string) bool {
		for _, n := range names {
			if !slices.Contains(sel, n) {
				return false
			}
		}
		return true
	}
	none := func(sel []string, names ...string) bool {
		for _, n := range names {
			if slices.Contains(sel, n) {
				return false
			}
		}
		return true
	}
	def, rs, _ := selectionRules(t, connectRule, "")
	if !has(def, "connect", "execve", "close", "setuid", "chroot") || !slices.Equal(def, ProbeSelection(rs.Ruleset)) {
		t.Errorf("default selection %v", def)
	}
	custom, _ := selection(t, connectRule, "base_syscalls: {custom_set: [execve, mkdirat]}\n")
	if !slices.Equal(custom, sorted("connect", "execve", "mkdirat")) {
		t.Errorf("custom_set selection %v", custom)
	}
	neg, _ := selection(t, connectRule, "base_syscalls: {custom_set: [\"!close\", \"!setuid\"]}\n")
	if !has(neg, "connect", "execve", "clone") || !none(neg, "close", "setuid") {
		t.Errorf("custom_set with only !names: %v", neg)
	}
	rep, _ := selection(t, connectRule, "base_syscalls: {repair: true}\n")
	if !slices.Equal(rep, sorted("connect", "clone", "clone3", "fork", "vfork", "execve", "execveat", "procexit", "close", "chdir", "fchdir", "socket", "bind")) {
		t.Errorf("repair selection %v", rep)
	}
	rep2, _ := selection(t, "- rule: Exec\n  desc: x\n  condition: evt.type = execve\n  output: x\n  priority: INFO\n", "base_syscalls:\n  repair: true\n  custom_set:\n    - mkdirat\n    - !vfork\n")
	if !slices.Equal(rep2, sorted("mkdirat", "clone", "clone3", "fork", "execve", "execveat", "procexit", "close", "chdir", "fchdir")) {
		t.Errorf("repair with custom_set %v", rep2)
	}
	all, _ := selection(t, connectRule, "base_syscalls: {all: true, custom_set: [\"!write\"]}\n")
	if len(all) != len(probe.Supported())-1 || !has(all, "read", "kill") || !none(all, "write") {
		t.Errorf("all: %d of %d: %v", len(all), len(probe.Supported()), all)
	}
	// a name the probe does not know is an error at its configuration key
	_, errs := selection(t, connectRule, "base_syscalls:\n  custom_set: [execve, nosuchcall]\n")
	if len(errs) != 1 || !strings.Contains(errs[0].String(), "test.yaml:2:") || errs[0].Item != "base_syscalls.custom_set[1]" ||
		!strings.Contains(errs[0].String(), `"nosuchcall" is not a syscall`) {
		t.Errorf("errors %v", errs)
	}
	if _, err := config.Parse("x.yaml", []byte("base_syscalls: {custom_set: [!close, x]}\n"), nil); err == nil || !strings.Contains(err.Error(), "x.yaml:1:") || !strings.Contains(err.Error(), `quote it ("!close")`) {
		t.Errorf("a bare !name in a flow list: %v", err)
	}
	// -o takes Falco's form
	ov, _ := config.Parse("x.yaml", nil, []string{"base_syscalls.custom_set[]=!close", "base_syscalls.repair=true", "base_syscalls.all=false"})
	if ov == nil || !slices.Equal([]string(ov.BaseSyscalls.CustomSet), []string{"!close"}) || !ov.BaseSyscalls.Repair {
		t.Errorf("overrides %+v", ov)
	}
}

// Live: base_syscalls reaches the kernel. mkdir is run, then rmdir as a marker; the mkdir
// rule alerts by default and stays silent once custom_set removes mkdir and mkdirat, though
// the rules need them (the marker's alert shows the later event was delivered).
func TestBaseSyscallsLive(t *testing.T) {
	testshared.Need(t, testshared.LiveProblem())
	dir := t.TempDir()
	rulesYAML := `
- rule: Made dir
  desc: x
  condition: evt.type in (mkdir, mkdirat) and evt.dir = < and proc.name = mkdir
  output: "mkdir by %proc.name"
  priority: WARNING
- rule: Removed dir
  desc: x
  condition: evt.type in (rmdir, unlinkat) and evt.dir = < and proc.name = rmdir
  output: "rmdir by %proc.name"
  priority: WARNING
`
	run := func(extra ...string) (made bool) {
		t.Helper()
		sink := &collectSink{}
		a, base, _ := newTestAgent(t, &clock{t: time.Now()}, rulesYAML, []Sink{sink}, extra...)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Run(ctx, &ProbeSource{}) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}()
		for i := 0; ; i++ { // bounded wait for the probe to load and the scan
			if code, _ := get(t, base+"/readyz"); code == http.StatusOK {
				break
			}
			if i == 1200 {
				t.Fatalf("/readyz never 200: %v", a.Ready())
			}
			time.Sleep(50 * time.Millisecond)
		}
		d := filepath.Join(dir, "d")
		for i := 0; ; i++ { // until the marker's alert arrives (each try is a new mkdir + rmdir)
			if out, err := exec.Command("sh", "-c", "mkdir "+d+" && rmdir "+d).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			sink.mu.Lock()
			marker := false
			for _, al := range sink.as {
				marker = marker || al.Rule == "Removed dir"
				made = made || al.Rule == "Made dir"
			}
			sink.mu.Unlock()
			if marker {
				return made
			}
			if i == 200 {
				t.Fatal("the marker rule never alerted")
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !run() {
		t.Fatal("by default the mkdir rule did not alert")
	}
	if run(`base_syscalls.custom_set=["!mkdir", "!mkdirat"]`) {
		t.Fatal("custom_set removed mkdir and mkdirat, yet the mkdir rule alerted")
	}
}
