package agent

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// SensitivePaths collects the absolute paths the rules compare fd.name, fd.realpath and
// fd.canonical with (`=`, `in`, lists, macros) and the files directly in a `startswith`
// directory, only when a rule reads fd.canonical.
func TestSensitivePaths(t *testing.T) {
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	os.MkdirAll(filepath.Join(keys, "sub"), 0o755)
	for _, f := range []string{"a.key", "b.key"} {
		os.WriteFile(filepath.Join(keys, f), nil, 0o600)
	}
	rules := `
- list: creds
  items: [/etc/shadow, "/etc/gshadow"]
- list: more
  items: [creds, /etc/sudoers]
- macro: m
  condition: fd.name = /etc/krb5.keytab
- rule: Read
  desc: x
  condition: evt.type = openat and (fd.canonical in (more) or m or fd.realpath startswith ` + keys + `/ or fd.name startswith /etc/ or fd.name = relative or fd.name glob "/x/*" or proc.name = /bin/sh or fd.name endswith /y)
  output: "open %fd.name"
  priority: WARNING
`
	_, rs, errs := selectionRules(t, rules, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	got := SensitivePaths(rs)
	want := []string{"/etc/gshadow", "/etc/krb5.keytab", "/etc/shadow", "/etc/sudoers", filepath.Join(keys, "a.key"), filepath.Join(keys, "b.key")}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("SensitivePaths = %q, want %q", got, want)
	}
	// without fd.canonical nothing is indexed
	_, rs, errs = selectionRules(t, `
- rule: Read
  desc: x
  condition: evt.type = openat and fd.name = /etc/shadow
  output: "open %fd.name"
  priority: WARNING
`, "")
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := SensitivePaths(rs); got != nil {
		t.Errorf("without fd.canonical: %q", got)
	}
	// the built-in rules name the account databases
	a, err := New(Options{Replay: true, Overrides: []string{"stdout_output.enabled=false"}, Stderr: os.Stderr})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	def := SensitivePaths(a.Rules())
	t.Logf("the built-in rules name %d sensitive files", len(def))
	for _, p := range []string{"/etc/shadow", "/etc/gshadow", "/etc/sudoers", "/etc/passwd", "/etc/ld.so.preload"} {
		if !slices.Contains(def, p) {
			t.Errorf("the built-in rules' sensitive paths lack %s (%d paths)", p, len(def))
		}
	}
}
