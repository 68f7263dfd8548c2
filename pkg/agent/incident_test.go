package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/saker-sec/saker/pkg/incident"
)

// The incident store in the agent: k8s audit events reach it through Evaluate (a real API
// server's audit log replayed), syscall alerts outside pods carry no incident fields, and Close
// persists.
func TestIncidentSinkWiring(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "incidents.db")
	cfgFile := filepath.Join(dir, "saker.yaml")
	rulesFile := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesFile, []byte(testRules+`
- rule: Exec into pod
  desc: x
  condition: ka.target.resource = pods and ka.target.subresource = exec
  output: exec by %ka.user.name
  priority: WARNING
  source: k8s_audit
`), 0o600)
	os.WriteFile(cfgFile, fmt.Appendf(nil, "stdout_output: {enabled: false}\nincidents: {enabled: true, path: %s}\n", db), 0o600)
	newAgent := func(sink Sink) *Agent {
		a, err := New(Options{ConfigFile: cfgFile, RulesFiles: []string{rulesFile}, Replay: true, Sinks: []Sink{sink}, Stderr: &syncBuf{}})
		if err != nil {
			t.Fatal(err)
		}
		if a.Incidents() == nil {
			t.Fatal("incidents enabled, no sink")
		}
		return a
	}

	got := &collectSink{}
	a := newAgent(got)
	capture, err := OpenCapture(filepath.Join(sharedDir(t), "captures", "curl_google.scap"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background(), capture); err != nil {
		t.Fatal(err)
	}
	capture.Close()
	if len(got.as) == 0 {
		t.Fatal("no syscall alert")
	}
	for _, al := range got.as {
		for _, f := range incident.Fields {
			if _, ok := al.OutputFields[f.Name]; ok {
				t.Fatalf("%s on an alert outside any incident: %v", f.Name, al.OutputFields)
			}
		}
	}
	a.Close()

	got = &collectSink{}
	a = newAgent(got)
	audit, err := OpenAuditFile("../k8saudit/testdata/apiserver-audit.jsonl", func(err error) { t.Error(err) })
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Run(context.Background(), audit); err != nil {
		t.Fatal(err)
	}
	audit.Close()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := incident.List(db)
	if err != nil {
		t.Fatal(err)
	}
	var exec *incident.Incident
	for _, in := range l {
		if in.Pod == "priv" {
			exec = in
		}
	}
	// the privileged pod's creation, then the exec into it with the audit rule's alerts (the
	// rule matches the exec's two stages, one action)
	if exec == nil || exec.Kind != incident.KindPrivilegedPod || exec.User != "admin" || exec.Alerts != 2 || exec.Severity != "Warning" ||
		exec.Chain() != "admin create privileged pod -> admin exec [cat /etc/shadow] (failed: 400) -> Exec into pod (Warning) -> Exec into pod (Warning)" {
		for _, in := range l {
			t.Logf("%+v", *in)
		}
		t.Fatal("no such incident")
	}
}
