package container

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

// infoEqual compares two Infos treating empty and nil maps/slices alike.
func infoEqual(a, b *Info) bool {
	norm := func(in *Info) Info {
		c := *in
		if len(c.Labels) == 0 {
			c.Labels = nil
		}
		if len(c.PodLabels) == 0 {
			c.PodLabels = nil
		}
		if len(c.Env) == 0 {
			c.Env = nil
		}
		if len(c.Mounts) == 0 {
			c.Mounts = nil
		}
		if len(c.PortMappings) == 0 {
			c.PortMappings = nil
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestJSONRoundTrip(t *testing.T) {
	full := &Info{
		ID: idA, Type: TypeContainerd, Name: "nginx", Image: "docker.io/library/nginx:1.25",
		ImageID:         "a8758716bb6aa4d90071160d27028fe4eaee7ce8166221a97d30440c8eac2be6",
		ImageRepository: "docker.io/library/nginx", ImageTag: "1.25",
		ImageDigest: "sha256:0d17b565c37bcbd895e9d92315a05c1c3c9a29f762b011a10c54a66cd53c9b31",
		User:        "101", Privileged: true, HostPID: true, HostNetwork: false, HostIPC: true,
		Mounts: []Mount{
			{Source: "/var/lib/kubelet/pods/x/volumes/kubernetes.io~configmap/conf", Dest: "/etc/nginx/conf.d", Mode: "ro", RW: false, Propagation: "rprivate"},
			{Source: "/", Dest: "/host", RW: true, Propagation: "rslave"},
		},
		Labels:       map[string]string{LabelPodName: "web-0", LabelPodNamespace: "prod", LabelPodUID: uid, "a=b": "quote\"d"},
		Env:          []string{"PATH=/bin", "X=ü"},
		CreatedTime:  1730971086,
		IP:           netip.MustParseAddr("10.244.1.7"),
		PortMappings: []PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8080, ContainerPort: 80}, {HostPort: 443, ContainerPort: 8443}},
		MemoryLimit:  1 << 30, SwapLimit: 2 << 30, CPUShares: 1024, CPUQuota: 50000, CPUPeriod: 100000, CPUSetCount: 2,
		PodSandboxID: idB, PodLabels: map[string]string{"app": "web", "tier": "front"},
		CNIResult: `{"cniVersion":"1.0.0"}`,
		HealthProbes: []HealthProbe{
			{Type: ProbeHealthcheck, Exe: "/bin/sh", Args: []string{"-c", "curl -f localhost"}},
			{Type: ProbeLiveness, Exe: "/healthz"},
			{Type: ProbeReadiness, Exe: "cat", Args: []string{"/tmp/ready"}},
		},
	}
	for _, in := range []*Info{full, {ID: idB, Type: TypeDocker}, {ID: idB, Type: TypePodman, Name: "x", IsPodSandbox: true}} {
		b := EncodeJSON(in)
		out, err := DecodeJSON(append(b, 0))
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if !infoEqual(in, out) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", b, out, in)
		}
	}
	if out, _ := DecodeJSON(EncodeJSON(full)); out.PodName() != "web-0" || out.PodNamespace() != "prod" || out.PodUID() != uid || out.PodIP().String() != "10.244.1.7" {
		t.Errorf("k8s accessors: %q %q %q %v", out.PodName(), out.PodNamespace(), out.PodUID(), out.PodIP())
	}
}

// A container JSON written the way libsinsp writes it (keys, numeric type, dotted ip, integer
// HostIp in host order), and the container plugin's string ports.
func TestDecodeLibsJSON(t *testing.T) {
	libs := `{"container":{"Mounts":[{"Destination":"/data","Mode":"z","Propagation":"rprivate","RW":false,"Source":"/srv/data"}],
"User":"nobody","cni_json":"","cpu_period":100000,"cpu_quota":0,"cpu_shares":1024,"cpuset_cpu_count":0,
"created_time":1700000000,"env":[],"full_id":"` + idA + `","host_ipc":false,"host_network":true,"host_pid":false,
"id":"` + idA[:12] + `","image":"redis:7","imagedigest":"","imageid":"1234abcd","imagerepo":"redis","imagetag":"7",
"ip":"172.17.0.3","is_pod_sandbox":false,"labels":{"k":"v"},"lookup_state":1,"memory_limit":0,"metadata_deadline":0,
"name":"cache","pod_sandbox_id":"","pod_sandbox_labels":null,
"port_mappings":[{"HostIp":2130706433,"HostPort":6379,"ContainerPort":6379}],"privileged":false,"swap_limit":0,"type":8}}`
	in, err := DecodeJSON([]byte(libs))
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != idA || in.ShortID() != idA[:12] || in.Type != TypeCRIO || in.Type.String() != "cri-o" || in.Name != "cache" ||
		in.Image != "redis:7" || in.ImageRepository != "redis" || in.ImageTag != "7" || in.ImageID != "1234abcd" ||
		in.User != "nobody" || !in.HostNetwork || in.Privileged || in.CreatedTime != 1700000000 ||
		in.IP != netip.MustParseAddr("172.17.0.3") || in.Labels["k"] != "v" || in.CPUShares != 1024 {
		t.Errorf("decoded %+v", in)
	}
	if len(in.Mounts) != 1 || in.Mounts[0] != (Mount{Source: "/srv/data", Dest: "/data", Mode: "z", RW: false, Propagation: "rprivate"}) {
		t.Errorf("mounts %+v", in.Mounts)
	}
	if len(in.PortMappings) != 1 || in.PortMappings[0] != (PortMapping{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 6379, ContainerPort: 6379}) {
		t.Errorf("ports %+v", in.PortMappings)
	}
	plugin := `{"container":{"id":"` + idB[:12] + `","type":0,"ip":"","port_mappings":[{"HostIp":"0.0.0.0","HostPort":"8080","ContainerPort":80}]}}`
	in, err = DecodeJSON([]byte(plugin))
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != idB[:12] || in.Type != TypeDocker || in.IP.IsValid() || len(in.PortMappings) != 1 || in.PortMappings[0].HostPort != 8080 || in.PortMappings[0].HostIP.IsValid() {
		t.Errorf("plugin form decoded %+v", in)
	}
	// the encoder writes what libsinsp's parser reads
	enc := string(EncodeJSON(&Info{ID: idA, Type: TypeDocker, IP: netip.MustParseAddr("172.17.0.2"),
		PortMappings: []PortMapping{{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 80, ContainerPort: 8080}}}))
	for _, want := range []string{`"id":"` + idA[:12] + `"`, `"full_id":"` + idA + `"`, `"type":0`, `"ip":"172.17.0.2"`,
		`"HostIp":2130706433`, `"HostPort":80`, `"ContainerPort":8080`, `"Mounts":[]`, `"labels":{}`} {
		if !strings.Contains(enc, want) {
			t.Errorf("encoded %s lacks %s", enc, want)
		}
	}
}

func TestDecodeJSONErrors(t *testing.T) {
	for _, bad := range []string{``, `{`, `[]`, `{}`, `{"container":{}}`, `{"container":{"id":"x","ip":"nope"}}`,
		`{"container":{"id":"x","ip":true}}`, `{"container":{"id":"x","port_mappings":[{"HostPort":"99999"}]}}`,
		`{"container":{"id":"x","type":"docker"}}`} {
		if in, err := DecodeJSON([]byte(bad)); err == nil {
			t.Errorf("DecodeJSON(%q) = %+v, want an error", bad, in)
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(EncodeJSON(&Info{ID: idA, Name: "n", IP: netip.MustParseAddr("1.2.3.4"), PortMappings: []PortMapping{{HostPort: 1}}}))
	f.Add([]byte(`{"container":{"id":"abc","port_mappings":[{"HostIp":"::1","HostPort":"1"}]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		in, err := DecodeJSON(b)
		if err != nil {
			return
		}
		again, err := DecodeJSON(EncodeJSON(in))
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", in, err)
		}
		if again.ID != in.ID || again.Name != in.Name || len(again.Mounts) != len(in.Mounts) {
			t.Fatalf("unstable: %+v vs %+v", in, again)
		}
	})
}
