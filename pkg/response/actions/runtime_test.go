package actions

import "testing"

func TestRuntimeMatch(t *testing.T) {
	for _, c := range []struct {
		comm, exe string
		want      bool
	}{
		{"runc", "", true},
		{"runc:[2:INIT]", "", true},
		{"runcx", "", false},
		{"containerd", "/usr/bin/containerd", true},
		{"containerd-shim", "/usr/bin/containerd-shim-runc-v2", true},
		{"containerd-x", "/usr/bin/containerd-x", false},
		{"docker-proxy", "/usr/bin/docker-proxy", true},
		{"crun", "/usr/bin/crun", true},
		{"kubelet", "/usr/local/bin/kubelet", true},
		{"kubelet2", "/usr/local/bin/kubelet2", false},
		{"bash", "/bin/bash", false},
	} {
		if got := RuntimeComm(c.comm) != ""; got != c.want {
			t.Errorf("RuntimeComm(%q) = %v", c.comm, got)
		}
		if c.exe != "" {
			if got := RuntimeExe(c.exe) != ""; got != c.want {
				t.Errorf("RuntimeExe(%q) = %v", c.exe, got)
			}
		}
	}
	for _, e := range RuntimeEntries() {
		if len(e.Name) == 0 || len(e.Name) > CommLen {
			t.Errorf("entry %+v", e)
		}
	}
}
