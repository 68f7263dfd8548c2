package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/incident"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

func TestIncidentsCommand(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "incidents.db")
	now := time.Now().UTC()
	s, err := incident.Open(incident.Options{Path: db})
	if err != nil {
		t.Fatal(err)
	}
	id := s.AuditAction(incident.Action{Time: now, AuditID: "a1", User: "alice", Verb: "create", Resource: "pods", Subresource: "exec",
		Namespace: "team", Name: "web", Command: "sh"})
	s.Alert("team", "web", "", &alert.Alert{Rule: "Read sensitive file untrusted", Priority: loader.Warning, Source: "syscall", Time: now.Add(time.Second)})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// the path from the configuration
	cfg := filepath.Join(dir, "saker.yaml")
	if err := os.WriteFile(cfg, []byte("incidents:\n  path: "+db+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := saker(t, "incidents", "-c", cfg)
	if code != 0 || !strings.Contains(out, "ID ") || !strings.Contains(out, id) || !strings.Contains(out, "team/web") ||
		!strings.Contains(out, "alice") || !strings.Contains(out, "exec") || !strings.Contains(out, "Warning") {
		t.Fatalf("code %d\n%s%s", code, out, errOut)
	}
	out, _, code = saker(t, "incidents", "--path", db, "--json")
	var l []incident.Incident
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l) != 1 || l[0].ID != id || l[0].Alerts != 1 {
		t.Fatalf("code %d: %s", code, out)
	}
	out, _, code = saker(t, "incidents", "show", id, "--path", db)
	if code != 0 || !strings.Contains(out, "incident "+id+" (exec)") || !strings.Contains(out, "alice exec [sh]") ||
		!strings.Contains(out, "Warning  syscall    Read sensitive file untrusted") {
		t.Fatalf("code %d:\n%s", code, out)
	}
	if _, errOut, code = saker(t, "incidents", "show", "inc-000000000000", "--path", db); code == 0 || !strings.Contains(errOut, "no such incident") {
		t.Fatalf("unknown id: code %d %s", code, errOut)
	}
	if _, errOut, code = saker(t, "incidents", "--path", filepath.Join(dir, "none.db")); code == 0 || !strings.Contains(errOut, "none.db") {
		t.Fatalf("missing file: code %d %s", code, errOut)
	}
}
