package container

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Docker speaks the Docker Engine API (also served by podman's compatible socket) over a unix
// socket with plain net/http.
type Docker struct {
	sock  string
	typ   Type
	hc    *http.Client
	since atomic.Int64 // events are asked from this time on (unix seconds), so none is lost
}

// NewDocker returns a provider for the Docker Engine API at a unix socket path. typ is
// TypeDocker, or TypePodman for podman's Docker-compatible socket.
func NewDocker(sock string, typ Type) *Docker {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     30 * time.Second,
	}
	d := &Docker{sock: sock, typ: typ, hc: &http.Client{Transport: tr}}
	d.since.Store(time.Now().Unix())
	return d
}

func (d *Docker) Name() string { return d.typ.String() + " " + d.sock }
func (d *Docker) Type() Type   { return d.typ }

// get GETs path and decodes the JSON answer into v; 404 is ErrNotFound.
func (d *Docker) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker"+path, nil)
	if err != nil {
		return err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return ErrNotFound
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", d.Name(), path, resp.Status, strings.TrimSpace(string(b)))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(v); err != nil {
		return fmt.Errorf("%s %s: decoding answer: %w", d.Name(), path, err)
	}
	return nil
}

type dockerContainer struct {
	ID      string `json:"Id"`
	Created string
	Name    string
	Image   string
	Config  struct {
		Image       string
		User        string
		Env         []string
		Labels      map[string]string
		Healthcheck *struct{ Test []string }
	}
	HostConfig struct {
		Privileged                              bool
		NetworkMode, PidMode, IpcMode           string
		Memory, MemorySwap, CpuShares, CpuQuota int64
		CpuPeriod                               int64
		CpusetCpus                              string
	}
	Mounts []struct {
		Source, Destination, Mode, Propagation string
		RW                                     bool
	}
	NetworkSettings struct {
		IPAddress string
		Networks  map[string]struct{ IPAddress string }
		Ports     map[string][]struct{ HostIp, HostPort string }
	}
}

type dockerImage struct {
	ID          string `json:"Id"`
	RepoTags    []string
	RepoDigests []string
}

// Inspect implements Provider: GET /containers/{id}/json, then /images/{id}/json for the
// repository digest and a name when the container was started from a bare image id.
func (d *Docker) Inspect(ctx context.Context, id string) (*Info, error) {
	var c dockerContainer
	if err := d.get(ctx, "/containers/"+url.PathEscape(id)+"/json", &c); err != nil {
		return nil, err
	}
	info := &Info{
		ID:          c.ID,
		Type:        d.typ,
		Name:        strings.TrimPrefix(c.Name, "/"),
		Image:       c.Config.Image,
		ImageID:     strings.TrimPrefix(c.Image, "sha256:"),
		User:        c.Config.User,
		Privileged:  c.HostConfig.Privileged,
		HostPID:     c.HostConfig.PidMode == "host",
		HostNetwork: c.HostConfig.NetworkMode == "host",
		HostIPC:     c.HostConfig.IpcMode == "host",
		Labels:      c.Config.Labels,
		Env:         c.Config.Env,
		MemoryLimit: c.HostConfig.Memory,
		SwapLimit:   c.HostConfig.MemorySwap,
		CPUShares:   c.HostConfig.CpuShares,
		CPUQuota:    c.HostConfig.CpuQuota,
		CPUPeriod:   c.HostConfig.CpuPeriod,
		CPUSetCount: countCPUSet(c.HostConfig.CpusetCpus),
	}
	if info.Labels == nil {
		info.Labels = map[string]string{}
	}
	var test []string
	if c.Config.Healthcheck != nil {
		test = c.Config.Healthcheck.Test
	}
	info.HealthProbes = dockerProbes(info.Labels, test)
	if t, err := time.Parse(time.RFC3339Nano, c.Created); err == nil {
		info.CreatedTime = t.Unix()
	}
	for _, mnt := range c.Mounts {
		info.Mounts = append(info.Mounts, Mount{Source: mnt.Source, Dest: mnt.Destination,
			Mode: mnt.Mode, RW: mnt.RW, Propagation: mnt.Propagation})
	}
	ip := c.NetworkSettings.IPAddress
	if ip == "" {
		for _, n := range c.NetworkSettings.Networks {
			if n.IPAddress != "" {
				ip = n.IPAddress
				break
			}
		}
	}
	if a, err := netip.ParseAddr(ip); err == nil {
		info.IP = a
	}
	for port, binds := range c.NetworkSettings.Ports {
		cp, _, _ := strings.Cut(port, "/")
		cport, err := strconv.ParseUint(cp, 10, 16)
		if err != nil {
			continue
		}
		for _, b := range binds {
			hp, err := strconv.ParseUint(b.HostPort, 10, 16)
			if err != nil {
				continue
			}
			hip, _ := netip.ParseAddr(b.HostIp)
			info.PortMappings = append(info.PortMappings, PortMapping{HostIP: hip, HostPort: uint16(hp), ContainerPort: uint16(cport)})
		}
	}

	// the image: the name as given, or the image's first tag when it was an id
	ref := c.Config.Image
	var img dockerImage
	imgErr := d.get(ctx, "/images/"+url.PathEscape(c.Image)+"/json", &img)
	if (ref == "" || strings.HasPrefix(ref, "sha256:") || strings.HasPrefix(info.ImageID, ref)) && imgErr == nil && len(img.RepoTags) > 0 {
		ref = img.RepoTags[0]
		info.Image = ref
	}
	info.ImageRepository, info.ImageTag, info.ImageDigest = SplitImage(ref)
	if strings.HasPrefix(ref, "sha256:") || strings.HasPrefix(info.ImageID, ref) {
		info.ImageRepository, info.ImageTag = "", ""
	}
	if info.ImageDigest == "" && imgErr == nil {
		for _, rd := range img.RepoDigests {
			repo, dg, ok := strings.Cut(rd, "@")
			if ok && (repo == info.ImageRepository || info.ImageDigest == "") {
				info.ImageDigest = dg
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return info, nil
}

// List implements Lister: the ids of running containers.
func (d *Docker) List(ctx context.Context) ([]string, error) {
	var cs []struct {
		ID string `json:"Id"`
	}
	if err := d.get(ctx, "/containers/json", &cs); err != nil {
		return nil, err
	}
	ids := make([]string, len(cs))
	for i, c := range cs {
		ids[i] = c.ID
	}
	return ids, nil
}

// Watch implements Watcher with the /events stream (container start, die and destroy).
func (d *Docker) Watch(ctx context.Context, fn func(RuntimeEvent)) error {
	filters := url.QueryEscape(`{"type":["container"],"event":["create","start","die","destroy"]}`)
	since := strconv.FormatInt(d.since.Load(), 10)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://docker/events?since="+since+"&filters="+filters, nil)
	if err != nil {
		return err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s /events: %s", d.Name(), resp.Status)
	}
	dec := json.NewDecoder(bufio.NewReader(resp.Body))
	for {
		var ev struct {
			Type, Action string
			Actor        struct{ ID string }
			ID           string `json:"id"`
			Status       string `json:"status"`
			Time         int64  `json:"time"`
		}
		if err := dec.Decode(&ev); err != nil {
			return err
		}
		if ev.Time > d.since.Load() {
			d.since.Store(ev.Time)
		}
		id := ev.Actor.ID
		if id == "" {
			id = ev.ID
		}
		action := ev.Action
		if action == "" {
			action = ev.Status
		}
		switch action {
		case "create", "start": // create: fetch before the container's first process runs
			fn(RuntimeEvent{ID: id, Kind: EventStart, Runtime: d.typ})
		case "die", "destroy":
			fn(RuntimeEvent{ID: id, Kind: EventDie, Runtime: d.typ})
		}
	}
}

// countCPUSet counts the CPUs of a cpuset list ("0-3,7" is 5).
func countCPUSet(s string) int64 {
	var n int64
	if s == "" {
		return 0
	}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(part, "-")
		lo, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			return 0
		}
		if !isRange {
			n++
			continue
		}
		hi, err := strconv.ParseInt(b, 10, 64)
		if err != nil || hi < lo {
			return 0
		}
		n += hi - lo + 1
	}
	return n
}

// well-known sockets, first found wins per runtime
var (
	dockerSockets = []string{"/var/run/docker.sock", "/run/docker.sock"}
	podmanSockets = []string{"/run/podman/podman.sock", "/var/run/podman/podman.sock"}
	criSockets    = []struct {
		path string
		typ  Type
	}{
		{"/run/containerd/containerd.sock", TypeContainerd},
		{"/run/k3s/containerd/containerd.sock", TypeContainerd},
		{"/var/run/crio/crio.sock", TypeCRIO},
		{"/run/crio/crio.sock", TypeCRIO},
	}
	// containerd's own API: the system's (ctr, nerdctl, Kubernetes), k3s's, and the one
	// dockerd starts itself when no system containerd is configured
	containerdSockets = []string{
		"/run/containerd/containerd.sock",
		"/run/k3s/containerd/containerd.sock",
		"/var/run/docker/containerd/containerd.sock",
	}
)

func isSocket(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode()&os.ModeSocket != 0
}

// Discover returns a provider for every runtime socket present: DOCKER_HOST (unix://) or the
// usual docker socket, podman's, the CRI sockets of containerd and CRI-O, and containerd's own
// API (after the CRI provider of the same socket, which knows the pods). A socket that exists
// but does not answer is still returned; the Manager's timeouts contain it.
func Discover() []Provider {
	var ps []Provider
	seen := map[string]bool{}
	// api tells apart the APIs one socket serves (containerd's CRI plugin and its own API)
	add := func(p, api string, mk func() Provider) {
		if rp, err := filepath.EvalSymlinks(p); err == nil {
			p = rp
		}
		key := api + " " + p
		if seen[key] || !isSocket(p) {
			return
		}
		seen[key] = true
		ps = append(ps, mk())
	}
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		p := strings.TrimPrefix(h, "unix://")
		add(p, "docker", func() Provider { return NewDocker(p, TypeDocker) })
	}
	for _, p := range dockerSockets {
		add(p, "docker", func() Provider { return NewDocker(p, TypeDocker) })
	}
	for _, p := range podmanSockets {
		add(p, "docker", func() Provider { return NewDocker(p, TypePodman) })
	}
	for _, s := range criSockets {
		add(s.path, "cri", func() Provider { return newCRIProvider(s.path, s.typ) })
	}
	for _, p := range containerdSockets {
		add(p, "containerd", func() Provider { return newContainerdProvider(p) })
	}
	return ps
}
