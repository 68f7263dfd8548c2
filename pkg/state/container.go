package state

import "strings"

// ContainerID returns the container id found in a thread's cgroups ("subsys=path" entries),
// or "host". It knows the layouts of docker (/docker/<id>, docker-<id>.scope), containerd and
// CRI (cri-containerd-<id>.scope, /kubepods/.../<id>), CRI-O (crio-<id>.scope) and podman
// (libpod-<id>.scope); ids are cut to 12 characters. On hybrid cgroup v1+v2 machines the v1
// controllers (cpu, memory, pids, …) are looked at before the v2 ("" or "0::") entry. A
// container package will replace this helper.
func ContainerID(cgroups []string) string {
	var v2 string
	for _, cg := range cgroups {
		subsys, p, ok := strings.Cut(cg, "=")
		if !ok {
			// "/proc/pid/cgroup" form: "hierarchy:controllers:path"
			parts := strings.SplitN(cg, ":", 3)
			if len(parts) != 3 {
				continue
			}
			subsys, p = parts[1], parts[2]
		}
		if subsys == "" {
			v2 = p
			continue
		}
		if id := containerIDFromPath(p); id != "" {
			return id
		}
	}
	if v2 != "" {
		if id := containerIDFromPath(v2); id != "" {
			return id
		}
	}
	return "host"
}

var scopePrefixes = []string{"docker-", "cri-containerd-", "crio-", "libpod-", "containerd-"}

// containerIDFromPath finds a container id in one cgroup path.
func containerIDFromPath(p string) string {
	for p != "" && p != "/" {
		i := strings.LastIndexByte(p, '/')
		last := p[i+1:]
		p = p[:max(i, 0)]
		if last == "" {
			continue
		}
		name := strings.TrimSuffix(last, ".scope")
		scoped := len(name) != len(last)
		if scoped {
			for _, pre := range scopePrefixes {
				if strings.HasPrefix(name, pre) {
					if id := name[len(pre):]; isHexID(id) {
						return id[:12]
					}
				}
			}
			continue
		}
		// /docker/<id>, /kubepods/<qos>/pod<uid>/<id>, /machine.slice/libpod-… handled above
		if isHexID(name) {
			return name[:12]
		}
		// crio without systemd: /kubepods/.../crio-<id>
		for _, pre := range scopePrefixes {
			if strings.HasPrefix(name, pre) && isHexID(name[len(pre):]) {
				return name[len(pre) : len(pre)+12]
			}
		}
		if i < 0 {
			break
		}
	}
	return ""
}

// isHexID reports whether s is a 64-char lowercase hex id.
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
