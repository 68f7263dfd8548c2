package container

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// The scap "container" event (code 324, EF_LARGE_PAYLOAD, one parameter "json") carries
// libsinsp's container JSON: {"container": {"id": …, "type": <container_type>, "name": …,
// "image": …, "imageid": …, "imagerepo": …, "imagetag": …, "imagedigest": …, "privileged": …,
// "Mounts": [{"Source","Destination","Mode","RW","Propagation"}], "labels": {…},
// "created_time": <s>, "ip": "a.b.c.d", "port_mappings": [{"HostIp","HostPort",
// "ContainerPort"}], "pod_sandbox_id", "pod_sandbox_labels", "is_pod_sandbox", …}}.
// EncodeJSON writes what libsinsp's container_to_json writes (addresses as libsinsp does: the
// container ip as a dotted string, port mapping addresses as host-order integers); DecodeJSON
// reads that and the container plugin's variant (string HostIp/HostPort).

// EventContainerJSON is the scap event code of the container JSON event.
const EventContainerJSON = 324

type jsonMount struct {
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

type jsonPort struct {
	HostIP        json.RawMessage `json:"HostIp"`
	HostPort      json.RawMessage `json:"HostPort"`
	ContainerPort json.RawMessage `json:"ContainerPort"`
}

type jsonContainer struct {
	ID               string            `json:"id"`
	FullID           string            `json:"full_id"`
	Type             *int              `json:"type"`
	Name             string            `json:"name"`
	Image            string            `json:"image"`
	ImageID          string            `json:"imageid"`
	ImageRepo        string            `json:"imagerepo"`
	ImageTag         string            `json:"imagetag"`
	ImageDigest      string            `json:"imagedigest"`
	User             string            `json:"User"`
	Privileged       bool              `json:"privileged"`
	HostPID          bool              `json:"host_pid"`
	HostNetwork      bool              `json:"host_network"`
	HostIPC          bool              `json:"host_ipc"`
	IsPodSandbox     bool              `json:"is_pod_sandbox"`
	CreatedTime      int64             `json:"created_time"`
	Mounts           []jsonMount       `json:"Mounts"`
	Labels           map[string]string `json:"labels"`
	Env              []string          `json:"env"`
	IP               json.RawMessage   `json:"ip,omitempty"`
	PortMappings     []jsonPort        `json:"port_mappings"`
	MemoryLimit      int64             `json:"memory_limit"`
	SwapLimit        int64             `json:"swap_limit"`
	CPUShares        int64             `json:"cpu_shares"`
	CPUQuota         int64             `json:"cpu_quota"`
	CPUPeriod        int64             `json:"cpu_period"`
	CPUSetCount      int64             `json:"cpuset_cpu_count"`
	PodSandboxID     string            `json:"pod_sandbox_id"`
	PodSandboxLabels map[string]string `json:"pod_sandbox_labels"`
	CNIJSON          string            `json:"cni_json"`
	// health probes (libsinsp's add_health_probes / parse_health_probes)
	Healthcheck    json.RawMessage `json:"Healthcheck,omitempty"`
	LivenessProbe  json.RawMessage `json:"LivenessProbe,omitempty"`
	ReadinessProbe json.RawMessage `json:"ReadinessProbe,omitempty"`
}

// jsonProbe is one health probe of the container JSON: {"exe": …, "args": [… ] or null}.
type jsonProbe struct {
	Exe  string   `json:"exe"`
	Args []string `json:"args"`
}

func (c *jsonContainer) probeSlot(t ProbeType) *json.RawMessage {
	switch t {
	case ProbeHealthcheck:
		return &c.Healthcheck
	case ProbeLiveness:
		return &c.LivenessProbe
	case ProbeReadiness:
		return &c.ReadinessProbe
	}
	return nil
}

// decodeProbe reads a probe as libsinsp does: an object whose "exe" is a string; "args"
// elements that are not strings are skipped, and "args" that is not an array is no args.
func decodeProbe(t ProbeType, raw json.RawMessage) (HealthProbe, bool) {
	var v struct {
		Exe  json.RawMessage   `json:"exe"`
		Args []json.RawMessage `json:"args"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		var obj map[string]json.RawMessage // "args" not an array: read exe alone
		if json.Unmarshal(raw, &obj) != nil {
			return HealthProbe{}, false
		}
		v.Exe = obj["exe"]
	}
	p := HealthProbe{Type: t}
	if json.Unmarshal(v.Exe, &p.Exe) != nil {
		return HealthProbe{}, false
	}
	for _, a := range v.Args {
		var s string
		if json.Unmarshal(a, &s) == nil {
			p.Args = append(p.Args, s)
		}
	}
	return p, true
}

// EncodeJSON encodes one container's metadata as the parameter of a container event.
func EncodeJSON(in *Info) []byte {
	t := int(in.Type)
	c := jsonContainer{
		// (an id that is not hex, cut at 12 bytes, may end inside a character: its short form
		// is kept valid UTF-8, so that decoding it again finds the full id, not a mangled one)
		ID: strings.ToValidUTF8(in.ShortID(), ""), FullID: in.ID, Type: &t, Name: in.Name, Image: in.Image,
		ImageID: in.ImageID, ImageRepo: in.ImageRepository, ImageTag: in.ImageTag,
		ImageDigest: in.ImageDigest, User: in.User, Privileged: in.Privileged,
		HostPID: in.HostPID, HostNetwork: in.HostNetwork, HostIPC: in.HostIPC,
		IsPodSandbox: in.IsPodSandbox, CreatedTime: in.CreatedTime,
		Mounts: []jsonMount{}, Labels: in.Labels, Env: in.Env, PortMappings: []jsonPort{},
		MemoryLimit: in.MemoryLimit, SwapLimit: in.SwapLimit, CPUShares: in.CPUShares,
		CPUQuota: in.CPUQuota, CPUPeriod: in.CPUPeriod, CPUSetCount: in.CPUSetCount,
		PodSandboxID: in.PodSandboxID, PodSandboxLabels: in.PodLabels, CNIJSON: in.CNIResult,
	}
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	for _, p := range in.HealthProbes {
		if slot := c.probeSlot(p.Type); slot != nil && *slot == nil {
			b, _ := json.Marshal(jsonProbe{Exe: p.Exe, Args: p.Args})
			*slot = b
		}
	}
	if c.Env == nil {
		c.Env = []string{}
	}
	for _, m := range in.Mounts {
		c.Mounts = append(c.Mounts, jsonMount{m.Source, m.Dest, m.Mode, m.RW, m.Propagation})
	}
	if in.IP.Is4() {
		c.IP = json.RawMessage(strconv.Quote(in.IP.String()))
	} else {
		c.IP = json.RawMessage(`"0.0.0.0"`)
	}
	for _, p := range in.PortMappings {
		var hip uint32
		if p.HostIP.Is4() {
			b := p.HostIP.As4()
			hip = binary.BigEndian.Uint32(b[:])
		}
		c.PortMappings = append(c.PortMappings, jsonPort{
			HostIP:        json.RawMessage(strconv.FormatUint(uint64(hip), 10)),
			HostPort:      json.RawMessage(strconv.Itoa(int(p.HostPort))),
			ContainerPort: json.RawMessage(strconv.Itoa(int(p.ContainerPort))),
		})
	}
	b, err := json.Marshal(struct {
		Container jsonContainer `json:"container"`
	}{c})
	if err != nil { // cannot happen: every member is a plain value
		panic(err)
	}
	return b
}

// DecodeJSON decodes the parameter of a container event (a trailing NUL, as CHARBUF params
// carry, is allowed).
func DecodeJSON(b []byte) (*Info, error) {
	b = bytes.TrimRight(b, "\x00")
	var v struct {
		Container *jsonContainer `json:"container"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("container json: %w", err)
	}
	c := v.Container
	if c == nil {
		return nil, fmt.Errorf("container json: no \"container\" object")
	}
	id := c.FullID
	if id == "" || (c.ID != "" && len(c.ID) <= len(id) && id[:len(c.ID)] != c.ID) {
		id = c.ID
	}
	if id == "" {
		return nil, fmt.Errorf("container json: no id")
	}
	in := &Info{
		ID: id, Type: TypeUnknown, Name: c.Name, Image: c.Image, ImageID: c.ImageID,
		ImageRepository: c.ImageRepo, ImageTag: c.ImageTag, ImageDigest: c.ImageDigest,
		User: c.User, Privileged: c.Privileged, HostPID: c.HostPID, HostNetwork: c.HostNetwork,
		HostIPC: c.HostIPC, IsPodSandbox: c.IsPodSandbox, CreatedTime: c.CreatedTime,
		Labels: c.Labels, Env: c.Env, MemoryLimit: c.MemoryLimit, SwapLimit: c.SwapLimit,
		CPUShares: c.CPUShares, CPUQuota: c.CPUQuota, CPUPeriod: c.CPUPeriod,
		CPUSetCount: c.CPUSetCount, PodSandboxID: c.PodSandboxID, PodLabels: c.PodSandboxLabels,
		CNIResult: c.CNIJSON,
	}
	if c.Type != nil {
		in.Type = Type(*c.Type)
	}
	for t := ProbeHealthcheck; t <= ProbeReadiness; t++ {
		if p, ok := decodeProbe(t, *c.probeSlot(t)); ok {
			in.HealthProbes = append(in.HealthProbes, p)
		}
	}
	for _, m := range c.Mounts {
		in.Mounts = append(in.Mounts, Mount{m.Source, m.Destination, m.Mode, m.RW, m.Propagation})
	}
	ip, err := jsonAddr(c.IP)
	if err != nil {
		return nil, fmt.Errorf("container json: ip: %w", err)
	}
	if ip.IsValid() && !ip.IsUnspecified() {
		in.IP = ip
	}
	for i, p := range c.PortMappings {
		hip, err := jsonAddr(p.HostIP)
		if err != nil {
			return nil, fmt.Errorf("container json: port_mappings[%d].HostIp: %w", i, err)
		}
		hp, err1 := jsonUint16(p.HostPort)
		cp, err2 := jsonUint16(p.ContainerPort)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("container json: port_mappings[%d]: bad port", i)
		}
		if hip.IsUnspecified() && hip.Is4() {
			hip = netip.Addr{}
		}
		in.PortMappings = append(in.PortMappings, PortMapping{HostIP: hip, HostPort: hp, ContainerPort: cp})
	}
	return in, nil
}

// jsonAddr reads an IPv4 address written as a dotted string or a host-order integer.
func jsonAddr(raw json.RawMessage) (netip.Addr, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return netip.Addr{}, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return netip.Addr{}, nil
		}
		return netip.ParseAddr(s)
	}
	var n uint32
	if err := json.Unmarshal(raw, &n); err != nil {
		return netip.Addr{}, fmt.Errorf("%s is neither an address nor a 32-bit integer", raw)
	}
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return netip.AddrFrom4(b), nil
}

// jsonUint16 reads a port written as a number or a string.
func jsonUint16(raw json.RawMessage) (uint16, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(s, 10, 16)
		return uint16(n), err
	}
	var n uint16
	err := json.Unmarshal(raw, &n)
	return n, err
}
