package config

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/fields"
	"github.com/saker-sec/saker/pkg/output"
	"github.com/saker-sec/saker/pkg/rules/engine"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

var sprintf = fmt.Sprintf

// Format is the output format the configuration asks for.
func (c *Config) Format() output.Format {
	return output.Format{
		JSON:           c.JSONOutput,
		IncludeOutput:  c.JSONIncludeOutputProperty,
		IncludeTags:    c.JSONIncludeTagsProperty,
		IncludeMessage: c.JSONIncludeMessageProperty,
		ISO8601:        c.TimeFormatISO8601,
	}
}

// OutputOptions are what Outputs needs besides the configuration.
type OutputOptions struct {
	Hostname  string               // for internal alerts and remote syslog
	Observe   func(a *alert.Alert) // e.g. (*metrics.Metrics).ObserveAlert
	Logger    *slog.Logger         // slog.Default when nil
	Stdout    io.Writer            // os.Stdout when nil
	UserAgent string               // overrides http_output.user_agent when set
	Block     bool                 // Send waits for queue room instead of dropping (replays)
	// Previous is the running manager when the outputs are rebuilt for a reload: unchanged
	// channels are kept (see Outputs), the others continue its counters.
	Previous *output.Manager
}

// Outputs builds the output manager with every enabled channel; the caller Starts it (and
// Closes it with FlushTimeout at shutdown).
//
// With o.Previous (a reload), a stdout, file, syslog or program channel whose settings (and
// the output format, queue capacity and output_timeout it uses) did not change is kept as it
// runs: the file stays open, the program keeps running, the syslog connection stays up. An
// HTTP channel is always built anew, so that a reload reads its certificate files again. On
// error, the channels built so far are discarded (the previous manager is untouched).
func (c *Config) Outputs(o OutputOptions) (_ *output.Manager, err error) {
	m := output.NewManager(output.Options{
		Capacity:          c.OutputsQueue.Capacity,
		DropAlertInterval: c.OutputsQueue.DropAlertInterval.D(),
		Hostname:          o.Hostname,
		Observe:           o.Observe,
		Logger:            o.Logger,
		Block:             o.Block,
		Previous:          o.Previous,
	})
	defer func() {
		if err != nil {
			m.Discard(context.Background())
		}
	}()
	f := c.Format()
	timeout := time.Duration(c.OutputTimeout) * time.Millisecond
	// key describes what a channel was built from; a reload keeps the channel when it is equal
	key := func(name string, settings any) string {
		return fmt.Sprintf("%s %+v %+v", name, settings, f)
	}
	if c.StdoutOutput.Enabled {
		k := key("stdout", c.StdoutOutput)
		if !m.Keep("stdout", k, 0) {
			w := o.Stdout
			if w == nil {
				w = os.Stdout
			}
			m.AddKeyed(output.NewWriter("stdout", w, f), 0, k)
		}
	}
	if c.FileOutput.Enabled {
		k := key("file", c.FileOutput)
		if !m.Keep("file", k, 0) {
			ch, err := output.NewFile(c.FileOutput.Filename, c.FileOutput.KeepAlive, f)
			if err != nil {
				return nil, fmt.Errorf("file_output: %w", err)
			}
			m.AddKeyed(ch, 0, k)
		}
	}
	if c.SyslogOutput.Enabled {
		k := key("syslog", struct {
			SyslogOutput
			Timeout  time.Duration
			Hostname string
		}{c.SyslogOutput, timeout, o.Hostname})
		if !m.Keep("syslog", k, 0) {
			ch, err := output.NewSyslog(output.SyslogConfig{
				Address: c.SyslogOutput.Address, Facility: output.Facilities[c.SyslogOutput.Facility],
				Tag: c.SyslogOutput.Tag, Hostname: o.Hostname, Timeout: timeout, Format: f,
			})
			if err != nil {
				return nil, fmt.Errorf("syslog_output: %w", err)
			}
			m.AddKeyed(ch, 0, k)
		}
	}
	if h := c.HTTPOutput; h.Enabled {
		ua := h.UserAgent
		if o.UserAgent != "" {
			ua = o.UserAgent
		}
		hc := output.HTTPConfig{
			URL: h.URL, UserAgent: ua, Headers: h.Headers, Insecure: h.Insecure,
			CACert: h.CACert, CABundle: h.CABundle, CAPath: h.CAPath,
			MTLS: h.MTLS, ClientCert: h.ClientCert, ClientKey: h.ClientKey,
			CompressUploads: h.CompressUploads, KeepAlive: h.KeepAlive, Timeout: timeout,
			MaxRetries: h.MaxRetries, Backoff: h.RetryBackoff.D(), MaxBackoff: h.MaxRetryBackoff.D(), Format: f,
		}
		if h.Echo {
			hc.Echo = os.Stdout
		}
		ch, err := output.NewHTTP(hc)
		if err != nil {
			return nil, fmt.Errorf("http_output: %w", err)
		}
		m.Add(ch, 0)
	}
	if p := c.ProgramOutput; p.Enabled {
		k := key("program", p)
		if !m.Keep("program", k, 0) {
			ch, err := output.NewProgram(output.ProgramConfig{Command: p.Program, KeepAlive: p.KeepAlive, Format: f})
			if err != nil {
				return nil, fmt.Errorf("program_output: %w", err)
			}
			m.AddKeyed(ch, 0, k)
		}
	}
	return m, nil
}

// RulesPaths expands rules_files: files as given, directories to their *.yaml and *.yml
// files in name order. Missing entries are returned as warnings.
func (c *Config) RulesPaths() (paths, missing []string, err error) {
	for _, p := range c.RulesFiles {
		st, err := os.Stat(p)
		if err != nil {
			if os.IsNotExist(err) {
				missing = append(missing, p)
				continue
			}
			return nil, nil, err
		}
		if !st.IsDir() {
			paths = append(paths, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, nil, err
		}
		var names []string
		for _, e := range ents {
			if n := e.Name(); !e.IsDir() && (strings.HasSuffix(n, ".yaml") || strings.HasSuffix(n, ".yml")) {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			paths = append(paths, filepath.Join(p, n))
		}
	}
	return paths, missing, nil
}

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

func (m AppendMatch) matches(r *loader.Rule) bool {
	return (m.Source == "" || m.Source == r.Source) && (m.Tag == "" || hasTag(r.Tags, m.Tag)) && (m.Rule == "" || m.Rule == r.Name)
}

// ApplyRules applies the rule settings to a loaded collection, before it is compiled: the
// rules selectors in order (enable/disable by name pattern or tag, overriding the files'
// enabled flags, as Falco does), then the minimum priority (less severe rules are not
// loaded), then append_output's extra_output text. It returns problems with the selectors
// (a selector matching no rule) as warnings.
func (c *Config) ApplyRules(coll *loader.Collection) (warns []loader.Message) {
	for i, s := range c.Rules {
		n := 0
		for _, r := range coll.Rules {
			if (s.Tag != "" && hasTag(r.Tags, s.Tag)) || (s.Tag == "" && wildcard(s.Rule, r.Name)) {
				r.Enabled = s.Enable
				n++
			}
		}
		if n == 0 {
			warns = append(warns, c.message(sprintf("rules[%d]", i), "selects no rule"))
		}
	}
	for _, r := range coll.Rules {
		if r.Priority > c.MinPriority() {
			r.Enabled = false
		}
	}
	for _, ao := range c.AppendOutput {
		if ao.ExtraOutput == "" {
			continue
		}
		for _, r := range coll.Rules {
			if ao.Match.matches(r) {
				r.Output.Value = strings.TrimSpace(r.Output.Value + " " + ao.ExtraOutput)
			}
		}
	}
	return warns
}

func (c *Config) message(path, msg string) loader.Message {
	p := c.pos[path]
	return loader.Message{Pos: loader.Pos{File: p.Source, Line: p.Line, Col: p.Col}, Item: path, Msg: msg}
}

// Rules is a compiled ruleset with the settings the run loop applies around it.
type Rules struct {
	Ruleset  *engine.Ruleset
	First    bool    // rule_matching: first
	Extras   *Extras // append_output extra_fields; nil when none
	Files    []string
	LoadTime time.Duration
}

// LoadRules reads the rules files, applies ApplyRules, compiles the result against sources and
// binds append_output's extra fields. The Rules are nil when there are errors.
func (c *Config) LoadRules(paths []string, sources map[string]fields.Source) (*Rules, []loader.Message, []loader.Message) {
	files := make([]loader.File, 0, len(paths))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, []loader.Message{{Pos: loader.Pos{File: p}, Msg: err.Error()}}, nil
		}
		files = append(files, loader.File{Name: p, Data: data})
	}
	return c.LoadRuleFiles(files, sources)
}

// LoadRuleFiles is LoadRules for rules files held in memory (e.g. the built-in rules).
func (c *Config) LoadRuleFiles(files []loader.File, sources map[string]fields.Source) (*Rules, []loader.Message, []loader.Message) {
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
			if !ok || checked[r.Source] || !ao.Match.matches(r) {
				continue
			}
			checked[r.Source] = true
			if _, err := engine.CompileOutput(ao.ExtraOutput, src); err != nil {
				name := r.Source
				errs = append(errs, c.message(sprintf("append_output[%d].extra_output", i), sprintf("source %s: %v", name, err)))
			}
		}
	}
	if len(errs) > 0 {
		return nil, errs, warns
	}
	warns = append(warns, c.ApplyRules(coll)...)
	rs, cerrs, cwarns := engine.Compile(coll, engine.Options{Sources: sources})
	warns = append(warns, cwarns...)
	if len(cerrs) > 0 {
		return nil, cerrs, warns
	}
	x, xerrs := c.compileExtras(rs, sources)
	if len(xerrs) > 0 {
		return nil, xerrs, warns
	}
	return &Rules{Ruleset: rs, First: c.RuleMatching != "all", Extras: x, Files: paths, LoadTime: time.Since(start)}, nil, warns
}

// Extras are append_output's extra_fields, bound per rule.
type Extras struct {
	byRule map[string][]extraField
}

type extraField struct {
	name    string
	out     *engine.Output
	isField bool
}

func (c *Config) compileExtras(rs *engine.Ruleset, sources map[string]fields.Source) (*Extras, []loader.Message) {
	x := &Extras{byRule: map[string][]extraField{}}
	var errs []loader.Message
	type key struct{ src, tmpl string }
	cache := map[key]*engine.Output{}
	for i, ao := range c.AppendOutput {
		for j, ef := range ao.ExtraFields {
			for _, r := range rs.Rules {
				if !r.Enabled || !ao.Match.matches(r.Def) {
					continue
				}
				k := key{r.Source, ef.Template}
				out, ok := cache[k]
				if !ok {
					var err error
					out, err = engine.CompileOutput(ef.Template, sources[r.Source])
					if err != nil {
						errs = append(errs, c.message(sprintf("append_output[%d].extra_fields[%d]", i, j), sprintf("source %s: %v", r.Source, err)))
						cache[k] = nil
						continue
					}
					cache[k] = out
				}
				if out != nil {
					x.byRule[r.Name] = append(x.byRule[r.Name], extraField{name: ef.Name, out: out, isField: ef.IsField})
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
			continue
		}
		a.OutputFields[ef.name] = ef.out.Render(ev, nil)
	}
}

// Emitter sits between a detector and the outputs when extra fields need the event: set
// Collect as the detector's Emit, and call Flush with the context Detector.Event returned.
// Without extras, Collect sends at once.
type Emitter struct {
	Extras  *Extras
	Send    func(*alert.Alert)
	pending []*alert.Alert
}

// Collect receives an alert from the detector.
func (e *Emitter) Collect(a *alert.Alert) {
	if e.Extras == nil {
		e.Send(a)
		return
	}
	e.pending = append(e.pending, a)
}

// Flush completes the alerts of the last event with their extra fields and sends them.
func (e *Emitter) Flush(ev fields.Event) {
	for i, a := range e.pending {
		e.Extras.Apply(a, ev)
		e.Send(a)
		e.pending[i] = nil
	}
	e.pending = e.pending[:0]
}
