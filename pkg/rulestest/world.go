package rulestest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/saker-sec/saker/pkg/container"
	"github.com/saker-sec/saker/pkg/detect"
	"github.com/saker-sec/saker/pkg/event"
)

// world turns a case's steps into events for one detector.
type world struct {
	d       *detect.Detector
	ts      uint64
	nextPID int64
	procs   map[int64]*proc
	last    *proc
	users   map[uint32]bool
	ev      event.Event
}

// proc is a process the world created.
type proc struct {
	pid    int64
	ppid   int64
	spec   *ProcSpec
	nextFD int64
	fds    map[int64]string // fd -> kind ("file", "tcp", "udp", "unix", ...)
}

const startTS = 1_700_000_000_000_000_000

// defaultUsers are in the user table of every case.
var defaultUsers = []event.User{
	{UID: 0, GID: 0, Name: "root", Home: "/root", Shell: "/bin/bash"},
	{UID: 33, GID: 33, Name: "www-data", Home: "/var/www", Shell: "/usr/sbin/nologin"},
	{UID: 1000, GID: 1000, Name: "user", Home: "/home/user", Shell: "/bin/bash"},
}

func newWorld(d *detect.Detector) *world {
	w := &world{d: d, ts: startTS, nextPID: 1000, procs: map[int64]*proc{}, users: map[uint32]bool{}}
	mi := event.MachineInfo{NumCPUs: 2, Hostname: "saker-test", BootTS: startTS - 3600_000_000_000}
	d.Metadata(&mi, []event.Interface{{Name: "lo", Addr: netip.MustParseAddr("127.0.0.1"), Netmask: netip.MustParseAddr("255.0.0.0")}},
		defaultUsers, []event.Group{{GID: 0, Name: "root"}, {GID: 1000, Name: "user"}}, nil, nil)
	for _, u := range defaultUsers {
		w.users[u.UID] = true
	}
	// pid 1 of the host
	init := &ProcSpec{Name: "systemd", Exe: "/sbin/init", ExePath: "/usr/lib/systemd/systemd", PID: 1}
	w.addMeta(init, 0)
	return w
}

// emit encodes one record, decodes it with the production decoder and feeds the detector.
func (w *world) emit(name string, tid int64, params map[string]any) error {
	return w.emitExt(name, tid, params, nil)
}

// emitExt is emit with Saker's extension params (event.ExtFlags, event.ExtRealPath) appended
// after the table's, as the live probe writes them.
func (w *world) emitExt(name string, tid int64, params map[string]any, ext [][]byte) error {
	w.ts += 1000
	rec, err := encodeRecord(name, 'X', w.ts, tid, params, ext...)
	if err != nil {
		return err
	}
	if err := event.Decode(rec, &w.ev, true); err != nil {
		return fmt.Errorf("%s: decoding the encoded record: %v", name, err)
	}
	w.d.Event(&w.ev)
	return nil
}

func specName(s *ProcSpec) string {
	if s.Name != "" {
		return s.Name
	}
	if s.Exe != "" {
		return baseName(s.Exe)
	}
	return "proc"
}

func baseName(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}

func specExe(s *ProcSpec) string {
	if s.Exe != "" {
		return s.Exe
	}
	return specName(s)
}

func specExePath(s *ProcSpec) string {
	if s.ExePath != "" {
		return s.ExePath
	}
	if strings.HasPrefix(s.Exe, "/") {
		return s.Exe
	}
	return "/usr/bin/" + specName(s)
}

func specCwd(s *ProcSpec) string {
	if s.Cwd != "" {
		return s.Cwd
	}
	return "/"
}

func u32or(p *uint32, d uint32) uint32 {
	if p != nil {
		return *p
	}
	return d
}

func (w *world) specUID(s *ProcSpec) uint32 { return u32or(s.UID, 0) }

// cgroups returns the cgroup list for a container id ("" or "host": the host).
func cgroups(s *ProcSpec) ([]string, error) {
	c := s.Container
	if c == "" || c == "host" {
		return []string{"cpu=/user.slice", "0::/user.slice/session-1.scope"}, nil
	}
	if c == "true" {
		c = "c0ffee123456"
	}
	full, err := containerFullID(c)
	if err != nil {
		return nil, err
	}
	return []string{"0::/system.slice/docker-" + full + ".scope"}, nil
}

// containerFullID is the 64-digit id of a container given by 12 to 64 hex digits (padded
// with zeros, the way the cgroup paths of the case's processes name it).
func containerFullID(c string) (string, error) {
	for _, r := range c {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return "", fmt.Errorf("container id %q is not lowercase hex", c)
		}
	}
	if len(c) < 12 || len(c) > 64 {
		return "", fmt.Errorf("container id %q: give 12 to 64 hex digits", c)
	}
	full := c
	for len(full) < 64 {
		full += "0"
	}
	return full, nil
}

// containerType maps a ContainerSpec type name to the runtime type.
func containerType(name string) (container.Type, error) {
	switch name {
	case "", "docker":
		return container.TypeDocker, nil
	case "containerd":
		return container.TypeContainerd, nil
	case "cri-o", "crio":
		return container.TypeCRIO, nil
	case "podman":
		return container.TypePodman, nil
	}
	return 0, fmt.Errorf("unknown container type %q (docker, containerd, cri-o, podman)", name)
}

// containerInfo is the metadata a runtime would report for cs.
func containerInfo(cs *ContainerSpec) *container.Info {
	full, _ := containerFullID(cs.ID) // checked when the case was parsed
	typ, _ := containerType(cs.Type)
	in := &container.Info{ID: full, Type: typ, Name: cs.Name, Image: cs.Image, ImageDigest: cs.Digest,
		User: cs.User, Privileged: cs.Privileged, HostNetwork: cs.HostNetwork, HostPID: cs.HostPID,
		HostIPC: cs.HostIPC, Env: cs.Env, Labels: map[string]string{}}
	repo, tag, digest := container.SplitImage(cs.Image)
	in.ImageRepository, in.ImageTag = repo, tag
	if in.ImageDigest == "" {
		in.ImageDigest = digest
	}
	if cs.Repository != "" {
		in.ImageRepository = cs.Repository
	}
	if cs.Tag != "" {
		in.ImageTag = cs.Tag
	}
	if in.Image == "" && in.ImageRepository != "" {
		in.Image = in.ImageRepository
		if in.ImageTag != "" {
			in.Image += ":" + in.ImageTag
		}
	}
	for k, v := range cs.Labels {
		in.Labels[k] = v
	}
	for _, m := range cs.Mounts {
		mode := m.Mode
		if mode == "" && !m.RW {
			mode = "ro"
		}
		in.Mounts = append(in.Mounts, container.Mount{Source: m.Source, Dest: m.Destination, Mode: mode, RW: m.RW, Propagation: m.Propagation})
	}
	if p := cs.Pod; p != nil {
		// CRI runtimes label a pod's containers with the pod's identity (libsinsp reads k8s.*
		// from these labels) and report the sandbox's labels as the pod's
		in.Labels[container.LabelPodName] = p.Name
		in.Labels[container.LabelPodNamespace] = p.Namespace
		if p.UID != "" {
			in.Labels[container.LabelPodUID] = p.UID
		}
		in.PodLabels = p.Labels
	}
	return in
}

func capMask(names []string) (uint64, error) {
	var m uint64
	for _, n := range names {
		if n == "all" || n == "ALL" {
			return 1<<uint(len(event.CapNames)) - 1, nil
		}
		found := false
		for i, c := range event.CapNames {
			if strings.EqualFold(c, n) || strings.EqualFold("CAP_"+n, c) {
				m |= 1 << uint(i)
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown capability %q", n)
		}
	}
	return m, nil
}

func exeFlags(names []string) (uint32, error) {
	var f uint32
	for _, n := range names {
		switch n {
		case "writable":
			f |= 0x1
		case "upper_layer":
			f |= 0x2
		case "memfd":
			f |= 0x4
		case "lower_layer":
			f |= 0x8
		default:
			return 0, fmt.Errorf("unknown exe flag %q (writable, upper_layer, lower_layer, memfd)", n)
		}
	}
	return f, nil
}

func (w *world) addUser(s *ProcSpec) {
	uid := w.specUID(s)
	if w.users[uid] {
		return
	}
	name := s.User
	if name == "" {
		name = "user" + strconv.FormatUint(uint64(uid), 10)
	}
	w.users[uid] = true
	w.d.Metadata(nil, nil, []event.User{{UID: uid, GID: u32or(s.GID, uid), Name: name, Home: "/home/" + name, Shell: "/bin/sh"}}, nil, nil, nil)
}

// parentOf creates (or finds) the parent of a spec and returns its pid.
func (w *world) parentOf(s *ProcSpec) (int64, error) {
	if s.Parent == nil {
		return 1, nil
	}
	if s.Parent.PID != 0 {
		if _, ok := w.procs[s.Parent.PID]; ok {
			return s.Parent.PID, nil
		}
	}
	p, err := w.ensureMeta(s.Parent)
	if err != nil {
		return 0, err
	}
	return p.pid, nil
}

// ensureMeta returns the process of a spec, adding it (and its parents) as thread metadata
// when it does not exist yet.
func (w *world) ensureMeta(s *ProcSpec) (*proc, error) {
	if s.PID != 0 {
		if p, ok := w.procs[s.PID]; ok {
			return p, nil
		}
	}
	ppid, err := w.parentOf(s)
	if err != nil {
		return nil, err
	}
	return w.addMeta(s, ppid)
}

func (w *world) allocPID(s *ProcSpec) int64 {
	if s.PID != 0 {
		return s.PID
	}
	w.nextPID += 7
	return w.nextPID
}

func (w *world) addMeta(s *ProcSpec, ppid int64) (*proc, error) {
	pid := w.allocPID(s)
	cg, err := cgroups(s)
	if err != nil {
		return nil, err
	}
	caps, err := capMask(s.Caps)
	if err != nil {
		return nil, err
	}
	ef, err := exeFlags(s.ExeFlags)
	if err != nil {
		return nil, err
	}
	w.addUser(s)
	args := s.Args
	uid := w.specUID(s)
	ti := event.ThreadInfo{TID: pid, PID: pid, PTID: ppid, SID: pid, VPGID: pid, PGID: pid,
		Comm: specName(s), Exe: specExe(s), ExePath: specExePath(s), Args: args, Cwd: specCwd(s),
		FDLimit: 1024, UID: uid, GID: u32or(s.GID, uid), LoginUID: u32or(s.LoginUID, 0xFFFFFFFF),
		TTY: s.TTY, Env: s.Env, Cgroups: cg, VTID: pid, VPID: pid,
		CapEffective: caps, CapPermitted: caps,
		ExeWritable: ef&0x1 != 0, ExeUpperLayer: ef&0x2 != 0, ExeFromMemfd: ef&0x4 != 0, ExeLowerLayer: ef&0x8 != 0}
	if s.VPID != 0 {
		ti.VTID, ti.VPID = s.VPID, s.VPID
	}
	p := &proc{pid: pid, ppid: ppid, spec: s, nextFD: 3, fds: map[int64]string{}}
	w.procs[pid] = p
	fds, err := w.fdInfos(p, s.FDs)
	if err != nil {
		return nil, err
	}
	w.d.Metadata(nil, nil, nil, nil, []event.ThreadInfo{ti}, fds)
	return p, nil
}

// fdInfos turns a spec's fds ("/path", "file:/path", "tcp:SRC->DST", "udp:SRC->DST",
// "unix:/path", "pipe", "tty:/dev/pts/0") into fd list entries of the process.
func (w *world) fdInfos(p *proc, m map[int64]string) ([]event.FDInfo, error) {
	var out []event.FDInfo
	for fd, spec := range m {
		fi := event.FDInfo{TID: p.pid, FD: fd}
		kind, rest, ok := strings.Cut(spec, ":")
		if !ok || strings.HasPrefix(spec, "/") {
			kind, rest = "file", spec
		}
		switch kind {
		case "file", "tty":
			fi.Type, fi.Name, fi.OpenFlags = event.FDFileV2, rest, 3
		case "pipe":
			fi.Type, fi.Name = event.FDFifo, "pipe:["+strconv.FormatInt(fd+4000, 10)+"]"
		case "unix":
			fi.Type, fi.Name = event.FDUnixSock, rest
		case "tcp", "udp":
			src, dst, ok := strings.Cut(rest, "->")
			if !ok {
				return nil, fmt.Errorf("fd %d: %q is not %s:SRC:PORT->DST:PORT", fd, spec, kind)
			}
			sa, err := parseAddrPort(src)
			if err != nil {
				return nil, fmt.Errorf("fd %d: %v", fd, err)
			}
			da, err := parseAddrPort(dst)
			if err != nil {
				return nil, fmt.Errorf("fd %d: %v", fd, err)
			}
			fi.Type = event.FDIPv4Sock
			if !sa.Addr().Is4() {
				fi.Type = event.FDIPv6Sock
			}
			fi.L4Proto = 6
			if kind == "udp" {
				fi.L4Proto = 17
			}
			fi.SrcIP, fi.SrcPort, fi.DstIP, fi.DstPort = sa.Addr(), sa.Port(), da.Addr(), da.Port()
		default:
			return nil, fmt.Errorf("fd %d: unknown kind %q (file, tty, pipe, unix, tcp, udp)", fd, kind)
		}
		p.fds[fd] = kind
		if fd >= p.nextFD {
			p.nextFD = fd + 1
		}
		out = append(out, fi)
	}
	return out, nil
}

// spawn makes a new process of spec s the way the kernel does: its parent forks (clone exit in
// the parent and in the child) and the child executes the new image (execve exit).
func (w *world) spawn(s *ProcSpec, extra map[string]any) (*proc, error) {
	ppid, err := w.parentOf(s)
	if err != nil {
		return nil, err
	}
	parent := w.procs[ppid]
	pid := w.allocPID(s)
	cg, err := cgroups(s)
	if err != nil {
		return nil, err
	}
	ps := parent.spec
	pcg, err := cgroups(ps)
	if err != nil {
		return nil, err
	}
	pppid := parent.ppid
	puid := w.specUID(ps)
	clone := map[string]any{"exe": specExe(ps), "args": ps.Args, "tid": parent.pid, "pid": parent.pid, "ptid": pppid,
		"cwd": specCwd(ps), "fdlimit": 1024, "comm": specName(ps), "cgroups": pcg, "flags": 0,
		"uid": puid, "gid": u32or(ps.GID, puid), "vtid": parent.pid, "vpid": parent.pid}
	clone["res"] = pid
	vpid := pid
	if s.VPID != 0 {
		// a child in a new PID namespace: only its own clone exit describes it (the parent's
		// return value is a pid of the parent's namespace)
		vpid = s.VPID
	} else if err := w.emit("clone", parent.pid, clone); err != nil {
		return nil, err
	}
	clone["res"], clone["tid"], clone["pid"], clone["ptid"], clone["vtid"], clone["vpid"] = 0, pid, pid, parent.pid, vpid, vpid
	if err := w.emit("clone", pid, clone); err != nil {
		return nil, err
	}
	p := &proc{pid: pid, ppid: parent.pid, spec: s, nextFD: parent.nextFD, fds: map[int64]string{}}
	for k, v := range parent.fds {
		p.fds[k] = v
	}
	w.procs[pid] = p
	if len(s.FDs) > 0 {
		fds, err := w.fdInfos(p, s.FDs)
		if err != nil {
			return nil, err
		}
		w.d.Metadata(nil, nil, nil, nil, nil, fds)
	}
	w.addUser(s)
	if err := w.exec(p, s, cg, extra); err != nil {
		return nil, err
	}
	return p, nil
}

// exec emits the execve exit of p running spec s.
func (w *world) exec(p *proc, s *ProcSpec, cg []string, extra map[string]any) error {
	caps, err := capMask(s.Caps)
	if err != nil {
		return err
	}
	ef, err := exeFlags(s.ExeFlags)
	if err != nil {
		return err
	}
	uid := w.specUID(s)
	ppid := p.ppid
	args := s.Args
	if args == nil {
		args = []string{}
	}
	m := map[string]any{"res": 0, "exe": specExe(s), "args": args, "tid": p.pid, "pid": p.pid, "ptid": ppid,
		"cwd": specCwd(s), "fdlimit": 1024, "comm": specName(s), "cgroups": cg, "env": s.Env, "tty": s.TTY,
		"vpgid": p.pid, "loginuid": u32or(s.LoginUID, 0xFFFFFFFF), "flags": ef,
		"cap_inheritable": 0, "cap_permitted": caps, "cap_effective": caps,
		"uid": uid, "gid": u32or(s.GID, uid), "trusted_exepath": specExePath(s), "pgid": p.pid}
	if m["env"] == nil {
		m["env"] = []string{}
	}
	name := "execve"
	for k, v := range extra {
		if k == "type" {
			name = v.(string)
			continue
		}
		m[k] = v
	}
	if name == "execveat" {
		delete(m, "filename")
	}
	return w.emit(name, p.pid, m)
}

// step runs one step of a case.
func (w *world) step(st *Step) error {
	var p *proc
	typ := ""
	if st.Event != nil {
		typ, _ = st.Event["type"].(string)
	}
	isExec := typ == "execve" || typ == "execveat"
	if st.Proc != nil {
		if isExec {
			if st.Proc.PID != 0 {
				if old, ok := w.procs[st.Proc.PID]; ok {
					// an existing process executes a new image
					cg, err := cgroups(st.Proc)
					if err != nil {
						return err
					}
					old.spec = st.Proc
					w.last = old
					return w.exec(old, st.Proc, cg, st.Event)
				}
			}
			np, err := w.spawn(st.Proc, st.Event)
			if err != nil {
				return err
			}
			w.last = np
			return nil
		}
		var err error
		p, err = w.ensureMeta(st.Proc)
		if err != nil {
			return err
		}
	} else {
		p = w.last
		if isExec {
			return fmt.Errorf("an execve step needs a `proc` (the new image)")
		}
	}
	w.last = p
	if st.Event == nil {
		return nil
	}
	return w.syscall(p, typ, st.Event)
}

func intParam(m map[string]any, k string) (int64, bool, error) {
	v, ok := m[k]
	if !ok {
		return 0, false, nil
	}
	n, err := asInt(v, true, event.ParamInfo{})
	return n, true, err
}

func copyParams(m map[string]any, drop ...string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if k == "type" {
			continue
		}
		// "arg.NAME" names a param whose name collides with a key of the compact form
		// (mount's `type`, socket's `type`)
		out[strings.TrimPrefix(k, "arg.")] = v
	}
	for _, d := range drop {
		delete(out, d)
	}
	return out
}

// syscall emits a non-exec event of p, with the conveniences of the compact form: new fds are
// numbered automatically, a connect or sendto on an unknown fd is preceded by the socket call
// that made it, and open-like events default to O_RDONLY relative to the cwd.
func (w *world) syscall(p *proc, typ string, ev map[string]any) error {
	params := copyParams(ev)
	ext, err := extParams(typ, params)
	if err != nil {
		return err
	}
	newFD := func(key string) (int64, error) {
		if n, ok, err := intParam(params, key); ok || err != nil {
			if n >= p.nextFD {
				p.nextFD = n + 1
			}
			return n, err
		}
		n := p.nextFD
		p.nextFD++
		params[key] = n
		return n, nil
	}
	switch typ {
	case "open", "openat", "openat2", "creat":
		fd, err := newFD("fd")
		if err != nil {
			return err
		}
		if _, ok := params["flags"]; !ok && typ != "creat" {
			params["flags"] = "O_RDONLY"
		}
		if _, ok := params["dirfd"]; !ok && typ != "open" && typ != "creat" {
			params["dirfd"] = -100
		}
		if fd >= 0 {
			p.fds[fd] = "file"
		}
	case "socket":
		proto, _ := params["proto_name"].(string)
		delete(params, "proto_name")
		fd, err := newFD("fd")
		if err != nil {
			return err
		}
		if _, ok := params["domain"]; !ok {
			params["domain"] = "AF_INET"
		}
		if _, ok := params["type"]; !ok {
			params["type"] = 1
		}
		_ = proto
		p.fds[fd] = "socket"
	case "connect", "sendto", "sendmsg":
		proto := "tcp"
		if s, ok := params["proto"].(string); ok {
			proto = s
			delete(params, "proto")
		}
		fd, given, err := intParam(params, "fd")
		if err != nil {
			return err
		}
		if !given || p.fds[fd] == "" {
			if !given {
				fd = p.nextFD
				p.nextFD++
				params["fd"] = fd
			}
			sockType := 1
			if proto == "udp" {
				sockType = 2
			}
			domain := "AF_INET"
			if t, ok := params["tuple"].(string); ok && strings.Contains(t, "[") {
				domain = "AF_INET6"
			}
			if t, ok := params["tuple"].(string); ok && strings.HasPrefix(t, "unix:") {
				domain, sockType = "AF_UNIX", 1
			}
			if err := w.emit("socket", p.pid, map[string]any{"fd": fd, "domain": domain, "type": sockType, "proto": 0, "flags": 0}); err != nil {
				return err
			}
			p.fds[fd] = proto
		}
		if t, ok := params["tuple"].(string); ok && typ == "connect" {
			if _, ok := params["addr"]; !ok {
				if strings.HasPrefix(t, "unix:") {
					params["addr"] = t
				} else if _, dst, ok := strings.Cut(t, "->"); ok {
					params["addr"] = strings.TrimSpace(dst)
				}
			}
		}
		if typ == "sendto" {
			if _, ok := params["size"]; !ok {
				if d, ok := params["data"].(string); ok {
					params["size"] = len(d)
				}
			}
		}
	case "accept", "accept4":
		fd, err := newFD("fd")
		if err != nil {
			return err
		}
		p.fds[fd] = "tcp"
	case "memfd_create", "userfaultfd", "bpf", "io_uring_setup":
		if typ != "userfaultfd" {
			fd, err := newFD("fd")
			if err != nil {
				return err
			}
			p.fds[fd] = typ
		}
	case "dup", "dup2", "dup3":
		if _, ok := params["res"]; !ok {
			if nf, ok := params["newfd"]; ok {
				params["res"] = nf
			} else {
				params["res"] = p.nextFD
				p.nextFD++
			}
		}
	}
	return w.emitExt(typ, p.pid, params, ext)
}

// extParams takes the compact form's keys for the probe's extension params out of params:
// `io_uring: true` (the event came from an io_uring request: evt.is_io_uring) and, on the
// open family, `realpath: PATH` (the kernel's resolved path of the opened file: fd.realpath).
func extParams(typ string, params map[string]any) ([][]byte, error) {
	rp, hasRP := params["realpath"]
	ur, hasUR := params["io_uring"]
	delete(params, "realpath")
	delete(params, "io_uring")
	if !hasRP && !hasUR {
		return nil, nil
	}
	var flags uint32
	if hasUR {
		b, ok := ur.(bool)
		if !ok {
			return nil, fmt.Errorf("%s: `io_uring` is true or false, not %v", typ, ur)
		}
		if b {
			flags |= event.ExtIOUring
		}
	}
	ext := [][]byte{binary.LittleEndian.AppendUint32(nil, flags)}
	if hasRP {
		switch typ {
		case "open", "openat", "openat2", "creat":
		default:
			return nil, fmt.Errorf("%s: `realpath` is for the open family (open, openat, openat2, creat)", typ)
		}
		s, err := asString(rp)
		if err != nil {
			return nil, fmt.Errorf("%s: realpath: %v", typ, err)
		}
		ext = append(ext, append([]byte(s), 0))
	}
	return ext, nil
}
