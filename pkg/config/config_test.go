package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c := Default()
	if c.Priority != Priority(7) || c.RuleMatching != "all" || c.JSONOutput || !c.JSONIncludeOutputProperty ||
		!c.JSONIncludeTagsProperty || !c.StdoutOutput.Enabled || c.FileOutput.Enabled || c.HTTPOutput.Enabled ||
		c.Webserver.Enabled || c.Webserver.ListenAddress != "127.0.0.1" || c.Webserver.ListenPort != 8765 ||
		c.OutputsQueue.Capacity != 1024 || c.OutputsQueue.FlushTimeout.D() != 5*time.Second || c.OutputTimeout != 2000 ||
		c.HTTPOutput.RetryBackoff.D() != 250*time.Millisecond || len(c.RulesFiles) != 3 {
		t.Fatalf("defaults %+v", c)
	}
	// the printed configuration reads back to the same configuration
	b, err := c.YAML()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse("shown.yaml", b, nil)
	if err != nil {
		t.Fatalf("shown configuration does not parse: %v\n%s", err, b)
	}
	b2, _ := c2.YAML()
	if string(b) != string(b2) {
		t.Fatalf("round trip differs:\n%s\n---\n%s", b, b2)
	}
}

func TestFileOverridesAndEnv(t *testing.T) {
	t.Setenv("SAKER_TEST_URL", "http://127.0.0.1:2801/")
	t.Setenv("SAKER_TEST_TOKEN", "s3cret")
	os.Unsetenv("SAKER_TEST_UNSET")
	path := filepath.Join(t.TempDir(), "saker.yaml")
	os.WriteFile(path, []byte(`
json_output: true
priority: warning
rule_matching: all
rules_files: [/a.yaml, /b.d]
http_output:
  enabled: true
  url: ${SAKER_TEST_URL}
  headers:
    Authorization: "Bearer ${SAKER_TEST_TOKEN}"
    X-Empty: "${SAKER_TEST_UNSET}"
    X-Literal: "$${NOT_EXPANDED}"
rules:
  - disable:
      rule: "Read *"
  - enable:
      tag: network
append_output:
  - match: {source: syscall, tag: network}
    extra_output: "on CPU %evt.cpu"
    extra_fields:
      - proc.pid
      - home: "${SAKER_TEST_TOKEN} %proc.name"
`), 0o600)
	c, err := Load(path, []string{"rules_files[]=/c.yaml", "rules_files[0]=/a2.yaml", "http_output.max_retries=7",
		"http_output.headers.X-More=1", "webserver.enabled=true", "outputs_queue.drop_alert_interval=1s",
		"append_output[0].match.rule=Some rule"})
	if err != nil {
		t.Fatal(err)
	}
	h := c.HTTPOutput
	if !h.Enabled || h.URL != "http://127.0.0.1:2801/" || h.MaxRetries != 7 || !h.KeepAlive || h.UserAgent != "saker" {
		t.Errorf("http_output %+v", h)
	}
	wantH := map[string]string{"Authorization": "Bearer s3cret", "X-Empty": "", "X-Literal": "${NOT_EXPANDED}", "X-More": "1"}
	if !reflect.DeepEqual(h.Headers, wantH) {
		t.Errorf("headers %v", h.Headers)
	}
	if !reflect.DeepEqual(c.RulesFiles, []string{"/a2.yaml", "/b.d", "/c.yaml"}) {
		t.Errorf("rules_files %v", c.RulesFiles)
	}
	if c.Priority != Priority(4) || c.RuleMatching != "all" || !c.JSONOutput || !c.Webserver.Enabled ||
		c.OutputsQueue.DropAlertInterval.D() != time.Second || c.OutputsQueue.Capacity != 1024 {
		t.Errorf("config %+v", c)
	}
	wantRules := []RuleSelector{{Rule: "Read *"}, {Enable: true, Tag: "network"}}
	if !reflect.DeepEqual(c.Rules, wantRules) {
		t.Errorf("rules %+v", c.Rules)
	}
	ao := c.AppendOutput
	if len(ao) != 1 || ao[0].Match != (AppendMatch{Source: "syscall", Tag: "network", Rule: "Some rule"}) ||
		ao[0].ExtraOutput != "on CPU %evt.cpu" ||
		!reflect.DeepEqual(ao[0].ExtraFields, []ExtraField{{Name: "proc.pid", Template: "%proc.pid", IsField: true}, {Name: "home", Template: "s3cret %proc.name"}}) {
		t.Errorf("append_output %+v", ao)
	}
	if p := c.PosOf("http_output.url"); p.Source != path || p.Line != 8 || p.Col != 8 {
		t.Errorf("position of http_output.url: %v", p)
	}
	if p := c.PosOf("http_output.max_retries"); !strings.HasPrefix(p.Source, "-o #3") {
		t.Errorf("position of an override: %v", p)
	}
}

// Bad configurations: each error names the source, the line and the key path.
func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		doc       string
		overrides []string
		want      []string
	}{
		{"json_output: maybe\n", nil, []string{"x.yaml:1:14: json_output: want true or false"}},
		{"http_output:\n  enabled: true\n  urll: x\n", nil, []string{"x.yaml:3:3: http_output.urll: unknown key", "http_output.url: empty"}},
		{"webserver:\n  listen_port: 99999\n", nil, []string{"x.yaml:2:16: webserver.listen_port: want a port"}},
		{"webserver:\n  listen_port: [1]\n", nil, []string{"x.yaml:2:16: webserver.listen_port: want an integer, got a list"}},
		{"priority: loud\n", nil, []string{"x.yaml:1:11: priority: want one of"}},
		{"rule_matching: some\n", nil, []string{"x.yaml:1:16: rule_matching: want first or all"}},
		{"pipeline:\n  workers: -1\n", nil, []string{"x.yaml:2:12: pipeline.workers: must not be negative"}},
		{"pipeline:\n  workers: many\n", nil, []string{"x.yaml:2:12: pipeline.workers: want an integer"}},
		{"outputs_queue:\n  flush_timeout: 5\n", nil, []string{"x.yaml:2:18: outputs_queue.flush_timeout: want a duration"}},
		{"plugins: []\n", nil, []string{"x.yaml:1:1: plugins: unknown key (a Falco key"}},
		{"rules:\n  - enable:\n      tag: a\n  - remove:\n      rule: b\n", nil, []string{"x.yaml:4:5: rules[1].remove: unknown key"}},
		{"append_output:\n  - match: {tags: x}\n", nil, []string{"x.yaml:2:13: append_output[0].match.tags: unknown key"}},
		{"append_output:\n  - extra_fields: [[a]]\n", nil, []string{"x.yaml:2:20: append_output[0].extra_fields[0]: want a field name"}},
		{"stdout_output: true\n", nil, []string{"x.yaml:1:16: stdout_output: want a mapping"}},
		{"syslog_output:\n  address: udp://nohost\n  facility: nope\n", nil, []string{"x.yaml:2:12: syslog_output.address", "x.yaml:3:13: syslog_output.facility: unknown facility"}},
		{"file_output: {enabled: true, filename: ''}\n", nil, []string{"file_output.filename: empty"}},
		{"http_output: {enabled: true, url: 'http://x', mtls: true}\n", nil, []string{"http_output.mtls: needs client_cert"}},
		{"a: [\n", nil, []string{"x.yaml:1: did not find expected node content"}},
		{"json_output: ${UNTERMINATED\n", nil, []string{"x.yaml:1:14: json_output: unterminated ${"}},
		{"x: 1\nx: 2\n", nil, []string{"unknown key"}},
		{"", []string{"nokey"}, []string{"-o #1 (nokey): want key.path=value"}},
		{"", []string{"http_output.nope=1"}, []string{"-o #1 (http_output.nope=1): http_output.nope: unknown key"}},
		{"", []string{"json_output=[1"}, []string{"json_output: bad value"}},
		{"", []string{"rules_files[9]=/x"}, []string{"rules_files: index 9 out of range"}},
		{"", []string{"json_output[]=true"}, []string{"json_output: not a list"}},
		{"", []string{"webserver.listen_port=http"}, []string{"-o #1 (webserver.listen_port=http): webserver.listen_port: want an integer"}},
	} {
		_, err := Parse("x.yaml", []byte(tc.doc), tc.overrides)
		if err == nil {
			t.Errorf("%q %v: accepted", tc.doc, tc.overrides)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q %v: error\n%v\nlacks %q", tc.doc, tc.overrides, err, w)
			}
		}
	}
	if _, err := Load("/nonexistent/saker.yaml", nil); err == nil || !strings.Contains(err.Error(), "/nonexistent/saker.yaml") {
		t.Errorf("missing file: %v", err)
	}
}

func TestExpandEnv(t *testing.T) {
	t.Setenv("A_B", "x")
	for in, want := range map[string]string{"${A_B}": "x", "a${A_B}b${A_B}": "axbx", "$${A_B}": "${A_B}", "$A_B": "$A_B", "${SAKER_SURELY_UNSET}-": "-"} {
		got, err := ExpandEnv(in)
		if err != nil || got != want {
			t.Errorf("ExpandEnv(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"${", "${}", "a${b"} {
		if _, err := ExpandEnv(bad); err == nil {
			t.Errorf("ExpandEnv(%q) accepted", bad)
		}
	}
}

func TestRulesPaths(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "rules.d")
	os.Mkdir(d, 0o755)
	for _, n := range []string{"b.yaml", "a.yml", "c.txt"} {
		os.WriteFile(filepath.Join(d, n), nil, 0o600)
	}
	f := filepath.Join(dir, "main.yaml")
	os.WriteFile(f, nil, 0o600)
	c := Default()
	c.RulesFiles = []string{f, d, filepath.Join(dir, "missing.yaml")}
	paths, missing, err := c.RulesPaths()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(paths, []string{f, filepath.Join(d, "a.yml"), filepath.Join(d, "b.yaml")}) || len(missing) != 1 {
		t.Errorf("paths %v missing %v", paths, missing)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte("json_output: true\nhttp_output: {enabled: true, url: 'http://x'}\n"), "rules_files[]=/x")
	f.Add([]byte("rules:\n  - disable: {rule: '*'}\nappend_output:\n  - match: {tag: a}\n    extra_fields: [a, {b: c}]\n"), "a.b[0]=1")
	f.Add([]byte("webserver: &w {enabled: true}\nstdout_output: *w\n"), "http_output.headers.X=${HOME}")
	f.Add([]byte("base_syscalls:\n  custom_set:\n    - !close\n    - execve\n  repair: true\n"), "rules[].disable.rule=Read *")
	f.Add([]byte("base_syscalls: {custom_set: [!x, y], all: true}\n"), "base_syscalls.custom_set[]=!close")
	f.Fuzz(func(t *testing.T, doc []byte, o string) {
		c, err := Parse("fuzz.yaml", doc, []string{o})
		if err != nil {
			if _, ok := err.(Errors); !ok {
				t.Fatalf("error of type %T", err)
			}
			return
		}
		if _, err := c.YAML(); err != nil {
			t.Fatal(err)
		}
	})
}

// -o takes Falco's documented forms verbatim: rules[].disable.rule=NAME, rules[].enable.tag=T,
// and bare strings YAML would not read as strings (`*` is an alias in YAML, `a #b` a comment).
func TestOverrideFalcoForms(t *testing.T) {
	c, err := Parse("x.yaml", []byte("rules:\n  - enable: {rule: First}\n"), []string{
		"rules[].disable.rule=*",
		"rules[].enable.tag=network",
		"rules[].disable.rule=Read *",
		"rules[].enable.rule=Read sensitive file #2",
		"rules[0].disable.tag=a b",
		"file_output.filename=*out",
		"syslog_output.tag=&x",
		"rules_files=[/a.yaml, /b.yaml]",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []RuleSelector{{Tag: "a b"}, {Rule: "*"}, {Enable: true, Tag: "network"}, {Rule: "Read *"}, {Enable: true, Rule: "Read sensitive file #2"}}
	if !reflect.DeepEqual(c.Rules, want) {
		t.Errorf("rules %+v\nwant %+v", c.Rules, want)
	}
	if c.FileOutput.Filename != "*out" || c.SyslogOutput.Tag != "&x" {
		t.Errorf("strings %q %q", c.FileOutput.Filename, c.SyslogOutput.Tag)
	}
	if !reflect.DeepEqual(c.RulesFiles, []string{"/a.yaml", "/b.yaml"}) {
		t.Errorf("rules_files %v", c.RulesFiles)
	}
	if p := c.PosOf("rules[1]"); !strings.HasPrefix(p.Source, "-o #1") {
		t.Errorf("position of rules[1]: %v", p)
	}
	for o, msg := range map[string]string{
		"rules[].remove.rule=x":     "rules[1].remove: unknown key",
		"rules[].disable.name=x":    "rules[1].disable.name: unknown key (want rule or tag)",
		"rules[].disable.rule=":     "empty value",
		"rules[].disable.rule[0]=x": "takes no list index",
		"rules[].disable=x":         "want a mapping with one key, rule or tag",
	} {
		_, err := Parse("x.yaml", []byte("rules:\n  - enable: {rule: First}\n"), []string{o})
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "-o #1 ("+o+")") {
			t.Errorf("%s: error %v, want %q", o, err, msg)
		}
	}
}
