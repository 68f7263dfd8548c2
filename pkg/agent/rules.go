package agent

import (
	"fmt"
	"github.com/saker-sec/saker/pkg/enforce"
	"os"
	"strings"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/config"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/probe"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
	"github.com/saker-sec/saker/pkg/state"
)

var sprintf = fmt.Sprintf

// wildcard matches a rule name against a pattern where * stands for any run of characters.
func wildcard(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(name, p)
		if i < 0 {
			return false
		}
		name = name[i+len(p):]
	}
	return strings.HasSuffix(name, parts[len(parts)-1])
}

func hasTag(tags []string, t string) bool {
	for _, x := range tags {
		if x == t {
			return true
		}
	}
	return false
}

func matches(m config.AppendMatch, r *loader.Rule) bool {
	return (m.Source == "" || m.Source == r.Source) && (m.Tag == "" || hasTag(r.Tags, m.Tag)) && (m.Rule == "" || m.Rule == r.Name)
}

// ApplyRules applies c's rule settings to a loaded collection, before it is compiled: the
// rules selectors in order (enable/disable by name pattern or tag, overriding the files'
// enabled flags, as Falco does), then the minimum priority (less severe rules are not
// loaded), then append_output's extra_output text. It returns problems with the selectors
// (a selector matching no rule) as warnings.
func ApplyRules(c *config.Config, coll *loader.Collection) (warns []loader.Message) {
	for i, s := range c.Rules {
		n := 0
		for _, r := range coll.Rules {
			if (s.Tag != "" && hasTag(r.Tags, s.Tag)) || (s.Tag == "" && wildcard(s.Rule, r.Name)) {
				r.Enabled = s.Enable
				n++
			}
		}
		if n == 0 {
			warns = append(warns, cfgMessage(c, sprintf("rules[%d]", i), "selects no rule"))
		}
	}
	for _, r := range coll.Rules {
		if r.Priority > loader.Priority(c.MinPriority()) {
			r.Enabled = false
		}
	}
	for _, ao := range c.AppendOutput {
		for _, r := range coll.Rules {
			if !matches(ao.Match, r) {
				continue
			}
			if ao.ExtraOutput != "" {
				r.Output.Value = strings.TrimSpace(r.Output.Value + " " + ao.ExtraOutput)
			}
			if ao.SuggestedOutput && r.Source == "syscall" {
				r.Output.Value = SuggestOutput(r.Output.Value)
			}
		}
	}
	return warns
}

// suggestedFields are the fields Falco's container plugin marks as suggested for output, in
// its order, each appended as name=%field (the field with _ for .).
var suggestedFields = []string{
	"container.id", "container.name", "container.image.repository", "container.image.tag",
	"k8s.pod.name", "k8s.ns.name",
}

// SuggestOutput appends to a syscall rule's output the suggested fields it does not already
// print (as %field or %{field}), in Falco's form: " container_id=%container.id ...".
func SuggestOutput(out string) string {
	var b strings.Builder
	b.WriteString(strings.TrimRight(out, " \t\n"))
	for _, f := range suggestedFields {
		if printsField(out, f) {
			continue
		}
		b.WriteString(" " + strings.ReplaceAll(f, ".", "_") + "=%" + f)
	}
	return b.String()
}

// printsField reports whether an output template references field f itself (not a longer
// field that starts with the same name, nor f with an argument).
func printsField(out, f string) bool {
	if strings.Contains(out, "%{"+f+"}") || strings.Contains(out, "%("+f+")") {
		return true
	}
	for i := 0; ; {
		j := strings.Index(out[i:], "%"+f)
		if j < 0 {
			return false
		}
		end := i + j + 1 + len(f)
		if end == len(out) || !isFieldChar(out[end]) {
			return true
		}
		i = end
	}
}

func isFieldChar(c byte) bool {
	return c == '.' || c == '_' || c == '[' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// cfgMessage is a rules-load message located at a configuration key.
func cfgMessage(c *config.Config, path, msg string) loader.Message {
	p := c.PosOf(path)
	return loader.Message{Pos: loader.Pos{File: p.Source, Line: p.Line, Col: p.Col}, Item: path, Msg: msg}
}

// Rules is a compiled ruleset with the settings the run loop applies around it.
type Rules struct {
	Ruleset  *engine.Ruleset
	First    bool                // rule_matching: first
	Extras   *Extras             // append_output extra_fields; nil when none
	Base     config.BaseSyscalls // base_syscalls: the live probe's selection besides the rules'
	Files    []string
	LoadTime time.Duration
	Enforce  *enforce.Program // the `enforce: kill` rules compiled for the probe (enforce.go)
}

// LoadRules reads the rules files, applies ApplyRules, compiles the result against sources and
// binds append_output's extra fields. The Rules are nil when there are errors.
func LoadRules(c *config.Config, paths []string, sources map[string]fields.Source) (*Rules, []loader.Message, []loader.Message) {
	files := make([]loader.File, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, []loader.Message{{Pos: loader.Pos{File: p}, Msg: err.Error()}}, nil
		}
		files = append(files, loader.File{Name: p, Data: data})
	}
	return LoadRuleFiles(c, files, sources)
}

// LoadRuleFiles is LoadRules for rules files held in memory (e.g. the built-in rules).
func LoadRuleFiles(c *config.Config, files []loader.File, sources map[string]fields.Source) (*Rules, []loader.Message, []loader.Message) {
	start := time.Now()
	paths := make([]string, len(files))
	for i, f := range files {
		paths[i] = f.Name
	}
	coll, errs, warns := loader.Load(files)
	if coll == nil || len(errs) > 0 {
		return nil, errs, warns
	}
	// check extra_output against the source of each rule it applies to first, to report
	// errors at the configuration key
	for i, ao := range c.AppendOutput {
		if ao.ExtraOutput == "" {
			continue
		}
		checked := map[string]bool{}
		for _, r := range coll.Rules {
			src, ok := sources[r.Source]
			if !ok || checked[r.Source] || !matches(ao.Match, r) {
				continue
			}
			checked[r.Source] = true
			if _, err := engine.CompileOutput(ao.ExtraOutput, src); err != nil {
				name := r.Source
				errs = append(errs, cfgMessage(c, sprintf("append_output[%d].extra_output", i), sprintf("source %s: %v", name, err)))
			}
		}
	}
	for i, n := range c.BaseSyscalls.CustomSet {
		if _, ok := probe.EventCode(strings.TrimPrefix(n, "!")); !ok {
			errs = append(errs, cfgMessage(c, sprintf("base_syscalls.custom_set[%d]", i), sprintf("%q is not a syscall the probe supports", strings.TrimPrefix(n, "!"))))
		}
	}
	if len(errs) > 0 {
		return nil, errs, warns
	}
	warns = append(warns, ApplyRules(c, coll)...)
	rs, cerrs, cwarns := engine.Compile(coll, engine.Options{Sources: sources})
	warns = append(warns, cwarns...)
	if len(cerrs) > 0 {
		return nil, cerrs, warns
	}
	x, xerrs := compileExtras(c, rs, sources)
	if len(xerrs) > 0 {
		return nil, xerrs, warns
	}
	enf, eerrs := compileEnforce(rs)
	if len(eerrs) > 0 {
		return nil, eerrs, warns
	}
	return &Rules{Ruleset: rs, First: c.RuleMatching != "all", Extras: x, Base: c.BaseSyscalls, Files: paths, LoadTime: time.Since(start), Enforce: enf}, nil, warns
}

// Extras are append_output's extra_fields, bound per rule.
type Extras struct {
	byRule map[string][]extraField
}

type extraField struct {
	name    string
	out     *engine.Output
	isField bool
	omitNA  bool // left out when it has no value (the incident fields)
}

func compileExtras(c *config.Config, rs *engine.Ruleset, sources map[string]fields.Source) (*Extras, []loader.Message) {
	x := &Extras{byRule: map[string][]extraField{}}
	var errs []loader.Message
	type key struct{ src, tmpl string }
	cache := map[key]*engine.Output{}
	for i, ao := range append(c.AppendOutput, incidentFields(c, sources)...) {
		for j, ef := range ao.ExtraFields {
			for _, r := range rs.Rules {
				if !r.Enabled || !matches(ao.Match, r.Def) {
					continue
				}
				k := key{r.Source, ef.Template}
				out, ok := cache[k]
				if !ok {
					var err error
					out, err = engine.CompileOutput(ef.Template, sources[r.Source])
					if err != nil {
						errs = append(errs, cfgMessage(c, sprintf("append_output[%d].extra_fields[%d]", i, j), sprintf("source %s: %v", r.Source, err)))
						cache[k] = nil
						continue
					}
					cache[k] = out
				}
				if out != nil {
					x.byRule[r.Name] = append(x.byRule[r.Name], extraField{name: ef.Name, out: out, isField: ef.IsField, omitNA: i >= len(c.AppendOutput)})
				}
			}
		}
	}
	if len(x.byRule) == 0 {
		return nil, errs
	}
	return x, errs
}

// Apply adds the extra fields of the alert's rule to its output_fields, rendered on the event
// that raised it.
func (x *Extras) Apply(a *alert.Alert, ev fields.Event) {
	if x == nil || ev == nil {
		return
	}
	efs := x.byRule[a.Rule]
	if len(efs) == 0 {
		return
	}
	if a.OutputFields == nil {
		a.OutputFields = map[string]any{}
	}
	for _, ef := range efs {
		if ef.isField {
			// the typed value, under the field's own name
			ef.out.Render(ev, a.OutputFields)
			if v, ok := a.OutputFields[ef.name]; ef.omitNA && ok && v == nil {
				delete(a.OutputFields, ef.name)
			}
			continue
		}
		a.OutputFields[ef.name] = ef.out.Render(ev, nil)
	}
}

// emitter sits between a detector and the sinks: Collect keeps the alerts of the event being
// evaluated, Flush completes them with their extra fields (which need the event) and sends
// them with the event's state, once the event sinks saw the event.
type emitter struct {
	Extras *Extras
	// Join, when set, records a syscall alert in the incident store before its extra fields
	// are rendered, so an alert that opens an incident carries its incident.* fields.
	Join    func(*alert.Alert, *state.Context)
	Send    func(*alert.Alert, *state.Context)
	pending []*alert.Alert
}

// Collect receives an alert from the detector.
func (e *emitter) Collect(a *alert.Alert) {
	e.pending = append(e.pending, a)
}

// Flush completes the alerts of the last event with their extra fields and sends them.
func (e *emitter) Flush(ctx *state.Context) {
	if len(e.pending) > 0 { // (inlined: most events raise no alert)
		e.flush(ctx)
	}
}

func (e *emitter) flush(ctx *state.Context) {
	var ev fields.Event
	if ctx != nil {
		ev = ctx
	}
	for i, a := range e.pending {
		if e.Join != nil && ctx != nil {
			e.Join(a, ctx)
		}
		e.Extras.Apply(a, ev)
		e.Send(a, ctx)
		e.pending[i] = nil
	}
	e.pending = e.pending[:0]
}
