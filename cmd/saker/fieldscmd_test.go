package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/sysfields"
)

// TestFieldsCommand checks `saker fields` prints every field of a source with the catalogue's
// (Saker's own) description, type and argument form, filters by glob, and rejects unknown
// sources and patterns that match nothing.
func TestFieldsCommand(t *testing.T) {
	out, errOut, code := saker(t, "fields", "--json")
	if code != 0 {
		t.Fatalf("fields --json: exit %d %s", code, errOut)
	}
	var rows []struct{ Name, Type, Arg, Description string }
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for _, r := range rows {
		byName[r.Name] = r.Description
	}
	for _, f := range sysfields.Catalog().Fields() {
		if d, ok := byName[f.Name]; !ok || d != f.Desc {
			t.Errorf("fields: %s shown as %q (listed %v), catalogue has %q", f.Name, d, ok, f.Desc)
		}
	}
	if _, ok := byName["incident.id"]; !ok {
		t.Error("fields lacks incident.id")
	}

	out, _, code = saker(t, "fields", "proc.aname")
	aname, _ := sysfields.Catalog().Field("proc.aname")
	if code != 0 || out != "proc.aname (string, argument optional [N])\n  "+aname.Desc+"\n" {
		t.Errorf("fields proc.aname: exit %d\n%s", code, out)
	}
	out, _, code = saker(t, "fields", "--source", "k8s_audit", "jevt.*")
	if code != 0 || strings.Count(out, "\njevt.")+1 != 5 || strings.Contains(out, "ka.") {
		t.Errorf("fields --source k8s_audit jevt.*: exit %d\n%s", code, out)
	}
	v, _ := fields.K8sAuditCatalog().Field("jevt.value")
	if !strings.Contains(out, "jevt.value (string, argument [KEY])\n  "+v.Desc+"\n") {
		t.Errorf("jevt.value not shown with its form and description:\n%s", out)
	}
	if _, errOut, code := saker(t, "fields", "--source", "nope"); code == 0 || !strings.Contains(errOut, `unknown source "nope"`) {
		t.Errorf("unknown source: exit %d %s", code, errOut)
	}
	if _, errOut, code := saker(t, "fields", "zzz.*"); code == 0 || !strings.Contains(errOut, `no syscall field matches "zzz.*"`) {
		t.Errorf("no match: exit %d %s", code, errOut)
	}
}
