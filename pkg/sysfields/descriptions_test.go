package sysfields_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"github.com/saker-sec/saker/internal/testshared"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/incident"
	"github.com/saker-sec/saker/pkg/sysfields"
)

// copyRun is the length of a run of consecutive words a description may not share with any
// description of the upstream field tables.
const copyRun = 6

// words lowercases s and splits it into words, punctuation dropped.
func words(s string) []string {
	return strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
}

// upstreamDescriptions reads the description column of every table in shared/fields (field
// name -> description).
func upstreamDescriptions(t *testing.T) map[string]string {
	dir := filepath.Join(testshared.Dir(t), "fields")
	paths, err := filepath.Glob(filepath.Join(dir, "*.tsv"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no field tables in %s (%v)", dir, err)
	}
	out := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n") {
			c := strings.Split(line, "\t")
			if strings.HasPrefix(line, "#") || len(c) != 4 || c[0] == "NA" {
				continue
			}
			out[c[0]] = c[3]
		}
	}
	return out
}

// copyChecker tells whether a description copies an upstream one.
type copyChecker struct {
	runs  map[string]string // copyRun-word run -> upstream field it is from
	equal map[string]string // normalised upstream description -> its field
	whole map[string]string // normalised upstream descriptions of 4+ words, padded -> field
}

func newCopyChecker(up map[string]string) *copyChecker {
	c := &copyChecker{runs: map[string]string{}, equal: map[string]string{}, whole: map[string]string{}}
	for name, d := range up {
		w := words(d)
		c.equal[strings.Join(w, " ")] = name
		if len(w) >= 4 {
			c.whole[" "+strings.Join(w, " ")+" "] = name
		}
		for i := 0; i+copyRun <= len(w); i++ {
			c.runs[strings.Join(w[i:i+copyRun], " ")] = name
		}
	}
	return c
}

// check returns why desc copies upstream text, or "" when it does not: it equals an upstream
// description once case and punctuation are dropped, contains a whole upstream description of
// four words or more, or shares a run of copyRun consecutive words with one.
func (c *copyChecker) check(desc string) string {
	w := words(desc)
	norm := strings.Join(w, " ")
	if from, ok := c.equal[norm]; ok {
		return "equals upstream's description of " + from
	}
	for u, from := range c.whole {
		if strings.Contains(" "+norm+" ", u) {
			return "contains upstream's whole description of " + from
		}
	}
	for i := 0; i+copyRun <= len(w); i++ {
		run := strings.Join(w[i:i+copyRun], " ")
		if from, ok := c.runs[run]; ok {
			return "shares \"" + run + "\" with upstream's description of " + from
		}
	}
	return ""
}

// TestDescriptionsAreOurs checks every field of every catalogue Saker serves (the syscall
// source with its container, k8s and Saker fields, the incident fields, the k8s_audit source)
// has a description, and that none copies libsinsp's or the plugins' text (copyChecker).
func TestDescriptionsAreOurs(t *testing.T) {
	up := upstreamDescriptions(t)
	cc := newCopyChecker(up)
	var all []fields.Info
	all = append(all, sysfields.Catalog().Fields()...)
	all = append(all, incident.Fields...)
	all = append(all, fields.K8sAuditCatalog().Fields()...)
	served := map[string]bool{}
	for _, f := range all {
		served[f.Name] = true
	}
	for name := range up {
		if !served[name] {
			t.Errorf("upstream field %s is in no catalogue", name)
		}
	}
	for _, f := range all {
		if len(words(f.Desc)) < 3 {
			t.Errorf("%s: description %q is missing or too short", f.Name, f.Desc)
			continue
		}
		if why := cc.check(f.Desc); why != "" {
			t.Errorf("%s: description %s: %q", f.Name, why, f.Desc)
		}
	}
	t.Logf("%d field descriptions checked against %d upstream ones", len(all), len(up))
}

// TestCopyCheckerCatches makes sure the check flags copies: upstream's text with its case and
// punctuation changed, a sentence quoting one whole, and one keeping copyRun words in a row;
// and passes our own text.
func TestCopyCheckerCatches(t *testing.T) {
	up := upstreamDescriptions(t)
	cc := newCopyChecker(up)
	d := up["proc.name"]
	w := words(d)
	if len(w) < copyRun+2 {
		t.Fatalf("proc.name's upstream description is too short for this check: %q", d)
	}
	for _, copied := range []string{
		strings.ToUpper(strings.ReplaceAll(d, ",", ";")),
		"Saker: " + up["ka.user.name"] + ", nothing else.",
		"In short, " + strings.Join(w[2:2+copyRun], " ") + " and more of our words.",
	} {
		if cc.check(copied) == "" {
			t.Errorf("copy not caught: %q", copied)
		}
	}
	ours, _ := sysfields.Catalog().Field("proc.name")
	if why := cc.check(ours.Desc); why != "" {
		t.Errorf("our proc.name description flagged: %s", why)
	}
}
