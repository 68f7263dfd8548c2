package config

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder decodes YAML nodes onto a Config by reflection (yaml struct tags), reporting unknown
// keys and bad values with their position and key path, and recording where each key was set.
type decoder struct {
	src     string
	noLines bool // decoding a -o override: positions have no line
	aliases int  // alias dereferences so far (capped: nested aliases grow exponentially)
	errs    Errors
	pos     map[string]Pos
}

// nodeDecoder is implemented by types that decode themselves from a node.
type nodeDecoder interface {
	decodeNode(d *decoder, path string, n *yaml.Node)
}

func (d *decoder) at(n *yaml.Node) Pos {
	if d.noLines {
		return Pos{Source: d.src}
	}
	return Pos{Source: d.src, Line: n.Line, Col: n.Column}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) >= 100 {
		return
	}
	p := Pos{Source: d.src}
	if n != nil {
		p = d.at(n)
	}
	d.errs = append(d.errs, &Error{Pos: p, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Keys of falco.yaml Saker does not have, with what to use instead.
var falcoOnly = map[string]string{
	"rules_file":             "use rules_files (a list)",
	"plugins":                "plugins are not supported",
	"load_plugins":           "plugins are not supported",
	"grpc":                   "gRPC is not supported; use http_output",
	"grpc_output":            "gRPC is not supported; use http_output",
	"buffered_outputs":       "outputs are always queued per channel; see outputs_queue",
	"outputs":                "rate limiting of outputs is not supported",
	"metrics":                "metrics are served by the webserver at /metrics",
	"log_stderr":             "Saker logs to stderr",
	"log_syslog":             "Saker logs to stderr",
	"libs_logger":            "not applicable",
	"syscall_event_drops":    "drops are counted in metrics (saker_events_dropped_total)",
	"syscall_event_timeouts": "not applicable",
	"engine":                 "the eBPF probe is chosen by saker run",
	"config_files":           "not supported; use -c and -o",
}

func (d *decoder) doc(src string, data []byte, c *Config) {
	d.src = src
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		line := yamlErrLine(err)
		if line > 0 {
			msg = strings.TrimPrefix(msg, fmt.Sprintf("line %d: ", line))
		}
		d.errs = append(d.errs, &Error{Pos: Pos{Source: src, Line: line}, Msg: msg})
		return
	}
	if root.Kind == 0 || len(root.Content) == 0 {
		return // empty file
	}
	n := root.Content[0]
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	d.expand(n, "")
	d.value("", n, reflect.ValueOf(c).Elem())
}

// yamlErrLine extracts the line from a yaml.v3 syntax error ("yaml: line 3: ...").
func yamlErrLine(err error) int {
	s := err.Error()
	if i := strings.Index(s, "line "); i >= 0 {
		s = s[i+5:]
		if j := strings.IndexByte(s, ':'); j > 0 {
			if n, err := strconv.Atoi(s[:j]); err == nil {
				return n
			}
		}
	}
	return 0
}

// expand replaces ${NAME} in every scalar with the environment variable's value (empty when
// unset); $${ stands for a literal ${.
func (d *decoder) expand(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if strings.Contains(n.Value, "${") {
			v, err := ExpandEnv(n.Value)
			if err != nil {
				d.errorf(n, path, "%v", err)
				return
			}
			n.Value = v
		}
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			d.expand(n.Content[i], join(path, n.Content[i-1].Value))
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			d.expand(c, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

// ExpandEnv expands ${NAME} references (empty when unset); $${ is a literal ${.
func ExpandEnv(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1])
			b.WriteString("${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("unterminated ${ in %q", s)
		}
		name := s[i+2 : i+j]
		if name == "" {
			return "", fmt.Errorf("empty variable name in %q", s)
		}
		b.WriteString(os.Getenv(name))
		s = s[i+j+1:]
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "null"
	}
	return fmt.Sprintf("%q", n.Value)
}

// fieldIndex maps yaml tag names to struct field indexes.
func fieldIndex(t reflect.Type) map[string]int {
	m := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name != "" && name != "-" {
			m[name] = i
		}
	}
	return m
}

// value decodes n into v (the key path is path).
func (d *decoder) value(path string, n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.AliasNode {
		if d.aliases++; d.aliases > 1000 || n.Alias == nil {
			d.errorf(n, path, "too many alias dereferences")
			return
		}
		n = n.Alias
	}
	if len(d.errs) >= 100 {
		return
	}
	d.pos[path] = d.at(n)
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, path, n)
			return
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "want a mapping, got %s", kindName(n))
			return
		}
		idx := fieldIndex(v.Type())
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			kp := join(path, k.Value)
			if seen[k.Value] {
				d.errorf(k, kp, "duplicate key")
				continue
			}
			seen[k.Value] = true
			fi, ok := idx[k.Value]
			if !ok {
				if hint, ok := falcoOnly[k.Value]; ok && path == "" {
					d.errorf(k, kp, "unknown key (a Falco key: %s)", hint)
				} else {
					d.errorf(k, kp, "unknown key")
				}
				continue
			}
			d.value(kp, val, v.Field(fi))
		}
	case reflect.Slice:
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.Set(reflect.MakeSlice(v.Type(), 0, 0))
			return
		}
		if n.Kind != yaml.SequenceNode {
			if v.Type().Elem().Kind() == reflect.String && n.Kind == yaml.ScalarNode {
				// a single string for a list of strings
				v.Set(reflect.ValueOf([]string{n.Value}))
				return
			}
			d.errorf(n, path, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.value(fmt.Sprintf("%s[%d]", path, i), c, s.Index(i))
		}
		v.Set(s)
	case reflect.Map: // map[string]string
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			v.Set(reflect.MakeMap(v.Type()))
			return
		}
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "want a mapping, got %s", kindName(n))
			return
		}
		m := reflect.MakeMap(v.Type())
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if val.Kind != yaml.ScalarNode {
				d.errorf(val, join(path, k.Value), "want a string, got %s", kindName(val))
				continue
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), reflect.ValueOf(val.Value))
		}
		v.Set(m)
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "want a string, got %s", kindName(n))
			return
		}
		if n.Tag == "!!null" {
			v.SetString("")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || n.Decode(&b) != nil {
			d.errorf(n, path, "want true or false, got %s", kindName(n))
			return
		}
		v.SetBool(b)
	case reflect.Int:
		var i int
		if n.Kind != yaml.ScalarNode || n.Tag == "!!bool" || n.Decode(&i) != nil {
			d.errorf(n, path, "want an integer, got %s", kindName(n))
			return
		}
		v.SetInt(int64(i))
	default:
		d.errorf(n, path, "internal error: cannot decode into %s", v.Type())
	}
}

// override applies one -o key.path=value: the value is read as YAML (so lists and mappings
// work: -o 'rules_files=[a, b]'); key[] appends to a list, key[N] sets element N.
func (d *decoder) override(src, o string, c *Config) {
	d.src, d.noLines = src+" ("+o+")", true
	defer func() { d.noLines = false }()
	key, val, ok := strings.Cut(o, "=")
	if !ok || key == "" {
		d.errorf(nil, "", "want key.path=value")
		return
	}
	n, err := overrideValue(val)
	if err != nil {
		d.errorf(nil, key, "bad value: %v", strings.TrimPrefix(err.Error(), "yaml: "))
		return
	}
	d.expand(n, key)
	v := reflect.ValueOf(c).Elem()
	path := ""
	segs := strings.Split(key, ".")
	for si, seg := range segs {
		name, idx, hasIdx, appendTo := seg, 0, false, false
		if i := strings.IndexByte(seg, '['); i >= 0 && strings.HasSuffix(seg, "]") {
			name = seg[:i]
			in := seg[i+1 : len(seg)-1]
			if in == "" {
				appendTo = true
			} else {
				k, err := strconv.Atoi(in)
				if err != nil || k < 0 {
					d.errorf(nil, key, "bad list index %q", in)
					return
				}
				idx, hasIdx = k, true
			}
		}
		last := si == len(segs)-1
		if v.CanAddr() && si > 0 {
			if _, ok := v.Addr().Interface().(nodeDecoder); ok {
				// a type that decodes itself (rules[].disable.rule=NAME): the rest of the
				// key becomes nested mappings around the value
				for i := len(segs) - 1; i >= si; i-- {
					if strings.ContainsAny(segs[i], "[]") {
						d.errorf(nil, key, "%s takes no list index", segs[i])
						return
					}
					n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{{Kind: yaml.ScalarNode, Tag: "!!str", Value: segs[i]}, n}}
				}
				break
			}
		}
		switch v.Kind() {
		case reflect.Struct:
			fi, ok := fieldIndex(v.Type())[name]
			if !ok {
				d.errorf(nil, join(path, name), "unknown key")
				return
			}
			v = v.Field(fi)
			path = join(path, name)
		case reflect.Map:
			if !last || hasIdx || appendTo {
				d.errorf(nil, join(path, name), "a map entry takes a plain value")
				return
			}
			if n.Kind != yaml.ScalarNode {
				d.errorf(nil, join(path, name), "want a string, got %s", kindName(n))
				return
			}
			if v.IsNil() {
				v.Set(reflect.MakeMap(v.Type()))
			}
			v.SetMapIndex(reflect.ValueOf(name), reflect.ValueOf(n.Value))
			d.pos[join(path, name)] = Pos{Source: d.src}
			return
		default:
			d.errorf(nil, join(path, name), "%s is not a mapping", path)
			return
		}
		if hasIdx || appendTo {
			if v.Kind() != reflect.Slice {
				d.errorf(nil, path, "not a list")
				return
			}
			if appendTo {
				idx = v.Len()
			}
			if idx > v.Len() {
				d.errorf(nil, path, "index %d out of range (the list has %d elements)", idx, v.Len())
				return
			}
			if idx == v.Len() {
				v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
			}
			v = v.Index(idx)
			path = fmt.Sprintf("%s[%d]", path, idx)
		}
	}
	d.value(path, n, v)
}

// overrideValue reads the value of a -o override as YAML, as Falco does, except that a value
// Falco's documentation writes bare (`*`, `Read *`, `*x`, `!name`, `a #b`) is the string as given:
// a value that is not YAML, or that YAML would read as an alias, an anchor, a tag or with a
// comment.
// A value that opens a flow list or mapping or a quoted string must be valid YAML.
func overrideValue(val string) (*yaml.Node, error) {
	str := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: val}
	var root yaml.Node
	if err := yaml.Unmarshal([]byte(val), &root); err != nil {
		if t := strings.TrimSpace(val); t != "" && strings.ContainsRune("[{\"'", rune(t[0])) {
			return nil, err
		}
		return str, nil
	}
	if len(root.Content) == 0 {
		return str, nil
	}
	n := root.Content[0]
	surprising := false
	var walk func(*yaml.Node)
	walk = func(x *yaml.Node) {
		localTag := strings.HasPrefix(x.Tag, "!") && !strings.HasPrefix(x.Tag, "!!") && x.Style&yaml.TaggedStyle != 0
		if x.Kind == yaml.AliasNode || x.Anchor != "" || localTag || x.HeadComment != "" || x.LineComment != "" || x.FootComment != "" {
			surprising = true
		}
		for _, c := range x.Content {
			walk(c)
		}
	}
	walk(&root)
	if surprising {
		return str, nil
	}
	return n, nil
}

// Priority is a rule priority (priority key), numbered like Falco's rule priorities and
// syslog severities: 0 Emergency … 7 Debug (the agent converts it to the rules loader's
// priority, which uses the same numbering).
type Priority int

// priorityNames are the priority names in order, as Falco writes them.
var priorityNames = [...]string{"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"}

// ParsePriority parses a priority name case-insensitively ("info" is Informational, as
// in Falco).
func ParsePriority(s string) (Priority, bool) {
	for i, n := range priorityNames {
		if strings.EqualFold(s, n) {
			return Priority(i), true
		}
	}
	if strings.EqualFold(s, "info") {
		return 6, true
	}
	return 0, false
}

// String is Falco's name of the priority.
func (p Priority) String() string {
	if p < 0 || int(p) >= len(priorityNames) {
		return fmt.Sprintf("Priority(%d)", int(p))
	}
	return priorityNames[p]
}

func (p *Priority) decodeNode(d *decoder, path string, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		if v, ok := ParsePriority(n.Value); ok {
			*p = v
			return
		}
	}
	d.errorf(n, path, "want one of emergency, alert, critical, error, warning, notice, info, debug; got %s", kindName(n))
}

// MarshalYAML implements yaml.Marshaler.
func (p Priority) MarshalYAML() (any, error) {
	return strings.ToLower(p.String()), nil
}

// RuleMatching is rule_matching: first or all.
type RuleMatching string

func (r *RuleMatching) decodeNode(d *decoder, path string, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && (n.Value == "first" || n.Value == "all") {
		*r = RuleMatching(n.Value)
		return
	}
	d.errorf(n, path, "want first or all, got %s", kindName(n))
}

// LogLevel is log_level.
type LogLevel string

var logLevels = []string{"emergency", "alert", "critical", "error", "warning", "notice", "info", "debug"}

func (l *LogLevel) decodeNode(d *decoder, path string, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		for _, s := range logLevels {
			if strings.EqualFold(n.Value, s) {
				*l = LogLevel(s)
				return
			}
		}
	}
	d.errorf(n, path, "want one of %s; got %s", strings.Join(logLevels, ", "), kindName(n))
}

// Duration is a Go duration string ("250ms", "5s", "1m").
type Duration time.Duration

func (t *Duration) decodeNode(d *decoder, path string, n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		if v, err := time.ParseDuration(n.Value); err == nil && v >= 0 {
			*t = Duration(v)
			return
		}
	}
	d.errorf(n, path, "want a duration such as 500ms or 5s, got %s", kindName(n))
}

// MarshalYAML implements yaml.Marshaler.
func (t Duration) MarshalYAML() (any, error) { return time.Duration(t).String(), nil }

// D returns the time.Duration.
func (t Duration) D() time.Duration { return time.Duration(t) }

// RuleSelector is one entry of rules: enable or disable the rules matching a name (with *
// wildcards) or carrying a tag.
type RuleSelector struct {
	Enable bool
	Rule   string // a name pattern, or "" when Tag is set
	Tag    string
}

func (r *RuleSelector) decodeNode(d *decoder, path string, n *yaml.Node) {
	*r = RuleSelector{}
	if n.Kind != yaml.MappingNode || len(n.Content) != 2 {
		d.errorf(n, path, "want a mapping with one key, enable or disable")
		return
	}
	k, v := n.Content[0], n.Content[1]
	switch k.Value {
	case "enable":
		r.Enable = true
	case "disable":
	default:
		d.errorf(k, join(path, k.Value), "unknown key (want enable or disable)")
		return
	}
	kp := join(path, k.Value)
	if v.Kind != yaml.MappingNode || len(v.Content) != 2 || v.Content[1].Kind != yaml.ScalarNode {
		d.errorf(v, kp, "want a mapping with one key, rule or tag")
		return
	}
	sel, val := v.Content[0], v.Content[1]
	switch sel.Value {
	case "rule":
		r.Rule = val.Value
	case "tag":
		r.Tag = val.Value
	default:
		d.errorf(sel, join(kp, sel.Value), "unknown key (want rule or tag)")
		return
	}
	if val.Value == "" {
		d.errorf(val, join(kp, sel.Value), "empty value")
	}
}

// MarshalYAML implements yaml.Marshaler.
func (r RuleSelector) MarshalYAML() (any, error) {
	op := "disable"
	if r.Enable {
		op = "enable"
	}
	sel := map[string]string{"rule": r.Rule}
	if r.Tag != "" {
		sel = map[string]string{"tag": r.Tag}
	}
	return map[string]any{op: sel}, nil
}

// AppendOutput is one entry of append_output. SuggestedOutput appends the fields Falco's
// container plugin suggests for output (container and Kubernetes identity) to the matching
// syscall rules, as Falco does.
type AppendOutput struct {
	Match           AppendMatch  `yaml:"match"`
	ExtraOutput     string       `yaml:"extra_output"`
	ExtraFields     []ExtraField `yaml:"extra_fields"`
	SuggestedOutput bool         `yaml:"suggested_output"`
}

// AppendMatch selects rules; every non-empty condition must hold.
type AppendMatch struct {
	Source string `yaml:"source,omitempty"`
	Tag    string `yaml:"tag,omitempty"`
	Rule   string `yaml:"rule,omitempty"`
}

// ExtraField is one extra output field: a field (its typed value goes into output_fields
// under its own name) or a name with a template (text and %fields, rendered as a string).
type ExtraField struct {
	Name     string
	Template string
	IsField  bool
}

func (x *ExtraField) decodeNode(d *decoder, path string, n *yaml.Node) {
	switch {
	case n.Kind == yaml.ScalarNode && n.Value != "":
		*x = ExtraField{Name: n.Value, Template: "%" + n.Value, IsField: true}
	case n.Kind == yaml.MappingNode && len(n.Content) == 2 && n.Content[1].Kind == yaml.ScalarNode && n.Content[0].Value != "":
		*x = ExtraField{Name: n.Content[0].Value, Template: n.Content[1].Value}
	default:
		d.errorf(n, path, "want a field name or a mapping {name: template}")
	}
}

// MarshalYAML implements yaml.Marshaler.
func (x ExtraField) MarshalYAML() (any, error) {
	if x.IsField {
		return x.Name, nil
	}
	return map[string]string{x.Name: x.Template}, nil
}
