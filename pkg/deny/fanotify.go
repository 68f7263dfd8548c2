// Package deny refuses file opens and executions with EPERM, from syscall rules that say
// `enforce: deny`, through fanotify permission events (FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM).
//
// A Guard holds one fanotify group (FAN_CLASS_CONTENT, no FID reporting: permission events
// need an event fd) with marks on the configured paths: a mount point is marked whole
// (FAN_MARK_MOUNT), any other directory for its direct entries (inode mark with
// FAN_EVENT_ON_CHILD), a file for itself (inode mark). Each permission event is read, its
// path taken from the event fd (/proc/self/fd/N), and decided: Saker itself (and its
// watchdog), pid 1, the container runtimes and the allowlist are always allowed; otherwise a
// Decider (RuleDecider: the deny rules evaluated on a synthesized openat exit event with the
// requesting process read from /proc) says allow or deny. The answer is written back
// (FAN_ALLOW, or FAN_DENY: the caller's open or execve fails with EPERM).
//
// Nothing may hang the host: every event has a deadline after which it is answered
// FAN_ALLOW (fail-open, counted and alerted); a full queue fails open at once; a watchdog
// process holding the group (RunWatchdog, the same binary re-executed) answers FAN_ALLOW for
// everything pending when the Guard's heartbeat stops for longer than the deadline (Saker
// stopped with SIGSTOP, or stuck); and when Saker exits, the kernel releases every waiter as
// the last fd of the group closes (the watchdog exits with its parent).
package deny

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Permission event masks.
const (
	MaskOpen = unix.FAN_OPEN_PERM
	MaskExec = unix.FAN_OPEN_EXEC_PERM
)

// metaLen is sizeof(struct fanotify_event_metadata).
const metaLen = 24

// Record is one fanotify event record as the kernel wrote it.
type Record struct {
	Mask uint64
	FD   int32 // the event's file, opened for the reader; FAN_NOFD (-1) when none
	PID  int32 // the requesting process (its tgid)
}

// ParseRecords decodes the event records read from a fanotify fd. It stops at the first
// malformed record with an error naming its offset (the records before it are returned).
func ParseRecords(b []byte, out []Record) ([]Record, error) {
	off := 0
	for off < len(b) {
		rest := b[off:]
		if len(rest) < metaLen {
			return out, fmt.Errorf("fanotify: record at offset %d: %d bytes, shorter than the %d-byte header", off, len(rest), metaLen)
		}
		evLen := int(binary.NativeEndian.Uint32(rest[0:]))
		vers := rest[4]
		mdLen := int(binary.NativeEndian.Uint16(rest[6:]))
		if vers != unix.FANOTIFY_METADATA_VERSION {
			return out, fmt.Errorf("fanotify: record at offset %d: metadata version %d, want %d", off, vers, unix.FANOTIFY_METADATA_VERSION)
		}
		if mdLen < metaLen || evLen < mdLen || evLen > len(rest) {
			return out, fmt.Errorf("fanotify: record at offset %d: bad lengths (event %d, metadata %d, %d bytes left)", off, evLen, mdLen, len(rest))
		}
		out = append(out, Record{
			Mask: binary.NativeEndian.Uint64(rest[8:]),
			FD:   int32(binary.NativeEndian.Uint32(rest[16:])),
			PID:  int32(binary.NativeEndian.Uint32(rest[20:])),
		})
		off += evLen
	}
	return out, nil
}

// respond writes the answer to a permission event.
func respond(fanFD int, evFD int32, allow bool) error {
	var b [8]byte
	binary.NativeEndian.PutUint32(b[0:], uint32(evFD))
	r := uint32(unix.FAN_DENY)
	if allow {
		r = unix.FAN_ALLOW
	}
	binary.NativeEndian.PutUint32(b[4:], r)
	_, err := unix.Write(fanFD, b[:])
	return err
}

// openGroup creates the fanotify group permission events need.
func openGroup() (int, error) {
	fd, err := unix.FanotifyInit(unix.FAN_CLASS_CONTENT|unix.FAN_CLOEXEC|unix.FAN_NONBLOCK, unix.O_RDONLY|unix.O_LARGEFILE|unix.O_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fanotify_init(FAN_CLASS_CONTENT): %w (needs CAP_SYS_ADMIN and CONFIG_FANOTIFY_ACCESS_PERMISSIONS)", err)
	}
	return fd, nil
}

// MarkKind is how a path is marked.
type MarkKind string

const (
	MarkMount MarkKind = "mount" // the whole mount (the path is a mount point)
	MarkDir   MarkKind = "dir"   // a directory's direct entries (and itself)
	MarkFile  MarkKind = "file"  // one file
)

// KindOf tells how Guard marks path: a mount point as a mount, another directory for its
// entries, anything else as a file.
func KindOf(path string) (MarkKind, error) {
	var st, pst unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "", fmt.Errorf("deny: path %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return MarkFile, nil
	}
	if path == "/" {
		return MarkMount, nil
	}
	if err := unix.Stat(filepath.Dir(filepath.Clean(path)), &pst); err != nil {
		return "", fmt.Errorf("deny: path %s: %w", path, err)
	}
	if pst.Dev != st.Dev || pst.Ino == st.Ino {
		return MarkMount, nil
	}
	return MarkDir, nil
}

// mark adds a blocking mark for open and exec permission events on path.
func mark(fanFD int, path string, kind MarkKind) error {
	mask := uint64(unix.FAN_OPEN_PERM | unix.FAN_OPEN_EXEC_PERM)
	flags := uint(unix.FAN_MARK_ADD)
	switch kind {
	case MarkMount:
		flags |= unix.FAN_MARK_MOUNT
	case MarkDir:
		mask |= unix.FAN_EVENT_ON_CHILD
	}
	if err := unix.FanotifyMark(fanFD, flags, mask, unix.AT_FDCWD, path); err != nil {
		if errors.Is(err, unix.EINVAL) && kind == MarkMount {
			return fmt.Errorf("deny: mark %s (%s): %w (FAN_OPEN_EXEC_PERM needs Linux 5.0)", path, kind, err)
		}
		return fmt.Errorf("deny: mark %s (%s): %w", path, kind, err)
	}
	return nil
}

// fdPath is the path of an event's file.
func fdPath(fd int32) string {
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return ""
	}
	return p
}
