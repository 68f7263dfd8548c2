package container

import (
	"strings"
	"testing"
)

const (
	idA = "87713b51c7dbf387f7d880a3e5ec1a57080b7e470ccf302e336c7f16e42912b3"
	idB = "99b6838a00c86e11f4851405a8e27e6506058b2818db16d0dfd49900138018a2"
	uid = "9a3e4c21-5d2f-4b1e-8a7c-0f6d2b9e1c44"
)

var uidU = strings.ReplaceAll(uid, "-", "_")

func TestParseCgroupPath(t *testing.T) {
	cases := []struct {
		name, path string
		id         string // "" = host
		rt         Type
		pod        string
	}{
		// docker
		{"docker cgroupfs v1/v2", "/docker/" + idA, idA, TypeDocker, ""},
		{"docker systemd", "/system.slice/docker-" + idA + ".scope", idA, TypeDocker, ""},
		{"docker in docker: inner wins", "/docker/" + idB + "/docker/" + idA, idA, TypeDocker, ""},
		{"docker container with its own sub-cgroup", "/docker/" + idA + "/init.scope", idA, TypeDocker, ""},
		{"docker rootless v2 systemd", "/user.slice/user-1000.slice/user@1000.service/user.slice/docker-" + idA + ".scope", idA, TypeDocker, ""},
		{"docker rootless v2 cgroupfs", "/user.slice/user-1000.slice/user@1000.service/docker.service/docker/" + idA, idA, TypeDocker, ""},
		{"docker private cgroupns sees /", "/", "", TypeUnknown, ""},
		// Kubernetes, cgroupfs driver
		{"k8s cgroupfs besteffort containerd", "/kubepods/besteffort/pod" + uid + "/" + idA, idA, TypeCRI, uid},
		{"k8s cgroupfs burstable", "/kubepods/burstable/pod" + uid + "/" + idA, idA, TypeCRI, uid},
		{"k8s cgroupfs guaranteed", "/kubepods/pod" + uid + "/" + idA, idA, TypeCRI, uid},
		{"k8s cgroupfs cri-o", "/kubepods/burstable/pod" + uid + "/crio-" + idA, idA, TypeCRIO, uid},
		{"k8s pod cgroup itself is host-less", "/kubepods/burstable/pod" + uid, "", TypeUnknown, ""},
		// Kubernetes, systemd driver (v1 and v2 identical)
		{"k8s systemd containerd", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + idA + ".scope", idA, TypeContainerd, uid},
		{"k8s systemd cri-o", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-" + idA + ".scope", idA, TypeCRIO, uid},
		{"k8s systemd guaranteed", "/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + idA + ".scope", idA, TypeContainerd, uid},
		{"k8s systemd dockershim", "/kubepods.slice/kubepods-pod" + uidU + ".slice/docker-" + idA + ".scope", idA, TypeDocker, uid},
		{"k8s cri-o conmon is host", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + uidU + ".slice/crio-conmon-" + idA + ".scope", "", TypeUnknown, ""},
		{"kind node nested", "/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + uidU + ".slice/cri-containerd-" + idA + ".scope", idA, TypeContainerd, uid},
		// containerd without CRI
		{"ctr default namespace", "/default/" + idA, idA, TypeUnknown, ""},
		{"nerdctl systemd", "/system.slice/nerdctl-" + idA + ".scope", idA, TypeContainerd, ""},
		{"nerdctl cgroupfs namespace", "/nerdctl/" + idA, idA, TypeUnknown, ""},
		// podman
		{"podman systemd v2", "/machine.slice/libpod-" + idA + ".scope", idA, TypePodman, ""},
		{"podman systemd v2 container subgroup", "/machine.slice/libpod-" + idA + ".scope/container", idA, TypePodman, ""},
		{"podman cgroupfs", "/libpod_parent/libpod-" + idA, idA, TypePodman, ""},
		{"podman cgroupfs v1 plain id", "/libpod_parent/" + idA, idA, TypePodman, ""},
		{"podman rootless", "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-" + idA + ".scope", idA, TypePodman, ""},
		{"podman conmon is host", "/machine.slice/libpod-conmon-" + idA + ".scope", "", TypeUnknown, ""},
		// others
		{"ecs task", "/ecs/5a0d5ceddf6c44c1928d367a815d890f/" + idA, idA, TypeUnknown, ""},
		{"host root", "/", "", TypeUnknown, ""},
		{"empty", "", "", TypeUnknown, ""},
		{"host systemd service", "/system.slice/ssh.service", "", TypeUnknown, ""},
		{"host user session", "/user.slice/user-0.slice/session-3.scope", "", TypeUnknown, ""},
		{"short hex is not an id", "/process_api/db0b38dde476f0e0895bec8bf0af495b", "", TypeUnknown, ""},
		{"upper-case hex is not an id", "/docker/" + strings.ToUpper(idA), "", TypeUnknown, ""},
		{"63 chars", "/docker/" + idA[:63], "", TypeUnknown, ""},
		{"docker- prefix without id", "/system.slice/docker-foo.scope", "", TypeUnknown, ""},
		{"docker.service is host", "/system.slice/docker.service", "", TypeUnknown, ""},
	}
	for _, c := range cases {
		r, ok := ParseCgroupPath(c.path)
		if ok != (c.id != "") || r.ID != c.id || (ok && r.Runtime != c.rt) || r.PodUID != c.pod {
			t.Errorf("%s: ParseCgroupPath(%q) = %+v, %v; want id %q runtime %v pod %q", c.name, c.path, r, ok, c.id, c.rt, c.pod)
		}
		if ok && r.Short() != c.id[:12] {
			t.Errorf("%s: short id %q", c.name, r.Short())
		}
	}
}

func TestFromCgroups(t *testing.T) {
	// the /proc/PID/cgroup of a docker container on this hybrid machine
	procHybrid := []string{
		"9:name=systemd:/docker/" + idA, "8:pids:/docker/" + idA, "4:memory:/docker/" + idA,
		"1:cpu:/docker/" + idA, "0::/docker/" + idA,
	}
	cases := []struct {
		name string
		cg   []string
		id   string
	}{
		{"proc form hybrid", procHybrid, idA},
		{"proc form v1 only", []string{"12:cpu,cpuacct:/docker/" + idA, "1:name=systemd:/docker/" + idA}, idA},
		{"proc form v2 only", []string{"0::/system.slice/docker-" + idA + ".scope"}, idA},
		{"proc form v2 host", []string{"0::/init.scope"}, ""},
		// hybrid where the v2 path is the parent's: v1 decides
		{"hybrid v2 parent's path", []string{"0::/user.slice", "4:memory:/docker/" + idA}, idA},
		// hybrid where only the v2 path names a container (systemd created it there)
		{"hybrid identity only in v2", []string{"4:memory:/", "1:name=systemd:/", "0::/machine.slice/libpod-" + idA + ".scope/container"}, idA},
		// v1 first even when v2 names another one
		{"v1 before v2", []string{"0::/docker/" + idB, "3:cpuset:/docker/" + idA}, idA},
		{"state form", []string{"cpu,cpuacct=/docker/" + idA, "=/docker/" + idA}, idA},
		{"state form v2", []string{"=/kubepods.slice/kubepods-pod" + uidU + ".slice/cri-containerd-" + idA + ".scope"}, idA},
		{"state form host", []string{"cpu=/", "memory=/process_api/db0b38dde476f0e0895bec8bf0af495b", "=/"}, ""},
		{"this machine's host cgroups", []string{"9:name=systemd:/", "4:memory:/process_api/db0b38dde476f0e0895bec8bf0af495b", "0::/"}, ""},
		{"path containing colons and '='", []string{"5:devices:/a=b:c/docker/" + idA}, idA},
		{"garbage", []string{"", ":", "x", "1:2", "::"}, ""},
		{"nil", nil, ""},
	}
	for _, c := range cases {
		r, ok := FromCgroups(c.cg)
		if ok != (c.id != "") || r.ID != c.id {
			t.Errorf("%s: FromCgroups(%q) = %+v, %v; want %q", c.name, c.cg, r, ok, c.id)
		}
	}
}

func TestSplitImage(t *testing.T) {
	cases := []struct{ in, repo, tag, digest string }{
		{"busybox", "busybox", "latest", ""},
		{"busybox:1.35", "busybox", "1.35", ""},
		{"saker-test/busybox:1.35", "saker-test/busybox", "1.35", ""},
		{"localhost:5000/team/app", "localhost:5000/team/app", "latest", ""},
		{"localhost:5000/team/app:v2", "localhost:5000/team/app", "v2", ""},
		{"docker.io/library/nginx@sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31", "docker.io/library/nginx", "", "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31"},
		{"nginx:1.25@sha256:abcd", "nginx", "1.25", "sha256:abcd"},
		{"", "", "", ""},
	}
	for _, c := range cases {
		r, tg, d := SplitImage(c.in)
		if r != c.repo || tg != c.tag || d != c.digest {
			t.Errorf("SplitImage(%q) = %q %q %q; want %q %q %q", c.in, r, tg, d, c.repo, c.tag, c.digest)
		}
	}
}

func FuzzFromCgroups(f *testing.F) {
	f.Add("4:memory:/docker/"+idA, "0::/")
	f.Add("=/kubepods.slice/kubepods-pod"+uidU+".slice/crio-"+idA+".scope", "")
	f.Add("cpu=/machine.slice/libpod-"+idA+".scope/container", "1:name=systemd:/kubepods/pod"+uid+"/"+idA)
	f.Fuzz(func(t *testing.T, a, b string) {
		r, ok := FromCgroups([]string{a, b})
		if ok {
			if !isHexID(r.ID) || !strings.Contains(a+b, r.ID) {
				t.Fatalf("bad id %q from %q %q", r.ID, a, b)
			}
		} else if r != (Ref{}) {
			t.Fatalf("no match but %+v", r)
		}
	})
}
