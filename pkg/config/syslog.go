package config

import (
	"fmt"
	"net"
	"strings"
)

// SyslogFacilities maps the syslog facility names syslog_output.facility accepts to their
// numbers.
var SyslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// ParseSyslogAddress splits a syslog_output.address into network and address ("" → the
// local socket).
func ParseSyslogAddress(s string) (network, addr string, err error) {
	if s == "" {
		return "", "", nil
	}
	i := strings.Index(s, "://")
	if i < 0 {
		return "", "", fmt.Errorf("syslog address %q: want unix:///path, unixgram:///path, udp://host:port or tcp://host:port", s)
	}
	network, addr = s[:i], s[i+3:]
	switch network {
	case "unix", "unixgram":
		if addr == "" {
			return "", "", fmt.Errorf("syslog address %q: empty socket path", s)
		}
	case "udp", "tcp":
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", fmt.Errorf("syslog address %q: %v", s, err)
		}
	default:
		return "", "", fmt.Errorf("syslog address %q: unknown network %q", s, network)
	}
	return network, addr, nil
}
