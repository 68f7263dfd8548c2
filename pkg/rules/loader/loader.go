// Package loader reads Falco rules files (YAML) into a Collection of lists, macros and rules,
// applying Falco's semantics for loading several files in order: redefinition, the legacy
// `append: true`, `override: {key: append|replace}`, the standalone `enabled` toggle,
// exceptions, required_engine_version and required_plugin_versions.
//
// It models the first two stages of Falco's rule loader (userspace/engine/rule_loader_reader
// and rule_loader_collector): it validates the shape of every item and reports errors and
// warnings with file, line and column, but it does not parse conditions or outputs. Those are
// kept as Text values that remember where each character came from (Text.Locate), so the
// condition parser and the compiler can report their own errors at exact file positions, even
// for conditions assembled from appends across files.
//
// Loading continues after an error, skipping the faulty item, so that every error is reported
// at once; the Collection is still returned but should not be used when there are errors.
package loader

import (
	"bytes"
	"errors"
	"io"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// Message is an error or a warning about a rules file.
type Message struct {
	Pos  Pos
	Item string // e.g. `rule "Terminal shell in container"` or `macro "spawned_process"`; "" if none
	Msg  string
}

// String formats the message as `FILE:LINE:COL: msg (rule "X")`.
func (m Message) String() string {
	s := m.Pos.String() + ": " + m.Msg
	if m.Item != "" {
		s += " (" + m.Item + ")"
	}
	return s
}

// File is one rules file's name (used in positions) and content.
type File struct {
	Name string
	Data []byte
}

// List is a named list of items. Items may name other lists; they are kept as written and
// expanded by the compiler.
type List struct {
	Name  string
	Items []Text
	Pos   Pos // of the latest definition
	File  string
}

// Macro is a named condition fragment. After appends, Condition is the concatenation of the
// pieces joined by a space (Falco's semantics), and Locate maps into each piece's file.
type Macro struct {
	Name      string
	Condition Text
	Pos       Pos
	File      string
}

// Exception is one entry of a rule's exceptions. Fields and Comps always have the same length
// (comps defaulted as Falco does: "=" for each field of a fields list, "in" for a single
// field). Every tuple in Values has len(Fields) elements; when FieldsIsList is false, Fields,
// Comps and every tuple have exactly one element.
type Exception struct {
	Name         string
	Fields       []string
	FieldsIsList bool
	Comps        []string
	Values       [][]ExceptionValue
	Pos          Pos
}

// ExceptionValue is one element of an exception's values tuple: either a scalar (which may
// name a list, for list operators) or an inline list of scalars, e.g. [bash, sh].
type ExceptionValue struct {
	Text          // the scalar, when !IsList (Pos is set in both cases)
	IsList bool   // an inline list: Items holds its elements
	Items  []Text // when IsList
}

// PluginReq is one entry of required_plugin_versions: the plugin and its accepted
// alternatives.
type PluginReq struct {
	Name, Version string
	Alternatives  []PluginAlt
	Pos           Pos
}

// PluginAlt is an alternative plugin that satisfies a PluginReq.
type PluginAlt struct{ Name, Version string }

// Rule is a rule after all definitions, appends and overrides have been applied.
type Rule struct {
	Name                string
	Desc                string
	Condition, Output   Text // Output is trimmed as Falco does
	Priority            Priority
	Tags                []string // sorted and without duplicates (Falco keeps a set)
	Enabled             bool
	Source              string // "syscall" by default
	Exceptions          []Exception
	WarnEvttypes        bool // default true
	SkipIfUnknownFilter bool
	Capture             bool  // `capture`: take a capture when the rule triggers
	CaptureDuration     int64 // `capture_duration` in milliseconds; 0 when not set
	Pos                 Pos   // of the latest full definition
	File                string

	// Action is Saker's `action` key for admission rules (source k8s_admission): "deny",
	// "warn" or "alert"; "" when not set (alert only).
	Action string
	// DryRun is Saker's `dryrun` key: an admission rule that only audits (never denies or warns).
	DryRun bool
	// Enforce is Saker's `enforce` key for syscall rules: "kill" (the probe kills the process
	// at syscall entry), "deny" (the file access is refused with EPERM); "" when not set
	// (detection only).
	Enforce string
}

// Collection is the result of loading one or more rules files. Lists, macros and rules are
// in first-definition order (a redefinition replaces the content but keeps the place, as in
// Falco).
type Collection struct {
	Lists                 []*List
	Macros                []*Macro
	Rules                 []*Rule
	RequiredEngineVersion string // the highest one required, as "x.y.z"; "" if none
	RequiredPlugins       []PluginReq

	lists  map[string]*List
	macros map[string]*Macro
	rules  map[string]*Rule
}

// List returns the list with that name, or nil.
func (c *Collection) List(name string) *List { return c.lists[name] }

// Macro returns the macro with that name, or nil.
func (c *Collection) Macro(name string) *Macro { return c.macros[name] }

// Rule returns the rule with that name, or nil.
func (c *Collection) Rule(name string) *Rule { return c.rules[name] }

// Load reads the files in order into one Collection and returns it with the errors and the
// warnings found. It never panics, whatever the input.
func Load(files []File) (*Collection, []Message, []Message) {
	l := &loader{col: &Collection{
		lists:  map[string]*List{},
		macros: map[string]*Macro{},
		rules:  map[string]*Rule{},
	}}
	for i, f := range decodeAll(files) {
		l.loadFile(files[i], f)
	}
	if l.haveEngine {
		l.col.RequiredEngineVersion = l.reqEngine.String()
	}
	return l.col, l.errs, l.warns
}

// LoadFiles reads the named files and loads them in order (see Load).
func LoadFiles(paths ...string) (*Collection, []Message, []Message) {
	files := make([]File, 0, len(paths))
	var readErrs []Message
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			readErrs = append(readErrs, Message{Pos: Pos{File: p}, Msg: err.Error()})
			continue
		}
		files = append(files, File{Name: p, Data: data})
	}
	c, errs, warns := Load(files)
	return c, append(readErrs, errs...), warns
}

// Falco's messages (rule_loading_messages.h).
const (
	warnAppend  = "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."
	warnEnabled = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace')."

	errOverrideAppend     = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."
	errNoPreviousMacro    = "Macro uses 'append' or 'override.condition: append' but no macro by that name already exists"
	errNoPreviousList     = "List uses 'append' or 'override.items: append' but no list by that name already exists"
	errNoPreviousRuleApp  = "Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists"
	errNoPreviousRuleRepl = "An 'override.<key>: replace' to a rule was requested but no rule by that name already exists"
)

const (
	rgxIdentifier = `([a-zA-Z]+[a-zA-Z0-9_]*)`
	rgxBarestr    = `([^()"'[:space:]=,]+)`
)

var (
	reIdentifier = regexp.MustCompile(`^` + rgxIdentifier + `$`)
	reBarestr    = regexp.MustCompile(`^` + rgxBarestr + `$`)
)

// Keys Falco knows for each kind of item (its JSON schema and reader).
var (
	listKeys  = set("list", "items", "append", "override")
	macroKeys = set("macro", "condition", "append", "override")
	ruleKeys  = set("rule", "desc", "condition", "output", "priority", "tags", "enabled", "source",
		"exceptions", "append", "override", "warn_evttypes", "skip-if-unknown-filter",
		"capture", "capture_duration", "capture_events", "capture_filesize", "action", "dryrun", "enforce")

	ruleAppendable  = set("condition", "output", "desc", "tags", "exceptions")
	ruleReplaceable = set("condition", "output", "desc", "priority", "tags", "exceptions", "enabled",
		"warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration", "action", "dryrun", "enforce")
	// ruleOverrideOrder is the order in which override keys are checked and decoded.
	ruleOverrideOrder = []string{"condition", "exceptions", "output", "desc", "tags", "priority",
		"enabled", "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration", "action", "dryrun", "enforce"}

	// comparison operators libsinsp's filter parser supports
	supportedOps = set("exists", "<=", "<", ">=", ">", "==", "=", "!=", "glob", "iglob", "contains",
		"icontains", "bcontains", "startswith", "bstartswith", "endswith", "regex",
		"intersects", "in", "pmatch")
)

func set(keys ...string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}

type loader struct {
	col        *Collection
	reqEngine  semver
	haveEngine bool
	errs       []Message
	warns      []Message

	f        *fileSrc
	budget   int  // node visits left for this file (bounds alias expansion)
	spent    bool // budget or error limit exhausted: stop reading this file
	fileErrs int
}

// errTooManyAliases ends a file whose aliases expand too much.
var errTooManyAliases = errors.New("too many alias expansions")

// decoded is one file's YAML documents, decoded ahead of reading, and the decoder's error
// after them (nil at the end of the file).
type decoded struct {
	docs []*yaml.Node
	err  error
}

// decodeAll decodes the files' YAML, several files at once: decoding is most of a load (the
// three upstream files: about half of loading and compiling them), and only the reading of
// the items, which follows, must keep the files' order.
func decodeAll(files []File) []decoded {
	out := make([]decoded, len(files))
	if len(files) == 1 {
		out[0] = decodeFile(files[0].Data)
		return out
	}
	var wg sync.WaitGroup
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			out[i] = decodeFile(files[i].Data)
			<-slots
		}()
	}
	wg.Wait()
	return out
}

func decodeFile(data []byte) decoded {
	var d decoded
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		doc := new(yaml.Node)
		err := dec.Decode(doc)
		if err == io.EOF {
			return d
		}
		if err != nil {
			d.err = err
			return d
		}
		d.docs = append(d.docs, doc)
	}
}

// loadFile reads the items of a file's documents in order, until the end, a YAML error, or
// the file's error or alias budget is spent (what follows is then not read).
func (l *loader) loadFile(file File, d decoded) {
	l.f = newFileSrc(file.Name, file.Data)
	l.budget = 100_000 + 2*len(file.Data)
	l.spent = false
	l.fileErrs = 0
	for _, doc := range d.docs {
		if l.spent {
			return
		}
		l.readDocument(doc)
	}
	if d.err != nil && !l.spent {
		l.errs = append(l.errs, yamlErrorMessage(l.f, d.err))
	}
}

var yamlLineRe = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the problems yaml.v3's parser (as opposed to its scanner) reports.
// For those, yaml.v3 prints the 0-based line of the enclosing construct (it adds 1 only for
// scanner errors), so the loader adds 1.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'", "did not find expected ',' or '}'",
	"did not find expected '-' indicator", "did not find expected <document start>",
	"did not find expected <stream-start>", "did not find expected key",
	"did not find expected node content", "found undefined tag handle",
	"found duplicate %TAG directive", "found duplicate %YAML directive", "found incompatible YAML document",
}

// yamlErrorMessage turns a yaml.v3 error into a Message at FILE:LINE:COL. yaml.v3 reports only
// a line (that of the construct being parsed); the column is found on that line from what the
// message is about (yamlColumn).
func yamlErrorMessage(f *fileSrc, err error) Message {
	s := err.Error()
	msg := strings.TrimPrefix(s, "yaml: ")
	line := 0
	if m := yamlLineRe.FindStringSubmatch(s); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
	}
	for _, p := range yamlParserProblems {
		if msg == p {
			line++
			break
		}
	}
	pos := Pos{File: f.name, Line: line}
	if line > 0 && line <= len(f.lineStarts) {
		pos.Col = yamlColumn(f.line(line), msg)
	}
	return Message{Pos: pos, Msg: "YAML syntax error: " + msg}
}

// line returns the text of a 1-based line, without its line break.
func (f *fileSrc) line(n int) string {
	start := f.lineStarts[n-1]
	end := len(f.data)
	if n < len(f.lineStarts) {
		end = f.lineStarts[n]
	}
	return strings.TrimRight(string(f.data[start:end]), "\r\n")
}

// yamlColumn guesses the 1-based column (in characters) of a YAML syntax error on a line:
// the character the message names (a tab, the ':' of a mapping value where none is allowed,
// an unclosed '[' or '{'), else the line's first non-blank character.
func yamlColumn(line, msg string) int {
	at := -1
	switch {
	case strings.Contains(msg, "tab character"):
		at = strings.IndexByte(line, '\t')
	case strings.HasPrefix(msg, "mapping values are not allowed"):
		for i := len(line) - 1; i >= 0; i-- {
			if line[i] == ':' && (i+1 == len(line) || line[i+1] == ' ' || line[i+1] == '\t') {
				at = i
				break
			}
		}
	case strings.Contains(msg, "expected ',' or ']'"):
		at = strings.LastIndexByte(line, '[')
	case strings.Contains(msg, "expected ',' or '}'"):
		at = strings.LastIndexByte(line, '{')
	}
	if at < 0 {
		at = len(line) - len(strings.TrimLeft(line, " \t"))
		if at == len(line) {
			at = 0
		}
	}
	return utf8.RuneCountInString(line[:at]) + 1
}

func (l *loader) pos(n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: l.f.name}
	}
	return Pos{File: l.f.name, Line: n.Line, Col: n.Column}
}

// deref follows aliases and charges one node visit. It returns nil when the budget is spent.
func (l *loader) deref(n *yaml.Node) *yaml.Node {
	for hops := 0; n != nil && n.Kind == yaml.AliasNode; hops++ {
		if hops > 1000 {
			return nil
		}
		n = n.Alias
	}
	if l.spent {
		return nil
	}
	l.budget--
	if l.budget < 0 {
		l.spent = true
		l.errs = append(l.errs, Message{Pos: l.pos(n), Msg: errTooManyAliases.Error() + "; the rest of the file is ignored"})
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func (l *loader) readDocument(doc *yaml.Node) {
	root := doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return
		}
		root = doc.Content[0]
	}
	root = l.deref(root)
	if root == nil || isNull(root) {
		return
	}
	if root.Kind != yaml.SequenceNode {
		msg := "Rules content is not yaml array of objects"
		if root.Kind != yaml.MappingNode {
			msg = "Rules content is not yaml"
		}
		l.errs = append(l.errs, Message{Pos: l.pos(root), Msg: msg})
		return
	}
	for _, it := range root.Content {
		if l.spent {
			return
		}
		it = l.deref(it)
		if it == nil || isNull(it) {
			continue
		}
		l.readItem(it)
	}
}

// itemCtx collects the messages of one item; an item with an error is not applied.
type itemCtx struct {
	l    *loader
	item string
	node *yaml.Node
	bad  bool
	ex   string // the exception being read, named in every error about it; "" if none
}

// inException names exception name in the errors reported until the returned function runs.
func (c *itemCtx) inException(name string) func() {
	saved := c.ex
	c.ex = name
	return func() { c.ex = saved }
}

// maxErrorsPerFile bounds the errors reported for one file (hostile input can otherwise
// produce one per alias expansion).
const maxErrorsPerFile = 200

func (c *itemCtx) errorf(n *yaml.Node, msg string) {
	c.bad = true
	if c.l.spent {
		return
	}
	if c.ex != "" {
		msg = `exception "` + c.ex + `": ` + msg
	}
	c.l.errs = append(c.l.errs, Message{Pos: c.l.pos(n), Item: c.item, Msg: msg})
	c.l.fileErrs++
	if c.l.fileErrs >= maxErrorsPerFile {
		c.l.spent = true
		c.l.errs = append(c.l.errs, Message{Pos: c.l.pos(n), Msg: "too many errors; the rest of the file is ignored"})
	}
}

func (c *itemCtx) warnf(n *yaml.Node, msg string) {
	c.l.warns = append(c.l.warns, Message{Pos: c.l.pos(n), Item: c.item, Msg: msg})
}

// mapping is a YAML mapping indexed by key (first occurrence wins, as with yaml-cpp).
type mapping struct {
	node *yaml.Node
	keys []string
	key  map[string]*yaml.Node
	val  map[string]*yaml.Node
}

func (m *mapping) has(k string) bool { _, ok := m.val[k]; return ok }

// asMapping indexes a mapping node, warning about keys that are not strings or appear twice.
func (c *itemCtx) asMapping(n *yaml.Node) *mapping {
	m := &mapping{node: n, key: map[string]*yaml.Node{}, val: map[string]*yaml.Node{}}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := c.l.deref(n.Content[i])
		v := c.l.deref(n.Content[i+1])
		if k == nil || v == nil {
			c.bad = true
			return m
		}
		if k.Kind != yaml.ScalarNode {
			c.warnf(k, "Ignoring a key that is not a scalar")
			continue
		}
		if prev, dup := m.key[k.Value]; dup {
			c.warnf(k, "Duplicate key '"+k.Value+"' (the first one, line "+strconv.Itoa(prev.Line)+", is used)")
			continue
		}
		m.keys = append(m.keys, k.Value)
		m.key[k.Value] = k
		m.val[k.Value] = v
	}
	return m
}

func (c *itemCtx) unknownKeys(m *mapping, known map[string]bool) {
	for _, k := range m.keys {
		if !known[k] {
			c.warnf(m.key[k], "Unknown key '"+k+"'")
		}
	}
}

// str decodes a required or optional non-empty scalar.
func (c *itemCtx) str(m *mapping, key string, required bool) (Text, bool) {
	v, ok := m.val[key]
	if !ok {
		if required {
			c.errorf(m.node, "Item has no mapping for key '"+key+"'")
		}
		return Text{}, false
	}
	if isNull(v) {
		c.errorf(v, "Mapping for key '"+key+"' is empty")
		return Text{}, false
	}
	if v.Kind != yaml.ScalarNode {
		c.errorf(v, "Value for key '"+key+"' is not a scalar value")
		return Text{}, false
	}
	if v.Value == "" {
		c.errorf(v, "Value for key '"+key+"' must be non-empty")
		return Text{}, false
	}
	return newText(c.l.f, v), true
}

// parseBool accepts what yaml-cpp (and so Falco) accepts as a boolean.
func parseBool(s string) (bool, bool) {
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return true, true
	case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return false, true
	}
	return false, false
}

// boolean decodes an optional (or required) boolean; present reports whether it was given
// and valid.
func (c *itemCtx) boolean(m *mapping, key string, required bool) (val, present bool) {
	t, ok := c.str(m, key, required)
	if !ok {
		return false, false
	}
	b, ok := parseBool(t.Value)
	if !ok {
		c.errorf(m.val[key], "Value for key '"+key+"' is not a boolean: '"+t.Value+"'")
		return false, false
	}
	return b, true
}

func (c *itemCtx) integer(m *mapping, key string) (int64, bool) {
	t, ok := c.str(m, key, false)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(t.Value, 10, 64)
	if err != nil || n < 0 {
		c.errorf(m.val[key], "Value for key '"+key+"' is not a non-negative integer: '"+t.Value+"'")
		return 0, false
	}
	return n, true
}

// strSeq decodes a sequence of scalars (list items, tags).
func (c *itemCtx) strSeq(m *mapping, key string, required bool) ([]Text, bool) {
	v, ok := m.val[key]
	if !ok {
		if required {
			c.errorf(m.node, "Item has no mapping for key '"+key+"'")
		}
		return nil, false
	}
	if v.Kind != yaml.SequenceNode {
		c.errorf(v, "Value for key '"+key+"' is not a sequence")
		return nil, false
	}
	out := make([]Text, 0, len(v.Content))
	good := true
	for _, e := range v.Content {
		e = c.l.deref(e)
		if e == nil {
			c.bad = true
			return nil, false
		}
		if e.Kind != yaml.ScalarNode || isNull(e) {
			c.errorf(e, "Item of '"+key+"' is not a scalar value")
			good = false
			continue
		}
		out = append(out, newText(c.l.f, e))
	}
	return out, good
}

func (l *loader) readItem(n *yaml.Node) {
	c := &itemCtx{l: l, node: n}
	if n.Kind != yaml.MappingNode {
		c.errorf(n, "Unexpected element type. Each element should be a yaml associative array.")
		return
	}
	m := c.asMapping(n)
	if c.bad {
		return
	}
	switch {
	case m.has("required_engine_version"):
		c.unknownKeys(m, set("required_engine_version"))
		l.readEngineVersion(c, m)
	case m.has("required_plugin_versions"):
		c.unknownKeys(m, set("required_plugin_versions"))
		l.readPluginVersions(c, m)
	case m.has("list"):
		l.readList(c, m)
	case m.has("macro"):
		l.readMacro(c, m)
	case m.has("rule"):
		l.readRule(c, m)
	default:
		c.warnf(n, "Unknown top level item")
	}
}

func (l *loader) readEngineVersion(c *itemCtx, m *mapping) {
	t, ok := c.str(m, "required_engine_version", true)
	if !ok {
		return
	}
	v := m.val["required_engine_version"]
	var req semver
	if n, err := strconv.ParseUint(t.Value, 10, 32); err == nil {
		req = semver{0, n, 0} // Falco's implicit engine version: 0.N.0
	} else if sv, ok := parseSemver(t.Value); ok {
		req = sv
	} else {
		c.errorf(v, "Unable to parse engine version '"+t.Value+"' as a semver string. Expected \"x.y.z\" semver format.")
		return
	}
	if !engineSemver.compatibleWith(req) {
		c.errorf(v, "Rules require engine version "+req.String()+", but engine version is "+EngineVersion)
		return
	}
	if !l.haveEngine || l.reqEngine.less(req) {
		l.reqEngine, l.haveEngine = req, true
	}
}

func (l *loader) readPluginVersions(c *itemCtx, m *mapping) {
	v := m.val["required_plugin_versions"]
	if v.Kind != yaml.SequenceNode {
		c.errorf(v, "Value of required_plugin_versions must be a sequence")
		return
	}
	for _, p := range v.Content {
		p = l.deref(p)
		if p == nil {
			return
		}
		pc := &itemCtx{l: l, node: p}
		if p.Kind != yaml.MappingNode {
			pc.errorf(p, "Plugin version must be a mapping")
			continue
		}
		pm := pc.asMapping(p)
		name, ok := pc.str(pm, "name", true)
		if !ok {
			continue
		}
		pc.item = `plugin "` + name.Value + `"`
		pc.unknownKeys(pm, set("name", "version", "alternatives"))
		ver, ok := pc.str(pm, "version", true)
		if !ok {
			continue
		}
		req := PluginReq{Name: name.Value, Version: ver.Value, Pos: l.pos(p)}
		type nv struct {
			name, version string
			node          *yaml.Node
		}
		all := []nv{{name.Value, ver.Value, pm.val["version"]}}
		if alts, ok := pm.val["alternatives"]; ok {
			if alts.Kind != yaml.SequenceNode {
				pc.errorf(alts, "Value of plugin version alternatives must be a sequence")
				continue
			}
			for _, a := range alts.Content {
				a = l.deref(a)
				if a == nil {
					return
				}
				if a.Kind != yaml.MappingNode {
					pc.errorf(a, "Plugin version alternative must be a mapping")
					continue
				}
				am := pc.asMapping(a)
				an, ok1 := pc.str(am, "name", true)
				av, ok2 := pc.str(am, "version", true)
				if ok1 && ok2 {
					pc.unknownKeys(am, set("name", "version"))
					req.Alternatives = append(req.Alternatives, PluginAlt{Name: an.Value, Version: av.Value})
					all = append(all, nv{an.Value, av.Value, am.val["version"]})
				}
			}
		}
		seen := map[string]bool{}
		for _, r := range all {
			if _, ok := parseSemver(r.version); !ok {
				pc.errorf(r.node, "Invalid required version '"+r.version+"' for plugin '"+r.name+"'")
			}
			if seen[r.name] {
				pc.errorf(p, "Defined multiple alternative version requirements for plugin '"+r.name+"'")
			}
			seen[r.name] = true
		}
		if !pc.bad {
			l.col.RequiredPlugins = append(l.col.RequiredPlugins, req)
		}
	}
}

// overrides decodes the `override` key. It returns the keys to append and to replace.
func (c *itemCtx) overrides(m *mapping, appendable, replaceable map[string]bool) (app, rep map[string]bool) {
	app, rep = map[string]bool{}, map[string]bool{}
	v, ok := m.val["override"]
	if !ok {
		return
	}
	if v.Kind != yaml.MappingNode {
		c.errorf(v, "Value for key 'override' is not a mapping")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(v.Content); i += 2 {
		k, op := c.l.deref(v.Content[i]), c.l.deref(v.Content[i+1])
		if k == nil || op == nil {
			c.bad = true
			return
		}
		if k.Kind != yaml.ScalarNode || op.Kind != yaml.ScalarNode {
			c.errorf(k, "Override entries must map a key to 'append' or 'replace'")
			continue
		}
		key := k.Value
		if seen[key] {
			c.errorf(k, "Key '"+key+"' appears more than once under 'override'")
			continue
		}
		seen[key] = true
		switch op.Value {
		case "append":
			if !appendable[key] {
				c.errorf(k, "Key '"+key+"' cannot be appended to, use 'replace' instead")
				continue
			}
			app[key] = true
		case "replace":
			if !replaceable[key] {
				c.errorf(k, "Key '"+key+"' cannot be replaced")
				continue
			}
			rep[key] = true
		default:
			var allowed []string
			if appendable[key] {
				allowed = append(allowed, "append")
			}
			if replaceable[key] {
				allowed = append(allowed, "replace")
			}
			if len(allowed) == 0 {
				c.errorf(op, "Invalid override operation for key '"+key+"': '"+op.Value+"'. Key '"+key+"' cannot be overridden")
			} else {
				c.errorf(op, "Invalid override operation for key '"+key+"': '"+op.Value+"'. Allowed values are: "+strings.Join(allowed, " "))
			}
		}
	}
	return
}

// appends reads how a list or macro combines with an earlier one of its name: the legacy
// `append: true` (warned about) or `override: {key: append}`; key (items, condition) is its
// one key that can be appended to or replaced. Both ways at once are an error.
func (c *itemCtx) appends(m *mapping, key string) bool {
	appendFlag, _ := c.boolean(m, "append", false)
	if appendFlag {
		c.warnf(m.node, warnAppend)
	}
	app, rep := c.overrides(m, set(key), set(key))
	if appendFlag && len(app)+len(rep) > 0 {
		c.errorf(m.node, errOverrideAppend)
	}
	return appendFlag || app[key]
}

func (l *loader) readList(c *itemCtx, m *mapping) {
	name, ok := c.str(m, "list", true)
	if !ok {
		return
	}
	c.item = `list "` + name.Value + `"`
	c.unknownKeys(m, listKeys)
	if !reBarestr.MatchString(name.Value) {
		c.warnf(m.node, "List has an invalid name. List names should match a regular expression: "+rgxBarestr)
	}
	items, _ := c.strSeq(m, "items", true)
	appends := c.appends(m, "items")
	if c.bad {
		return
	}
	if appends {
		prev := l.col.lists[name.Value]
		if prev == nil {
			c.errorf(m.node, errNoPreviousList)
			return
		}
		prev.Items = append(prev.Items, items...)
		return
	}
	lst := &List{Name: name.Value, Items: items, Pos: l.pos(m.node), File: l.f.name}
	if prev := l.col.lists[name.Value]; prev != nil {
		*prev = *lst
		return
	}
	l.col.lists[name.Value] = lst
	l.col.Lists = append(l.col.Lists, lst)
}

func (l *loader) readMacro(c *itemCtx, m *mapping) {
	name, ok := c.str(m, "macro", true)
	if !ok {
		return
	}
	c.item = `macro "` + name.Value + `"`
	c.unknownKeys(m, macroKeys)
	if !reIdentifier.MatchString(name.Value) {
		c.warnf(m.node, "Macro has an invalid name. Macro names should match a regular expression: "+rgxIdentifier)
	}
	cond, _ := c.str(m, "condition", true)
	appends := c.appends(m, "condition")
	if c.bad {
		return
	}
	if appends {
		prev := l.col.macros[name.Value]
		if prev == nil {
			c.errorf(m.node, errNoPreviousMacro)
			return
		}
		prev.Condition = concatText(prev.Condition, " ", cond)
		return
	}
	mac := &Macro{Name: name.Value, Condition: cond, Pos: l.pos(m.node), File: l.f.name}
	if prev := l.col.macros[name.Value]; prev != nil {
		*prev = *mac
		return
	}
	l.col.macros[name.Value] = mac
	l.col.Macros = append(l.col.Macros, mac)
}

// ruleUpdate holds the keys of an append or a replace.
type ruleUpdate struct {
	keys       map[string]bool // which keys are set
	cond       Text
	output     Text
	desc       string
	tags       []string
	exceptions []exDecl
	priority   Priority
	enabled    bool
	warnEvt    bool
	skipUnk    bool
	capture    bool
	captureDur int64
	action     string
	dryrun     bool
	enforce    string
}

// decodeRuleKey decodes one overridable key of a rule into u.
func (c *itemCtx) decodeRuleKey(m *mapping, key string, u *ruleUpdate, appendMode bool) {
	ok := false
	switch key {
	case "condition":
		u.cond, ok = c.str(m, key, true)
	case "output":
		u.output, ok = c.str(m, key, true)
	case "desc":
		var t Text
		t, ok = c.str(m, key, true)
		u.desc = t.Value
	case "tags":
		var ts []Text
		ts, ok = c.strSeq(m, key, true)
		u.tags = tagSet(nil, ts)
	case "exceptions":
		u.exceptions, ok = c.readExceptions(m, appendMode)
	case "priority":
		u.priority, ok = c.priority(m)
	case "enabled":
		u.enabled, ok = c.boolean(m, key, true)
	case "warn_evttypes":
		u.warnEvt, ok = c.boolean(m, key, true)
	case "skip-if-unknown-filter":
		u.skipUnk, ok = c.boolean(m, key, true)
	case "capture":
		u.capture, ok = c.boolean(m, key, true)
	case "capture_duration":
		u.captureDur, ok = c.integer(m, key)
	case "action":
		u.action, ok = c.action(m)
	case "dryrun":
		u.dryrun, ok = c.boolean(m, key, true)
	case "enforce":
		u.enforce, ok = c.enforce(m)
	}
	if ok {
		u.keys[key] = true
	}
}

// enforce reads a rule's `enforce` (kill or deny).
func (c *itemCtx) enforce(m *mapping) (string, bool) {
	t, ok := c.str(m, "enforce", true)
	if !ok {
		return "", false
	}
	switch t.Value {
	case "kill", "deny":
		return t.Value, true
	}
	c.errorf(m.val["enforce"], "Invalid enforce '"+t.Value+"' (kill or deny)")
	return "", false
}

// action reads an admission rule's `action` (deny, warn or alert).
func (c *itemCtx) action(m *mapping) (string, bool) {
	t, ok := c.str(m, "action", true)
	if !ok {
		return "", false
	}
	switch t.Value {
	case "deny", "warn", "alert":
		return t.Value, true
	}
	c.errorf(m.val["action"], "Invalid action '"+t.Value+"' (deny, warn or alert)")
	return "", false
}

func (c *itemCtx) priority(m *mapping) (Priority, bool) {
	t, ok := c.str(m, "priority", true)
	if !ok {
		return 0, false
	}
	p, ok := ParsePriority(t.Value)
	if !ok {
		c.errorf(m.val["priority"], "Invalid priority '"+t.Value+"'")
		return 0, false
	}
	return p, true
}

// tagSet merges tags into a sorted set.
func tagSet(dst []string, add []Text) []string {
	for _, t := range add {
		dst = append(dst, t.Value)
	}
	sort.Strings(dst)
	out := dst[:0]
	for i, s := range dst {
		if i == 0 || s != dst[i-1] {
			out = append(out, s)
		}
	}
	return out
}

func (l *loader) readRule(c *itemCtx, m *mapping) {
	name, ok := c.str(m, "rule", true)
	if !ok {
		return
	}
	c.item = `rule "` + name.Value + `"`
	c.unknownKeys(m, ruleKeys)
	appendFlag, _ := c.boolean(m, "append", false)
	if appendFlag {
		c.warnf(m.node, warnAppend)
	}
	app, rep := c.overrides(m, ruleAppendable, ruleReplaceable)
	if c.bad {
		return
	}
	switch {
	case len(app)+len(rep) > 0:
		if appendFlag {
			c.errorf(m.node, errOverrideAppend)
			return
		}
		// every overridable key present must have an override entry, and vice versa
		expected := map[string]bool{}
		for _, k := range m.keys {
			if ruleAppendable[k] || ruleReplaceable[k] {
				expected[k] = true
			} else if ruleKeys[k] && k != "rule" && k != "override" && k != "append" {
				c.warnf(m.key[k], "Key '"+k+"' cannot be overridden and is ignored")
			}
		}
		ua := &ruleUpdate{keys: map[string]bool{}}
		ur := &ruleUpdate{keys: map[string]bool{}}
		for _, k := range ruleOverrideOrder {
			if app[k] {
				if !expected[k] {
					c.errorf(m.node, "An append override for '"+k+"' was specified but '"+k+"' is not defined")
					continue
				}
				delete(expected, k)
				c.decodeRuleKey(m, k, ua, true)
			}
		}
		for _, k := range ruleOverrideOrder {
			if rep[k] {
				if !expected[k] {
					c.errorf(m.node, "A replace override for '"+k+"' was specified but '"+k+"' is not defined")
					continue
				}
				delete(expected, k)
				c.decodeRuleKey(m, k, ur, false)
			}
		}
		for _, k := range m.keys {
			if expected[k] {
				c.errorf(m.key[k], "Unexpected key '"+k+"': no corresponding entry under 'override' is defined.")
			}
		}
		if c.bad {
			return
		}
		if len(app) > 0 {
			l.appendRule(c, name.Value, ua)
		}
		if len(rep) > 0 && !c.bad {
			l.replaceRule(c, name.Value, ur)
		}
	case appendFlag:
		for _, k := range m.keys {
			if ruleKeys[k] && k != "rule" && k != "append" && k != "condition" && k != "exceptions" {
				c.warnf(m.key[k], "Key '"+k+"' is ignored when 'append: true' is used (only condition and exceptions are appended)")
			}
		}
		u := &ruleUpdate{keys: map[string]bool{}}
		if m.has("condition") {
			c.decodeRuleKey(m, "condition", u, true)
		}
		if m.has("exceptions") {
			c.decodeRuleKey(m, "exceptions", u, true)
		}
		if c.bad {
			return
		}
		l.appendRule(c, name.Value, u)
	case !m.has("condition") && !m.has("output") && !m.has("desc") && !m.has("priority"):
		enabled, ok := c.boolean(m, "enabled", true)
		if !ok {
			return
		}
		c.warnf(m.node, warnEnabled)
		prev := l.col.rules[name.Value]
		if prev == nil {
			c.errorf(m.node, "Rule has 'enabled' key but no rule by that name already exists")
			return
		}
		prev.Enabled = enabled
	default:
		l.defineRule(c, m, name.Value)
	}
}

func (l *loader) defineRule(c *itemCtx, m *mapping, name string) {
	r := &Rule{Name: name, Enabled: true, WarnEvttypes: true, Source: "syscall", Pos: l.pos(m.node), File: l.f.name}
	r.Condition, _ = c.str(m, "condition", true)
	out, ok := c.str(m, "output", true)
	if ok {
		r.Output = trimText(out)
	}
	desc, _ := c.str(m, "desc", true)
	r.Desc = desc.Value
	r.Priority, _ = c.priority(m)
	if src, ok := c.str(m, "source", false); ok {
		r.Source = src.Value
	}
	if v, ok := c.boolean(m, "enabled", false); ok {
		r.Enabled = v
	}
	if v, ok := c.boolean(m, "warn_evttypes", false); ok {
		r.WarnEvttypes = v
	}
	if v, ok := c.boolean(m, "skip-if-unknown-filter", false); ok {
		r.SkipIfUnknownFilter = v
	}
	if v, ok := c.boolean(m, "capture", false); ok {
		r.Capture = v
	}
	if v, ok := c.integer(m, "capture_duration"); ok {
		r.CaptureDuration = v
	}
	for _, k := range []string{"capture_events", "capture_filesize"} {
		c.integer(m, k)
	}
	if m.has("action") {
		r.Action, _ = c.action(m)
	}
	if v, ok := c.boolean(m, "dryrun", false); ok {
		r.DryRun = v
	}
	if m.has("enforce") {
		r.Enforce, _ = c.enforce(m)
	}
	if tags, ok := c.strSeq(m, "tags", false); ok {
		r.Tags = tagSet(nil, tags)
	}
	var exs []exDecl
	if m.has("exceptions") {
		exs, _ = c.readExceptions(m, false)
	}
	if c.bad {
		return
	}
	for i := range exs {
		ex, ok := c.buildException(&exs[i])
		if ok {
			r.Exceptions = append(r.Exceptions, ex)
		}
	}
	if c.bad {
		return
	}
	if prev := l.col.rules[name]; prev != nil {
		if prev.Source != r.Source {
			c.errorf(m.node, "Rule has been re-defined with a different source")
			return
		}
		*prev = *r
		return
	}
	l.col.rules[name] = r
	l.col.Rules = append(l.col.Rules, r)
}

func (l *loader) appendRule(c *itemCtx, name string, u *ruleUpdate) {
	prev := l.col.rules[name]
	if prev == nil {
		c.errorf(c.node, errNoPreviousRuleApp)
		return
	}
	if len(u.keys) == 0 {
		c.errorf(c.node, "Appended rule must have exceptions or condition property")
		return
	}
	// validate everything before changing the rule
	var newExs []Exception
	var extras []exceptionExtra
	for i := range u.exceptions {
		d := &u.exceptions[i]
		done := c.inException(d.name)
		c.appendException(d, prev, &newExs, &extras)
		done()
	}
	if c.bad {
		return
	}
	if u.keys["condition"] && u.cond.Value != "" {
		prev.Condition = concatText(prev.Condition, " ", u.cond)
	}
	if u.keys["output"] && u.output.Value != "" {
		prev.Output = concatText(prev.Output, " ", u.output)
	}
	if u.keys["desc"] && u.desc != "" {
		prev.Desc += " " + u.desc
	}
	if u.keys["tags"] {
		add := make([]Text, len(u.tags))
		for i, t := range u.tags {
			add[i] = Text{Value: t}
		}
		prev.Tags = tagSet(prev.Tags, add)
	}
	// copy-on-write: the exceptions slice may be shared with nothing else, but be safe
	exs := append([]Exception(nil), prev.Exceptions...)
	exs = append(exs, newExs...)
	for _, e := range extras {
		ex := &exs[e.at]
		ex.Values = append(append([][]ExceptionValue(nil), ex.Values...), e.vals...)
	}
	prev.Exceptions = exs
}

// exceptionExtra is values appended to the exception at index at (of the rule's exceptions
// followed by the new ones).
type exceptionExtra struct {
	at   int
	vals [][]ExceptionValue
}

// appendException validates one exception of an append to prev: a new exception (added to
// newExs) or values for an existing one (added to extras).
func (c *itemCtx) appendException(d *exDecl, prev *Rule, newExs *[]Exception, extras *[]exceptionExtra) {
	at := -1
	for j := range prev.Exceptions {
		if prev.Exceptions[j].Name == d.name {
			at = j
			break
		}
	}
	if at < 0 {
		for j := range *newExs {
			if (*newExs)[j].Name == d.name {
				at = len(prev.Exceptions) + j
			}
		}
	}
	if at < 0 {
		if !d.fields.valid {
			c.errorf(d.node, "Rule exception must have fields property with a list of fields")
			return
		}
		if len(d.values) == 0 {
			c.errorf(d.node, "Rule exception must have values property with a list of values")
			return
		}
		if ex, ok := c.buildException(d); ok {
			*newExs = append(*newExs, ex)
		}
		return
	}
	if d.fields.valid {
		c.errorf(d.node, "Can not append exception fields to existing exception, only values")
		return
	}
	if d.comps.valid {
		c.errorf(d.node, "Can not append exception comps to existing exception, only values")
		return
	}
	var shape *Exception
	if at < len(prev.Exceptions) {
		shape = &prev.Exceptions[at]
	} else {
		shape = &(*newExs)[at-len(prev.Exceptions)]
	}
	vals, ok := c.buildValues(d, shape.FieldsIsList, len(shape.Fields))
	if ok {
		*extras = append(*extras, exceptionExtra{at, vals})
	}
}

func (l *loader) replaceRule(c *itemCtx, name string, u *ruleUpdate) {
	prev := l.col.rules[name]
	if prev == nil {
		c.errorf(c.node, errNoPreviousRuleRepl)
		return
	}
	var exs []Exception
	if u.keys["exceptions"] {
		for i := range u.exceptions {
			if ex, ok := c.buildException(&u.exceptions[i]); ok {
				exs = append(exs, ex)
			}
		}
		if c.bad {
			return
		}
	}
	if u.keys["condition"] {
		prev.Condition = u.cond
	}
	if u.keys["output"] {
		prev.Output = u.output
	}
	if u.keys["desc"] {
		prev.Desc = u.desc
	}
	if u.keys["tags"] {
		prev.Tags = u.tags
	}
	if u.keys["exceptions"] {
		prev.Exceptions = exs
	}
	if u.keys["priority"] {
		prev.Priority = u.priority
	}
	if u.keys["enabled"] {
		prev.Enabled = u.enabled
	}
	if u.keys["warn_evttypes"] {
		prev.WarnEvttypes = u.warnEvt
	}
	if u.keys["skip-if-unknown-filter"] {
		prev.SkipIfUnknownFilter = u.skipUnk
	}
	if u.keys["capture"] {
		prev.Capture = u.capture
	}
	if u.keys["capture_duration"] {
		prev.CaptureDuration = u.captureDur
	}
	if u.keys["action"] {
		prev.Action = u.action
	}
	if u.keys["dryrun"] {
		prev.DryRun = u.dryrun
	}
	if u.keys["enforce"] {
		prev.Enforce = u.enforce
	}
}
