package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDenySection(t *testing.T) {
	c, err := Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Deny.Enabled || c.Deny.Deadline.D() != 200*time.Millisecond || !c.Deny.Watchdog {
		t.Errorf("defaults: %+v", c.Deny)
	}
	f := filepath.Join(t.TempDir(), "saker.yaml")
	os.WriteFile(f, []byte("deny:\n  enabled: true\n  deadline: 50ms\n  paths: [/etc/shadow, /srv]\n  allow: [backup-agent]\n"), 0o644)
	if c, err = Load(f, nil); err != nil || c.Deny.Deadline.D() != 50*time.Millisecond || len(c.Deny.Paths) != 2 || c.Deny.Allow[0] != "backup-agent" {
		t.Fatalf("%+v %v", c.Deny, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"deny:\n  enabled: true\n", "deny.paths"},
		{"deny:\n  enabled: true\n  paths: [etc/shadow]\n", "saker.yaml:3"},
		{"deny:\n  enabled: true\n  paths: [/x]\n  allow: ['[']\n", "deny.allow[0]"},
		{"deny:\n  enabled: true\n  paths: [/x]\n  deadline: 0s\n", "deny.deadline"},
	} {
		os.WriteFile(f, []byte(tc.yaml), 0o644)
		if _, err := Load(f, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error naming %s", tc.yaml, err, tc.want)
		}
	}
}
