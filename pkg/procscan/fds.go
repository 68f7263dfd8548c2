package procscan

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/event"
	"golang.org/x/sys/unix"
)

// L4 protocols as the scap fd list stores them.
const (
	L4TCP = 1
	L4UDP = 2
	L4Raw = 5
)

// netTables maps a socket inode to its description, for one network namespace.
type netTables struct {
	socks map[uint64]event.FDInfo
}

func loadNet(dir string) *netTables {
	nt := &netTables{socks: map[uint64]event.FDInfo{}}
	for _, t := range []struct {
		file  string
		proto uint8
		v6    bool
	}{{"tcp", L4TCP, false}, {"tcp6", L4TCP, true}, {"udp", L4UDP, false}, {"udp6", L4UDP, true},
		{"raw", L4Raw, false}, {"raw6", L4Raw, true}} {
		if b, err := os.ReadFile(filepath.Join(dir, t.file)); err == nil {
			ParseInetTable(b, t.proto, t.v6, nt.socks)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "unix")); err == nil {
		ParseUnixTable(b, nt.socks)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "netlink")); err == nil {
		ParseNetlinkTable(b, nt.socks)
	}
	return nt
}

// ParseInetTable adds the sockets of /proc/net/{tcp,udp,raw}[6] to out, keyed by inode.
// A socket without a remote end (listening TCP, unconnected UDP) is a server socket: SrcIP and
// SrcPort hold the bound address. Malformed lines are skipped.
func ParseInetTable(b []byte, proto uint8, v6 bool, out map[uint64]event.FDInfo) {
	tableRows(b, 10, 9, func(f []string, ino uint64) {
		lip, lport, ok1 := parseHexAddr(f[1], v6)
		rip, rport, ok2 := parseHexAddr(f[2], v6)
		if !ok1 || !ok2 {
			return
		}
		fd := event.FDInfo{Ino: ino, L4Proto: proto}
		server := rport == 0 && rip.IsUnspecified()
		switch {
		case server && v6:
			fd.Type = event.FDIPv6Server
		case server:
			fd.Type = event.FDIPv4Server
		case v6:
			fd.Type = event.FDIPv6Sock
		default:
			fd.Type = event.FDIPv4Sock
		}
		fd.SrcIP, fd.SrcPort = lip, lport
		if !server {
			fd.DstIP, fd.DstPort = rip, rport
			fd.Name = fmt.Sprintf("%s->%s", netip.AddrPortFrom(lip, lport), netip.AddrPortFrom(rip, rport))
		} else {
			fd.Name = netip.AddrPortFrom(lip, lport).String()
		}
		out[ino] = fd
	})
}

// parseHexAddr parses "0100007F:1F90" (IPv4: one host-endian u32) or the IPv6 form (four
// host-endian u32 words).
func parseHexAddr(s string, v6 bool) (netip.Addr, uint16, bool) {
	a, p, ok := strings.Cut(s, ":")
	if !ok {
		return netip.Addr{}, 0, false
	}
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.Addr{}, 0, false
	}
	raw, err := hex.DecodeString(a)
	if err != nil || (!v6 && len(raw) != 4) || (v6 && len(raw) != 16) {
		return netip.Addr{}, 0, false
	}
	// each 4-byte word was printed as a host-endian (little-endian) integer
	var out [16]byte
	for w := 0; w < len(raw)/4; w++ {
		v := binary.BigEndian.Uint32(raw[w*4:])
		binary.LittleEndian.PutUint32(out[w*4:], v)
	}
	if !v6 {
		return netip.AddrFrom4([4]byte(out[:4])), uint16(port), true
	}
	addr := netip.AddrFrom16(out)
	return addr, uint16(port), true
}

// ParseUnixTable adds the sockets of /proc/net/unix to out (UnixSrc is the kernel address
// the table shows, often hashed; Name the bound path).
func ParseUnixTable(b []byte, out map[uint64]event.FDInfo) {
	tableRows(b, 7, 6, func(f []string, ino uint64) {
		src, _ := strconv.ParseUint(strings.TrimSuffix(f[0], ":"), 16, 64)
		fd := event.FDInfo{Ino: ino, Type: event.FDUnixSock, UnixSrc: src}
		if len(f) > 7 {
			fd.Name = strings.Join(f[7:], " ")
		}
		out[ino] = fd
	})
}

// ParseNetlinkTable adds the sockets of /proc/net/netlink to out.
func ParseNetlinkTable(b []byte, out map[uint64]event.FDInfo) {
	tableRows(b, 10, 9, func(_ []string, ino uint64) {
		out[ino] = event.FDInfo{Ino: ino, Type: event.FDNetlink}
	})
}

// tableRows calls fn for each data row of a /proc/net table (the header line skipped) that
// has at least minFields fields and a non-zero socket inode in column inoCol.
func tableRows(b []byte, minFields, inoCol int, fn func(f []string, ino uint64)) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 1<<20)
	first := true
	for sc.Scan() {
		if first {
			first = false
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < minFields {
			continue
		}
		ino, err := strconv.ParseUint(f[inoCol], 10, 64)
		if err != nil || ino == 0 {
			continue
		}
		fn(f, ino)
	}
}

// netFor returns the socket tables of the process's network namespace (read once per netns).
func netFor(pdir string, cache map[string]*netTables) *netTables {
	ns, err := os.Readlink(filepath.Join(pdir, "ns", "net"))
	if err != nil {
		ns = pdir // cannot tell: read this process's own tables
	}
	if nt, ok := cache[ns]; ok {
		return nt
	}
	nt := loadNet(filepath.Join(pdir, "net"))
	cache[ns] = nt
	return nt
}

func scanFDs(pdir string, pid int, nets map[string]*netTables) []event.FDInfo {
	dir := filepath.Join(pdir, "fd")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []event.FDInfo
	var nt *netTables
	for _, e := range ents {
		fdnum, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		fd := ClassifyLink(link)
		fd.TID, fd.FD = int64(pid), fdnum
		var st unix.Stat_t
		if unix.Stat(filepath.Join(dir, e.Name()), &st) == nil {
			fd.Ino = st.Ino
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				if fd.Type == event.FDFileV2 {
					fd.Type = event.FDDirectory
				}
			case unix.S_IFIFO:
				fd.Type = event.FDFifo
			}
			if fd.Type == event.FDFileV2 {
				fd.Dev = uint32(unix.Minor(st.Dev)&0xff | unix.Major(st.Dev)<<8 | (unix.Minor(st.Dev)&^0xff)<<12)
			}
		}
		if b, err := os.ReadFile(filepath.Join(pdir, "fdinfo", e.Name())); err == nil {
			if fl, ok := fdinfoFlags(b); ok && (fd.Type == event.FDFileV2 || fd.Type == event.FDDirectory) {
				fd.OpenFlags = OpenFlagsToScap(fl)
			}
		}
		if strings.HasPrefix(link, "socket:[") {
			if nt == nil {
				nt = netFor(pdir, nets)
			}
			if s, ok := nt.socks[fd.Ino]; ok {
				s.TID, s.FD = fd.TID, fd.FD
				fd = s
			}
		}
		out = append(out, fd)
	}
	return out
}

// ClassifyLink gives the fd type (and name) of a /proc/PID/fd link target. Sockets are
// FDUnsupported until resolved through the socket tables.
func ClassifyLink(link string) event.FDInfo {
	fd := event.FDInfo{Name: link}
	switch {
	case strings.HasPrefix(link, "socket:["):
		fd.Type = event.FDUnsupported
	case strings.HasPrefix(link, "pipe:["):
		fd.Type = event.FDFifo
	case strings.HasPrefix(link, "anon_inode:"):
		kind := strings.Trim(strings.TrimPrefix(link, "anon_inode:"), "[]")
		switch {
		case kind == "eventfd":
			fd.Type = event.FDEvent
		case kind == "eventpoll":
			fd.Type = event.FDEventpoll
		case kind == "inotify":
			fd.Type = event.FDInotify
		case kind == "signalfd":
			fd.Type = event.FDSignalfd
		case kind == "timerfd":
			fd.Type = event.FDTimerfd
		case strings.HasPrefix(kind, "bpf"):
			fd.Type = event.FDBPF
		case kind == "userfaultfd":
			fd.Type = event.FDUserfaultfd
		case kind == "io_uring":
			fd.Type = event.FDIoUring
		case kind == "pidfd":
			fd.Type = event.FDPidfd
		default:
			fd.Type = event.FDUnsupported
		}
	case strings.HasPrefix(link, "/memfd:"):
		fd.Type = event.FDMemfd
		fd.Name = strings.TrimSuffix(link, " (deleted)")
	case strings.HasPrefix(link, "/"):
		fd.Type = event.FDFileV2
	default:
		fd.Type = event.FDUnsupported
	}
	return fd
}

// fdinfoFlags returns the octal "flags:" of /proc/PID/fdinfo/N.
func fdinfoFlags(b []byte) (uint64, bool) {
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "flags:"); ok {
			f, err := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// OpenFlagsToScap converts Linux open(2) flags to the scap file_flags encoding
// (shared/scap/flag-tables.tsv): O_RDONLY=1, O_WRONLY=2, O_RDWR=3, O_CREAT=4, ...
func OpenFlagsToScap(f uint64) uint32 {
	var r uint32
	switch f & unix.O_ACCMODE {
	case unix.O_RDONLY:
		r |= 0x1
	case unix.O_WRONLY:
		r |= 0x2
	case unix.O_RDWR:
		r |= 0x3
	}
	conv := []struct {
		linux uint64
		scap  uint32
	}{
		{unix.O_CREAT, 0x4}, {unix.O_APPEND, 0x8}, {unix.O_DSYNC, 0x10}, {unix.O_EXCL, 0x20},
		{unix.O_NONBLOCK, 0x40}, {unix.O_TRUNC, 0x100}, {unix.O_DIRECT, 0x200},
		{unix.O_LARGEFILE, 0x800}, {unix.O_CLOEXEC, 0x1000},
	}
	for _, c := range conv {
		if f&c.linux != 0 {
			r |= c.scap
		}
	}
	if f&(unix.O_SYNC&^unix.O_DSYNC) != 0 {
		r |= 0x80
	}
	const oTmpfile = 0o20000000
	if f&oTmpfile != 0 {
		r |= 0x2000
	} else if f&unix.O_DIRECTORY != 0 {
		r |= 0x400
	}
	return r
}
