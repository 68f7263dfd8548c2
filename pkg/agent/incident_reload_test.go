package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/reload"
)

// TestReloadIncidentsAndK8sMeta: a reload applies the incidents section's window, max and
// max_age to the running store and its output_fields to the rules (the extra fields of the
// syscall rules); a changed incidents.path or k8s_metadata section is kept as started and the
// log says a restart is needed.
func TestReloadIncidentsAndK8sMeta(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte(`
- rule: an open
  desc: test
  condition: evt.type = openat and fd.name = /nonexistent/saker-test
  output: "open %fd.name"
  priority: WARNING
`), 0o600)
	cfgFile := filepath.Join(dir, "saker.yaml")
	write := func(window, path, k8s string, outFields bool) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
rules_files: [%s]
json_output: true
watch_config_files: false
incidents: {enabled: true, path: %s, window: %s, max: 50, max_age: 1h, output_fields: %v}
%s
`, rulesFile, filepath.Join(dir, path), window, outFields, k8s)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("10m", "a.db", "", true)
	errb := &syncBuf{}
	a, err := New(Options{ConfigFile: cfgFile, Stdout: &syncBuf{}, Stderr: errb})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	st := a.Incidents().Store()
	extras := func() int {
		a.mu.RLock()
		defer a.mu.RUnlock()
		x := a.gen.rules.Extras // the running generation's (the event loop applies them)
		if x == nil {
			return 0
		}
		return len(x.byRule["an open"])
	}
	if st.Window() != 10*time.Minute || extras() != 4 {
		t.Fatalf("at start: window %v, %d incident extra fields", st.Window(), extras())
	}

	write("3m", "a.db", "", false)
	if res := a.Reload(reload.TriggerManual); res.Err != nil {
		t.Fatal(res.Err)
	}
	if st.Window() != 3*time.Minute || extras() != 0 {
		t.Fatalf("after the reload: window %v, %d incident extra fields", st.Window(), extras())
	}
	if s := errb.String(); strings.Contains(s, "restart") {
		t.Fatalf("a restart asked for a live change: %s", s)
	}

	write("3m", "b.db", "k8s_metadata: {enabled: true, node_name: n1}", true)
	if res := a.Reload(reload.TriggerManual); res.Err != nil {
		t.Fatal(res.Err)
	}
	s := errb.String()
	if !strings.Contains(s, "incidents.path changed: the store keeps writing "+filepath.Join(dir, "a.db")+" until saker restarts") ||
		!strings.Contains(s, "k8s_metadata changed: restart saker to apply it") {
		t.Fatalf("stderr: %s", s)
	}
	if extras() != 4 || a.Incidents().Store() != st || a.K8sMeta() != nil {
		t.Fatalf("after the second reload: %d extra fields, store kept %v, k8s %v", extras(), a.Incidents().Store() == st, a.K8sMeta())
	}
}
