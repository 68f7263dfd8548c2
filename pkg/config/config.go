// Package config reads saker.yaml: the defaults embedded in the binary (saker.yaml in this
// directory, which documents every key), an optional file (-c FILE) and command-line
// overrides (-o key.path=value), with ${ENV} expansion. Unknown keys and bad values are
// rejected with the file, line and key path. Keys use Falco's falco.yaml names where Falco has
// the same setting.
//
// The package parses, validates and documents the configuration and nothing else: what is
// built from it (output channels: pkg/output; the ruleset, rule selection and extra output
// fields: pkg/agent) belongs to the packages that own those objects. It imports no output,
// rules or agent package (pkg/agent's import test asserts it).
package config

import (
	"bytes"
	_ "embed"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed saker.yaml
var defaultYAML []byte

// DefaultYAML returns the embedded default configuration, with its comments.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Config is the effective configuration.
type Config struct {
	RulesFiles                 []string       `yaml:"rules_files"`
	Rules                      []RuleSelector `yaml:"rules"`
	WatchConfigFiles           bool           `yaml:"watch_config_files"`
	Priority                   Priority       `yaml:"priority"`
	RuleMatching               RuleMatching   `yaml:"rule_matching"`
	BaseSyscalls               BaseSyscalls   `yaml:"base_syscalls"`
	JSONOutput                 bool           `yaml:"json_output"`
	JSONIncludeOutputProperty  bool           `yaml:"json_include_output_property"`
	JSONIncludeTagsProperty    bool           `yaml:"json_include_tags_property"`
	JSONIncludeMessageProperty bool           `yaml:"json_include_message_property"`
	TimeFormatISO8601          bool           `yaml:"time_format_iso_8601"`
	AppendOutput               []AppendOutput `yaml:"append_output"`
	OutputsQueue               OutputsQueue   `yaml:"outputs_queue"`
	OutputTimeout              int            `yaml:"output_timeout"`
	StdoutOutput               StdoutOutput   `yaml:"stdout_output"`
	SyslogOutput               SyslogOutput   `yaml:"syslog_output"`
	FileOutput                 FileOutput     `yaml:"file_output"`
	HTTPOutput                 HTTPOutput     `yaml:"http_output"`
	ProgramOutput              ProgramOutput  `yaml:"program_output"`
	Webserver                  Webserver      `yaml:"webserver"`
	LogLevel                   LogLevel       `yaml:"log_level"`
	K8sAudit                   K8sAudit       `yaml:"k8s_audit"`
	K8sMetadata                K8sMetadata    `yaml:"k8s_metadata"`
	Response                   Response       `yaml:"response"`
	Admission                  Admission      `yaml:"admission"`
	Enforce                    Enforce        `yaml:"enforce"`
	Deny                       Deny           `yaml:"deny"`
	Incidents                  Incidents      `yaml:"incidents"`
	Pipeline                   Pipeline       `yaml:"pipeline"`

	// Files lists the files the configuration was read from (for reload watching).
	Files []string `yaml:"-"`
	pos   map[string]Pos
}

// BaseSyscalls is base_syscalls, Falco's keys for what the live probe selects besides the
// syscalls the rules match: All selects every supported syscall; CustomSet replaces the
// built-in state set with these names (a "!name" entry removes name from the result);
// Repair adds the minimal set the state engine needs for the rules' and custom syscalls.
type BaseSyscalls struct {
	CustomSet SyscallSet `yaml:"custom_set"`
	Repair    bool       `yaml:"repair"`
	All       bool       `yaml:"all"`
}

// SyscallSet is a list of syscall names, each optionally prefixed with ! (written bare, YAML
// reads !name as a tag: it is taken as the name).
type SyscallSet []string

func (s *SyscallSet) decodeNode(d *decoder, path string, n *yaml.Node) {
	*s = nil
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return
	}
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for i, c := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		d.pos[p] = d.at(c)
		name := c.Value
		if c.Kind == yaml.ScalarNode && name == "" && strings.HasPrefix(c.Tag, "!") && !strings.HasPrefix(c.Tag, "!!") {
			name = c.Tag
		}
		if c.Kind == yaml.ScalarNode && c.Value != "" && strings.HasPrefix(c.Tag, "!") && !strings.HasPrefix(c.Tag, "!!") {
			d.errorf(c, p, "YAML reads %s here as a tag: quote it (\"%s\")", c.Tag, strings.TrimSuffix(c.Tag, ","))
			continue
		}
		if c.Kind != yaml.ScalarNode || strings.TrimPrefix(name, "!") == "" {
			d.errorf(c, p, "want a syscall name or !name")
			continue
		}
		*s = append(*s, name)
	}
}

// Pipeline is pipeline: how the syscall events are evaluated.
type Pipeline struct {
	// Workers is the number of rule-evaluation workers: 1 runs state and rules on the
	// source's goroutine; N >= 2 runs N workers (pkg/agent workers.go); 0 means one per CPU.
	// Read at start (a reload does not change it).
	Workers int `yaml:"workers"`
}

// OutputsQueue is outputs_queue.
type OutputsQueue struct {
	Capacity          int      `yaml:"capacity"`
	DropAlertInterval Duration `yaml:"drop_alert_interval"`
	FlushTimeout      Duration `yaml:"flush_timeout"`
}

// StdoutOutput is stdout_output.
type StdoutOutput struct {
	Enabled bool `yaml:"enabled"`
}

// SyslogOutput is syslog_output.
type SyslogOutput struct {
	Enabled  bool   `yaml:"enabled"`
	Address  string `yaml:"address"`
	Facility string `yaml:"facility"`
	Tag      string `yaml:"tag"`
}

// FileOutput is file_output.
type FileOutput struct {
	Enabled   bool   `yaml:"enabled"`
	KeepAlive bool   `yaml:"keep_alive"`
	Filename  string `yaml:"filename"`
}

// HTTPOutput is http_output.
type HTTPOutput struct {
	Enabled         bool              `yaml:"enabled"`
	URL             string            `yaml:"url"`
	UserAgent       string            `yaml:"user_agent"`
	Headers         map[string]string `yaml:"headers"`
	Insecure        bool              `yaml:"insecure"`
	CACert          string            `yaml:"ca_cert"`
	CABundle        string            `yaml:"ca_bundle"`
	CAPath          string            `yaml:"ca_path"`
	MTLS            bool              `yaml:"mtls"`
	ClientCert      string            `yaml:"client_cert"`
	ClientKey       string            `yaml:"client_key"`
	CompressUploads bool              `yaml:"compress_uploads"`
	KeepAlive       bool              `yaml:"keep_alive"`
	Echo            bool              `yaml:"echo"`
	MaxRetries      int               `yaml:"max_retries"`
	RetryBackoff    Duration          `yaml:"retry_backoff"`
	MaxRetryBackoff Duration          `yaml:"max_retry_backoff"`
}

// ProgramOutput is program_output.
type ProgramOutput struct {
	Enabled   bool   `yaml:"enabled"`
	KeepAlive bool   `yaml:"keep_alive"`
	Program   string `yaml:"program"`
}

// Webserver is webserver.
type Webserver struct {
	Enabled                  bool          `yaml:"enabled"`
	ListenAddress            string        `yaml:"listen_address"`
	ListenPort               int           `yaml:"listen_port"`
	K8sHealthzEndpoint       string        `yaml:"k8s_healthz_endpoint"`
	PrometheusMetricsEnabled bool          `yaml:"prometheus_metrics_enabled"`
	SSLEnabled               bool          `yaml:"ssl_enabled"`
	SSLCertificate           string        `yaml:"ssl_certificate"`
	Auth                     WebserverAuth `yaml:"auth"`
	ReadTimeout              Duration      `yaml:"read_timeout"`
	WriteTimeout             Duration      `yaml:"write_timeout"`
	IdleTimeout              Duration      `yaml:"idle_timeout"`
	StallTimeout             Duration      `yaml:"stall_timeout"`
}

// K8sAudit is the `k8s_audit:` section: the Kubernetes audit webhook source.
type K8sAudit struct {
	Enabled     bool            `yaml:"enabled"`
	ClusterName string          `yaml:"cluster_name"`
	Webhook     K8sAuditWebhook `yaml:"webhook"`
}

// K8sAuditWebhook is where the API server's audit webhook backend posts.
type K8sAuditWebhook struct {
	Listen       string      `yaml:"listen"`
	Path         string      `yaml:"path"`
	TLS          K8sAuditTLS `yaml:"tls"`
	Tokens       []string    `yaml:"tokens"`
	TokenFile    string      `yaml:"token_file"`
	MaxBodyBytes int         `yaml:"max_body_bytes"`
	QueueEvents  int         `yaml:"queue_events"`
	RetryAfter   Duration    `yaml:"retry_after"`
}

// K8sAuditTLS: HTTPS for the webhook, and client certificates signed by ClientCA.
type K8sAuditTLS struct {
	Cert     string `yaml:"cert"`
	Key      string `yaml:"key"`
	ClientCA string `yaml:"client_ca"`
}

// Response is the `response:` section: the response engine (pkg/response.Config).
type Response struct {
	PolicyFile       string   `yaml:"policy_file"`
	DryRun           bool     `yaml:"dry_run"`
	NeverKill        []string `yaml:"never_kill"`
	DockerSocket     string   `yaml:"docker_socket"`
	ContainerdSocket string   `yaml:"containerd_socket"`
	SnapshotDir      string   `yaml:"snapshot_dir"`
	NetworkIsolation bool     `yaml:"network_isolation"`
	Kubeconfig       string   `yaml:"kubeconfig"`
	RingSeconds      int      `yaml:"ring_seconds"`
	RingEvents       int      `yaml:"ring_events"`
	RingMiB          int      `yaml:"ring_mib"`
	RingWorkloads    int      `yaml:"ring_workloads"`
	Queue            int      `yaml:"queue"`
	Workers          int      `yaml:"workers"`
}

// WebserverAuth is webserver.auth: who may call the web server.
type WebserverAuth struct {
	TokenFile  string `yaml:"token_file"`
	ClientCA   string `yaml:"client_ca"`
	OpenHealth bool   `yaml:"open_health"`
}

// Pos is where a value came from: a file and line, or a -o override.
type Pos struct {
	Source    string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.Source
	}
	if p.Col == 0 {
		return fmt.Sprintf("%s:%d", p.Source, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.Source, p.Line, p.Col)
}

// Error is one configuration error: where, which key, what.
type Error struct {
	Pos  Pos
	Path string // key path, e.g. http_output.url or rules[2].enable.tag
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Pos.String() + ": " + e.Msg
	}
	return e.Pos.String() + ": " + e.Path + ": " + e.Msg
}

// Errors is every error found; Load returns it as its error.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Load("", nil)
	if err != nil {
		panic("config: embedded defaults: " + err.Error())
	}
	return c
}

// Load returns the defaults, overlaid with the file at path (none when "") and then with the
// -o overrides ("key.path=value"), validated. The error, if any, is an Errors.
func Load(path string, overrides []string) (*Config, error) {
	c := &Config{pos: map[string]Pos{}}
	d := &decoder{pos: c.pos}
	d.doc("<defaults>", defaultYAML, c)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, Errors{{Pos: Pos{Source: path}, Msg: err.Error()}}
		}
		c.Files = append(c.Files, path)
		d.doc(path, data, c)
	}
	for i, o := range overrides {
		d.override(fmt.Sprintf("-o #%d", i+1), o, c)
	}
	c.validate(d)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return c, nil
}

// Parse is Load for a configuration held in memory (name is used in error positions).
func Parse(name string, data []byte, overrides []string) (*Config, error) {
	c := &Config{pos: map[string]Pos{}}
	d := &decoder{pos: c.pos}
	d.doc("<defaults>", defaultYAML, c)
	d.doc(name, data, c)
	for i, o := range overrides {
		d.override(fmt.Sprintf("-o #%d", i+1), o, c)
	}
	c.validate(d)
	if len(d.errs) > 0 {
		return nil, d.errs
	}
	return c, nil
}

// PosOf returns where the value at a key path was last set (the defaults when never
// overridden).
func (c *Config) PosOf(path string) Pos { return c.pos[path] }

// YAML renders the effective configuration.
func (c *Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	enc.Close()
	return b.Bytes(), nil
}

// MinPriority is the configured minimum priority.
func (c *Config) MinPriority() Priority { return c.Priority }

// SlogLevel is log_level as a log/slog level: debug; info and notice; warning; error and
// more severe.
func (c *Config) SlogLevel() slog.Level {
	switch c.LogLevel {
	case "debug":
		return slog.LevelDebug
	case "info", "notice", "":
		return slog.LevelInfo
	case "warning":
		return slog.LevelWarn
	}
	return slog.LevelError
}
