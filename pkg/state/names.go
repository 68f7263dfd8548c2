package state

import (
	"net/netip"
	"path"
	"strconv"

	"github.com/saker-sec/saker/pkg/event"
)

// concatPaths is libsinsp concatenate_paths: name itself when absolute, else dir (which ends
// with "/") followed by name, with ".", ".." and repeated slashes resolved.
func concatPaths(dir, name string) string {
	if name == "" {
		return ""
	}
	if name[0] == '/' {
		return cleanPath(name)
	}
	if dir == "" {
		return path.Clean(name)
	}
	if dir[0] != '/' {
		return dir + name // "<UNKNOWN>": not a path, no cleaning
	}
	return cleanPath(withSlash(dir) + name)
}

// cleanPath is path.Clean for an absolute path, which most paths of opens already are in
// clean form: those are checked in one pass and returned as they are.
func cleanPath(p string) string {
	if IsCleanAbs(p) {
		return p
	}
	return path.Clean(p)
}

// IsCleanAbs reports whether p is an absolute path path.Clean leaves as it is: no empty,
// "." or ".." element, no trailing slash (but "/").
func IsCleanAbs(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	n := len(p)
	for i := 0; i < n; i++ {
		if p[i] != '/' {
			continue
		}
		// p[i] starts an element: it must be neither empty nor "." nor ".."
		if i+1 == n {
			return n == 1
		}
		switch p[i+1] {
		case '/':
			return false
		case '.':
			if i+2 == n || p[i+2] == '/' {
				return false
			}
			if p[i+2] == '.' && (i+3 == n || p[i+3] == '/') {
				return false
			}
		}
	}
	return true
}

// appendAddr appends an address as inet_ntop renders it (zero value: the family's any
// address).
func appendAddr(b []byte, a netip.Addr, v6 bool) []byte {
	if !a.IsValid() {
		if v6 {
			return append(b, "::"...)
		}
		return append(b, "0.0.0.0"...)
	}
	return a.AppendTo(b) // the text of a.String()
}

// addrPort renders "ip:port" (libsinsp's form, without brackets for IPv6).
func addrPort(a netip.Addr, port uint16) string {
	var buf [64]byte
	b := appendAddr(buf[:0], a, a.Is6())
	b = append(b, ':')
	return string(strconv.AppendUint(b, uint64(port), 10))
}

// tupleName is libsinsp sockinfo_to_str for a connected socket: "sip:sport->dip:dport".
func tupleName(f *FD) string {
	v6 := f.Type == event.FDIPv6Sock || f.Type == event.FDIPv6Server
	var buf [128]byte
	b := appendAddr(buf[:0], f.SrcIP, v6)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(f.SrcPort), 10)
	b = append(b, "->"...)
	b = appendAddr(b, f.DstIP, v6)
	b = append(b, ':')
	return string(strconv.AppendUint(b, uint64(f.DstPort), 10))
}

// unixName is libsinsp's name of a connected unix socket: "<src hex>-><dst hex> <path>".
func unixName(src, dst uint64, p string) string {
	var buf [128]byte
	b := strconv.AppendUint(buf[:0], src, 16)
	b = append(b, "->"...)
	b = strconv.AppendUint(b, dst, 16)
	b = append(b, ' ')
	return string(append(b, p...))
}
