// Package container identifies the container of every thread and fills its metadata without
// ever slowing the event path.
//
// Identity comes from cgroup paths (FromCgroups, ParseCgroupPath): docker, containerd (plain
// and CRI), CRI-O and podman, with cgroupfs and systemd naming, cgroup v1, v2 and hybrid.
// Processes in no container have the id "host", as in Falco.
//
// Metadata comes from the runtimes' own APIs over their unix sockets, each optional and found
// automatically (Discover): the Docker Engine API (Docker, podman), the CRI API of containerd
// or CRI-O (pods), and containerd's own gRPC API (every containerd namespace: ctr, nerdctl,
// Docker's "moby", CRI's "k8s.io"; privileged and mounts from the OCI spec). A Manager caches
// it: Lookup never blocks; a container seen for the first time gets a pending Entry at once and
// a background fetch fills the same Entry when the runtime answers, asking first the providers
// of the runtime the cgroup path names. Lifecycle events (Docker's /events, containerd's
// events.v1, CRI's GetContainerEvents where the runtime offers it) fetch new containers before
// their first process runs and expire dead ones after a grace period; entries nobody asks for
// expire after a while.
//
// Metadata travels in captures as the scap "container" event (code 324), whose one parameter
// is libsinsp's container JSON (EncodeJSON, DecodeJSON).
package container

import (
	"net/netip"
	"strings"
)

// Type is the container runtime, numbered as libsinsp's container_type (the "type" member of
// the container JSON), named as container.type prints it.
type Type int

const (
	TypeDocker     Type = 0
	TypeLXC        Type = 1
	TypeLibvirtLXC Type = 2
	TypeMesos      Type = 3
	TypeRkt        Type = 4
	TypeCustom     Type = 5
	TypeCRI        Type = 6
	TypeContainerd Type = 7
	TypeCRIO       Type = 8
	TypeBPM        Type = 9
	TypeStatic     Type = 10
	TypePodman     Type = 11
	TypeUnknown    Type = 0xffff
)

var typeNames = map[Type]string{
	TypeDocker: "docker", TypeLXC: "lxc", TypeLibvirtLXC: "libvirt-lxc", TypeMesos: "mesos",
	TypeRkt: "rkt", TypeCustom: "custom", TypeCRI: "cri", TypeContainerd: "containerd",
	TypeCRIO: "cri-o", TypeBPM: "bpm", TypeStatic: "static", TypePodman: "podman",
}

// String is the container.type value ("" for TypeUnknown).
func (t Type) String() string { return typeNames[t] }

// Mount is one mount of a container (container.mount*).
type Mount struct {
	Source      string
	Dest        string
	Mode        string
	RW          bool
	Propagation string
}

// PortMapping is one published port.
type PortMapping struct {
	HostIP        netip.Addr
	HostPort      uint16
	ContainerPort uint16
}

// Info is the metadata of one container. Instances handed out by a Manager are never modified;
// an update replaces the pointer.
type Info struct {
	ID              string // full id (container.full_id)
	Type            Type
	Name            string
	Image           string // as the user named it: "busybox:1.35"
	ImageID         string // without "sha256:"
	ImageRepository string
	ImageTag        string
	ImageDigest     string // "sha256:…"
	User            string
	Privileged      bool
	HostPID         bool
	HostNetwork     bool
	HostIPC         bool
	Mounts          []Mount
	Labels          map[string]string
	Env             []string
	CreatedTime     int64 // seconds since the epoch (container.start_ts is this in ns)
	IP              netip.Addr
	PortMappings    []PortMapping
	MemoryLimit     int64
	SwapLimit       int64
	CPUShares       int64
	CPUQuota        int64
	CPUPeriod       int64
	CPUSetCount     int64

	// HealthProbes are the commands the runtime runs to check the container: Docker's
	// healthcheck, or a Kubernetes liveness/readiness exec probe (see health.go).
	HealthProbes []HealthProbe

	// CRI (Kubernetes) sandbox data.
	IsPodSandbox bool
	PodSandboxID string
	PodLabels    map[string]string
	CNIResult    string
}

// ShortID is container.id.
func (i *Info) ShortID() string { return ShortID(i.ID) }

// StartTS is container.start_ts in nanoseconds (0 when unknown).
func (i *Info) StartTS() int64 { return i.CreatedTime * 1e9 }

// Kubernetes labels CRI runtimes put on containers; libsinsp reads k8s.pod.* from them.
const (
	LabelPodName      = "io.kubernetes.pod.name"
	LabelPodNamespace = "io.kubernetes.pod.namespace"
	LabelPodUID       = "io.kubernetes.pod.uid"
	LabelSandboxID    = "io.kubernetes.sandbox.id"
	LabelContainer    = "io.kubernetes.container.name"
)

// PodName is k8s.pod.name ("" outside Kubernetes).
func (i *Info) PodName() string { return i.Labels[LabelPodName] }

// PodNamespace is k8s.ns.name.
func (i *Info) PodNamespace() string { return i.Labels[LabelPodNamespace] }

// PodUID is k8s.pod.uid.
func (i *Info) PodUID() string { return i.Labels[LabelPodUID] }

// PodIP is k8s.pod.ip: the sandbox's address, which is the container's.
func (i *Info) PodIP() netip.Addr { return i.IP }

// SplitImage splits an image reference "[registry[:port]/]repo[:tag][@digest]" into
// repository, tag and digest, as libsinsp does for image.repository, image.tag and
// image.digest. A reference with neither tag nor digest has the tag "latest".
func SplitImage(ref string) (repo, tag, digest string) {
	repo = ref
	if i := strings.IndexByte(repo, '@'); i >= 0 {
		repo, digest = repo[:i], repo[i+1:]
	}
	// a ':' after the last '/' starts the tag (one before it is a registry port)
	slash := strings.LastIndexByte(repo, '/')
	if i := strings.LastIndexByte(repo, ':'); i > slash {
		repo, tag = repo[:i], repo[i+1:]
	}
	if tag == "" && digest == "" && repo != "" {
		tag = "latest"
	}
	return repo, tag, digest
}
