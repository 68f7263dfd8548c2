package procscan

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/event"
)

// Users reads /etc/passwd.
func Users() ([]event.User, error) {
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		return nil, fmt.Errorf("procscan: %w", err)
	}
	return ParsePasswd(bytes.NewReader(b), "/etc/passwd")
}

// Groups reads /etc/group.
func Groups() ([]event.Group, error) {
	b, err := os.ReadFile("/etc/group")
	if err != nil {
		return nil, fmt.Errorf("procscan: %w", err)
	}
	return ParseGroup(bytes.NewReader(b), "/etc/group")
}

// ParsePasswd parses passwd(5) lines "name:pw:uid:gid:gecos:home:shell". Comments and blank
// lines are skipped; a malformed line is an error naming file and line.
func ParsePasswd(r io.Reader, file string) ([]event.User, error) {
	var out []event.User
	err := eachLine(r, func(n int, l string) error {
		f := strings.Split(l, ":")
		if len(f) < 7 {
			return fmt.Errorf("%s:%d: %d fields, want 7", file, n, len(f))
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("%s:%d: bad uid %q or gid %q", file, n, f[2], f[3])
		}
		out = append(out, event.User{UID: uint32(uid), GID: uint32(gid), Name: f[0], Home: f[5], Shell: f[6]})
		return nil
	})
	return out, err
}

// ParseGroup parses group(5) lines "name:pw:gid:members".
func ParseGroup(r io.Reader, file string) ([]event.Group, error) {
	var out []event.Group
	err := eachLine(r, func(n int, l string) error {
		f := strings.Split(l, ":")
		if len(f) < 3 {
			return fmt.Errorf("%s:%d: %d fields, want 4", file, n, len(f))
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			return fmt.Errorf("%s:%d: bad gid %q", file, n, f[2])
		}
		out = append(out, event.Group{GID: uint32(gid), Name: f[0]})
		return nil
	})
	return out, err
}

func eachLine(r io.Reader, f func(n int, l string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		// NIS compat entries ("+", "-") carry no ids
		if l == "" || l[0] == '#' || l[0] == '+' || l[0] == '-' {
			continue
		}
		if err := f(n, l); err != nil {
			return err
		}
	}
	return sc.Err()
}
