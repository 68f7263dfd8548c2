package output

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
	"github.com/saker-sec/saker/pkg/config"
)

// FormatOf is the alert format a configuration asks for (json_output and the json_include_*
// keys, time_format_iso_8601).
func FormatOf(c *config.Config) Format {
	return Format{
		JSON:           c.JSONOutput,
		IncludeOutput:  c.JSONIncludeOutputProperty,
		IncludeTags:    c.JSONIncludeTagsProperty,
		IncludeMessage: c.JSONIncludeMessageProperty,
		ISO8601:        c.TimeFormatISO8601,
	}
}

// BuildOptions are what FromConfig needs besides the configuration.
type BuildOptions struct {
	Hostname  string               // for internal alerts and remote syslog
	Observe   func(a *alert.Alert) // e.g. (*metrics.Metrics).ObserveAlert
	Logger    *slog.Logger         // slog.Default when nil
	Stdout    io.Writer            // os.Stdout when nil
	UserAgent string               // overrides http_output.user_agent when set
	Block     bool                 // Send waits for queue room instead of dropping (replays)
	// Previous is the running manager when the outputs are rebuilt for a reload: unchanged
	// channels are kept (see FromConfig), the others continue its counters.
	Previous *Manager
}

// FromConfig builds the manager with every channel the configuration enables; the caller
// Starts it (and Closes it with outputs_queue.flush_timeout at shutdown).
//
// With o.Previous (a reload), a stdout, file, syslog or program channel whose settings (and
// the output format, queue capacity and output_timeout it uses) did not change is kept as it
// runs: the file stays open, the program keeps running, the syslog connection stays up. An
// HTTP channel is always built anew, so that a reload reads its certificate files again. On
// error, the channels built so far are discarded (the previous manager is untouched).
func FromConfig(c *config.Config, o BuildOptions) (_ *Manager, err error) {
	m := NewManager(Options{
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
	f := FormatOf(c)
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
			m.AddKeyed(NewWriter("stdout", w, f), 0, k)
		}
	}
	if c.FileOutput.Enabled {
		k := key("file", c.FileOutput)
		if !m.Keep("file", k, 0) {
			ch, err := NewFile(c.FileOutput.Filename, c.FileOutput.KeepAlive, f)
			if err != nil {
				return nil, fmt.Errorf("file_output: %w", err)
			}
			m.AddKeyed(ch, 0, k)
		}
	}
	if c.SyslogOutput.Enabled {
		k := key("syslog", struct {
			config.SyslogOutput
			Timeout  time.Duration
			Hostname string
		}{c.SyslogOutput, timeout, o.Hostname})
		if !m.Keep("syslog", k, 0) {
			ch, err := NewSyslog(SyslogConfig{
				Address: c.SyslogOutput.Address, Facility: Facilities[c.SyslogOutput.Facility],
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
		hc := HTTPConfig{
			URL: h.URL, UserAgent: ua, Headers: h.Headers, Insecure: h.Insecure,
			CACert: h.CACert, CABundle: h.CABundle, CAPath: h.CAPath,
			MTLS: h.MTLS, ClientCert: h.ClientCert, ClientKey: h.ClientKey,
			CompressUploads: h.CompressUploads, KeepAlive: h.KeepAlive, Timeout: timeout,
			MaxRetries: h.MaxRetries, Backoff: h.RetryBackoff.D(), MaxBackoff: h.MaxRetryBackoff.D(), Format: f,
		}
		if h.Echo {
			hc.Echo = os.Stdout
		}
		ch, err := NewHTTP(hc)
		if err != nil {
			return nil, fmt.Errorf("http_output: %w", err)
		}
		m.Add(ch, 0)
	}
	if p := c.ProgramOutput; p.Enabled {
		k := key("program", p)
		if !m.Keep("program", k, 0) {
			ch, err := NewProgram(ProgramConfig{Command: p.Program, KeepAlive: p.KeepAlive, Format: f})
			if err != nil {
				return nil, fmt.Errorf("program_output: %w", err)
			}
			m.AddKeyed(ch, 0, k)
		}
	}
	return m, nil
}
