package rulestest

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/scap"
	"github.com/saker-sec/saker/pkg/state"
)

// Runner runs cases against one set of rules files. Each case gets a fresh detector (state
// engine, field source and ruleset compiled against it), so cases do not see each other.
type Runner struct {
	coll  *loader.Collection
	names map[string]bool // every rule defined (enabled or not)
}

// NewRunner collects the rules files (in layer order) and checks that they compile. The
// error lists every loader and compiler message.
func NewRunner(files []loader.File) (*Runner, error) {
	coll, errs, _ := loader.Load(files)
	if coll != nil && len(errs) == 0 {
		d := detect.New(state.Options{})
		_, cerrs, _ := engine.Compile(coll, engine.Options{Sources: d.Sources()})
		errs = append(errs, cerrs...)
	}
	if len(errs) > 0 {
		var b strings.Builder
		for _, e := range errs {
			fmt.Fprintf(&b, "\n%s", e.String())
		}
		return nil, fmt.Errorf("rules do not load:%s", b.String())
	}
	r := &Runner{coll: coll, names: map[string]bool{}}
	for _, rule := range coll.Rules {
		r.names[rule.Name] = true
	}
	return r, nil
}

// HasRule reports whether the rules define a rule of that name.
func (r *Runner) HasRule(name string) bool { return r.names[name] }

// Result is the outcome of one case.
type Result struct {
	Case     *Case
	Alerts   []*alert.Alert
	Failures []string // why the case failed; empty when it passed
	Duration time.Duration
}

// Passed reports whether the case passed.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }

// Run runs every case of the suites, in order.
func (r *Runner) Run(suites []*Suite) []*Result {
	var out []*Result
	for _, s := range suites {
		for _, c := range s.Cases {
			out = append(out, r.RunCase(c))
		}
	}
	return out
}

// RunCase runs one case.
func (r *Runner) RunCase(c *Case) *Result {
	start := time.Now()
	res := &Result{Case: c}
	defer func() { res.Duration = time.Since(start) }()
	fail := func(format string, args ...any) { res.Failures = append(res.Failures, fmt.Sprintf(format, args...)) }

	for _, name := range r.referenced(c) {
		if !r.names[name] {
			fail("no rule named %q in the rules", name)
		}
	}
	if len(res.Failures) > 0 {
		return res
	}
	opts := state.Options{}
	if len(c.Containers) > 0 {
		// a container manager with no runtime behind it: the case's metadata is all it knows
		m := container.New(container.Config{Providers: []container.Provider{}})
		defer m.Close()
		for _, cs := range c.Containers {
			m.Add(containerInfo(cs))
		}
		opts.Containers = m
	}
	d := detect.New(opts)
	rs, errs, _ := engine.Compile(r.coll, engine.Options{Sources: d.Sources()})
	if rs == nil {
		fail("rules do not compile: %v", errs)
		return res
	}
	d.Rules = rs
	d.Emit = func(a *alert.Alert) { res.Alerts = append(res.Alerts, a) }
	if c.Capture != "" {
		if err := replay(d, c.resolve(c.Capture)); err != nil {
			fail("capture: %v", err)
			return res
		}
	} else {
		w := newWorld(d)
		for i, st := range c.Events {
			if err := w.step(st); err != nil {
				fail("%s:%d: event %d: %v", c.File, st.Line, i+1, err)
				return res
			}
		}
	}
	fired := map[string][]*alert.Alert{}
	for _, a := range res.Alerts {
		fired[a.Rule] = append(fired[a.Rule], a)
	}
	if c.Rule != "" && c.Match != nil {
		if *c.Match && len(fired[c.Rule]) == 0 {
			fail("rule %q did not fire%s", c.Rule, firedList(res.Alerts))
		}
		if !*c.Match && len(fired[c.Rule]) > 0 {
			fail("rule %q fired but must not: %s", c.Rule, fired[c.Rule][0].Output)
		}
	}
	for _, e := range c.Expect {
		as := fired[e.Rule]
		if len(as) == 0 {
			fail("expected rule %q did not fire%s", e.Rule, firedList(res.Alerts))
			continue
		}
		var why string
		ok := false
		for _, a := range as {
			if why = checkOutput(a, e); why == "" {
				ok = true
				break
			}
		}
		if !ok {
			fail("rule %q fired, but %s", e.Rule, why)
		}
	}
	if c.ExpectNone && len(res.Alerts) > 0 {
		fail("expected no alert%s", firedList(res.Alerts))
	}
	for _, n := range c.ExpectNot {
		if len(fired[n]) > 0 {
			fail("rule %q fired but must not: %s", n, fired[n][0].Output)
		}
	}
	return res
}

func (c *Case) resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(c.File), p)
}

func (r *Runner) referenced(c *Case) []string {
	var out []string
	if c.Rule != "" {
		out = append(out, c.Rule)
	}
	for _, e := range c.Expect {
		out = append(out, e.Rule)
	}
	return append(out, c.ExpectNot...)
}

func firedList(as []*alert.Alert) string {
	if len(as) == 0 {
		return " (no alert was raised)"
	}
	seen := map[string]bool{}
	var names []string
	for _, a := range as {
		if !seen[a.Rule] {
			seen[a.Rule] = true
			names = append(names, fmt.Sprintf("%q", a.Rule))
		}
	}
	return " (raised: " + strings.Join(names, ", ") + ")"
}

func checkOutput(a *alert.Alert, e Expectation) string {
	var bad []string
	keys := make([]string, 0, len(e.Output))
	for k := range e.Output {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := e.Output[k]
		v, ok := a.OutputFields[k]
		if !ok {
			bad = append(bad, fmt.Sprintf("its output has no field %s", k))
			continue
		}
		got := "<NA>"
		if v != nil {
			got = fmt.Sprint(v)
		}
		if got != want {
			bad = append(bad, fmt.Sprintf("%s = %q, want %q", k, got, want))
		}
	}
	if e.OutputContains != "" && !strings.Contains(a.Output, e.OutputContains) {
		bad = append(bad, fmt.Sprintf("its output %q does not contain %q", a.Output, e.OutputContains))
	}
	return strings.Join(bad, "; ")
}

// replay feeds a capture through the detector, as `saker run -e` does.
func replay(d *detect.Detector, path string) error {
	rd, err := scap.Open(path)
	if err != nil {
		return err
	}
	defer rd.Close()
	rd.OnMetadata = func(rd *scap.Reader) { d.LoadCapture(rd) }
	var ev event.Event
	for {
		err := rd.Next(&ev)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		d.Event(&ev)
	}
}

// Summary counts results.
type Summary struct{ Total, Passed, Failed int }

// Summarize counts passed and failed results.
func Summarize(rs []*Result) Summary {
	s := Summary{Total: len(rs)}
	for _, r := range rs {
		if r.Passed() {
			s.Passed++
		} else {
			s.Failed++
		}
	}
	return s
}

// WriteText prints a report: each failed case with its reasons (every case when verbose),
// then the totals.
func WriteText(w io.Writer, rs []*Result, verbose bool) {
	for _, r := range rs {
		c := r.Case
		if r.Passed() {
			if verbose {
				fmt.Fprintf(w, "PASS  %s:%d: %s\n", c.File, c.Line, c.Name)
			}
			continue
		}
		fmt.Fprintf(w, "FAIL  %s:%d: %s\n", c.File, c.Line, c.Name)
		for _, f := range r.Failures {
			fmt.Fprintf(w, "      %s\n", f)
		}
	}
	s := Summarize(rs)
	status := "ok"
	if s.Failed > 0 {
		status = "FAILED"
	}
	fmt.Fprintf(w, "%s: %d cases, %d passed, %d failed\n", status, s.Total, s.Passed, s.Failed)
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",chardata"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.6f", d.Seconds()) }

// WriteJUnit writes the results as JUnit XML: one testsuite per test file, one testcase per
// case, a failure element with the reasons for each failed case.
func WriteJUnit(w io.Writer, rs []*Result) error {
	var out junitSuites
	idx := map[string]int{}
	var total time.Duration
	for _, r := range rs {
		c := r.Case
		i, ok := idx[c.File]
		if !ok {
			i = len(out.Suites)
			idx[c.File] = i
			out.Suites = append(out.Suites, junitSuite{Name: c.File})
		}
		s := &out.Suites[i]
		jc := junitCase{Name: c.Name, Classname: strings.TrimSuffix(filepath.Base(c.File), filepath.Ext(c.File)),
			File: c.File, Line: c.Line, Time: secs(r.Duration)}
		if !r.Passed() {
			jc.Failure = &junitFailure{Message: r.Failures[0], Text: strings.Join(r.Failures, "\n")}
			s.Failures++
			out.Failures++
		}
		s.Tests++
		out.Tests++
		d, _ := time.ParseDuration(s.Time + "s")
		s.Time = secs(d + r.Duration)
		total += r.Duration
		s.Cases = append(s.Cases, jc)
	}
	out.Time = secs(total)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// Coverage counts, for each rule, the cases that assert it fires (positive) and the cases that
// assert it does not fire (negative: `match: false` or `expect_not`).
type Coverage struct{ Positive, Negative int }

// CoverageOf computes the coverage of every rule the suites mention.
func CoverageOf(suites []*Suite) map[string]*Coverage {
	cov := map[string]*Coverage{}
	get := func(n string) *Coverage {
		c := cov[n]
		if c == nil {
			c = &Coverage{}
			cov[n] = c
		}
		return c
	}
	for _, s := range suites {
		for _, c := range s.Cases {
			pos := map[string]bool{}
			if c.Rule != "" && c.Match != nil {
				if *c.Match {
					pos[c.Rule] = true
				} else {
					get(c.Rule).Negative++
				}
			}
			for _, e := range c.Expect {
				pos[e.Rule] = true
			}
			for n := range pos {
				get(n).Positive++
			}
			for _, n := range c.ExpectNot {
				get(n).Negative++
			}
		}
	}
	return cov
}
