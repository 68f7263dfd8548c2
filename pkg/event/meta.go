package event

import "net/netip"

// The metadata a capture carries beside its events (and the eBPF path builds from /proc at
// start): machine, interfaces, users, groups, threads and their file descriptors. The scap
// reader fills these; the state engine consumes them.

// MachineInfo is the capture's machine block.
type MachineInfo struct {
	NumCPUs     uint32
	MemoryBytes uint64
	MaxPID      uint64
	Hostname    string
	BootTS      uint64
	Flags       uint64
}

// Interface is one network interface of the interface list.
type Interface struct {
	Name      string
	Addr      netip.Addr
	Netmask   netip.Addr
	Broadcast netip.Addr
	LinkSpeed uint64
}

// User is one entry of the user list.
type User struct {
	UID, GID uint32
	Name     string
	Home     string
	Shell    string
}

// Group is one entry of the group list.
type Group struct {
	GID  uint32
	Name string
}

// ThreadInfo is one thread of the process list (every version; absent fields are zero).
type ThreadInfo struct {
	TID, PID, PTID, SID, VPGID, PGID int64
	Comm, Exe, ExePath               string
	Args                             []string
	Cwd                              string
	FDLimit                          int64
	Flags                            uint32
	UID, GID                         uint32
	VMSizeKB, VMRSSKB                uint32
	VMSwapKB                         uint32
	PFMajor, PFMinor                 uint64
	Env                              []string
	VTID, VPID                       int64
	Cgroups                          []string // "subsys=path"
	Root                             string
	PidNSInitStartTS                 uint64
	TTY                              uint32
	LoginUID                         uint32
	ExeWritable                      bool
	CapInheritable                   uint64
	CapPermitted                     uint64
	CapEffective                     uint64
	ExeUpperLayer                    bool
	ExeLowerLayer                    bool
	ExeFromMemfd                     bool
	ExeIno                           uint64
	ExeInoCtime                      uint64
	ExeInoMtime                      uint64
}

// FD types as the scap fd list stores them (scap_fd_type).
const (
	FDUnknown     = 0
	FDFile        = 1
	FDDirectory   = 2
	FDIPv4Sock    = 3
	FDIPv6Sock    = 4
	FDIPv4Server  = 5
	FDIPv6Server  = 6
	FDFifo        = 7
	FDUnixSock    = 8
	FDEvent       = 9
	FDUnsupported = 10
	FDSignalfd    = 11
	FDEventpoll   = 12
	FDInotify     = 13
	FDTimerfd     = 14
	FDNetlink     = 15
	FDFileV2      = 16
	FDBPF         = 17
	FDUserfaultfd = 18
	FDIoUring     = 19
	FDMemfd       = 20
	FDPidfd       = 21
)

// FDInfo is one file descriptor of the fd list.
type FDInfo struct {
	TID       int64
	FD        int64
	Ino       uint64
	Type      uint8
	OpenFlags uint32 // file V2
	Dev       uint32 // file V2
	Name      string
	// sockets
	L4Proto          uint8
	SrcIP, DstIP     netip.Addr // server sockets: SrcIP is the bound address
	SrcPort, DstPort uint16
	UnixSrc, UnixDst uint64
}
