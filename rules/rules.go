// Package rules holds Saker's default ruleset: Falco-language rules files written for Saker,
// organised in layers (base macros and host rules first, then containers, kubernetes, network
// and crypto-mining), embedded in the binary and installable as files. Files returns them in
// load order; later layers use the macros and lists of earlier ones. The test cases of every
// rule are under tests/ and run with `saker rules test` (package pkg/rulestest).
package rules

import (
	"embed"
	"io/fs"
	"path"

	"github.com/saker-sec/saker/pkg/rules/loader"
)

// Version is the version of the default ruleset; it changes whenever a rule, macro or list
// changes (semantic versioning: a new rule or a wider condition is a minor change, a removed
// or renamed rule a major one).
const Version = "1.1.0"

// Layers are the rules files in load order.
var Layers = []string{
	"saker_base.yaml",
	"saker_containers.yaml",
	"saker_kubernetes.yaml",
	"saker_network.yaml",
	"saker_cryptomining.yaml",
	"saker_attacks.yaml",
}

//go:embed *.yaml tests/*.yaml
var content embed.FS

// Names returns the names of the default rules, in definition order.
func Names() []string {
	col, errs, _ := loader.Load(Files())
	if len(errs) > 0 {
		panic("rules: embedded rules do not load: " + errs[0].Msg) // a build defect, not input
	}
	out := make([]string, 0, len(col.Rules))
	for _, r := range col.Rules {
		out = append(out, r.Name)
	}
	return out
}

// Files returns the default rules files in layer order.
func Files() []loader.File {
	out := make([]loader.File, 0, len(Layers))
	for _, n := range Layers {
		b, err := content.ReadFile(n)
		if err != nil {
			panic("rules: embedded layer missing: " + n) // a build defect, not input
		}
		out = append(out, loader.File{Name: n, Data: b})
	}
	return out
}

// TestFiles returns the embedded test files of the default rules (tests/*.yaml), sorted by
// name.
func TestFiles() []loader.File {
	ents, _ := fs.ReadDir(content, "tests")
	var out []loader.File
	for _, e := range ents {
		b, err := content.ReadFile(path.Join("tests", e.Name()))
		if err != nil {
			continue
		}
		out = append(out, loader.File{Name: path.Join("tests", e.Name()), Data: b})
	}
	return out
}
