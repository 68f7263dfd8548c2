package response

import (
	"errors"
	"fmt"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/response/actions"
	"github.com/saker-sec/saker/pkg/rules/loader"
)

// Pos is a position in a policy file.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Policy is a loaded response policy.
type Policy struct {
	File string
	// DryRun makes every action a dry run (checks made, nothing done).
	DryRun bool
	// NeverKill are globs (comm, exe name or path) of processes never killed, on top of the
	// built-in list.
	NeverKill []string
	Rules     []*Rule
}

// Rule is one policy rule: what alerts it matches, what it does.
type Rule struct {
	Name  string
	Pos   Pos
	Match Match
	Steps []*Step
	// Continue (the default) lets later rules match the same alert; false stops there.
	Continue bool
	DryRun   bool
	// Cooldown: after the rule fired for a workload, it ignores that workload this long.
	Cooldown time.Duration
}

// Match selects alerts; every part that is set must hold.
type Match struct {
	Rules       []string // globs on the alert's rule name; any
	Tags        []string // any of them
	MinPriority loader.Priority
	HasPriority bool
	Sources     []string // any
	Fields      []FieldCond
}

// FieldCond is one output_fields condition: `field=glob` or `field!=glob`.
type FieldCond struct {
	Field string
	Neg   bool
	Glob  string
}

// Limit allows Max actions in any window of Per.
type Limit struct {
	Max int
	Per time.Duration
}

// Step is one action of a rule.
type Step struct {
	Action string
	Pos    Pos
	Params actions.Params
	DryRun bool
	// RateLimit bounds the action across workloads, WorkloadRateLimit per workload.
	RateLimit, WorkloadRateLimit *Limit
	// Cooldown: after the action ran for a workload, it is skipped for that workload this long.
	Cooldown time.Duration
	// StopOnError skips the rule's remaining steps when this one fails or is refused.
	StopOnError bool

	act actions.Action
}

// PolicyError lists every error of a policy file, each `FILE:LINE:COL: message`.
type PolicyError struct{ Errs []string }

func (e *PolicyError) Error() string { return strings.Join(e.Errs, "\n") }

// LoadFile reads and checks a policy file.
func LoadFile(file string) (*Policy, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(file, b)
}

type pdec struct {
	file string
	errs []string
}

func (d *pdec) pos(n *yaml.Node) Pos { return Pos{d.file, n.Line, n.Column} }

func (d *pdec) errorf(n *yaml.Node, format string, a ...any) {
	d.errs = append(d.errs, d.pos(n).String()+": "+fmt.Sprintf(format, a...))
}

// fields walks a mapping, calling fn per key; unknown keys (fn returns false) are errors.
func (d *pdec) mapping(n *yaml.Node, what string, fn func(key string, k, v *yaml.Node) bool) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s: expected a mapping", what)
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s: keys must be strings", what)
			continue
		}
		if seen[k.Value] {
			d.errorf(k, "%s: duplicate key %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		if !fn(k.Value, k, v) {
			d.errorf(k, "%s: unknown key %q", what, k.Value)
		}
	}
}

func (d *pdec) str(n *yaml.Node, what string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.errorf(n, "%s: expected a string", what)
		return "", false
	}
	return n.Value, true
}

func (d *pdec) boolean(n *yaml.Node, what string) bool {
	var b bool
	if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
		d.errorf(n, "%s: expected true or false", what)
	}
	return b
}

func (d *pdec) strs(n *yaml.Node, what string) []string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s: expected a list of strings", what)
		return nil
	}
	var out []string
	for _, c := range n.Content {
		if s, ok := d.str(c, what); ok {
			out = append(out, s)
		}
	}
	return out
}

func (d *pdec) duration(n *yaml.Node, what string) time.Duration {
	s, ok := d.str(n, what)
	if !ok {
		return 0
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.errorf(n, "%s: %q is not a duration (e.g. 30s, 5m)", what, s)
	}
	return v
}

func (d *pdec) glob(n *yaml.Node, what, g string) {
	if _, err := path.Match(g, ""); err != nil {
		d.errorf(n, "%s: bad glob %q: %v", what, g, err)
	}
}

func (d *pdec) limit(n *yaml.Node, what string) *Limit {
	l := &Limit{}
	var hasMax, hasPer bool
	d.mapping(n, what, func(key string, k, v *yaml.Node) bool {
		switch key {
		case "max":
			hasMax = true
			if v.Kind != yaml.ScalarNode || v.Decode(&l.Max) != nil || l.Max < 1 {
				d.errorf(v, "%s.max: expected a positive integer", what)
			}
		case "per":
			hasPer = true
			if l.Per = d.duration(v, what+".per"); l.Per <= 0 {
				d.errorf(v, "%s.per: must be positive", what)
			}
		default:
			return false
		}
		return true
	})
	if n.Kind == yaml.MappingNode && (!hasMax || !hasPer) {
		d.errorf(n, "%s: needs both max and per (e.g. {max: 5, per: 1m})", what)
	}
	return l
}

var envRef = regexp.MustCompile(`\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expand replaces ${NAME} with the environment variable ($${ is a literal ${).
func expand(s string) string {
	return envRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$${" {
			return "${"
		}
		return os.Getenv(m[2 : len(m)-1])
	})
}

// params types the `with:` mapping by the action's spec.
func (d *pdec) params(spec actions.Spec, n *yaml.Node) actions.Params {
	p := actions.Params{}
	byName := map[string]actions.Param{}
	for _, ps := range spec.Params {
		byName[ps.Name] = ps
	}
	set := map[string]bool{}
	if n != nil {
		d.mapping(n, "with", func(key string, k, v *yaml.Node) bool {
			ps, ok := byName[key]
			if !ok {
				names := make([]string, 0, len(spec.Params))
				for _, x := range spec.Params {
					names = append(names, x.Name)
				}
				d.errorf(k, "with: action %s has no parameter %q (it has: %s)", spec.Name, key, strings.Join(names, ", "))
				return true
			}
			set[key] = true
			what := "with." + key
			switch ps.Type {
			case actions.TString:
				if s, ok := d.str(v, what); ok {
					p[key] = expand(s)
				}
			case actions.TInt:
				var x int64
				if v.Kind != yaml.ScalarNode || v.Decode(&x) != nil {
					d.errorf(v, "%s: expected an integer", what)
				}
				p[key] = x
			case actions.TBool:
				p[key] = d.boolean(v, what)
			case actions.TDuration:
				p[key] = d.duration(v, what)
			case actions.TStrings:
				l := d.strs(v, what)
				for i := range l {
					l[i] = expand(l[i])
				}
				p[key] = l
			case actions.TMap:
				m := map[string]string{}
				d.mapping(v, what, func(mk string, _, mv *yaml.Node) bool {
					if s, ok := d.str(mv, what+"."+mk); ok {
						m[mk] = expand(s)
					}
					return true
				})
				p[key] = m
			}
			return true
		})
	}
	for _, ps := range spec.Params {
		if set[ps.Name] {
			continue
		}
		if ps.Required {
			at := n
			if at == nil {
				at = &yaml.Node{}
			}
			d.errs = append(d.errs, fmt.Sprintf("%s: action %s needs parameter %q (%s)", d.pos(at), spec.Name, ps.Name, ps.Description))
		}
		p[ps.Name] = defaultValue(ps)
	}
	return p
}

func defaultValue(ps actions.Param) any {
	switch ps.Type {
	case actions.TString:
		s, _ := ps.Default.(string)
		return s
	case actions.TInt:
		n, _ := ps.Default.(int64)
		return n
	case actions.TBool:
		b, _ := ps.Default.(bool)
		return b
	case actions.TDuration:
		s, _ := ps.Default.(string)
		v, _ := time.ParseDuration(s)
		return v
	case actions.TStrings:
		l, _ := ps.Default.([]string)
		return append([]string(nil), l...)
	case actions.TMap:
		return map[string]string{}
	}
	return nil
}

func (d *pdec) step(n *yaml.Node) *Step {
	s := &Step{Pos: d.pos(n)}
	var with *yaml.Node
	d.mapping(n, "action", func(key string, k, v *yaml.Node) bool {
		switch key {
		case "action":
			if name, ok := d.str(v, "action"); ok {
				s.Action = name
				if a, ok := actions.Lookup(name); ok {
					s.act = a
				} else {
					d.errorf(v, "action: unknown action %q (saker actions list: %s)", name, strings.Join(actions.Names(), ", "))
				}
			}
		case "with":
			with = v
		case "dry_run":
			s.DryRun = d.boolean(v, "dry_run")
		case "rate_limit":
			s.RateLimit = d.limit(v, "rate_limit")
		case "workload_rate_limit":
			s.WorkloadRateLimit = d.limit(v, "workload_rate_limit")
		case "cooldown":
			s.Cooldown = d.duration(v, "cooldown")
		case "on_error":
			if x, ok := d.str(v, "on_error"); ok {
				switch x {
				case "continue":
				case "stop":
					s.StopOnError = true
				default:
					d.errorf(v, "on_error: expected continue or stop, not %q", x)
				}
			}
		default:
			return false
		}
		return true
	})
	if n.Kind == yaml.MappingNode && s.Action == "" {
		d.errorf(n, "action: missing the action name (action: NAME)")
	}
	if s.act != nil {
		before := len(d.errs)
		s.Params = d.params(s.act.Spec(), with)
		if len(d.errs) == before {
			if err := s.act.Check(s.Params); err != nil {
				at := n
				if with != nil {
					at = with
				}
				d.errorf(at, "action %s: %v", s.Action, err)
			}
		}
	}
	return s
}

func (d *pdec) match(n *yaml.Node) Match {
	var m Match
	d.mapping(n, "match", func(key string, k, v *yaml.Node) bool {
		switch key {
		case "rules":
			m.Rules = d.strs(v, "match.rules")
			for _, g := range m.Rules {
				d.glob(v, "match.rules", g)
			}
		case "tags":
			m.Tags = d.strs(v, "match.tags")
		case "priority":
			if s, ok := d.str(v, "match.priority"); ok {
				s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), ">="))
				p, ok := loader.ParsePriority(s)
				if !ok {
					d.errorf(v, "match.priority: %q is not a priority (emergency, alert, critical, error, warning, notice, informational, debug)", s)
				}
				m.MinPriority, m.HasPriority = p, true
			}
		case "source", "sources":
			m.Sources = d.strs(v, "match.source")
		case "output_fields":
			items := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				items = v.Content
			}
			for _, it := range items {
				c, ok := d.str(it, "match.output_fields")
				if !ok {
					continue
				}
				fc, err := parseFieldCond(c)
				if err != nil {
					d.errorf(it, "match.output_fields: %v", err)
					continue
				}
				d.glob(it, "match.output_fields", fc.Glob)
				m.Fields = append(m.Fields, fc)
			}
		default:
			return false
		}
		return true
	})
	return m
}

func parseFieldCond(s string) (FieldCond, error) {
	if i := strings.Index(s, "!="); i > 0 {
		return FieldCond{Field: strings.TrimSpace(s[:i]), Neg: true, Glob: strings.TrimSpace(s[i+2:])}, nil
	}
	if i := strings.Index(s, "="); i > 0 {
		return FieldCond{Field: strings.TrimSpace(s[:i]), Glob: strings.TrimSpace(s[i+1:])}, nil
	}
	return FieldCond{}, fmt.Errorf("%q: expected FIELD=GLOB or FIELD!=GLOB", s)
}

func (d *pdec) rule(n *yaml.Node) *Rule {
	r := &Rule{Pos: d.pos(n), Continue: true}
	hasMatch := false
	d.mapping(n, "rule", func(key string, k, v *yaml.Node) bool {
		switch key {
		case "name":
			r.Name, _ = d.str(v, "name")
		case "match":
			hasMatch = true
			r.Match = d.match(v)
		case "actions":
			if v.Kind != yaml.SequenceNode || len(v.Content) == 0 {
				d.errorf(v, "actions: expected a non-empty list")
				return true
			}
			for _, c := range v.Content {
				r.Steps = append(r.Steps, d.step(c))
			}
		case "continue":
			r.Continue = d.boolean(v, "continue")
		case "dry_run":
			r.DryRun = d.boolean(v, "dry_run")
		case "cooldown":
			r.Cooldown = d.duration(v, "cooldown")
		default:
			return false
		}
		return true
	})
	if n.Kind == yaml.MappingNode {
		if r.Name == "" {
			d.errorf(n, "rule: missing name")
		}
		if !hasMatch {
			d.errorf(n, "rule %q: missing match (match: {} matches every alert)", r.Name)
		}
		if len(r.Steps) == 0 {
			d.errorf(n, "rule %q: no actions", r.Name)
		}
	}
	return r
}

// Parse checks a policy held in memory; file names it in errors.
func Parse(file string, data []byte) (*Policy, error) {
	d := &pdec{file: file}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg := err.Error()
		line := 1
		if m := regexp.MustCompile(`line (\d+)`).FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		msg = strings.TrimPrefix(msg, "yaml: ")
		msg = regexp.MustCompile(`^line \d+: `).ReplaceAllString(msg, "")
		return nil, &PolicyError{[]string{fmt.Sprintf("%s:%d:1: %s", file, line, msg)}}
	}
	p := &Policy{File: file}
	if len(root.Content) == 0 {
		return p, nil // an empty file: no rules
	}
	names := map[string]Pos{}
	d.mapping(root.Content[0], "policy", func(key string, k, v *yaml.Node) bool {
		switch key {
		case "dry_run":
			p.DryRun = d.boolean(v, "dry_run")
		case "never_kill":
			p.NeverKill = d.strs(v, "never_kill")
			for _, g := range p.NeverKill {
				d.glob(v, "never_kill", g)
			}
		case "rules":
			if v.Kind != yaml.SequenceNode {
				d.errorf(v, "rules: expected a list")
				return true
			}
			for _, c := range v.Content {
				r := d.rule(c)
				if prev, dup := names[r.Name]; dup && r.Name != "" {
					d.errorf(c, "rule %q: already defined at %s", r.Name, prev)
				}
				names[r.Name] = r.Pos
				p.Rules = append(p.Rules, r)
			}
		default:
			return false
		}
		return true
	})
	if len(d.errs) > 0 {
		return nil, &PolicyError{d.errs}
	}
	return p, nil
}

// Matches reports whether the rule's match holds for the alert.
func (m *Match) Matches(a *alert.Alert) bool {
	if len(m.Rules) > 0 && !anyGlob(m.Rules, a.Rule) {
		return false
	}
	if len(m.Sources) > 0 && !contains(m.Sources, a.Source) {
		return false
	}
	if m.HasPriority && a.Priority > m.MinPriority { // lower value = more severe
		return false
	}
	if len(m.Tags) > 0 {
		found := false
		for _, t := range a.Tags {
			if contains(m.Tags, t) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	for _, fc := range m.Fields {
		v, ok := a.OutputFields[fc.Field]
		s := "<NA>"
		if ok && v != nil {
			s = fmt.Sprint(v)
		}
		hit, _ := path.Match(fc.Glob, s)
		if hit == fc.Neg {
			return false
		}
	}
	return true
}

func anyGlob(gs []string, s string) bool {
	for _, g := range gs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

var errNoPolicy = errors.New("response: no policy")
