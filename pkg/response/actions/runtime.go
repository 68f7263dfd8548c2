package actions

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// RuntimeProcesses is the one list of processes Saker never touches: the container runtimes
// and the kubelet. The kill actions refuse them, pkg/deny always allows their opens and
// pkg/enforce never kills them (the probe gets the list as map data, see RuntimeEntries).
//
// The rule for an entry: a name ending in "*" is a prefix (what comes before the star), any
// other name is exact. A name is a comm or an executable's base name; a comm is at most 15
// bytes (the kernel cuts it), so against a comm an entry is compared cut to 15 bytes too.
var RuntimeProcesses = []string{
	"dockerd", "docker-proxy",
	"containerd", "containerd-shim*",
	"runc", "runc:[*", // runc:[0:PARENT], runc:[1:CHILD], runc:[2:INIT]
	"crun", "conmon", "crio",
	"kubelet",
}

// CommLen is the most bytes of a process name the kernel keeps (TASK_COMM_LEN - 1).
const CommLen = 15

// RuntimeEntry is one entry of RuntimeProcesses as the probe takes it.
type RuntimeEntry struct {
	Name   string // at most CommLen bytes
	Prefix bool
}

// RuntimeEntries are RuntimeProcesses cut for matching comms.
func RuntimeEntries() []RuntimeEntry {
	out := make([]RuntimeEntry, 0, len(RuntimeProcesses))
	for _, g := range RuntimeProcesses {
		e := RuntimeEntry{Name: g}
		if strings.HasSuffix(g, "*") {
			e = RuntimeEntry{Name: strings.TrimSuffix(g, "*"), Prefix: true}
		}
		if len(e.Name) > CommLen {
			e.Name = e.Name[:CommLen]
		}
		out = append(out, e)
	}
	return out
}

func runtimeMatch(name string, cut bool) string {
	if name == "" {
		return ""
	}
	for _, g := range RuntimeProcesses {
		pre := strings.HasSuffix(g, "*")
		v := strings.TrimSuffix(g, "*")
		if cut && len(v) > CommLen {
			v = v[:CommLen]
		}
		if name == v || pre && strings.HasPrefix(name, v) {
			return g
		}
	}
	return ""
}

// RuntimeComm returns the entry of RuntimeProcesses comm matches ("" for none).
func RuntimeComm(comm string) string { return runtimeMatch(comm, true) }

// RuntimeExe returns the entry of RuntimeProcesses the executable path's base name matches
// ("" for none).
func RuntimeExe(exe string) string {
	if exe == "" {
		return ""
	}
	return runtimeMatch(filepath.Base(exe), false)
}

// ProcInfo is what the safety checks read about a live process (/proc/PID/stat and exe).
type ProcInfo struct {
	PID     int
	PPID    int
	Comm    string
	Exe     string // readlink of /proc/PID/exe, " (deleted)" cut ("" for kernel threads)
	Kthread bool
}

const pfKthread = 0x00200000 // PF_KTHREAD, /proc/PID/stat field 9

// ReadProc reads pid's ProcInfo under root (a /proc mount).
func ReadProc(root string, pid int) (ProcInfo, error) {
	pi := ProcInfo{PID: pid}
	dir := filepath.Join(root, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return pi, err
	}
	s := string(b)
	l, r := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if l < 0 || r < l {
		return pi, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	pi.Comm = s[l+1 : r]
	f := strings.Fields(s[r+1:])
	if len(f) < 7 {
		return pi, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	pi.PPID, _ = strconv.Atoi(f[1])
	flags, _ := strconv.ParseUint(f[6], 10, 64)
	pi.Kthread = flags&pfKthread != 0
	pi.Exe, _ = os.Readlink(filepath.Join(dir, "exe"))
	pi.Exe = strings.TrimSuffix(pi.Exe, " (deleted)")
	return pi, nil
}

// ScanProc calls fn with every process under root (a /proc mount) that can be read.
func ScanProc(root string, fn func(ProcInfo)) {
	ents, _ := os.ReadDir(root)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pi, err := ReadProc(root, pid); err == nil {
			fn(pi)
		}
	}
}
