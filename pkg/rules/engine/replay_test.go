package engine_test

import (
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

// replayCounts runs a capture through the real pipeline with a rules file and counts the
// alerts of each rule.
func replayCounts(t *testing.T, capture, rulesSrc string) map[string]int {
	t.Helper()
	d := detect.New(state.Options{})
	rs, errs, _ := engine.Load([]loader.File{{Name: "replay.yaml", Data: []byte(rulesSrc)}}, engine.Options{Sources: d.Sources()})
	if rs == nil {
		t.Fatalf("rules do not load: %v", errs)
	}
	d.Rules = rs
	counts := map[string]int{}
	d.Emit = func(a *alert.Alert) { counts[a.Rule]++ }
	r, err := scap.Open(capture)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.OnMetadata = func(r *scap.Reader) { d.LoadCapture(r) }
	var ev event.Event
	for {
		if err := r.Next(&ev); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		d.Event(&ev)
	}
	return counts
}

// sysdigCount is how many events sysdig 0.29 selects with a filter.
func sysdigCount(t *testing.T, capture, filter string) int {
	t.Helper()
	bin, err := exec.LookPath("sysdig")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("sysdig is not installed")
		}
		t.Skip("sysdig is not installed")
	}
	out, err := exec.Command(bin, "-r", capture, "-p", "%evt.num", filter).Output()
	if err != nil {
		t.Fatalf("sysdig %q: %v", filter, err)
	}
	return strings.Count(string(out), "\n")
}

// TestReplayCornerCases replays cat_write.scap with rules that use the Falco corner cases
// (a bare list name as a value, exceptions with quoted values and list names) and compares
// each rule's alert count with what sysdig selects with the filter Falco would have built.
func TestReplayCornerCases(t *testing.T) {
	capture := filepath.Join(testshared.Dir(t), "captures", "cat_write.scap")
	counts := replayCounts(t, capture, `
- list: readers
  items: [cat]
- list: libs
  items: [/etc/ld.so.cache, /lib/x86_64-linux-gnu/libc.so.6]
- rule: bare list name
  desc: d
  condition: evt.type = open and evt.dir = < and proc.name = readers
  output: "%proc.name %fd.name %container.info"
  priority: info
- rule: exceptions
  desc: d
  condition: evt.type = open and evt.dir = < and proc.name = cat
  output: "%fd.name"
  priority: info
  exceptions:
    - name: libraries
      fields: [proc.name, fd.name]
      comps: [=, in]
      values:
        - [cat, libs]
    - name: devnull
      fields: [fd.name]
      values:
        - ['"/dev/null"']
- rule: exceptions in parentheses
  desc: d
  condition: evt.type = open and evt.dir = <
  output: "%fd.name"
  priority: info
  exceptions:
    - name: libraries
      fields: [fd.name]
      comps: [in]
      values:
        - [(libs)]
`)
	for rule, filter := range map[string]string{
		"bare list name":            "evt.type = open and evt.dir = < and proc.name = cat",
		"exceptions":                "evt.type = open and evt.dir = < and proc.name = cat and not (fd.name in (/etc/ld.so.cache, /lib/x86_64-linux-gnu/libc.so.6) or fd.name = /dev/null)",
		"exceptions in parentheses": "evt.type = open and evt.dir = < and not fd.name in (/etc/ld.so.cache, /lib/x86_64-linux-gnu/libc.so.6)",
	} {
		want := sysdigCount(t, capture, filter)
		if want == 0 {
			t.Fatalf("sysdig selects nothing with %q: the check proves nothing", filter)
		}
		if counts[rule] != want {
			t.Errorf("rule %q: %d alerts, sysdig selects %d events with %q", rule, counts[rule], want, filter)
		}
	}
	if counts["exceptions"] >= counts["bare list name"] {
		t.Errorf("the exceptions removed nothing: %v", counts)
	}
}
