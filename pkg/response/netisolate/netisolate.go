// Package netisolate cuts quarantined workloads off the network: cgroup sock_addr programs
// (connect4, connect6, sendmsg4, sendmsg6) attached to the cgroup v2 root refuse, with EPERM,
// connect() and unconnected sendmsg() from a quarantined network namespace (a container's,
// by its netns cookie) or a quarantined process (by tgid); loopback destinations
// (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104) stay allowed, so a workload keeps talking to itself.
//
// Why the v2 root: on hybrid hosts (v1 controllers, containers placed only in v1 paths) every
// task sits in the v2 root, so a program there sees every socket, and the netns cookie tells
// workloads apart. On pure v2 hosts the same attachment covers every descendant cgroup too
// (multi-attach: other programs on the root, and those of nested cgroups, keep running).
// Established connections are not cut (only new connect/sendmsg are refused), and a container
// sharing the host's network namespace cannot be quarantined by namespace (refused:
// it would cut the host off); quarantine its processes instead.
//
// The links are not pinned: closing the Isolator, or Saker's exit, lifts every quarantine.
package netisolate

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// soNetnsCookie is SO_NETNS_COOKIE (Linux 5.14).
const soNetnsCookie = 71

// Isolator holds the attached programs and their quarantine maps.
type Isolator struct {
	objs   isolateObjects
	links  []link.Link
	Cgroup string // the cgroup v2 directory the programs are attached to
}

// CgroupV2Root finds the cgroup v2 mount (/sys/fs/cgroup on pure v2, /sys/fs/cgroup/unified
// on hybrid hosts) from /proc/self/mountinfo.
func CgroupV2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts ... - fstype source superopts
		l := sc.Text()
		i := strings.Index(l, " - ")
		if i < 0 {
			continue
		}
		post := strings.Fields(l[i+3:])
		pre := strings.Fields(l[:i])
		if len(post) > 0 && post[0] == "cgroup2" && len(pre) >= 5 && pre[3] == "/" {
			return pre[4], nil
		}
	}
	return "", errors.New("netisolate: no cgroup v2 mount (mount -t cgroup2 none /sys/fs/cgroup/unified)")
}

// Load loads the programs and attaches them to cgroup (the v2 root when "").
func Load(cgroup string) (*Isolator, error) {
	if cgroup == "" {
		var err error
		if cgroup, err = CgroupV2Root(); err != nil {
			return nil, err
		}
	}
	iso := &Isolator{Cgroup: cgroup}
	if err := loadIsolateObjects(&iso.objs, nil); err != nil {
		return nil, fmt.Errorf("netisolate: loading the BPF programs: %w", err)
	}
	for _, a := range []struct {
		p *ebpf.Program
		t ebpf.AttachType
	}{
		{iso.objs.SakerConnect4, ebpf.AttachCGroupInet4Connect},
		{iso.objs.SakerConnect6, ebpf.AttachCGroupInet6Connect},
		{iso.objs.SakerSendmsg4, ebpf.AttachCGroupUDP4Sendmsg},
		{iso.objs.SakerSendmsg6, ebpf.AttachCGroupUDP6Sendmsg},
	} {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroup, Attach: a.t, Program: a.p})
		if err != nil {
			iso.Close()
			return nil, fmt.Errorf("netisolate: attaching %v to %s: %w", a.t, cgroup, err)
		}
		iso.links = append(iso.links, l)
	}
	return iso, nil
}

// Close detaches the programs (lifting every quarantine) and frees the maps.
func (i *Isolator) Close() error {
	var errs []error
	for _, l := range i.links {
		errs = append(errs, l.Close())
	}
	i.links = nil
	errs = append(errs, i.objs.Close())
	return errors.Join(errs...)
}

// QuarantineNetns refuses the network to every socket of that network namespace.
func (i *Isolator) QuarantineNetns(cookie uint64) error {
	return i.objs.QuarantineNetns.Update(cookie, uint32(1), ebpf.UpdateAny)
}

// ReleaseNetns lifts a namespace's quarantine.
func (i *Isolator) ReleaseNetns(cookie uint64) error {
	err := i.objs.QuarantineNetns.Delete(cookie)
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

// QuarantinePID refuses the network to one process (its threads; not its future children).
func (i *Isolator) QuarantinePID(pid int) error {
	return i.objs.QuarantinePid.Update(uint32(pid), uint32(1), ebpf.UpdateAny)
}

// ReleasePID lifts a process's quarantine.
func (i *Isolator) ReleasePID(pid int) error {
	err := i.objs.QuarantinePid.Delete(uint32(pid))
	if errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return err
}

// Denied is the number of connect/sendmsg calls refused so far.
func (i *Isolator) Denied() (uint64, error) {
	var per []uint64
	if err := i.objs.Denied.Lookup(uint32(0), &per); err != nil {
		return 0, err
	}
	var n uint64
	for _, v := range per {
		n += v
	}
	return n, nil
}

// NetnsCookie returns the cookie of the network namespace at path (e.g. /proc/PID/ns/net or
// /run/netns/NAME): a socket is made in it (on a locked OS thread that enters the namespace
// and comes back) and asked SO_NETNS_COOKIE.
func NetnsCookie(path string) (uint64, error) {
	var cookie uint64
	err := InNetns(path, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		cookie, err = unix.GetsockoptUint64(fd, unix.SOL_SOCKET, soNetnsCookie)
		return err
	})
	return cookie, err
}

// SameNetns reports whether two namespace paths are the same namespace.
func SameNetns(a, b string) (bool, error) {
	var sa, sb unix.Stat_t
	if err := unix.Stat(a, &sa); err != nil {
		return false, err
	}
	if err := unix.Stat(b, &sb); err != nil {
		return false, err
	}
	return sa.Dev == sb.Dev && sa.Ino == sb.Ino, nil
}

// InNetns runs fn on an OS thread that is in the network namespace at path. Sockets fn makes
// stay in that namespace afterwards.
func InNetns(path string, fn func() error) error {
	target, err := os.Open(path)
	if err != nil {
		return err
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked when the way back fails: the thread then dies with the goroutine
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(int(self.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- errors.Join(ferr, fmt.Errorf("setns back: %w", err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
