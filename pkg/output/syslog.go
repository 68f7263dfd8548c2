package output

import (
	"context"
	"errors"
	"fmt"
	"github.com/saker-sec/saker/pkg/config"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/saker-sec/saker/pkg/alert"
)

// SyslogConfig configures a syslog channel.
type SyslogConfig struct {
	// Address is "" for the local syslog socket (/dev/log, /var/run/syslog or /var/run/log),
	// or "unix:///path", "unixgram:///path", "udp://host:port", "tcp://host:port".
	Address string
	// Facility is the syslog facility number (1 = user, Falco's; 16..23 = local0..local7).
	Facility int
	// Tag is the program name in each message ("saker" when empty).
	Tag string
	// Hostname is put in remote messages (os.Hostname when empty).
	Hostname string
	// Timeout bounds each write and dial (2s when 0).
	Timeout time.Duration
	Format  Format
}

// Facilities maps syslog facility names to numbers (config.SyslogFacilities).
var Facilities = config.SyslogFacilities

// SyslogChannel sends each alert as one syslog message (RFC 3164 format, as glibc's syslog()
// and Go's log/syslog write them), with the alert's priority as the severity: Falco's
// priorities are numbered like syslog severities (Emergency 0 … Debug 7). Stream connections
// (unix, tcp) end each message with a newline. The connection is re-established after an
// error.
type SyslogChannel struct {
	cfg     SyslogConfig
	network string
	addr    string
	local   bool
	conn    net.Conn
	buf     []byte
	pid     string
}

// ParseSyslogAddress splits a syslog address into network and address ("" → local); see
// config.ParseSyslogAddress.
func ParseSyslogAddress(s string) (network, addr string, err error) {
	return config.ParseSyslogAddress(s)
}

// NewSyslog returns a syslog channel. It does not connect until the first alert, so a syslog
// daemon started later is fine.
func NewSyslog(cfg SyslogConfig) (*SyslogChannel, error) {
	network, addr, err := ParseSyslogAddress(cfg.Address)
	if err != nil {
		return nil, err
	}
	if cfg.Facility < 0 || cfg.Facility > 23 {
		return nil, fmt.Errorf("syslog facility %d out of range 0..23", cfg.Facility)
	}
	if cfg.Tag == "" {
		cfg.Tag = "saker"
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	return &SyslogChannel{cfg: cfg, network: network, addr: addr, local: network == "", pid: strconv.Itoa(os.Getpid())}, nil
}

// Name implements Channel.
func (c *SyslogChannel) Name() string { return "syslog" }

func (c *SyslogChannel) dial(ctx context.Context) (net.Conn, error) {
	d := net.Dialer{Timeout: c.cfg.Timeout}
	if !c.local {
		return d.DialContext(ctx, c.network, c.addr)
	}
	var errs []error
	for _, path := range []string{"/dev/log", "/var/run/syslog", "/var/run/log"} {
		for _, nw := range []string{"unixgram", "unix"} {
			conn, err := d.DialContext(ctx, nw, path)
			if err == nil {
				return conn, nil
			}
			errs = append(errs, err)
		}
	}
	return nil, fmt.Errorf("no local syslog socket: %w", errors.Join(errs...))
}

// message formats one syslog message for an alert.
func (c *SyslogChannel) message(a *alert.Alert) []byte {
	sev := int(a.Priority)
	if sev < 0 || sev > 7 {
		sev = 7
	}
	b := c.buf[:0]
	b = append(b, '<')
	b = strconv.AppendInt(b, int64(c.cfg.Facility*8+sev), 10)
	b = append(b, '>')
	now := time.Now()
	if c.local {
		b = now.AppendFormat(b, time.Stamp)
	} else {
		b = now.AppendFormat(b, time.RFC3339)
		b = append(b, ' ')
		b = append(b, c.cfg.Hostname...)
	}
	b = append(b, ' ')
	b = append(b, c.cfg.Tag...)
	b = append(b, '[')
	b = append(b, c.pid...)
	b = append(b, "]: "...)
	b = append(b, c.cfg.Format.Line(a)...)
	if c.network == "tcp" || c.network == "unix" || (c.local && c.conn != nil && c.conn.LocalAddr().Network() == "unix") {
		b = append(b, '\n')
	}
	c.buf = b
	return b
}

// Write implements Channel; after a failed write it reconnects and tries once more.
func (c *SyslogChannel) Write(ctx context.Context, a *alert.Alert) error {
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		if c.conn == nil {
			if c.conn, err = c.dial(ctx); err != nil {
				c.conn = nil
				return err
			}
		}
		msg := c.message(a)
		c.conn.SetWriteDeadline(time.Now().Add(c.cfg.Timeout))
		if _, err = c.conn.Write(msg); err == nil {
			return nil
		}
		c.conn.Close()
		c.conn = nil
		if ctx.Err() != nil {
			return err
		}
	}
	return err
}

// Close implements Channel.
func (c *SyslogChannel) Close(context.Context) error {
	if c.conn == nil {
		return nil
	}
	err := c.conn.Close()
	c.conn = nil
	return err
}
