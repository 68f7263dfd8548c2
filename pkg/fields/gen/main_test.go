package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/saker-sec/saker/internal/testshared"
)

// TestCatalogUpToDate regenerates the catalogue and compares it with the committed
// catalog_gen.go: an edit of descriptions.tsv must be followed by `go generate ./pkg/fields`.
func TestCatalogUpToDate(t *testing.T) {
	shared := filepath.Join(testshared.Dir(t), "fields")
	got, err := generate(shared, "../descriptions.tsv")
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../catalog_gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("pkg/fields/catalog_gen.go is stale: run `go generate ./pkg/fields`")
	}
}

// TestMissingOrStrayDescription checks the generator refuses a table that lacks a field's row,
// or has a row for no field, naming the field (and the line).
func TestMissingOrStrayDescription(t *testing.T) {
	shared := filepath.Join(testshared.Dir(t), "fields")
	table, err := os.ReadFile("../descriptions.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, l := range strings.Split(string(table), "\n") {
		if !strings.HasPrefix(l, "proc.vpid\t") {
			kept = append(kept, l)
		}
	}
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.tsv")
	if err := os.WriteFile(missing, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := generate(shared, missing); err == nil || !strings.Contains(err.Error(), "no description for field(s) proc.vpid") {
		t.Errorf("missing row: err = %v", err)
	}
	stray := filepath.Join(dir, "stray.tsv")
	if err := os.WriteFile(stray, append(append([]byte(nil), table...), "nope.field\tA field that is not there.\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := generate(shared, stray); err == nil || !strings.Contains(err.Error(), "field nope.field is not in the catalogue") {
		t.Errorf("stray row: err = %v", err)
	}
	dup := filepath.Join(dir, "dup.tsv")
	if err := os.WriteFile(dup, append(append([]byte(nil), table...), "proc.name\tAgain.\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := generate(shared, dup); err == nil || !strings.Contains(err.Error(), "field proc.name already described") {
		t.Errorf("duplicate row: err = %v", err)
	}
	bad := filepath.Join(dir, "bad.tsv")
	if err := os.WriteFile(bad, []byte("proc.name has no tab\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := generate(shared, bad); err == nil || !strings.Contains(err.Error(), "bad.tsv:1:") {
		t.Errorf("malformed row: err = %v", err)
	}
}
