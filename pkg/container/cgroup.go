package container

import "strings"

// HostID is the container id of processes that run in no container, as in Falco.
const HostID = "host"

// ShortIDLen is the length of container.id; container.full_id is the whole id.
const ShortIDLen = 12

// Ref is what a cgroup path tells about a container: its id and which runtime created it, when
// the naming says so.
type Ref struct {
	ID      string // full id (64 lowercase hex characters)
	Runtime Type   // runtime hint from the naming; TypeUnknown when the path does not say
	PodUID  string // Kubernetes pod UID when the path is under kubepods (dashes restored)
}

// Short is the 12-character id (container.id).
func (r Ref) Short() string { return ShortID(r.ID) }

// ShortID cuts an id to the 12 characters of container.id; "host" and short ids are returned
// unchanged.
func ShortID(id string) string {
	if len(id) > ShortIDLen {
		return id[:ShortIDLen]
	}
	return id
}

// FromCgroups finds the container of a thread from its cgroups. Entries may be in the state
// engine's "subsys=path" form ("cpu,cpuacct=/docker/<id>", "=/…" or "0::/…" for the v2 entry)
// or in /proc/PID/cgroup's "hierarchy:controllers:path" form. The cgroup v1 entries are looked
// at before the v2 entry: on hybrid machines the runtimes place containers by the v1
// controllers, while the v2 path may be the one of a parent. ok is false for host processes.
func FromCgroups(cgroups []string) (ref Ref, ok bool) {
	v2 := ""
	haveV2 := false
	for _, cg := range cgroups {
		subsys, p, okEq := strings.Cut(cg, "=")
		if !okEq || strings.Contains(subsys, ":") {
			// "hierarchy:controllers:path" (the path may itself contain '=' or ':')
			h, rest, ok1 := strings.Cut(cg, ":")
			c, path, ok2 := strings.Cut(rest, ":")
			if !ok1 || !ok2 || h == "" {
				continue
			}
			subsys, p = c, path
			if h == "0" && c == "" {
				subsys = ""
			}
		}
		if subsys == "" {
			v2, haveV2 = p, true
			continue
		}
		if r, ok := ParseCgroupPath(p); ok {
			return r, true
		}
	}
	if haveV2 {
		return ParseCgroupPath(v2)
	}
	return Ref{}, false
}

// scoped names: "<prefix><id>.scope" (systemd driver) or "<prefix><id>" (cgroupfs driver)
var prefixes = []struct {
	p string
	t Type
}{
	{"docker-", TypeDocker},
	{"cri-containerd-", TypeContainerd},
	{"crio-", TypeCRIO},
	{"libpod-", TypePodman},
	{"nerdctl-", TypeContainerd},
	{"containerd-", TypeContainerd},
}

// conmon (CRI-O and podman's monitor) runs outside the container it watches.
var conmonPrefixes = []string{"crio-conmon-", "libpod-conmon-"}

// ParseCgroupPath finds a container id in one cgroup path. It knows:
//
//   - docker, cgroupfs driver: /docker/<id> (also nested: /docker/<id>/docker/<id2>, the inner
//     one wins; rootless: …/docker/<id>); systemd driver: /system.slice/docker-<id>.scope
//   - Kubernetes, cgroupfs driver: /kubepods[/besteffort|/burstable]/pod<uid>/<id> and CRI-O's
//     /kubepods/…/pod<uid>/crio-<id>; systemd driver: /kubepods.slice/kubepods-<qos>.slice/
//     kubepods-<qos>-pod<uid>.slice/{cri-containerd,crio,docker}-<id>.scope
//   - containerd without CRI: /<namespace>/<id> (ctr: /default/<id>), nerdctl-<id>.scope
//   - podman: /machine.slice/libpod-<id>.scope[/container], /libpod_parent/libpod-<id>,
//     rootless user@UID.service/…/libpod-<id>.scope
//
// conmon scopes (crio-conmon-, libpod-conmon-) are host processes. The path form is the same on
// cgroup v1 and v2; only which hierarchy to read differs (see FromCgroups).
func ParseCgroupPath(p string) (Ref, bool) {
	rest := p
	for rest != "" {
		i := strings.LastIndexByte(rest, '/')
		comp := rest[i+1:]
		parent := ""
		if i >= 0 {
			parent = rest[:i]
		}
		rest = parent
		if i < 0 {
			rest = ""
		}
		if comp == "" {
			continue
		}
		name := strings.TrimSuffix(comp, ".scope")
		if r, ok := matchComponent(name, parent); ok {
			r.PodUID = podUID(parent)
			if r.Runtime == TypeUnknown && r.PodUID != "" {
				r.Runtime = TypeCRI
			}
			return r, true
		}
		if isConmon(name) {
			return Ref{}, false
		}
	}
	return Ref{}, false
}

func isConmon(name string) bool {
	for _, c := range conmonPrefixes {
		if strings.HasPrefix(name, c) {
			return true
		}
	}
	return false
}

func matchComponent(name, parent string) (Ref, bool) {
	if isHexID(name) {
		t := TypeUnknown
		switch lastComponent(parent) {
		case "docker":
			t = TypeDocker
		case "libpod_parent":
			t = TypePodman
		}
		return Ref{ID: name, Runtime: t}, true
	}
	for _, pre := range prefixes {
		if strings.HasPrefix(name, pre.p) && isHexID(name[len(pre.p):]) {
			return Ref{ID: name[len(pre.p):], Runtime: pre.t}, true
		}
	}
	return Ref{}, false
}

func lastComponent(p string) string {
	return p[strings.LastIndexByte(p, '/')+1:]
}

// podUID finds "pod<uid>" (cgroupfs) or "kubepods-<qos>-pod<uid_with_underscores>.slice"
// (systemd) among the components of p.
func podUID(p string) string {
	if !strings.Contains(p, "kubepods") {
		return ""
	}
	for p != "" {
		i := strings.LastIndexByte(p, '/')
		comp := strings.TrimSuffix(p[i+1:], ".slice")
		if i < 0 {
			p = ""
		} else {
			p = p[:i]
		}
		if j := strings.LastIndex(comp, "pod"); j >= 0 && (j == 0 || comp[j-1] == '-') {
			uid := comp[j+3:]
			if len(uid) >= 32 {
				return strings.ReplaceAll(uid, "_", "-")
			}
		}
	}
	return ""
}

// isHexID reports whether s is a 64-character lowercase hex id.
func isHexID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
