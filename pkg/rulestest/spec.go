// Package rulestest runs rule test suites: YAML files whose cases describe processes, files
// and connections compactly (or name a .scap capture) together with the alerts a ruleset must
// and must not raise for them. Each described event is encoded as a real scap event record,
// decoded with event.Decode and fed through the production pipeline (pkg/detect: normalizer,
// state engine, syscall field source, indexed ruleset), so a case exercises the same decoder,
// state and field path as `saker run`. Processes that exist before a case's events are loaded
// as thread metadata, the way a capture's process list or the live /proc scan is.
//
// A test file looks like:
//
//	tests:
//	  - name: cat reads /etc/shadow
//	    rule: Read sensitive credential file   # the rule under test
//	    match: true                            # it must fire (false: it must not)
//	    events:
//	      - proc: {name: cat, exe: /usr/bin/cat, args: [/etc/shadow], uid: 0, parent: {name: bash}}
//	        event: {type: openat, name: /etc/shadow, flags: O_RDONLY}
//	    expect:                                # further alerts that must be raised
//	      - rule: Read sensitive credential file
//	        output: {proc.name: cat}           # output fields the alert must carry
//	    expect_not: [Some other rule]          # rules that must not fire
//
// An event may carry what only the live probe knows: `realpath: PATH` on an open (the kernel's
// resolved path of the opened file, fd.realpath; without it fd.realpath is fd.name) and
// `io_uring: true` on any event (it came from an io_uring request, evt.is_io_uring):
//
//	event: {type: openat, name: /tmp/link, realpath: /etc/shadow, io_uring: true}
//
// A step of `events` may give `repeat: N`: its event N times (N ≤ 10000), the copies by the
// same process (counting rules, e.g. on proc.deletions).
//
// `expect: []` asserts that no alert at all is raised. A case may give `capture: FILE.scap`
// (relative to the test file) instead of events.
//
// A case may describe the metadata of the containers its processes run in (what the runtime
// would report), so rules on images, privilege, mounts, labels and pods are testable:
//
//	containers:
//	  - id: 0123456789ab                      # a process's `container:` names it
//	    name: web
//	    image: docker.io/library/nginx:1.25   # repository and tag are split from it
//	    privileged: true
//	    mounts: [{source: /etc, destination: /host/etc, rw: false}]
//	    labels: {app: web}
//	    pod: {name: web-0, namespace: prod, labels: {app: web}}
package rulestest

import (
	"bytes"
	"fmt"
	"maps"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Suite is one parsed test file.
type Suite struct {
	Path  string
	Cases []*Case
}

// Case is one test case.
type Case struct {
	Name    string
	Rule    string // the rule under test ("" when the case names none)
	Match   *bool  // with Rule: whether it must fire
	Events  []*Step
	Capture string // a capture to replay instead of Events (resolved against the file's dir)

	Containers []*ContainerSpec // metadata of the containers the case's processes run in

	Expect     []Expectation
	ExpectNone bool // `expect: []`: no alert at all
	ExpectNot  []string

	File string
	Line int
}

// Expectation is one alert a case must raise.
type Expectation struct {
	Rule           string
	Output         map[string]string // output field -> value as text
	OutputContains string
}

// Step is one described event: the acting process and what it does.
type Step struct {
	Proc  *ProcSpec      // nil: the previous step's process
	Event map[string]any // "type" plus params; nil for a proc-only step (metadata)
	Line  int
}

// ProcSpec describes a process.
type ProcSpec struct {
	Name      string           `yaml:"name"`
	Exe       string           `yaml:"exe"`
	ExePath   string           `yaml:"exepath"`
	Args      []string         `yaml:"args"`
	Cwd       string           `yaml:"cwd"`
	UID       *uint32          `yaml:"uid"`
	GID       *uint32          `yaml:"gid"`
	User      string           `yaml:"user"`
	LoginUID  *uint32          `yaml:"loginuid"`
	TTY       uint32           `yaml:"tty"`
	PID       int64            `yaml:"pid"`
	VPID      int64            `yaml:"vpid"`
	Container string           `yaml:"container"`
	Env       []string         `yaml:"env"`
	Caps      []string         `yaml:"caps"` // effective and permitted capabilities (CAP_SYS_ADMIN, ...)
	ExeFlags  []string         `yaml:"exe_flags"`
	FDs       map[int64]string `yaml:"fds"`
	Parent    *ProcSpec        `yaml:"parent"`
}

// ContainerSpec describes one container's metadata as its runtime reports it.
type ContainerSpec struct {
	ID          string            `yaml:"id"`   // 12 to 64 lowercase hex digits, as in ProcSpec.Container
	Name        string            `yaml:"name"` // container.name
	Image       string            `yaml:"image"`
	Repository  string            `yaml:"repository"` // default: split from image
	Tag         string            `yaml:"tag"`        // default: split from image
	Digest      string            `yaml:"digest"`
	Type        string            `yaml:"type"` // docker (default), containerd, cri-o, podman
	User        string            `yaml:"user"`
	Privileged  bool              `yaml:"privileged"`
	HostNetwork bool              `yaml:"host_network"`
	HostPID     bool              `yaml:"host_pid"`
	HostIPC     bool              `yaml:"host_ipc"`
	Mounts      []MountSpec       `yaml:"mounts"`
	Labels      map[string]string `yaml:"labels"`
	Env         []string          `yaml:"env"`
	Pod         *PodSpec          `yaml:"pod"`
	Line        int               `yaml:"-"`
}

// MountSpec is one mount of a container.
type MountSpec struct {
	Source      string `yaml:"source"`
	Destination string `yaml:"destination"`
	RW          bool   `yaml:"rw"`
	Mode        string `yaml:"mode"`
	Propagation string `yaml:"propagation"`
}

// PodSpec is the Kubernetes pod of a container (k8s.pod.*, k8s.ns.name).
type PodSpec struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	UID       string            `yaml:"uid"`
	Labels    map[string]string `yaml:"labels"`
}

type rawFile struct {
	Tests []yaml.Node `yaml:"tests"`
}

type rawCase struct {
	Name      string      `yaml:"name"`
	Rule      string      `yaml:"rule"`
	Match     *bool       `yaml:"match"`
	Events    []yaml.Node `yaml:"events"`
	Proc      *ProcSpec   `yaml:"proc"`
	Event     yaml.Node   `yaml:"event"`
	Exec      *ProcSpec   `yaml:"exec"`
	Capture   string      `yaml:"capture"`
	Expect    yaml.Node   `yaml:"expect"`
	ExpectNot []string    `yaml:"expect_not"`

	Containers []yaml.Node `yaml:"containers"`
}

type rawStep struct {
	Proc   *ProcSpec `yaml:"proc"`
	Event  yaml.Node `yaml:"event"`
	Exec   *ProcSpec `yaml:"exec"`
	Repeat int       `yaml:"repeat"` // the event this many times (the copies by the same process)
}

// maxRepeat bounds a step's `repeat`.
const maxRepeat = 10000

// LoadFile reads and parses a test file.
func LoadFile(path string) (*Suite, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse parses a test file held in memory; name is used in messages.
func Parse(name string, data []byte) (*Suite, error) {
	var f rawFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%s: %v", name, err)
	}
	s := &Suite{Path: name}
	for i := range f.Tests {
		n := &f.Tests[i]
		c, err := parseCase(name, n)
		if err != nil {
			return nil, err
		}
		if c.Name == "" {
			switch {
			case c.Rule != "" && *c.Match:
				c.Name = fmt.Sprintf("%s: fires (line %d)", c.Rule, c.Line)
			case c.Rule != "":
				c.Name = fmt.Sprintf("%s: does not fire (line %d)", c.Rule, c.Line)
			default:
				c.Name = fmt.Sprintf("case %d (line %d)", i+1, c.Line)
			}
		}
		s.Cases = append(s.Cases, c)
	}
	if len(s.Cases) == 0 {
		return nil, fmt.Errorf("%s: no test cases (a top-level `tests:` list is expected)", name)
	}
	return s, nil
}

func nodeErr(file string, n *yaml.Node, format string, args ...any) error {
	return fmt.Errorf("%s:%d:%d: %s", file, n.Line, n.Column, fmt.Sprintf(format, args...))
}

func decodeStrict(n *yaml.Node, v any) error {
	if err := checkKeys(n, reflect.TypeOf(v)); err != nil {
		return err
	}
	return n.Decode(v)
}

// checkKeys reports the first mapping key of n that is not a yaml field of t (recursing into
// struct and pointer-to-struct fields), so typos in test files are errors.
func checkKeys(n *yaml.Node, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || n.Kind != yaml.MappingNode || t == reflect.TypeOf(yaml.Node{}) {
		return nil
	}
	fieldsByName := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fieldsByName[name] = f.Type
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ft, ok := fieldsByName[k.Value]
		if !ok {
			var known []string
			for name := range fieldsByName {
				known = append(known, name)
			}
			sort.Strings(known)
			return fmt.Errorf("line %d: unknown key %q (known: %s)", k.Line, k.Value, strings.Join(known, ", "))
		}
		if err := checkKeys(n.Content[i+1], ft); err != nil {
			return err
		}
	}
	return nil
}

func parseCase(file string, n *yaml.Node) (*Case, error) {
	if n.Kind != yaml.MappingNode {
		return nil, nodeErr(file, n, "a test case must be a mapping")
	}
	var rc rawCase
	if err := decodeStrict(n, &rc); err != nil {
		return nil, nodeErr(file, n, "test case: %v", cleanYAMLErr(err))
	}
	c := &Case{Name: rc.Name, Rule: rc.Rule, Match: rc.Match, Capture: rc.Capture, ExpectNot: rc.ExpectNot, File: file, Line: n.Line}
	if c.Match != nil && c.Rule == "" {
		return nil, nodeErr(file, n, "case %q: `match` needs `rule`", c.Name)
	}
	seen := map[string]bool{}
	for i := range rc.Containers {
		cn := &rc.Containers[i]
		cs := &ContainerSpec{}
		if err := decodeStrict(cn, cs); err != nil {
			return nil, nodeErr(file, cn, "container: %v", cleanYAMLErr(err))
		}
		cs.Line = cn.Line
		if _, err := containerFullID(cs.ID); err != nil {
			return nil, nodeErr(file, cn, "container: %v", err)
		}
		if _, err := containerType(cs.Type); err != nil {
			return nil, nodeErr(file, cn, "container %s: %v", cs.ID, err)
		}
		if seen[cs.ID] {
			return nil, nodeErr(file, cn, "container %s described twice", cs.ID)
		}
		seen[cs.ID] = true
		c.Containers = append(c.Containers, cs)
	}
	if len(c.Containers) > 0 && c.Capture != "" {
		return nil, nodeErr(file, n, "case %q: `containers` describe the containers of `events`; a capture carries its own", c.Name)
	}
	inline := rc.Proc != nil || rc.Event.Kind != 0 || rc.Exec != nil
	if inline && len(rc.Events) > 0 {
		return nil, nodeErr(file, n, "case %q: give either `events` or a single `proc`/`event`/`exec`, not both", c.Name)
	}
	if c.Capture != "" && (len(rc.Events) > 0 || inline) {
		return nil, nodeErr(file, n, "case %q: give either events or `capture`, not both", c.Name)
	}
	if c.Capture == "" && len(rc.Events) == 0 && !inline {
		return nil, nodeErr(file, n, "case %q: no `events` and no `capture`", c.Name)
	}
	if inline {
		st, err := makeStep(file, n, rc.Proc, nodePtr(&rc.Event), rc.Exec)
		if err != nil {
			return nil, err
		}
		c.Events = append(c.Events, st)
	}
	for i := range rc.Events {
		sn := &rc.Events[i]
		st, repeat, err := parseStep(file, sn)
		if err != nil {
			return nil, err
		}
		c.Events = append(c.Events, st)
		for j := 1; j < repeat; j++ {
			cp := *st
			cp.Proc = nil // the same process again
			cp.Event = maps.Clone(st.Event)
			c.Events = append(c.Events, &cp)
		}
	}
	if c.Events != nil && c.Events[0].Proc == nil {
		return nil, nodeErr(file, n, "case %q: the first event needs a `proc`", c.Name)
	}
	if rc.Expect.Kind != 0 {
		switch rc.Expect.Kind {
		case yaml.SequenceNode:
			if len(rc.Expect.Content) == 0 {
				c.ExpectNone = true
			}
			for _, en := range rc.Expect.Content {
				e, err := parseExpectation(file, en)
				if err != nil {
					return nil, err
				}
				c.Expect = append(c.Expect, e)
			}
		case yaml.ScalarNode:
			if rc.Expect.Value != "none" && rc.Expect.Value != "" {
				return nil, nodeErr(file, &rc.Expect, "`expect` is a list of rules (or `none`/`[]`)")
			}
			c.ExpectNone = true
		default:
			return nil, nodeErr(file, &rc.Expect, "`expect` is a list of rules (or `none`/`[]`)")
		}
	}
	if c.Rule == "" && c.Expect == nil && !c.ExpectNone && len(c.ExpectNot) == 0 {
		return nil, nodeErr(file, n, "case %q expects nothing: give `rule`+`match`, `expect` or `expect_not`", c.Name)
	}
	if c.Rule != "" && c.Match == nil {
		t := true
		c.Match = &t
	}
	if c.ExpectNone && c.Match != nil && *c.Match {
		return nil, nodeErr(file, n, "case %q: `expect: []` contradicts `match: true`", c.Name)
	}
	return c, nil
}

func parseExpectation(file string, n *yaml.Node) (Expectation, error) {
	switch n.Kind {
	case yaml.ScalarNode:
		return Expectation{Rule: n.Value}, nil
	case yaml.MappingNode:
		var e struct {
			Rule           string         `yaml:"rule"`
			Output         map[string]any `yaml:"output"`
			OutputContains string         `yaml:"output_contains"`
		}
		if err := decodeStrict(n, &e); err != nil {
			return Expectation{}, nodeErr(file, n, "expectation: %v", cleanYAMLErr(err))
		}
		if e.Rule == "" {
			return Expectation{}, nodeErr(file, n, "expectation without `rule`")
		}
		x := Expectation{Rule: e.Rule, OutputContains: e.OutputContains}
		if len(e.Output) > 0 {
			x.Output = map[string]string{}
			for k, v := range e.Output {
				x.Output[k] = fmt.Sprint(v)
			}
		}
		return x, nil
	}
	return Expectation{}, nodeErr(file, n, "an expectation is a rule name or {rule, output}")
}

func parseStep(file string, n *yaml.Node) (*Step, int, error) {
	if n.Kind != yaml.MappingNode {
		return nil, 0, nodeErr(file, n, "an event is a mapping with `proc` and/or `event`")
	}
	var rs rawStep
	if err := decodeStrict(n, &rs); err != nil {
		return nil, 0, nodeErr(file, n, "event: %v", cleanYAMLErr(err))
	}
	if rs.Repeat < 0 || rs.Repeat > maxRepeat {
		return nil, 0, nodeErr(file, n, "repeat: %d is not between 0 and %d", rs.Repeat, maxRepeat)
	}
	if rs.Repeat > 1 && rs.Event.Kind == 0 && rs.Exec == nil {
		return nil, 0, nodeErr(file, n, "repeat: a step without an event has nothing to repeat")
	}
	st, err := makeStep(file, n, rs.Proc, nodePtr(&rs.Event), rs.Exec)
	return st, max(rs.Repeat, 1), err
}

// makeStep builds a step from its parts; `exec: SPEC` is `proc: SPEC` with `event: execve`.
func makeStep(file string, n *yaml.Node, proc *ProcSpec, ev *yaml.Node, exec *ProcSpec) (*Step, error) {
	st := &Step{Proc: proc, Line: n.Line}
	if exec != nil {
		if proc != nil || ev != nil {
			return nil, nodeErr(file, n, "`exec` replaces `proc` and `event`: give one or the other")
		}
		st.Proc = exec
		st.Event = map[string]any{"type": "execve"}
		return st, nil
	}
	if ev != nil {
		switch ev.Kind {
		case yaml.ScalarNode:
			st.Event = map[string]any{"type": ev.Value}
		case yaml.MappingNode:
			var m map[string]any
			if err := ev.Decode(&m); err != nil {
				return nil, nodeErr(file, ev, "event: %v", cleanYAMLErr(err))
			}
			if _, ok := m["type"].(string); !ok {
				return nil, nodeErr(file, ev, "event without a `type`")
			}
			st.Event = m
		default:
			return nil, nodeErr(file, ev, "`event` is a type name or a mapping")
		}
	}
	if st.Proc == nil && st.Event == nil {
		return nil, nodeErr(file, n, "event step with neither `proc` nor `event`")
	}
	return st, nil
}

func cleanYAMLErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "yaml: unmarshal errors:\n")
	return strings.TrimSpace(s)
}

func nodePtr(n *yaml.Node) *yaml.Node {
	if n.Kind == 0 {
		return nil
	}
	return n
}
